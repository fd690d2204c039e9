import Foundation
import ECMOPosix
import ECMOScenario

/// What one experiment produced: one line of a shard's results file (JSON Lines).
public struct ExperimentResult: Codable, Sendable, Equatable {
    public var experiment: Int
    /// The sweep's fingerprint (`SweepPlan.fingerprint`): a line of another version of the
    /// sweep is never merged into this one.
    public var plan: String
    public var seed: UInt64
    /// Each parameter's value as YAML text, in the sweep file's order.
    public var parameters: [String]
    /// Each metric's value, in the sweep file's order; nil: not reached (no fouling
    /// warning, no samples in the window), never 0.
    public var metrics: [Double?]
    /// `completed`, `fault`, `power_loss`, or `error` (the experiment could not run: `error` says why).
    public var outcome: String
    public var expectationsPassed: Int
    public var expectationsTotal: Int
    public var alarmsRaised: Int?
    public var wallS: Double
    public var ticks: UInt64
    /// The kept run folder's name (`--keep-runs`), else nil.
    public var run: String?
    public var error: String?

    public init(experiment: Int, plan: String, seed: UInt64, parameters: [String], metrics: [Double?], outcome: String,
                expectationsPassed: Int, expectationsTotal: Int, alarmsRaised: Int?, wallS: Double, ticks: UInt64,
                run: String?, error: String?) {
        self.experiment = experiment; self.plan = plan; self.seed = seed; self.parameters = parameters
        self.metrics = metrics.map { $0.flatMap { $0.isFinite ? $0 : nil } }
        self.outcome = outcome; self.expectationsPassed = expectationsPassed; self.expectationsTotal = expectationsTotal
        self.alarmsRaised = alarmsRaised; self.wallS = wallS.isFinite ? wallS : 0; self.ticks = ticks; self.run = run; self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case experiment, plan, seed, parameters, metrics, outcome, run, error, ticks
        case expectationsPassed = "expectations_passed", expectationsTotal = "expectations_total"
        case alarmsRaised = "alarms_raised", wallS = "wall_s"
    }

    /// One JSON line, newline included.
    public func line() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = [UInt8](try enc.encode(self))
        bytes.append(0x0A)
        return bytes
    }
}

/// Runs experiments: the scenario runner on the built scenario, metrics read from its verdicts.
public enum SweepExecution {
    /// Runs one experiment. `keepRunsIn`: the directory its run folder is written into
    /// (nil: no files, only the result). A run that cannot start is a result with outcome
    /// `error`, so one bad experiment never stops a sweep of thousands.
    public static func run(_ e: Experiment, plan: SweepPlan, keepRunsIn: URL?) -> ExperimentResult {
        let started = Date()
        func failed(_ why: String) -> ExperimentResult {
            ExperimentResult(experiment: e.index, plan: plan.fingerprint, seed: e.seed, parameters: e.values,
                             metrics: plan.spec.metrics.map { _ in nil }, outcome: "error", expectationsPassed: 0,
                             expectationsTotal: e.ownExpectations, alarmsRaised: nil, wallS: Date().timeIntervalSince(started),
                             ticks: 0, run: nil, error: why)
        }
        let r: ScenarioResult
        do {
            let runner = try ScenarioRunner(scenario: e.scenario, outputDirectory: keepRunsIn)
            r = try runner.run()
        } catch {
            return failed("\(error)")
        }
        return result(of: r, experiment: e, plan: plan, wall: Date().timeIntervalSince(started), kept: keepRunsIn != nil)
    }

    /// The result row of a finished scenario run: the base expectations' verdict counts and
    /// each metric's value (an appended expectation's measured value, or a figure).
    public static func result(of r: ScenarioResult, experiment e: Experiment, plan: SweepPlan, wall: Double, kept: Bool) -> ExperimentResult {
        let own = r.verdicts.prefix(e.ownExpectations)
        var next = e.ownExpectations
        var metrics: [Double?] = []
        for m in plan.spec.metrics {
            switch m.kind {
            case .expectation:
                metrics.append(next < r.verdicts.count ? r.verdicts[next].value : nil)
                next += 1
            case .figure(let name):
                metrics.append(r.figures[name])
            }
        }
        return ExperimentResult(experiment: e.index, plan: plan.fingerprint, seed: e.seed, parameters: e.values, metrics: metrics,
                                outcome: r.outcome, expectationsPassed: own.filter(\.passed).count, expectationsTotal: own.count,
                                alarmsRaised: r.figures["alarms_raised"].map { Int($0) }, wallS: wall, ticks: r.ticks,
                                run: kept ? r.runDirectory.map { URL(fileURLWithPath: $0).lastPathComponent } : nil, error: nil)
    }
}

