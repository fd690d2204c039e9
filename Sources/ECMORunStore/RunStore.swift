import Foundation
import GRDB

/// The index of a runs directory: `runs.sqlite` beside the run folders. It is derived
/// data: every row comes from a run folder and `rescan()` rebuilds it; nothing here
/// writes, moves or deletes a run's files.
public final class RunStore: Sendable {
    public static let databaseName = "runs.sqlite"
    public let runsDirectory: URL
    public let databasePath: String
    let dbQueue: DatabaseQueue

    /// Opens (creating if needed) the index of an existing `runsDirectory` and migrates it.
    /// A corrupt or locked database is an error naming the file.
    public init(runsDirectory: URL, busyTimeout: TimeInterval = 2) throws(RunStoreError) {
        self.runsDirectory = runsDirectory.standardizedFileURL
        databasePath = self.runsDirectory.appendingPathComponent(Self.databaseName).path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: self.runsDirectory.path, isDirectory: &isDir), isDir.boolValue else {
            throw RunStoreError(.io, path: self.runsDirectory.path, "no such runs directory (give it with --runs DIR)")
        }
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        let path = databasePath
        do {
            dbQueue = try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(dbQueue)
        } catch {
            throw Self.wrap(error, path: path)
        }
    }

    /// Turns a GRDB/SQLite error into one naming the database and what to do.
    static func wrap(_ error: any Error, path: String) -> RunStoreError {
        if let e = error as? RunStoreError { return e }
        if let e = error as? DatabaseError {
            switch e.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return RunStoreError(.database, path: path, "the run index is corrupt (\(e.message ?? "not a database")); it is derived data: delete it and run `ecmo-rig runs index`")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return RunStoreError(.database, path: path, "the run index is locked by another process (\(e.message ?? "busy")); try again when it is done")
            default:
                return RunStoreError(.database, path: path, "database error: \(e.message ?? "\(e.resultCode)")")
            }
        }
        return RunStoreError(.database, path: path, "\(error)")
    }

    /// The schema, one migration per change, so an older index upgrades in place.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: runs, alarm counts, verdicts") { db in
            try db.create(table: "run") { t in
                t.primaryKey("id", .text)
                t.column("directory", .text).notNull().unique()
                t.column("kind", .text).notNull()
                t.column("board", .text)
                t.column("board_file", .text)
                t.column("protocol_name", .text)
                t.column("protocol_file", .text)
                t.column("protocol_hash", .text)
                t.column("operator", .text)
                t.column("started_at", .text)
                t.column("ended_at", .text)
                t.column("duration_s", .double)
                t.column("wall_s", .double)
                t.column("mode", .text)
                t.column("outcome", .text).notNull()
                t.column("passed", .boolean)
                t.column("expectations_passed", .integer)
                t.column("expectations_total", .integer)
                t.column("alarms_total", .integer).notNull()
                t.column("cells_prescribed_ml", .double)
                t.column("cells_delivered_ml", .double)
                t.column("heparin_prescribed_ml", .double)
                t.column("heparin_delivered_ml", .double)
                t.column("telemetry_rows", .integer).notNull()
                t.column("telemetry_dropped", .integer)
                t.column("events", .integer).notNull()
                t.column("events_dropped", .integer)
                t.column("seed", .integer)
                t.column("fingerprint", .text).notNull()
            }
            try db.create(index: "run_started", on: "run", columns: ["started_at"])
            try db.create(table: "alarm_count") { t in
                t.column("run_id", .text).notNull().references("run", onDelete: .cascade)
                t.column("alarm", .text).notNull()
                t.column("priority", .text).notNull()
                t.column("raised", .integer).notNull()
                t.primaryKey(["run_id", "alarm"])
            }
            try db.create(table: "verdict") { t in
                t.column("run_id", .text).notNull().references("run", onDelete: .cascade)
                t.column("position", .integer).notNull()
                t.column("name", .text).notNull()
                t.column("line", .integer).notNull()
                t.column("passed", .boolean).notNull()
                t.column("measured", .text).notNull()
                t.primaryKey(["run_id", "position"])
            }
        }
        m.registerMigration("v2: sweeps, one row per experiment") { db in
            try SweepTables.create(db)
        }
        return m
    }

    /// The applied migrations (for tests and `runs index`).
    public func appliedMigrations() throws(RunStoreError) -> [String] {
        do { return try dbQueue.read { db in try Self.migrator.appliedMigrations(db) } } catch { throw Self.wrap(error, path: databasePath) }
    }

    // MARK: writing

    /// Reads one run folder and stores (or replaces) its row.
    @discardableResult
    public func index(runDirectory: URL) throws(RunStoreError) -> RunInfo {
        let info = try RunFolder.read(runDirectory)
        try upsert([info])
        return info
    }

    /// Stores the rows in one transaction (one fsync for a whole rescan, not one per run).
    func upsert(_ infos: [RunInfo]) throws(RunStoreError) {
        guard !infos.isEmpty else { return }
        do {
            try dbQueue.write { db in
              for info in infos {
                // Another folder once indexed under this id (a folder moved): one row per id.
                try db.execute(sql: "DELETE FROM run WHERE id = ? OR directory = ?", arguments: [info.id, info.directory])
                try RunRow(info).insert(db)
                for a in info.alarms {
                    try db.execute(sql: "INSERT INTO alarm_count (run_id, alarm, priority, raised) VALUES (?, ?, ?, ?)",
                                   arguments: [info.id, a.alarm, a.priority, a.raised])
                }
                for (i, v) in info.verdicts.enumerated() {
                    try db.execute(sql: "INSERT INTO verdict (run_id, position, name, line, passed, measured) VALUES (?, ?, ?, ?, ?, ?)",
                                   arguments: [info.id, i, v.name, v.line, v.passed, v.measured])
                }
              }
            }
        } catch {
            throw Self.wrap(error, path: databasePath)
        }
    }

    /// What a rescan did.
    public struct RescanReport: Sendable {
        public var added: [String] = []
        public var updated: [String] = []
        public var unchanged = 0
        public var removed: [String] = []
        /// Folders that could not be read (they are left out of the index, untouched).
        public var failed: [RunStoreError] = []
    }

    /// Brings the index in line with the run folders directly under the runs directory:
    /// new or changed folders are (re)read, rows of vanished folders are dropped.
    public func rescan() throws(RunStoreError) -> RescanReport {
        var report = RescanReport()
        let fm = FileManager.default
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: runsDirectory.path).sorted() } catch {
            throw RunStoreError(.io, path: runsDirectory.path, "cannot list: \(error.localizedDescription)")
        }
        let known: [String: String]
        do {
            known = try dbQueue.read { db in
                Dictionary(try Row.fetchAll(db, sql: "SELECT directory, fingerprint FROM run").map { ($0["directory"] as String, $0["fingerprint"] as String) },
                           uniquingKeysWith: { a, _ in a })
            }
        } catch { throw Self.wrap(error, path: databasePath) }
        var seen = Set<String>()
        var batch: [RunInfo] = []
        for name in names {
            let dir = runsDirectory.appendingPathComponent(name).standardizedFileURL
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue, RunFolder.isRunFolder(dir) else { continue }
            seen.insert(dir.path)
            if let f = known[dir.path], f == RunFolder.fingerprint(dir) {
                report.unchanged += 1
                continue
            }
            do {
                let info = try RunFolder.read(dir)
                batch.append(info)
                if known[dir.path] == nil { report.added.append(info.id) } else { report.updated.append(info.id) }
            } catch {
                report.failed.append(error)
                // A folder that no longer reads must not keep a stale row.
                if known[dir.path] != nil { try deleteRow(directory: dir.path) }
            }
        }
        try upsert(batch)
        for (dir, _) in known where !seen.contains(dir) {
            try deleteRow(directory: dir)
            report.removed.append(URL(fileURLWithPath: dir).lastPathComponent)
        }
        return report
    }

    private func deleteRow(directory: String) throws(RunStoreError) {
        do { try dbQueue.write { db in try db.execute(sql: "DELETE FROM run WHERE directory = ?", arguments: [directory]) } } catch {
            throw Self.wrap(error, path: databasePath)
        }
    }

    // MARK: reading

    /// All indexed runs, newest first.
    public func list() throws(RunStoreError) -> [RunInfo] {
        do {
            return try dbQueue.read { db in
                let rows = try RunRow.fetchAll(db, sql: "SELECT * FROM run ORDER BY started_at DESC, id DESC")
                return try rows.map { try Self.complete($0.info, db) }
            }
        } catch { throw Self.wrap(error, path: databasePath) }
    }

    /// One run by id.
    public func run(id: String) throws(RunStoreError) -> RunInfo? {
        do {
            return try dbQueue.read { db in
                try RunRow.fetchOne(db, key: id).map { try Self.complete($0.info, db) }
            }
        } catch { throw Self.wrap(error, path: databasePath) }
    }

    private static func complete(_ info: RunInfo, _ db: Database) throws -> RunInfo {
        var i = info
        i.alarms = try Row.fetchAll(db, sql: "SELECT alarm, priority, raised FROM alarm_count WHERE run_id = ? ORDER BY raised DESC, alarm", arguments: [info.id])
            .map { AlarmTally(alarm: $0["alarm"], priority: $0["priority"], raised: $0["raised"]) }
        i.verdicts = try Row.fetchAll(db, sql: "SELECT name, line, passed, measured FROM verdict WHERE run_id = ? ORDER BY position", arguments: [info.id])
            .map { VerdictEntry(name: $0["name"], line: $0["line"], passed: $0["passed"], measured: $0["measured"]) }
        return i
    }

    /// A run named on the command line: an exact id, a unique id prefix, or a folder path.
    /// The index is brought up to date first when the name is not found in it.
    public func resolve(_ reference: String) throws(RunStoreError) -> RunInfo {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if reference.contains("/") || reference.hasPrefix(".") {
            let url = URL(fileURLWithPath: reference).standardizedFileURL
            guard fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
                throw RunStoreError(.unknownRun, path: url.path, "no such run folder")
            }
            return try RunFolder.read(url)
        }
        if let hit = try match(reference) { return hit }
        _ = try rescan()
        if let hit = try match(reference) { return hit }
        throw RunStoreError(.unknownRun, path: runsDirectory.path, "no run '\(reference)' (by id or id prefix); `ecmo-rig runs list --runs \(runsDirectory.path)` shows them")
    }

    private func match(_ reference: String) throws(RunStoreError) -> RunInfo? {
        if let exact = try run(id: reference) { return exact }
        let ids: [String]
        do {
            ids = try dbQueue.read { db in
                try String.fetchAll(db, sql: "SELECT id FROM run WHERE substr(id, 1, ?) = ? ORDER BY id", arguments: [reference.count, reference])
            }
        } catch { throw Self.wrap(error, path: databasePath) }
        if ids.count > 1 {
            let shown = ids.prefix(5).joined(separator: ", ") + (ids.count > 5 ? ", …" : "")
            throw RunStoreError(.ambiguousRun, path: runsDirectory.path, "'\(reference)' matches \(ids.count) runs (\(shown)): give more of the id")
        }
        guard let id = ids.first else { return nil }
        return try run(id: id)
    }
}

