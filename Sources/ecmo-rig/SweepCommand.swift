import ArgumentParser
import Foundation
import ECMODataFile
import ECMOSweep
import ECMORecord
#if ECMO_RUN_STORE
import ECMORunStore
#endif

/// `ecmo-rig sweep SPEC`: many simulated experiments from one sweep file (docs/sweeps.md).
/// Sharding is the one mechanism: locally N worker processes of this program each run
/// `--shard K --shards N`; on Slurm each array task does the same. Every shard appends its
/// finished experiments durably to its own JSON Lines file; `merge` indexes them.
struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a sweep of simulated experiments on all cores or as a Slurm job array; merge its shards (docs/sweeps.md).",
        subcommands: [SweepRun.self, SweepMerge.self],
        defaultSubcommand: SweepRun.self)
}

struct SweepRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Validate every experiment, then run them (resuming what an interrupted run left); exit 2 if the sweep is invalid.")

    @Argument(help: "Sweep file (YAML), e.g. Sweeps/dose-vs-act.yaml.")
    var spec: String

    @Option(help: "Worker processes (default: the active processor count).")
    var jobs: Int?

    @Option(help: "Sweep directory: plan.json, shards/, results.csv, runs.sqlite (default runs/sweeps/<name>).")
    var out: String?

    @Option(help: "Run only the experiments with index ≡ K (mod --shards), in this process (what each worker or Slurm task does).")
    var shard: Int?

    @Option(help: "Number of shards (with --shard or --slurm).")
    var shards: Int?

    @Flag(help: "Keep each experiment's run folder (telemetry.csv, events.jsonl, summary.json) in the sweep directory. Off by default: 1000 four-hour runs would be gigabytes.")
    var keepRuns = false

    @Flag(help: "Write <out>/sweep.sbatch (a Slurm job array, one task per shard) and print how to submit and merge; runs nothing.")
    var slurm = false

    @Option(help: "Slurm partition for --slurm.")
    var partition: String?

    @Option(name: .customLong("time-limit"), help: "Slurm time limit per task for --slurm (e.g. 2:00:00).")
    var timeLimit: String?

    @Option(name: .customLong("module"), help: "Environment module the task loads first (--slurm; repeatable), e.g. swift/6.1.")
    var modules: [String] = []

    @Flag(help: "No progress output.")
    var quiet = false

    @Flag(help: .hidden)
    var worker = false

    func validate() throws {
        if let jobs, !(1...1024).contains(jobs) { throw ValidationError("--jobs \(jobs): must be 1...1024") }
        if let shards, !(1...100_000).contains(shards) { throw ValidationError("--shards \(shards): must be 1...100000") }
        if shard != nil && shards == nil { throw ValidationError("--shard needs --shards") }
        if let shard, let shards, !(0..<shards).contains(shard) { throw ValidationError("--shard \(shard): must be 0...\(shards - 1)") }
        if shard != nil && slurm { throw ValidationError("--slurm writes the job script for all shards: drop --shard") }
        if shards != nil && shard == nil && !slurm { throw ValidationError("--shards needs --shard (one shard here) or --slurm") }
    }

    func run() async throws {
        let spec: SweepSpec
        let plan: SweepPlan
        do {
            spec = try SweepLoader.load(path: self.spec)
            plan = try SweepPlan(spec: spec)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        let dir = SweepDirectory(URL(fileURLWithPath: out ?? "runs/sweeps/\(spec.name)"))

        // Every experiment (or every one of this shard) is built and validated before any runs.
        let started = Date()
        let indices = shard.map { k in Array(stride(from: k, to: plan.count, by: shards ?? 1)) }
        if !worker {
            let errors = plan.validate(indices)
            if !errors.isEmpty {
                FileHandle.standardError.write(Data((errors.map(\.description).joined(separator: "\n") + "\n").utf8))
                FileHandle.standardError.write(Data("\(self.spec): the sweep is not valid (\(errors.count) error\(errors.count == 1 ? "" : "s")); nothing ran\n".utf8))
                throw ExitCode(ExitCodes.boardInvalid)
            }
            if !quiet && shard == nil {
                print("sweep \(spec.name): \(plan.count) experiments, all valid (checked in \(RunStoreText.fixed(Date().timeIntervalSince(started), 2)) s) → \(dir.url.path)")
            }
        }
        do { try dir.prepare(SweepManifest(plan: plan)) } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }

        if slurm {
            try writeSlurmScript(plan: plan, dir: dir)
            return
        }
        if let shard, let shards {
            try runShard(plan: plan, dir: dir, shard: shard, shards: shards)
            return
        }
        try runLocally(plan: plan, dir: dir)
    }

    // MARK: one shard, in this process

    func runShard(plan: SweepPlan, dir: SweepDirectory, shard: Int, shards: Int) throws {
        // The scenario runner's protocol journals go to a private temporary directory,
        // emptied after each experiment (a thousand runs must not leave a thousand journals).
        let tmp = dir.url.appendingPathComponent("tmp").appendingPathComponent("shard-\(shard)-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        setenv("TMPDIR", tmp.path, 1)
        defer {
            try? FileManager.default.removeItem(at: tmp)
            try? FileManager.default.removeItem(at: tmp.deletingLastPathComponent())   // only when empty: other shards may still use it
        }
        let log = !worker && !quiet
        do {
            let o = try SweepWorker.run(plan: plan, directory: dir, shard: shard, shards: shards, keepRuns: keepRuns) { r in
                for item in (try? FileManager.default.contentsOfDirectory(at: tmp, includingPropertiesForKeys: nil)) ?? [] {
                    try? FileManager.default.removeItem(at: item)
                }
                if log {
                    let metrics = zip(plan.spec.metrics, r.metrics).map { "\($0.name)=\($1.map(SweepCSV.number) ?? "")" }.joined(separator: " ")
                    print("experiment \(r.experiment) \(r.outcome) in \(RunStoreText.fixed(r.wallS, 2)) s: \(metrics)\(r.error.map { " (\($0))" } ?? "")")
                }
            }
            if log { print("shard \(shard) of \(shards): \(o.ran) run, \(o.skipped) already done") }
        } catch {
            FileHandle.standardError.write(Data("shard \(shard) of \(shards): \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    // MARK: locally, on all cores

    func runLocally(plan: SweepPlan, dir: SweepDirectory) throws {
        let before = dir.collect(fingerprint: plan.fingerprint, experiments: plan.count).results.count
        let remaining = plan.count - before
        if before > 0 && !quiet { print("resuming: \(before) of \(plan.count) experiments already done") }
        if remaining > 0 {
            let n = min(jobs ?? ProcessInfo.processInfo.activeProcessorCount, remaining)
            let exe = Self.executable()
            var children: [Process] = []
            for k in 0..<n {
                let p = Process()
                p.executableURL = exe
                p.arguments = ["sweep", "run", spec, "--shard", String(k), "--shards", String(n), "--out", dir.url.path, "--worker", "--quiet"]
                    + (keepRuns ? ["--keep-runs"] : [])
                p.standardOutput = FileHandle.nullDevice
                try p.run()
                children.append(p)
            }
            let stopper = ChildStopper(children)
            let progress = Progress(total: plan.count, startDone: before, quiet: quiet)
            while children.contains(where: \.isRunning) {
                Thread.sleep(forTimeInterval: 0.5)
                progress.show(done: dir.collect(fingerprint: plan.fingerprint, experiments: plan.count).results.count)
            }
            stopper.disarm()
            progress.show(done: dir.collect(fingerprint: plan.fingerprint, experiments: plan.count).results.count, final: true)
            let failed = children.filter { $0.terminationStatus != 0 }
            if !failed.isEmpty {
                FileHandle.standardError.write(Data("\(failed.count) of \(n) workers failed (exit \(failed.map { String($0.terminationStatus) }.joined(separator: ", "))); what finished is kept: run the same command again to resume\n".utf8))
            }
        }
        let missing = try SweepMerge.merge(dir, quiet: quiet)
        if missing > 0 { throw ExitCode.failure }
        if !quiet { print("report: ecmo-rig report \(dir.url.path)") }
    }

    /// This program, to start its workers.
    static func executable() -> URL {
        #if os(Linux)
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        if FileManager.default.isExecutableFile(atPath: me.path) { return me }
        #endif
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }

    // MARK: Slurm

    func writeSlurmScript(plan: SweepPlan, dir: SweepDirectory) throws {
        let n = min(shards ?? min(plan.count, 16), plan.count)
        let logs = dir.url.appendingPathComponent("slurm")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let specPath = URL(fileURLWithPath: spec).standardizedFileURL.path
        let cwd = FileManager.default.currentDirectoryPath
        var s = """
        #!/bin/bash
        # Sweep \(plan.spec.name): \(plan.count) experiments in \(n) shards, one Slurm array task per shard
        # (task K runs the experiments with index ≡ K mod \(n); a task run again skips what it finished).
        #   submit:              sbatch \(dir.url.path)/sweep.sbatch
        #   rerun one task:      sbatch --array=K \(dir.url.path)/sweep.sbatch
        #   merge when all done: ecmo-rig sweep merge \(dir.url.path)
        # Written by `ecmo-rig sweep \(spec) --slurm`; on a university cluster adapt the partition,
        # the modules and ECMO_RIG, and keep the sweep directory on a shared file system.
        #SBATCH --job-name=ecmo-sweep-\(plan.spec.name)
        #SBATCH --array=0-\(n - 1)
        #SBATCH --ntasks=1
        #SBATCH --cpus-per-task=1
        #SBATCH --output=\(logs.path)/task-%a-job-%A.out

        """
        if let partition { s += "#SBATCH --partition=\(partition)\n" }
        if let timeLimit { s += "#SBATCH --time=\(timeLimit)\n" }
        s += "set -euo pipefail\n"
        if modules.isEmpty {
            s += "# module load swift        # what puts the Swift runtime (and ecmo-rig) on PATH on your cluster\n"
        } else {
            for m in modules { s += "module load \(m)\n" }
        }
        s += """
        ECMO_RIG="${ECMO_RIG:-\(Self.executable().path)}"
        cd \(Self.shellQuote(cwd))
        exec "$ECMO_RIG" sweep run \(Self.shellQuote(specPath)) --shard "$SLURM_ARRAY_TASK_ID" --shards \(n) --out \(Self.shellQuote(dir.url.path))\(keepRuns ? " --keep-runs" : "")

        """
        let script = dir.url.appendingPathComponent("sweep.sbatch")
        do {
            try Data(s.utf8).write(to: script, options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        } catch {
            FileHandle.standardError.write(Data("\(script.path): cannot write: \(error.localizedDescription)\n".utf8))
            throw ExitCode(ExitCodes.recordFailed)
        }
        print("""
        wrote \(script.path): \(plan.count) experiments as a job array of \(n) tasks
          submit:            sbatch \(script.path)
          watch:             squeue --name=ecmo-sweep-\(plan.spec.name)
          rerun a task K:    sbatch --array=K \(script.path)      (it resumes; finished experiments are skipped)
          merge when done:   ecmo-rig sweep merge \(dir.url.path)
        """)
    }

    static func shellQuote(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "/._-+:=@".contains($0) } ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Stops the workers if this process is interrupted (Ctrl-C, SIGTERM): what they finished
/// is on disk, and the same command resumes.
final class ChildStopper: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    init(_ children: [Process]) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                for c in children where c.isRunning { c.terminate() }
                FileHandle.standardError.write(Data("\ninterrupted: finished experiments are kept; run the same command again to resume\n".utf8))
                exit(130)
            }
            src.resume()
            sources.append(src)
        }
    }
    func disarm() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// The progress bar: done/total, rate and ETA; redrawn in place on a terminal, a plain line
/// every 5 % (or 30 s) otherwise.
final class Progress {
    let total: Int
    let startDone: Int
    let quiet: Bool
    let started = Date()
    let isTTY = isatty(STDOUT_FILENO) != 0
    private var lastLine = Date.distantPast
    private var lastPercent = -1

    init(total: Int, startDone: Int, quiet: Bool) {
        self.total = total
        self.startDone = startDone
        self.quiet = quiet
    }

    func show(done: Int, final: Bool = false) {
        guard !quiet else { return }
        let elapsed = Date().timeIntervalSince(started)
        let new = done - startDone
        let rate = elapsed > 0 ? Double(new) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : .nan
        let percent = total > 0 ? done * 100 / total : 100
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = "[\(bar)] \(done)/\(total) \(percent)%  \(RunStoreText.fixed(rate * 60, 1))/min  elapsed \(Self.clock(elapsed))  ETA \(eta.isFinite ? Self.clock(eta) : "–")"
        if isTTY {
            FileHandle.standardOutput.write(Data(("\r\u{1B}[2K" + line + (final ? "\n" : "")).utf8))
        } else if final || percent / 5 > lastPercent / 5 || Date().timeIntervalSince(lastLine) > 30 {
            print(line)
            lastLine = Date()
            lastPercent = percent
        }
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }
}

struct SweepMerge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Index every shard of a sweep directory into one run store (runs.sqlite) and results.csv, each experiment once; exit 1 if some are missing.")

    @Argument(help: "The sweep directory (holds plan.json and shards/).")
    var directory: String

    func run() async throws {
        let missing = try Self.merge(SweepDirectory(URL(fileURLWithPath: directory)), quiet: false)
        if missing > 0 { throw ExitCode.failure }
    }

    /// Collects the shards, writes results.csv and the store; returns how many experiments are missing.
    static func merge(_ dir: SweepDirectory, quiet: Bool) throws -> Int {
        let m: SweepManifest
        do { m = try dir.readManifest() } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.runStore)
        }
        let c = dir.collect(fingerprint: m.fingerprint, experiments: m.experiments)
        for p in c.problems.prefix(20) { FileHandle.standardError.write(Data("warning: ignored: \(p)\n".utf8)) }
        let rows = c.results.values.sorted { $0.experiment < $1.experiment }
        let missing = (0..<m.experiments).filter { c.results[$0] == nil }
        do {
            try Data(SweepCSV.render(m, rows).utf8).write(to: dir.csvURL, options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("\(dir.csvURL.path): cannot write: \(error.localizedDescription)\n".utf8))
            throw ExitCode(ExitCodes.runStore)
        }
        #if ECMO_RUN_STORE
        try RunStoreCLI.guarded {
            let store = try RunStore(runsDirectory: dir.url)
            _ = try store.rescan()   // kept run folders (--keep-runs), if any
            let record = SweepRecord(name: m.sweep, directory: dir.url.path, specFile: m.specFile, fingerprint: m.fingerprint,
                                     experiments: m.experiments, parameters: m.parameters, metrics: m.metrics, sampling: m.sampling,
                                     mergedAt: Run.iso(Date()))
            try store.replaceSweep(record, rows: rows.map {
                SweepRow(experiment: $0.experiment, seed: Int(truncatingIfNeeded: $0.seed), parameters: $0.parameters, metrics: $0.metrics,
                         outcome: $0.outcome, expectationsPassed: $0.expectationsPassed, expectationsTotal: $0.expectationsTotal,
                         alarmsRaised: $0.alarmsRaised, wallS: $0.wallS, ticks: Int(truncatingIfNeeded: $0.ticks), runID: $0.run, error: $0.error)
            })
            if !quiet { print("store:   \(store.databasePath) (sweep \(m.sweep): \(rows.count) rows)") }
        }
        #else
        FileHandle.standardError.write(Data("note: no run store in this build (install libsqlite3-dev and rebuild); results.csv has every row\n".utf8))
        #endif
        if !quiet {
            let wall = rows.reduce(0) { $0 + $1.wallS }
            let outcomes = Dictionary(grouping: rows, by: \.outcome).map { "\($0.value.count) \($0.key)" }.sorted().joined(separator: ", ")
            print("results: \(dir.csvURL.path)")
            print("\(rows.count) of \(m.experiments) experiments (\(outcomes.isEmpty ? "none" : outcomes)); \(RunStoreText.fixed(wall / Double(max(rows.count, 1)), 2)) s of CPU each on average"
                  + (c.duplicates > 0 ? "; \(c.duplicates) duplicate line\(c.duplicates == 1 ? "" : "s") ignored" : "")
                  + (c.torn > 0 ? "; \(c.torn) torn line\(c.torn == 1 ? "" : "s") ignored" : ""))
        }
        if !missing.isEmpty {
            let shown = missing.prefix(20).map(String.init).joined(separator: ", ") + (missing.count > 20 ? ", …" : "")
            FileHandle.standardError.write(Data("\(missing.count) experiment\(missing.count == 1 ? "" : "s") missing: \(shown) (run the sweep, or the Slurm tasks holding them, again: they resume)\n".utf8))
        }
        return missing.count
    }
}

/// Locale-independent numbers for the sweep's output lines.
enum RunStoreText {
    static func fixed(_ x: Double, _ n: Int) -> String { RunRecorder.fixed(x, n) }
}
