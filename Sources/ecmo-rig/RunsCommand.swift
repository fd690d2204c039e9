import ArgumentParser
import Foundation
#if ECMO_RUN_STORE
import ECMORunStore

/// `ecmo-rig runs …`: the run index (runs.sqlite beside the run folders), read-only on the
/// run folders themselves.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "The run store: list, show, export and re-index the recorded runs (see docs/runs.md).",
        subcommands: [List.self, Show.self, Export.self, Index.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the runs, newest first (the index is refreshed from the folders first).")
        @Option(help: "Runs directory (holds the run folders and runs.sqlite).")
        var runs: String = "runs"
        @Flag(help: "JSON instead of a table.")
        var json = false

        func run() async throws {
            try RunStoreCLI.guarded {
                let store = try RunStore(runsDirectory: URL(fileURLWithPath: runs))
                RunStoreCLI.warn(try store.rescan().failed)
                let all = try store.list()
                if json {
                    print(RunStoreCLI.json(all))
                } else {
                    print(RunStoreCLI.table(all))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Everything the index holds about one run, alarm counts by id.")
        @Argument(help: "Run id, a unique prefix of it, or the run folder's path.")
        var run: String
        @Option(help: "Runs directory.")
        var runs: String = "runs"
        @Flag(help: "JSON instead of text.")
        var json = false

        func run() async throws {
            try RunStoreCLI.guarded {
                let info = try RunStoreCLI.resolve(run, runs: runs)
                print(json ? RunStoreCLI.json(info) : RunStoreCLI.describe(info))
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a run's telemetry and events as CSV for Python or R (columns: docs/runs.md).")
        @Argument(help: "Run id, a unique prefix of it, or the run folder's path.")
        var run: String
        @Option(help: "Runs directory.")
        var runs: String = "runs"
        @Option(help: "A directory (gets <id>-telemetry.csv and <id>-events.csv) or a .csv file for the telemetry (events beside it as <name>-events.csv). Default: the current directory.")
        var out: String = "."

        func run() async throws {
            try RunStoreCLI.guarded {
                let info = try RunStoreCLI.resolve(run, runs: runs)
                let (t, e) = try RunExport.write(run: info, out: out)
                print("telemetry: \(t.path)")
                print("events:    \(e.path)")
            }
        }
    }

    struct Index: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rescan the runs directory and bring runs.sqlite in line with the run folders (exit 7 if a folder cannot be read).")
        @Option(help: "Runs directory.")
        var runs: String = "runs"

        func run() async throws {
            try RunStoreCLI.guarded {
                let started = Date()
                let store = try RunStore(runsDirectory: URL(fileURLWithPath: runs))
                let r = try store.rescan()
                let ms = Int(Date().timeIntervalSince(started) * 1000)
                print("\(store.databasePath): \(r.added.count) added, \(r.updated.count) updated, \(r.unchanged) unchanged, \(r.removed.count) removed, \(r.failed.count) unreadable (\(ms) ms)")
                RunStoreCLI.warn(r.failed)
                if !r.failed.isEmpty { throw ExitCode(ExitCodes.runStore) }
            }
        }
    }
}

/// `ecmo-rig report RUN`: one self-contained HTML file.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report of a run (summary, doses, fouling indicators, alarms, plots) or of a sweep (heat map, distribution over seeds, table).")
    @Argument(help: "Run id, a unique prefix of it, or the run folder's path; or a sweep directory, or a sweep's name (runs/sweeps/<name>). Several runs: a comparison report (flow, ΔP, oxygenator resistance, cells delivered against the time since each run's first dose, outcome metrics side by side).")
    var run: [String]
    @Option(help: "Runs directory.")
    var runs: String = "runs"
    @Option(help: "Output file (default: <id>-report.html, or <sweep>-sweep-report.html, in the current directory).")
    var out: String?
    @Option(help: "Sweep report: the parameter across (default: the first varied one).")
    var x: String?
    @Option(help: "Sweep report: the parameter up (default: the second varied one).")
    var y: String?
    @Option(help: "Sweep report: the metric drawn (default: the first).")
    var metric: String?

    func run() async throws {
        guard let first = self.run.first else { throw ValidationError("name a run (or several to compare)") }
        if self.run.count > 1 {
            try RunStoreCLI.guarded {
                var infos: [RunInfo] = []
                for r in self.run { infos.append(try RunStoreCLI.resolve(r, runs: runs)) }
                let html = try RunComparison.html(infos: infos)
                let target = URL(fileURLWithPath: out ?? "comparison-report.html").standardizedFileURL
                for info in infos where target.deletingLastPathComponent().path == URL(fileURLWithPath: info.directory).standardizedFileURL.path {
                    throw RunStoreError(.io, path: target.path, "refusing to write into the run folder: a run record is never modified")
                }
                do {
                    try Data(html.utf8).write(to: target, options: .atomic)
                } catch {
                    throw RunStoreError(.io, path: target.path, "cannot write the report: \(error.localizedDescription)")
                }
                print("comparison report: \(target.path) (\(infos.count) runs, \(html.utf8.count / 1024) KiB)")
            }
            return
        }
        let run = first
        if let sweep = SweepReportCLI.sweepDirectory(run, runs: runs) {
            try SweepReportCLI.report(sweep, out: out, x: x, y: y, metric: metric)
            return
        }
        try RunStoreCLI.guarded {
            let info = try RunStoreCLI.resolve(run, runs: runs)
            let html = try RunReport.html(run: info)
            let target = URL(fileURLWithPath: out ?? "\(info.id)-report.html").standardizedFileURL
            if target.deletingLastPathComponent().path == URL(fileURLWithPath: info.directory).standardizedFileURL.path {
                throw RunStoreError(.io, path: target.path, "refusing to write into the run folder: a run record is never modified")
            }
            do {
                try Data(html.utf8).write(to: target, options: .atomic)
            } catch {
                throw RunStoreError(.io, path: target.path, "cannot write the report: \(error.localizedDescription)")
            }
            print("report: \(target.path) (\(html.utf8.count / 1024) KiB)")
        }
    }
}

/// `ecmo-rig report SWEEP`: the sweep's merged rows from its run store, as one HTML file.
enum SweepReportCLI {
    /// A sweep directory given as a path, or `<runs>/sweeps/<name>`.
    static func sweepDirectory(_ reference: String, runs: String) -> URL? {
        for candidate in [URL(fileURLWithPath: reference), URL(fileURLWithPath: runs).appendingPathComponent("sweeps").appendingPathComponent(reference)] {
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("plan.json").path) { return candidate.standardizedFileURL }
        }
        return nil
    }

    static func report(_ dir: URL, out: String?, x: String?, y: String?, metric: String?) throws {
        try RunStoreCLI.guarded {
            let name = try? JSONDecoder().decode([String: JSONLoose].self, from: Data(contentsOf: dir.appendingPathComponent("plan.json")))["sweep"]?.text
            let store = try RunStore(runsDirectory: dir)
            let fallback = try store.sweeps().first
            guard let sweepName = name ?? fallback, let (record, rows) = try store.sweep(sweepName) else {
                throw RunStoreError(.unknownRun, path: dir.path, "no merged sweep here: run `ecmo-rig sweep merge \(dir.path)` first")
            }
            let choice = try SweepReport.choose(record, x: x, y: y, metric: metric)
            let html = SweepReport.html(record: record, rows: rows, choice: choice)
            let target = URL(fileURLWithPath: out ?? "\(record.name)-sweep-report.html").standardizedFileURL
            do { try Data(html.utf8).write(to: target, options: .atomic) } catch {
                throw RunStoreError(.io, path: target.path, "cannot write the report: \(error.localizedDescription)")
            }
            print("report: \(target.path) (\(html.utf8.count / 1024) KiB; \(choice.metric) over \(choice.x)\(choice.y.map { " × " + $0 } ?? ""))")
        }
    }

    /// A JSON value read loosely (plan.json's fields are strings, numbers and lists).
    enum JSONLoose: Decodable {
        case text(String), other
        init(from d: any Decoder) throws {
            let c = try d.singleValueContainer()
            self = (try? c.decode(String.self)).map { .text($0) } ?? .other
        }
        var text: String? { if case .text(let t) = self { t } else { nil } }
    }
}

/// Shared by the run-store commands and by `run`/`simulate` at their end.
enum RunStoreCLI {
    /// Runs `body`; a store error is printed (what and where) and exits 7, never a crash.
    static func guarded(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as RunStoreError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            throw ExitCode(ExitCodes.runStore)
        }
    }

    static func warn(_ failures: [RunStoreError]) {
        for f in failures { FileHandle.standardError.write(Data("warning: skipped: \(f)\n".utf8)) }
    }

    /// A path (contains "/" or starts with ".") is read directly; anything else is looked
    /// up in the index of `runs` (exact id, then unique prefix).
    static func resolve(_ reference: String, runs: String) throws(RunStoreError) -> RunInfo {
        if reference.contains("/") || reference.hasPrefix(".") {
            let url = URL(fileURLWithPath: reference)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
                throw RunStoreError(.unknownRun, path: url.path, "no such run folder")
            }
            return try RunFolder.read(url)
        }
        let store = try RunStore(runsDirectory: URL(fileURLWithPath: runs))
        return try store.resolve(reference)
    }

    /// Indexes a run that just ended. A failure is a warning: the record on disk is what
    /// matters, and `ecmo-rig runs index` can always rebuild the index later.
    static func indexFinishedRun(_ runDirectory: URL, runsDirectory: URL) {
        do {
            let store = try RunStore(runsDirectory: runsDirectory)
            try store.index(runDirectory: runDirectory)
        } catch {
            FileHandle.standardError.write(Data("warning: run not indexed (the record is intact; `ecmo-rig runs index --runs \(runsDirectory.path)` retries): \(error)\n".utf8))
        }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.keyEncodingStrategy = .convertToSnakeCase
        return (try? enc.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    static func fixed(_ d: Double?, _ n: Int) -> String {
        guard let d, d.isFinite else { return "-" }
        return RunText.fixed(d, n)
    }

    static func duration(_ s: Double?) -> String {
        guard let s, s.isFinite, abs(s) < 1e9 else { return s.map { "\($0)s" } ?? "-" }
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(pad(t % 3600 / 60))m" : t >= 60 ? "\(t / 60)m\(pad(t % 60))s" : "\(t)s"
    }

    static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static func outcome(_ r: RunInfo) -> String {
        guard let p = r.passed else { return r.outcome }
        return "\(p ? "PASS" : "FAIL") \(r.expectationsPassed ?? 0)/\(r.expectationsTotal ?? 0)"
    }

    static func table(_ runs: [RunInfo]) -> String {
        let header = ["id", "start (UTC)", "duration", "board", "protocol", "operator", "outcome", "alarms", "cells mL"]
        var rows = [header]
        for r in runs {
            let start = r.startedAt.map { $0.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "") } ?? "-"
            rows.append([r.id, start, duration(r.durationS), r.board ?? "-", r.protocolName ?? "-", r.operatorName ?? "-",
                         outcome(r), "\(r.alarmsTotal)", fixed(r.cellsDeliveredMl, 3)])
        }
        let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        var out = rows.map { row in
            row.enumerated().map { i, c in i == row.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count) }
                .joined(separator: "  ")
        }
        out.append("\(runs.count) run\(runs.count == 1 ? "" : "s")")
        return out.joined(separator: "\n")
    }

    static func describe(_ r: RunInfo) -> String {
        var lines: [(String, String)] = [
            ("id", r.id), ("directory", r.directory), ("kind", r.kind), ("board", r.board ?? "-"),
            ("board file", r.boardFile ?? "-"), ("protocol", r.protocolName ?? "-"), ("protocol file", r.protocolFile ?? "-"),
            ("protocol hash", r.protocolHash ?? "-"), ("operator", r.operatorName ?? "-"), ("started", r.startedAt ?? "-"),
            ("ended", r.endedAt ?? "-"), ("duration (loop)", "\(fixed(r.durationS, 3)) s"), ("wall time", "\(fixed(r.wallS, 3)) s"),
            ("mode", r.mode ?? "-"), ("outcome", outcome(r)), ("seed", r.seed.map(String.init) ?? "-"),
            ("cells prescribed", "\(fixed(r.cellsPrescribedMl, 4)) mL"), ("cells delivered", "\(fixed(r.cellsDeliveredMl, 4)) mL"),
            ("heparin prescribed", "\(fixed(r.heparinPrescribedMl, 4)) mL"), ("heparin delivered", "\(fixed(r.heparinDeliveredMl, 4)) mL"),
            ("telemetry rows", "\(r.telemetryRows) (dropped \(r.telemetryDropped.map(String.init) ?? "-"))"),
            ("events", "\(r.events) (dropped \(r.eventsDropped.map(String.init) ?? "-"))"),
            ("alarms raised", "\(r.alarmsTotal)"),
        ]
        for a in r.alarms { lines.append(("  \(a.alarm)", "\(a.raised) (\(a.priority))")) }
        let w = lines.map(\.0.count).max() ?? 0
        var out = lines.map { $0.0 + String(repeating: " ", count: w - $0.0.count) + "  " + $0.1 }
        if !r.verdicts.isEmpty { out.append("expectations") }
        for v in r.verdicts { out.append("  \(v.passed ? "✔" : "✘") \(v.name): \(v.measured)") }
        return out.joined(separator: "\n")
    }
}

#else

/// Built without SQLite's headers (Package.swift): the run-store commands exist, and
/// say what to install instead of vanishing from the help.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "The run store (not in this build: needs libsqlite3-dev, see docs/runs.md).")
    @Argument(parsing: .allUnrecognized) var rest: [String] = []
    func run() async throws { try RunStoreCLI.unavailable() }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "HTML report of a run (not in this build: needs libsqlite3-dev, see docs/runs.md).")
    @Argument(parsing: .allUnrecognized) var rest: [String] = []
    func run() async throws { try RunStoreCLI.unavailable() }
}

enum RunStoreCLI {
    static func unavailable() throws {
        FileHandle.standardError.write(Data("error: this ecmo-rig was built without the run store: install SQLite's headers (Debian/Ubuntu: sudo apt-get install libsqlite3-dev) and rebuild\n".utf8))
        throw ExitCode(ExitCodes.runStore)
    }

    /// Without the store a finished run is only on disk (which is the record); say so once.
    static func indexFinishedRun(_ runDirectory: URL, runsDirectory: URL) {
        FileHandle.standardError.write(Data("note: run not indexed (this build has no run store; install libsqlite3-dev and rebuild, then `ecmo-rig runs index`)\n".utf8))
    }
}

#endif
