import RigTestSupport
import ECMOBoard
import ECMODataFile
import ECMOProtocol
import Foundation
import Testing

private let representativeProtocols = ["quick-dose", "clamp-short", "heparin-elso"]

private func protocolText(_ name: String) -> String {
    (try? String(contentsOf: protocolFolder.appendingPathComponent("\(name).yaml"), encoding: .utf8)) ?? ""
}

/// Issue 15, item 16: no number in a protocol file can kill the loader or the planner (a
/// trapping conversion would end the test process); a value that cannot be a protocol's is
/// refused with the file:line:col and the key.
@Suite struct ExtremeProtocolInputTests {
    @Test(arguments: representativeProtocols)
    func theRepresentativeProtocolsPlanAndHaveNumericKeys(_ name: String) throws {
        let text = protocolText(name)
        #expect(numericSites(in: text).count >= 8, "\(name): \(numericSites(in: text))")
        _ = try ProtocolPlanner.plan(try ProtocolLoader.parse(yaml: text, file: "\(name).yaml"), board: try simBoard())
    }

    @Test(arguments: extremeValues)
    func everyNumericKeyOfAProtocolRefusesOrBoundsAnExtremeValue(_ value: String) throws {
        let board = try simBoard()
        for name in representativeProtocols {
            let original = protocolText(name)
            for site in numericSites(in: original) {
                // A duration is pushed both with its unit (`1e308s`) and bare (`.inf`).
                for keepUnit in site.unit.isEmpty ? [true] : [true, false] {
                    let text = substituting(value, at: site, in: original, keepUnit: keepUnit)
                    let file = "\(name).yaml"
                    do {
                        _ = try ProtocolPlanner.plan(try ProtocolLoader.parse(yaml: text, file: file), board: board)
                        #expect(!mustBeRefused(value), "\(file) \(site) = \(value)\(keepUnit ? site.unit : "") was accepted")
                    } catch {
                        #expect(!error.errors.isEmpty)
                        for e in error.errors { #expect(e.file == file && e.line >= 1 && e.column >= 1 && !e.message.isEmpty, "\(e)") }
                        if mustBeRefused(value) {
                            #expect(error.errors.contains { $0.line == site.line && ($0.keyPath.contains(site.key) || $0.message.contains(site.key)) },
                                    "\(file) \(site) = \(value): the refusal does not name the key at its line: \(error)")
                        }
                    }
                }
            }
        }
    }
}

private func mustBeRefused(_ value: String) -> Bool {
    valuesNeverAccepted.contains(value) || ["1e308", "-1e308", "9223372036854775807", "-9223372036854775808",
                                            "9223372036854775808", "18446744073709551616"].contains(value)
}
