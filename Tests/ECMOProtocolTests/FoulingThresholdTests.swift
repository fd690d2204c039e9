import Testing
import Foundation
import ECMOCore
import ECMOBoard
import ECMOProtocol

/// Issue 15 item 7: the fouling warning and pause thresholds are set in the protocol file,
/// within hard bounds; outside them the protocol is refused with the key and the bounds named.
@Suite struct FoulingThresholdTests {
    static func text(_ monitoring: String) -> String {
        ExtremeNumberTests.protocolText() + "\nmonitoring: {friction_n: 1\(monitoring)}\n"
    }

    static func load(_ text: String) -> (ResolvedProtocol?, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fouling-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            let board = try BoardLoader.load(path: repositoryRoot.appendingPathComponent("Board/sim.yaml").path)
            return (try ProtocolPlanner.plan(try ProtocolLoader.load(path: path), board: board), "")
        } catch {
            return (nil, "\(error)")
        }
    }

    @Test func thresholdsWrittenInTheProtocolReachTheRunSettings() {
        let (resolved, message) = Self.load(Self.text(", fouling_warning_percent: 15, fouling_pause_percent: 40"))
        #expect(resolved != nil, "\(message)")
        #expect(resolved?.fouling.warningRise == 0.15)
        #expect(resolved?.fouling.pauseRise == 0.40)
    }

    @Test func withoutThemTheDefaultsApply() {
        let (resolved, _) = Self.load(Self.text(""))
        #expect(resolved?.fouling.warningRise == 0.30)
        #expect(resolved?.fouling.pauseRise == 0.50)
    }

    @Test(arguments: [(", fouling_warning_percent: 5", "fouling_warning_percent"),
                      (", fouling_warning_percent: 150", "fouling_warning_percent"),
                      (", fouling_pause_percent: 250", "fouling_pause_percent"),
                      (", fouling_pause_percent: 10", "fouling_pause_percent"),
                      (", fouling_warning_percent: 40, fouling_pause_percent: 30", "fouling_pause_percent"),
                      (", fouling_pause_percent: .nan", "fouling_pause_percent")])
    func thresholdsOutsideTheirBoundsAreRefusedNamingTheKey(_ monitoring: String, _ key: String) {
        let (resolved, message) = Self.load(Self.text(monitoring))
        #expect(resolved == nil)
        #expect(message.contains(key), "\(message)")
        #expect(message.contains("fouling-"), "the file is named: \(message)")
    }
}
