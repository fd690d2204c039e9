import Foundation
import Testing
import ECMOCore
import ECMOBoard
import ECMOScenario
import ECMOTranscript

/// The processor-in-the-loop proof, on this machine: a scenario's HAL transcript replayed
/// against the same loop reproduces every call and frame; an edited transcript is caught at
/// the tick of the edit. (`scripts/test-pi` replays the same transcripts on the aarch64 image.)
@Suite struct TranscriptReplayTests {
    static func record(_ name: String) throws -> (ScenarioResult, [UInt8], BoardConfiguration) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let s = try ScenarioLoader.load(path: root.appendingPathComponent("HIL/scenarios/\(name).yaml").path)
        let runner = try ScenarioRunner(scenario: s, outputDirectory: nil, halTranscript: true)
        let result = try runner.run()
        let t = try #require(runner.transcript)
        #expect(t.unsupported == nil)
        let board = try BoardLoader.load(path: root.appendingPathComponent(s.board).path)
        return (result, t.finish(), board)
    }

    @Test func aReplayedTranscriptReproducesEveryCallAndFrame() throws {
        let (result, bytes, board) = try Self.record("fault-clamp-output-lost")
        let replay = try TranscriptReplay(bytes: bytes)
        let report = replay.run(board: board)
        #expect(report.divergence == nil, "\(String(describing: report.divergence))")
        #expect(report.ticks == result.ticks)
        #expect(report.framesCompared >= Int(result.ticks))
        #expect(report.halCalls > Int(result.ticks) * 5, "every tick reads the sensors and writes the outputs")
    }

    @Test func anEditedOutputWriteIsFoundAtItsTick() throws {
        let (_, bytes, board) = try Self.record("fault-clamp-output-lost")
        let calls = try TranscriptReplay(bytes: bytes).calls()
        // A line write in the middle of the run: the replayed firmware writes the other level.
        let writes = calls.filter { $0.op == .outputSet && $0.tick > 1000 }
        let target = try #require(writes.dropFirst(writes.count / 2).first)
        var edited = bytes
        edited[target.arguments.lowerBound] ^= 1
        let report = try TranscriptReplay(bytes: edited).run(board: board)
        let d = try #require(report.divergence)
        #expect(d.tick == target.tick)
        #expect(d.message.contains("output_set"), "\(d)")
    }

    @Test func anEditedSensorReadingChangesTheFrameOfItsTick() throws {
        let (_, bytes, board) = try Self.record("fault-clamp-output-lost")
        let calls = try TranscriptReplay(bytes: bytes).calls()
        let reads = calls.filter { ($0.op == .i2cRead || $0.op == .i2cWriteRead) && $0.results.count >= 2 && $0.tick > 2000 }
        let target = try #require(reads.first)
        var edited = bytes
        // The pressure's high byte: a large change of the reading.
        edited[target.results.lowerBound + 1] ^= 0x10
        let report = try TranscriptReplay(bytes: edited).run(board: board)
        let d = try #require(report.divergence)
        #expect(d.tick == target.tick, "\(d)")
    }

    @Test func aCutTranscriptIsAnErrorNamingWhere() throws {
        let (_, bytes, board) = try Self.record("fault-clamp-output-lost")
        let report = try TranscriptReplay(bytes: Array(bytes.prefix(bytes.count / 2))).run(board: board)
        let d = try #require(report.divergence)
        #expect(d.message.contains("cut short") || d.message.contains("unreadable"), "\(d)")
        #expect(throws: TranscriptError.self) { _ = try TranscriptReplay(bytes: Array("not a transcript".utf8)) }
    }
}
