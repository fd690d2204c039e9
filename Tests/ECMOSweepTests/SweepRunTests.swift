import Testing
import Foundation
import ECMODataFile
import ECMOScenario
@testable import ECMOSweep

/// Columns of a telemetry.csv as numbers (non-numbers as NaN).
func telemetry(_ dir: String) throws -> [String: [Double]] {
    let text = try String(contentsOfFile: dir + "/telemetry.csv", encoding: .utf8)
    var lines = text.split(separator: "\n")
    let header = lines.removeFirst().split(separator: ",").map(String.init)
    var cols = [String: [Double]]()
    for l in lines {
        for (h, f) in zip(header, l.split(separator: ",", omittingEmptySubsequences: false)) { cols[h, default: []].append(Double(f) ?? .nan) }
    }
    return cols
}

@Suite(.serialized) struct SweepRunTests {
    func plan(_ scratch: Scratch, _ body: String, base: String) throws -> SweepPlan {
        _ = try scratch.write("base.yaml", base)
        let p = try scratch.write("s.yaml", sweep(body))
        return try SweepPlan(spec: try SweepLoader.load(path: p))
    }

    @Test func metricsEqualValuesComputedIndependentlyFromTheRunsTelemetry() throws {
        let s = try Scratch()
        let plan = try plan(s, """
        parameters:
          - {key: record_hz, values: [1000]}
          - {key: control.flow_lpm, values: [3.5]}
        metrics:
          - {name: flow_mean, metric: flow_lpm, from: 10s, to: 15s}
          - {name: dp_max, metric: dp_oxy_mmhg, stat: max, from: 10s, to: 15s}
          - {name: dp_change, metric: dp_oxy_mmhg, change: percent, baseline: {from: 10s, to: 11s}, from: 14s, to: 15s}
          - {name: cells_last, metric: cells_ml, stat: last}
          - {name: t_fouling, first_alarm: OXY_FOULING_WARNING}
          - {name: raises, alarm_raises: any}
          - {name: cells_figure, figure: cells_delivered_ml}
        """, base: baseScenario(duration: "15s"))
        let e = try plan.build(0).get()
        let r = SweepExecution.run(e, plan: plan, keepRunsIn: s.url)
        #expect(r.outcome == "completed")
        let run = try #require(r.run)
        let t = try telemetry(s.url.appendingPathComponent(run).path)
        let time = try #require(t["t_s"]), flow = try #require(t["flow_lpm"]), dp = try #require(t["dP_oxy_mmHg"])
        func mean(_ c: [Double], _ a: Double, _ b: Double) -> Double {
            let v = time.indices.filter { time[$0] >= a - 1e-9 && time[$0] <= b + 1e-9 && c[$0].isFinite }.map { c[$0] }
            return v.reduce(0, +) / Double(v.count)
        }
        let window = time.indices.filter { time[$0] >= 10 - 1e-9 && time[$0] <= 15 + 1e-9 }
        // telemetry.csv rounds to 3-4 decimals; the evaluator sees the unrounded frame.
        #expect(abs((r.metrics[0] ?? .nan) - mean(flow, 10, 15)) < 1e-3)
        #expect(abs((r.metrics[1] ?? .nan) - (window.map { dp[$0] }.max() ?? .nan)) < 1e-2)
        let change = (mean(dp, 14, 15) - mean(dp, 10, 11)) / abs(mean(dp, 10, 11)) * 100
        #expect(abs((r.metrics[2] ?? .nan) - change) < 0.05)
        let cells = try #require(t["cells_ml"]?.last)
        #expect(abs((r.metrics[3] ?? .nan) - cells) < 1e-3)
        #expect(r.metrics[4] == nil, "no fouling warning in 15 s: not reached, not 0")
        #expect(r.metrics[5] != nil)
        #expect(r.metrics[6] != nil)
    }

