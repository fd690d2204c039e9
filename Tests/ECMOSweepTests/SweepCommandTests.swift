import Testing
import Foundation
import RigTestSupport

func sweepRig(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = try #require(ecmoRigBinary(), "ecmo-rig is not built next to the tests")
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    p.currentDirectoryURL = repositoryRoot
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func lines(in dir: URL) -> Int {
    let shards = dir.appendingPathComponent("shards")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: shards.path)) ?? []
    return names.reduce(0) { n, f in
        n + ((try? String(contentsOf: shards.appendingPathComponent(f), encoding: .utf8))?.filter { $0 == "\n" }.count ?? 0)
    }
}

@Suite(.serialized) struct SweepCommandTests {
    @Test func aSweepWithADoseTheProtocolRefusesExitsTwoBeforeAnyExperimentRuns() throws {
        let s = try Scratch()
        _ = try s.write("base.yaml", baseScenario())
        let spec = try s.write("s.yaml", sweep("""
        parameters:
          - {key: protocol.phases.2.infusion.dose_cells_per_kg, values: [1e6, 5e9]}
        metrics:
          - {name: cells, figure: cells_delivered_ml}
        """))
        let out = s.url.appendingPathComponent("out")
        let r = try sweepRig(["sweep", spec, "--out", out.path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("s.yaml:5:11: parameters.0.key: experiment 1"))
        #expect(r.stderr.contains("outside the accepted range"))
        #expect(!FileManager.default.fileExists(atPath: out.path), "nothing may run, nothing may be written")
    }

    @Test func anInterruptedSweepResumesWithoutRerunningAndMergesEachExperimentOnce() throws {
        let s = try Scratch()
        _ = try s.write("base.yaml", baseScenario(duration: "6s", protocolFile: false))
        let spec = try s.write("s.yaml", sweep("""
        parameters:
          - {key: control.flow_lpm, values: [3, 3.5, 4, 4.5]}
          - {key: seed, seeds: 2}
        metrics:
          - {name: flow, metric: flow_lpm, stat: last}
        """))
        let out = s.url.appendingPathComponent("out")
        let binary = try #require(ecmoRigBinary())
        let p = Process()
        p.executableURL = binary
        p.arguments = ["sweep", spec, "--out", out.path, "--jobs", "2", "--quiet"]
        p.currentDirectoryURL = repositoryRoot
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while lines(in: out) < 2 && Date() < deadline && p.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        p.interrupt()
        p.waitUntilExit()
        let k = lines(in: out)
        #expect(k >= 2 && k < 8, "killed after \(k) of 8")
        let r = try sweepRig(["sweep", spec, "--out", out.path, "--jobs", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("resuming: \(k) of 8 experiments already done") || r.stdout.contains("resuming:"))
        #expect(lines(in: out) == 8, "the rerun ran only the \(8 - k) left")
        let csv = try String(contentsOf: out.appendingPathComponent("results.csv"), encoding: .utf8)
        let ids = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",")[0] }
        #expect(ids == ["0", "1", "2", "3", "4", "5", "6", "7"])
        #expect(r.stdout.contains("8 of 8 experiments"))
        // A merge of the same directory again: the same rows, no duplicates.
        let m = try sweepRig(["sweep", "merge", out.path])
        #expect(m.status == 0 && m.stdout.contains("sweep t: 8 rows"))
        // And the report reads them back from the store.
        let html = s.url.appendingPathComponent("r.html")
        let rep = try sweepRig(["report", out.path, "--out", html.path, "--metric", "flow"])
        #expect(rep.status == 0, "\(rep.stderr)")
        let text = try String(contentsOf: html, encoding: .utf8)
        #expect(text.contains("class=\"heatmap\"") && text.contains("class=\"strip\"") && !text.contains("<script"))
    }

    @Test func slurmModeWritesAJobArrayWithOneTaskPerShard() throws {
        let s = try Scratch()
        _ = try s.write("base.yaml", baseScenario(duration: "6s", protocolFile: false))
        let spec = try s.write("s.yaml", sweep("""
        parameters:
          - {key: control.flow_lpm, values: [3, 3.5, 4, 4.5, 5]}
        metrics:
          - {name: flow, metric: flow_lpm, stat: last}
        """))
        let out = s.url.appendingPathComponent("out")
        let r = try sweepRig(["sweep", spec, "--slurm", "--shards", "3", "--out", out.path, "--partition", "short"])
        #expect(r.status == 0, "\(r.stderr)")
        let script = try String(contentsOf: out.appendingPathComponent("sweep.sbatch"), encoding: .utf8)
        #expect(script.contains("#SBATCH --array=0-2"))
        #expect(script.contains("#SBATCH --partition=short"))
        #expect(script.contains("--shard \"$SLURM_ARRAY_TASK_ID\" --shards 3 --out \(out.path)"))
        #expect(lines(in: out) == 0, "--slurm runs nothing")
        // A task runs its shard alone: experiments 1 and 4 of 5.
        let t = try sweepRig(["sweep", spec, "--shard", "1", "--shards", "3", "--out", out.path])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(lines(in: out) == 2)
        let m = try sweepRig(["sweep", "merge", out.path])
        #expect(m.status == 1 && m.stderr.contains("3 experiments missing: 0, 2, 3"))
    }
}