/// What a sweep directory says about the sweep it holds (`plan.json`), written before the
/// first experiment runs and read by every shard and by `merge`.
public struct SweepManifest: Codable, Sendable, Equatable {
    public var sweep: String
    public var description: String?
    public var specFile: String
    public var baseScenario: String
    public var fingerprint: String
    public var experiments: Int
    public var parameters: [String]
    public var metrics: [String]
    public var sampling: String

    enum CodingKeys: String, CodingKey {
        case sweep, description, fingerprint, experiments, parameters, metrics, sampling
        case specFile = "spec_file", baseScenario = "base_scenario"
    }

    public init(sweep: String, description: String?, specFile: String, baseScenario: String, fingerprint: String,
                experiments: Int, parameters: [String], metrics: [String], sampling: String) {
        self.sweep = sweep; self.description = description; self.specFile = specFile; self.baseScenario = baseScenario
        self.fingerprint = fingerprint; self.experiments = experiments; self.parameters = parameters; self.metrics = metrics
        self.sampling = sampling
    }

    public init(plan: SweepPlan) {
        let s = plan.spec
        sweep = s.name
        description = s.description
        specFile = URL(fileURLWithPath: s.file).standardizedFileURL.path
        baseScenario = s.basePath
        fingerprint = plan.fingerprint
        experiments = plan.count
        parameters = s.parameters.map(\.key)
        metrics = s.metrics.map(\.name)
        switch s.sampling {
        case .grid: sampling = "grid"
        case .list: sampling = "list"
        case .lhs(let n, let seed): sampling = "lhs samples=\(n) seed=\(seed)"
        }
    }
}

public struct SweepDirectoryError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A sweep's output directory: `plan.json`, `shards/shard-K-of-N.jsonl` (one per shard,
/// appended durably, one line per finished experiment), and after a merge `runs.sqlite`
/// and `results.csv`.
public struct SweepDirectory: Sendable {
    public let url: URL
    public init(_ url: URL) { self.url = url.standardizedFileURL }
    public var manifestURL: URL { url.appendingPathComponent("plan.json") }
    public var shardsURL: URL { url.appendingPathComponent("shards") }
    public var csvURL: URL { url.appendingPathComponent("results.csv") }
    public func shardURL(_ k: Int, of n: Int) -> URL { shardsURL.appendingPathComponent("shard-\(k)-of-\(n).jsonl") }

    public static func isSweepDirectory(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("plan.json").path)
    }

    public func readManifest() throws(SweepDirectoryError) -> SweepManifest {
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw SweepDirectoryError("\(manifestURL.path): no sweep here (plan.json missing or unreadable)")
        }
        do { return try JSONDecoder().decode(SweepManifest.self, from: data) } catch {
            throw SweepDirectoryError("\(manifestURL.path): not a sweep plan: \(error)")
        }
    }

    /// Writes the manifest for a new sweep, or checks that the one there is the same sweep:
    /// resuming with an edited sweep file would mix results of two different sweeps.
    public func prepare(_ m: SweepManifest) throws(SweepDirectoryError) {
        let fm = FileManager.default
        do { try fm.createDirectory(at: shardsURL, withIntermediateDirectories: true) } catch {
            throw SweepDirectoryError("\(shardsURL.path): cannot create: \(error.localizedDescription)")
        }
        if fm.fileExists(atPath: manifestURL.path) {
            let old = try readManifest()
            guard old.fingerprint == m.fingerprint, old.experiments == m.experiments else {
                throw SweepDirectoryError("\(url.path) holds results of another version of sweep '\(old.sweep)' (\(old.specFile), \(old.experiments) experiments; its files changed since): use another --out, or remove that directory to start afresh")
            }
            return
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try (try enc.encode(m)).write(to: manifestURL, options: .atomic)
        } catch {
            throw SweepDirectoryError("\(manifestURL.path): cannot write: \(error.localizedDescription)")
        }
    }

    /// What the shard files hold.
    public struct Collected: Sendable {
        /// Each experiment once (the first line found for it, shards in name order).
        public var results: [Int: ExperimentResult] = [:]
        /// Lines for an experiment already found (a task rerun after it had finished some).
        public var duplicates = 0
        /// Torn last lines (a task killed while writing): ignored, the experiment runs again.
        public var torn = 0
        /// Lines that are not results of this sweep, with where they are.
        public var problems: [String] = []
    }

    /// Reads every shard file. `fingerprint`: only lines of this version of the sweep count.
    public func collect(fingerprint: String, experiments: Int) -> Collected {
        var c = Collected()
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: shardsURL.path)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
        let dec = JSONDecoder()
        for name in names {
            let path = shardsURL.appendingPathComponent(name).path
            guard let data = fm.contents(atPath: path) else { c.problems.append("\(path): unreadable"); continue }
            let bytes = [UInt8](data)
            var start = 0
            var lineNo = 0
            while start < bytes.count {
                lineNo += 1
                guard let nl = bytes[start...].firstIndex(of: 0x0A) else {
                    c.torn += 1   // no newline: cut short while being written
                    break
                }
                defer { start = nl + 1 }
                if nl == start { continue }
                guard let r = try? dec.decode(ExperimentResult.self, from: Data(bytes[start..<nl])) else {
                    c.problems.append("\(path):\(lineNo): not a result line")
                    continue
                }
                guard r.plan == fingerprint else {
                    c.problems.append("\(path):\(lineNo): experiment \(r.experiment) belongs to another version of the sweep")
                    continue
                }
                guard r.experiment >= 0, r.experiment < experiments else {
                    c.problems.append("\(path):\(lineNo): experiment \(r.experiment) is outside 0..<\(experiments)")
                    continue
                }
                if c.results[r.experiment] != nil { c.duplicates += 1 } else { c.results[r.experiment] = r }
            }
        }
        return c
    }
}