/// The `run` table's row: RunInfo without the child tables.
struct RunRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "run"
    var id: String
    var directory: String
    var kind: String
    var board: String?
    var boardFile: String?
    var protocolName: String?
    var protocolFile: String?
    var protocolHash: String?
    var operatorName: String?
    var startedAt: String?
    var endedAt: String?
    var durationS: Double?
    var wallS: Double?
    var mode: String?
    var outcome: String
    var passed: Bool?
    var expectationsPassed: Int?
    var expectationsTotal: Int?
    var alarmsTotal: Int
    var cellsPrescribedMl: Double?
    var cellsDeliveredMl: Double?
    var heparinPrescribedMl: Double?
    var heparinDeliveredMl: Double?
    var telemetryRows: Int
    var telemetryDropped: Int?
    var events: Int
    var eventsDropped: Int?
    var seed: Int?
    var fingerprint: String

    enum CodingKeys: String, CodingKey {
        case id, directory, kind, board, mode, outcome, passed, events, seed, fingerprint
        case boardFile = "board_file", protocolName = "protocol_name", protocolFile = "protocol_file"
        case protocolHash = "protocol_hash", operatorName = "operator", startedAt = "started_at", endedAt = "ended_at"
        case durationS = "duration_s", wallS = "wall_s", expectationsPassed = "expectations_passed"
        case expectationsTotal = "expectations_total", alarmsTotal = "alarms_total"
        case cellsPrescribedMl = "cells_prescribed_ml", cellsDeliveredMl = "cells_delivered_ml"
        case heparinPrescribedMl = "heparin_prescribed_ml", heparinDeliveredMl = "heparin_delivered_ml"
        case telemetryRows = "telemetry_rows", telemetryDropped = "telemetry_dropped", eventsDropped = "events_dropped"
    }

    init(_ i: RunInfo) {
        id = i.id; directory = i.directory; kind = i.kind; board = i.board; boardFile = i.boardFile
        protocolName = i.protocolName; protocolFile = i.protocolFile; protocolHash = i.protocolHash
        operatorName = i.operatorName; startedAt = i.startedAt; endedAt = i.endedAt; durationS = i.durationS
        wallS = i.wallS; mode = i.mode; outcome = i.outcome; passed = i.passed
        expectationsPassed = i.expectationsPassed; expectationsTotal = i.expectationsTotal; alarmsTotal = i.alarmsTotal
        cellsPrescribedMl = i.cellsPrescribedMl; cellsDeliveredMl = i.cellsDeliveredMl
        heparinPrescribedMl = i.heparinPrescribedMl; heparinDeliveredMl = i.heparinDeliveredMl
        telemetryRows = i.telemetryRows; telemetryDropped = i.telemetryDropped; events = i.events
        eventsDropped = i.eventsDropped; seed = i.seed; fingerprint = i.fingerprint
    }

    var info: RunInfo {
        var i = RunInfo(id: id, directory: directory, kind: kind, outcome: outcome, alarmsTotal: alarmsTotal,
                        telemetryRows: telemetryRows, events: events, fingerprint: fingerprint)
        i.board = board; i.boardFile = boardFile; i.protocolName = protocolName; i.protocolFile = protocolFile
        i.protocolHash = protocolHash; i.operatorName = operatorName; i.startedAt = startedAt; i.endedAt = endedAt
        i.durationS = durationS; i.wallS = wallS; i.mode = mode; i.passed = passed
        i.expectationsPassed = expectationsPassed; i.expectationsTotal = expectationsTotal
        i.cellsPrescribedMl = cellsPrescribedMl; i.cellsDeliveredMl = cellsDeliveredMl
        i.heparinPrescribedMl = heparinPrescribedMl; i.heparinDeliveredMl = heparinDeliveredMl
        i.telemetryDropped = telemetryDropped; i.eventsDropped = eventsDropped; i.seed = seed
        return i
    }
}
