import RigTestSupport
import ECMOBoard
import ECMODataFile
import Foundation
import Testing

private let simBoardText: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return (try? String(contentsOf: root.appendingPathComponent("Board/sim.yaml"), encoding: .utf8)) ?? ""
}()

/// Issue 15, item 16: no number in a board file can kill the loader (a trapping conversion
/// would end the test process); a value that cannot be a board's is refused with the
/// file:line:col and the key, never replaced by a default.
@Suite struct ExtremeBoardInputTests {
    @Test func theSimBoardHasTheNumericKeysThisSuitePushes() throws {
        let sites = numericSites(in: simBoardText)
        #expect(sites.count >= 60, "\(sites.count) numeric keys found in Board/sim.yaml")
        #expect(Set(sites.map(\.key)).isSuperset(of: ["loop_period_us", "timeout_ms", "lines", "address", "pressure_min_mmhg",
                                                        "full_scale_v", "max_age_ms", "units_per_volt", "debounce_us",
                                                        "period_us", "rpm_at_max_duty", "max_step_rate_hz"]))
        _ = try BoardLoader.parse(yaml: simBoardText, file: "sim.yaml")
    }

    @Test(arguments: extremeValues)
    func everyNumericKeyOfTheBoardRefusesOrBoundsAnExtremeValue(_ value: String) {
        for site in numericSites(in: simBoardText) {
            let text = substituting(value, at: site, in: simBoardText)
            do {
                _ = try BoardLoader.parse(yaml: text, file: "sim.yaml")
                #expect(!valuesNeverAccepted.contains(value) && !beyondEveryBoardQuantity.contains(value),
                        "\(site) = \(value) was accepted")
            } catch {
                #expect(!error.errors.isEmpty)
                for e in error.errors { #expect(e.file == "sim.yaml" && e.line >= 1 && e.column >= 1 && !e.message.isEmpty, "\(e)") }
                if valuesNeverAccepted.contains(value) || beyondEveryBoardQuantity.contains(value) {
                    #expect(error.errors.contains { $0.line == site.line && ($0.keyPath.contains(site.key) || $0.message.contains(site.key)) },
                            "\(site) = \(value): the refusal does not name the key at its line: \(error)")
                }
            }
        }
    }
}

/// No board quantity (a period, an address, a pressure span, a rate, a line number) is anywhere near these.
private let beyondEveryBoardQuantity: Set<String> = ["1e308", "-1e308", "9223372036854775807", "-9223372036854775808",
                                                      "9223372036854775808", "18446744073709551616"]