    @Test func aResumedSweepSkipsFinishedExperimentsAndRunsEachExactlyOnce() throws {
        let s = try Scratch()
        let plan = try plan(s, """
        parameters:
          - {key: control.flow_lpm, values: [3, 4]}
          - {key: seed, seeds: 3}
        metrics:
          - {name: flow, metric: flow_lpm, stat: last}
        """, base: baseScenario(duration: "2s", protocolFile: false))
        #expect(plan.count == 6)
        let dir = SweepDirectory(s.url.appendingPathComponent("out"))
        try dir.prepare(SweepManifest(plan: plan))
        // Shard 0 of 2 is killed after one experiment, in the middle of writing the next line.
        var first = try SweepWorker.run(plan: plan, directory: dir, shard: 0, shards: 2, keepRuns: false, limit: 1)
        #expect(first.ran == 1)
        let h = try FileHandle(forWritingTo: dir.shardURL(0, of: 2))
        h.seekToEndOfFile()
        h.write(Data("{\"experiment\": 2, \"pla".utf8))
        try h.close()
        #expect(dir.collect(fingerprint: plan.fingerprint, experiments: 6).torn == 1)
        // The rerun (all shards) skips experiment 0, reruns the torn one, runs the rest.
        var ran: [Int] = []
        for k in 0..<2 {
            let o = try SweepWorker.run(plan: plan, directory: dir, shard: k, shards: 2, keepRuns: false) { ran.append($0.experiment) }
            if k == 0 { first = o }
        }
        #expect(first.skipped == 1)
        #expect(ran.sorted() == [1, 2, 3, 4, 5])
        let c = dir.collect(fingerprint: plan.fingerprint, experiments: 6)
        #expect(c.results.count == 6 && c.duplicates == 0 && c.torn == 0 && c.problems.isEmpty)
        // Nothing is left to do.
        let again = try SweepWorker.run(plan: plan, directory: dir, shard: 0, shards: 1, keepRuns: false)
        #expect(again.ran == 0 && again.skipped == 6)
    }

    @Test func mergeDedupesByExperimentAndRefusesLinesOfAnotherSweep() throws {
        let s = try Scratch()
        let dir = SweepDirectory(s.url)
        try FileManager.default.createDirectory(at: dir.shardsURL, withIntermediateDirectories: true)
        func line(_ i: Int, plan: String = "p1") throws -> String {
            String(decoding: try ExperimentResult(experiment: i, plan: plan, seed: 1, parameters: ["1"], metrics: [Double(i), Double?.none],
                                                   outcome: "completed", expectationsPassed: 1, expectationsTotal: 1, alarmsRaised: 0,
                                                   wallS: 0.1, ticks: 10, run: nil, error: nil).line(), as: UTF8.self)
        }
        try (try line(0) + line(1) + line(2)).write(to: dir.shardURL(0, of: 2), atomically: true, encoding: .utf8)
        // The same shard rerun (its task resubmitted), plus a stale line from another version.
        try (try line(1) + line(3) + line(4, plan: "old")).write(to: dir.shardURL(1, of: 2), atomically: true, encoding: .utf8)
        let c = dir.collect(fingerprint: "p1", experiments: 5)
        #expect(c.results.keys.sorted() == [0, 1, 2, 3])
        #expect(c.duplicates == 1)
        #expect(c.problems.count == 1 && c.problems[0].contains("another version"))
        let m = SweepManifest(sweep: "t", description: nil, specFile: "s.yaml", baseScenario: "b.yaml", fingerprint: "p1",
                              experiments: 5, parameters: ["circuit.act_s"], metrics: ["a", "b"], sampling: "grid")
        let csv = SweepCSV.render(m, c.results.values.sorted { $0.experiment < $1.experiment })
        let rows = csv.split(separator: "\n")
        #expect(rows.count == 5)
        #expect(rows[0] == "experiment,seed,circuit.act_s,a,b,outcome,expectations_passed,expectations_total,alarms_raised,wall_s,ticks,run,error")
        #expect(rows[2].hasPrefix("1,1,1,1,,completed"))
    }
}
