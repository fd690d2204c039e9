import RigTestSupport
import ECMODataFile
import ECMOScenario
import Foundation
import Testing

private let extremeScenarioFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("HIL/scenarios")

/// Scenarios that between them use every kind of number a scenario has: header (seed,
/// duration, record_hz, control), events with durations and fault parameters, operator
/// actions with set-points, and expectations with windows, bounds and `within`.
private let representativeScenarios = ["fault-sensor-drift", "setpoint-change", "fault-loop-overrun",
                                       "fault-syringe-occlusion", "fault-drainage-kink"]

private func scenarioText(_ name: String) -> String {
    (try? String(contentsOf: extremeScenarioFolder.appendingPathComponent("\(name).yaml"), encoding: .utf8)) ?? ""
}

/// Issue 15, item 16: no number in a scenario file can kill the loader (a trapping
/// conversion would end the test process); a value that cannot be a scenario's is refused
/// with the file:line:col and the key.
@Suite struct ExtremeScenarioInputTests {
    @Test(arguments: representativeScenarios)
    func theRepresentativeScenariosLoadAndHaveNumericKeys(_ name: String) throws {
        let text = scenarioText(name)
        #expect(numericSites(in: text).count >= 6, "\(name): \(numericSites(in: text))")
        _ = try ScenarioLoader.parse(yaml: text, file: "\(name).yaml")
    }

    @Test(arguments: extremeValues)
    func everyNumericKeyOfAScenarioRefusesOrBoundsAnExtremeValue(_ value: String) {
        for name in representativeScenarios {
            let original = scenarioText(name)
            for site in numericSites(in: original) {
                for keepUnit in site.unit.isEmpty ? [true] : [true, false] {
                    let text = substituting(value, at: site, in: original, keepUnit: keepUnit)
                    let file = "\(name).yaml"
                    do {
                        _ = try ScenarioLoader.parse(yaml: text, file: file)
                        #expect(!mustBeRefused(value, site), "\(file) \(site) = \(value)\(keepUnit ? site.unit : "") was accepted")
                    } catch {
                        #expect(!error.errors.isEmpty)
                        for e in error.errors { #expect(e.file == file && e.line >= 1 && e.column >= 1 && !e.message.isEmpty, "\(e)") }
                        if mustBeRefused(value, site) {
                            #expect(error.errors.contains { $0.line == site.line && ($0.keyPath.contains(site.key) || $0.message.contains(site.key)) },
                                    "\(file) \(site) = \(value): the refusal does not name the key at its line: \(error)")
                        }
                    }
                }
            }
        }
    }
}

private func mustBeRefused(_ value: String, _ site: NumericSite) -> Bool {
    // An expectation's bound only compares: a bound of 1e308 is a pass-everything bound, not a risk.
    if ["between", "at_most", "at_least"].contains(site.key) && !valuesNeverAccepted.contains(value) { return false }
    // A seed is any non-negative Int: Int.max is a seed like any other.
    if site.key == "seed" && value == "9223372036854775807" { return false }
    return valuesNeverAccepted.contains(value) || ["1e308", "-1e308", "9223372036854775807", "-9223372036854775808",
                                                   "9223372036854775808", "18446744073709551616"].contains(value)
}
