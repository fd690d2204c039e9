import Testing
import Foundation
import ECMOPosix
import ECMOSweep

/// A sweep's shard files against a power cut at every point (ALICE-style, as the journal
/// and the run record): a finished experiment's line, once synced, is never lost; a torn
/// or garbled line is never taken for a result; and the worker that starts again on what
/// the cut left completes the shard.
@Suite struct ShardCrashConsistencyTests {
    static func result(_ i: Int) -> ExperimentResult {
        ExperimentResult(experiment: i, plan: "fp-1", seed: UInt64(1000 + i), parameters: ["\(3.0 + Double(i) * 0.25)", "pulsatile"],
                         metrics: [Double(i) * 1.5, i % 2 == 0 ? nil : 0.125], outcome: i == 4 ? "fault" : "completed",
                         expectationsPassed: 3, expectationsTotal: 3, alarmsRaised: i, wallS: 0.5 + Double(i), ticks: UInt64(60_000 + i),
                         run: nil, error: nil)
    }

    @Test func everyCrashStateOfAShardKeepsEverySyncedResultAndTheRestartedWorkerCompletesIt() throws {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let root = "\(base)/ecmo-shard-crash-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let sweep = root + "/sweep"
        let directory = SweepDirectory(URL(fileURLWithPath: sweep))
        let shard = directory.shardURL(0, of: 1).path
        let count = 6
        let written = (0..<count).map(Self.result)
        let fs = RecordingFileSystem()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try fs.createDirectory(sweep)
        try fs.createDirectory(directory.shardsURL.path)
        // A worker finishes three experiments and is killed; the next one finishes the rest.
        do {
            let first = try ShardWriter(path: shard, fileSystem: fs)
            for r in written.prefix(3) { try first.append(r) }
        }
        let second = try ShardWriter(path: shard, fileSystem: fs)
        for r in written.dropFirst(3) { try second.append(r) }
        let log = fs.operations
        // Lines made durable by each prefix of the log (a sync of the shard after its writes).
        var lines = 0, durable = 0
        var durableAfter = [0]
        for op in log {
            switch op {
            case .write(let p, let b) where p == shard: lines += b.filter { $0 == 0x0A }.count
            case .sync(let p) where p == shard: durable = lines
            default: break
            }
            durableAfter.append(durable)
        }
        #expect(durableAfter.last == count)
        let states = CrashStates.enumerate(log)
        var failures: [String] = []
        var ignoredGarbage = 0
        for (n, state) in states.enumerated() {
            let replay = root + "/replay-\(n)"
            try CrashStates.materialize(state, from: sweep, into: replay)
            defer { try? FileManager.default.removeItem(atPath: replay) }
            let at = "after \(state.afterOperations) calls (\(state.variant))"
            let replayed = SweepDirectory(URL(fileURLWithPath: replay))
            let found = replayed.collect(fingerprint: "fp-1", experiments: count)
            for i in 0..<durableAfter[state.afterOperations] where found.results[i] == nil {
                failures.append("\(at): experiment \(i)'s synced line was lost")
            }
            for (i, r) in found.results where r != written[i] {
                failures.append("\(at): experiment \(i) read back as something it never was")
            }
            if !found.problems.isEmpty {
                if state.variant.contains("garbage") { ignoredGarbage += 1 } else { failures.append("\(at): \(found.problems)") }
            }
            // The worker starts again on what the cut left (if the directory survived).
            guard FileManager.default.fileExists(atPath: replayed.shardsURL.path) else { continue }
            do {
                let again = try ShardWriter(path: replayed.shardURL(0, of: 1).path)
                for r in written where found.results[r.experiment] == nil { try again.append(r) }
            } catch {
                failures.append("\(at): the restarted worker could not write: \(error)")
                continue
            }
            let after = replayed.collect(fingerprint: "fp-1", experiments: count)
            if after.results.count != count || after.results.contains(where: { $0.value != written[$0.key] }) {
                failures.append("\(at): after the restart \(after.results.count) of \(count) results")
            }
            if after.torn != 0 { failures.append("\(at): a torn line left behind the restart's appends") }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(states.count) crash states: \(failures.prefix(5))")
        #expect(log.count >= 2 * count && states.count > 3 * count, "\(log.count) calls, \(states.count) crash states")
        print("shard crash consistency: \(log.count) file calls, \(states.count) distinct crash states, \(ignoredGarbage) with a garbled line ignored, 0 synced results lost")
    }
}
