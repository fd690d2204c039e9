import Testing
import Foundation
import ECMOCore
import ECMORuntime
import ECMORecord
import ECMORunStore
import ECMOPosix

/// Issue 18, item 2: the run record against a power cut at every point, and a full disk.
@Suite struct RecordCrashConsistencyTests {
    func scratch() -> String {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = "\(base)/ecmo-record-crash-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A recorded run of `drains` drains (3 rows and an event each), logged.
    func record(into dir: String, drains: Int, fileSystem: RecordingFileSystem, failAfterDrain: Int? = nil) throws -> (rows: Int, error: String?) {
        let t = SPSCRing<TelemetryFrame>(capacity: 64)
        let e = SPSCRing<RigEvent>(capacity: 64)
        let r = try RunRecorder(directory: URL(fileURLWithPath: dir), telemetry: t, events: e, fileSystem: fileSystem)
        var tick: UInt64 = 0
        for d in 0..<drains {
            for _ in 0..<3 {
                tick += 1
                var f = TelemetryFrame()
                f.time = Instant(nanosecondsSinceOrigin: tick * 1_000_000)
                f.flow = .lpm(4 + Double(tick) / 1000)
                t.push(f)
            }
            e.push(RigEvent(.shedding(d % 2 == 0), at: Instant(nanosecondsSinceOrigin: tick * 1_000_000)))
            r.drainOnce()
            if d == failAfterDrain { fileSystem.failWhen = { op in if case .write = op { return ENOSPC } else { return nil } } }
        }
        do {
            try r.finish(summary: ["outcome": .string("completed"), "board": .string("sim")])
            return (r.rowsWritten, nil)
        } catch {
            return (r.rowsWritten, "\(error)")
        }
    }

    /// Every prefix of a recorded run's file calls, and the torn variants of its last write,
    /// laid on a fresh directory: the run store reads every one (an interrupted record
    /// without its torn last line), and a record with a summary is whole.
    @Test func everyCrashStateOfARunRecordIsReadableAndMarkedInterruptedUntilItsSummary() throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fs = RecordingFileSystem()
        let (rows, error) = try record(into: root + "/run", drains: 12, fileSystem: fs)
        #expect(error == nil && rows == 36)
        let log = fs.operations
        #expect(log.contains { if case .rename = $0 { true } else { false } }, "the summary is renamed into place")
        let states = CrashStates.enumerate(log)
        var failures: [String] = []
        var interrupted = 0, whole = 0, absent = 0
        for (n, state) in states.enumerated() {
            let dir = root + "/replay-\(n)"
            try CrashStates.materialize(state, from: root + "/run", into: dir)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let url = URL(fileURLWithPath: dir)
            guard RunFolder.isRunFolder(url) else { absent += 1; continue }   // cut before the record existed
            do {
                let info = try RunFolder.read(url)
                if FileManager.default.fileExists(atPath: dir + "/summary.json") {
                    whole += 1
                    if info.outcome != "completed" || info.telemetryRows != rows || info.events != 12 {
                        failures.append("after \(state.afterOperations) calls (\(state.variant)): a summary beside a partial record: \(info.outcome), \(info.telemetryRows) rows, \(info.events) events")
                    }
                } else {
                    interrupted += 1
                    if info.outcome != "interrupted" || info.telemetryRows > rows {
                        failures.append("after \(state.afterOperations) calls (\(state.variant)): \(info.outcome), \(info.telemetryRows) rows")
                    }
                }
            } catch {
                failures.append("after \(state.afterOperations) calls (\(state.variant)): unreadable: \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(states.count) crash states: \(failures.prefix(5))")
        #expect(interrupted > 50 && whole >= 1 && absent < states.count / 4, "\(interrupted) interrupted, \(whole) whole, \(absent) before the record existed")
        print("record crash consistency: \(log.count) file calls, \(states.count) distinct crash states (\(interrupted) interrupted, \(whole) whole, \(absent) before the record existed), all readable")
    }

    /// The disk fills up mid-run: the failed write is cut back to the last whole line and
    /// the file takes no more, `finish` names the cause, and the record still reads, with
    /// every row written before the failure.
    @Test func aFullDiskMidRunKeepsTheRecordItHadAndSaysSo() throws {
        let root = scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fs = RecordingFileSystem()
        let (rows, error) = try record(into: root + "/run", drains: 10, fileSystem: fs, failAfterDrain: 4)
        #expect(rows == 15, "rows of the 5 drains before the disk filled")
        let message = try #require(error)
        #expect(message.contains("No space left on device") && message.contains("telemetry.csv"), "\(message)")
        let csv = try String(contentsOfFile: root + "/run/telemetry.csv", encoding: .utf8)
        #expect(csv.hasSuffix("\n") && csv.split(separator: "\n").count == 1 + 15, "whole lines only, none torn")
        let info = try RunFolder.read(URL(fileURLWithPath: root + "/run"))
        #expect(info.telemetryRows == 15 && info.events == 5)
    }
}