/// A shard's results file, opened for appending: a torn last line (a kill while writing)
/// is cut off first, then every line is written and synced before the next experiment.
public final class ShardWriter {
    public let path: String
    private let file: any RecordFile

    /// `fileSystem`: the real calls, or a test's log of them (crash-consistency tests).
    public init(path: String, fileSystem: any RecordFileSystem = PosixFileSystem()) throws(FileError) {
        self.path = path
        let existing = fileSystem.exists(path) ? try fileSystem.readAll(path) : []
        file = try fileSystem.openForAppending(path, creating: true, exclusive: false)
        if let last = existing.last, last != 0x0A {
            let keep = existing.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
            try file.truncateDurably(to: keep)
        }
        if existing.isEmpty { try fileSystem.syncDirectory(of: path) }
    }

    deinit { file.close() }

    public func append(_ r: ExperimentResult) throws {
        try file.appendDurably(try r.line())
    }
}

/// `results.csv`: one row per experiment, one column per parameter and metric, for Python or R.
public enum SweepCSV {
    public static func header(_ m: SweepManifest) -> [String] {
        ["experiment", "seed"] + m.parameters.filter { $0 != "seed" } + m.metrics
            + ["outcome", "expectations_passed", "expectations_total", "alarms_raised", "wall_s", "ticks", "run", "error"]
    }

    public static func render(_ m: SweepManifest, _ rows: [ExperimentResult]) -> String {
        var out = header(m).map(quote).joined(separator: ",") + "\n"
        for r in rows {
            var f = [String(r.experiment), String(r.seed)]
            for (k, v) in zip(m.parameters, r.parameters) where k != "seed" { f.append(v) }
            f += r.metrics.map { $0.map(number) ?? "" }
            f += [r.outcome, String(r.expectationsPassed), String(r.expectationsTotal), r.alarmsRaised.map(String.init) ?? "",
                  number((r.wallS * 1000).rounded() / 1000), String(r.ticks), r.run ?? "", r.error ?? ""]
            out += f.map(quote).joined(separator: ",") + "\n"
        }
        return out
    }

    /// Shortest text that reads back as the same double (`300`, `0.6123`, `2.1e-05`).
    public static func number(_ v: Double) -> String {
        if v.rounded() == v, abs(v) < 1e15 { return String(Int(v)) }
        return "\(v)"
    }

    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

/// One shard's work: the experiments with index ≡ shard (mod shards) that no shard file
/// holds yet, each run and appended durably before the next. The same code serves a local
/// worker process and a Slurm array task; a rerun after a kill skips what is done.
public enum SweepWorker {
    public struct Outcome: Sendable {
        public var ran = 0
        public var skipped = 0
    }

    /// - Parameters:
    ///   - limit: stop after this many experiments (tests: a kill after k).
    ///   - finished: called after each experiment's line is durable.
    public static func run(plan: SweepPlan, directory: SweepDirectory, shard: Int, shards: Int, keepRuns: Bool,
                           limit: Int? = nil, finished: ((ExperimentResult) -> Void)? = nil) throws -> Outcome {
        let done = directory.collect(fingerprint: plan.fingerprint, experiments: plan.count).results
        let mine = stride(from: shard, to: plan.count, by: max(shards, 1))
        var outcome = Outcome()
        let todo = mine.filter { done[$0] == nil }
        outcome.skipped = mine.underestimatedCount > 0 ? Array(mine).count - todo.count : 0
        guard !todo.isEmpty else { return outcome }
        let writer = try ShardWriter(path: directory.shardURL(shard, of: shards).path)
        for i in todo {
            if let limit, outcome.ran >= limit { break }
            let r: ExperimentResult
            switch plan.build(i) {
            case .failure(let e):
                throw SweepDirectoryError("experiment \(i) is not valid:\n\(e)")
            case .success(let experiment):
                r = SweepExecution.run(experiment, plan: plan, keepRunsIn: keepRuns ? directory.url : nil)
            }
            try writer.append(r)
            outcome.ran += 1
            finished?(r)
        }
        return outcome
    }
}
