import Foundation
import GRDB

/// A sweep as the run store keeps it (`sweep` table): what was varied and measured.
public struct SweepRecord: Sendable, Equatable {
    public var name: String
    public var directory: String
    public var specFile: String
    public var fingerprint: String
    /// Experiments the sweep expands to (rows present may be fewer: see `missing`).
    public var experiments: Int
    public var parameters: [String]
    public var metrics: [String]
    public var sampling: String
    public var mergedAt: String
    public init(name: String, directory: String, specFile: String, fingerprint: String, experiments: Int,
                parameters: [String], metrics: [String], sampling: String, mergedAt: String) {
        self.name = name; self.directory = directory; self.specFile = specFile; self.fingerprint = fingerprint
        self.experiments = experiments; self.parameters = parameters; self.metrics = metrics; self.sampling = sampling
        self.mergedAt = mergedAt
    }
}

/// One experiment's row (`sweep_experiment`): parameter values as written, metric values
/// (nil: not reached), outcome and verdict counts.
public struct SweepRow: Sendable, Equatable {
    public var experiment: Int
    public var seed: Int
    public var parameters: [String]
    public var metrics: [Double?]
    public var outcome: String
    public var expectationsPassed: Int
    public var expectationsTotal: Int
    public var alarmsRaised: Int?
    public var wallS: Double
    public var ticks: Int
    public var runID: String?
    public var error: String?
    public init(experiment: Int, seed: Int, parameters: [String], metrics: [Double?], outcome: String, expectationsPassed: Int,
                expectationsTotal: Int, alarmsRaised: Int?, wallS: Double, ticks: Int, runID: String?, error: String?) {
        self.experiment = experiment; self.seed = seed; self.parameters = parameters; self.metrics = metrics
        self.outcome = outcome; self.expectationsPassed = expectationsPassed; self.expectationsTotal = expectationsTotal
        self.alarmsRaised = alarmsRaised; self.wallS = wallS; self.ticks = ticks; self.runID = runID; self.error = error
    }
}

/// Schema of the sweep tables (migration v2). Parameters and metrics are JSON objects keyed
/// by name (`json_extract(metrics, '$.flow_4h')` in SQL); `sweep_value` holds the same numbers
/// long-form for plain SQL (one row per experiment and name).
enum SweepTables {
    static func create(_ db: Database) throws {
        try db.create(table: "sweep") { t in
            t.primaryKey("name", .text)
            t.column("directory", .text).notNull()
            t.column("spec_file", .text).notNull()
            t.column("fingerprint", .text).notNull()
            t.column("experiments", .integer).notNull()
            t.column("parameters", .text).notNull()
            t.column("metrics", .text).notNull()
            t.column("sampling", .text).notNull()
            t.column("merged_at", .text).notNull()
        }
        try db.create(table: "sweep_experiment") { t in
            t.column("sweep", .text).notNull().references("sweep", onDelete: .cascade)
            t.column("experiment", .integer).notNull()
            t.column("seed", .integer).notNull()
            t.column("parameters", .text).notNull()
            t.column("metrics", .text).notNull()
            t.column("outcome", .text).notNull()
            t.column("expectations_passed", .integer).notNull()
            t.column("expectations_total", .integer).notNull()
            t.column("alarms_raised", .integer)
            t.column("wall_s", .double).notNull()
            t.column("ticks", .integer).notNull()
            t.column("run_id", .text)
            t.column("error", .text)
            t.primaryKey(["sweep", "experiment"])
        }
        try db.create(table: "sweep_value") { t in
            t.column("sweep", .text).notNull().references("sweep", onDelete: .cascade)
            t.column("experiment", .integer).notNull()
            t.column("kind", .text).notNull()        // parameter | metric
            t.column("name", .text).notNull()
            t.column("text", .text)
            t.column("value", .double)
            t.primaryKey(["sweep", "experiment", "kind", "name"])
        }
    }
}

extension RunStore {
    /// Replaces everything stored about the sweep `record.name` with these rows, in one
    /// transaction. Rows are unique per experiment (the table's primary key).
    public func replaceSweep(_ record: SweepRecord, rows: [SweepRow]) throws(RunStoreError) {
        do {
            try dbQueue.write { db in
                try db.execute(sql: "DELETE FROM sweep WHERE name = ?", arguments: [record.name])
                try db.execute(sql: """
                    INSERT INTO sweep (name, directory, spec_file, fingerprint, experiments, parameters, metrics, sampling, merged_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [record.name, record.directory, record.specFile, record.fingerprint, record.experiments,
                                     Self.jsonArray(record.parameters), Self.jsonArray(record.metrics), record.sampling, record.mergedAt])
                let insertRow = try db.makeStatement(sql: """
                    INSERT INTO sweep_experiment (sweep, experiment, seed, parameters, metrics, outcome, expectations_passed,
                      expectations_total, alarms_raised, wall_s, ticks, run_id, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let insertValue = try db.makeStatement(sql: "INSERT INTO sweep_value (sweep, experiment, kind, name, text, value) VALUES (?, ?, ?, ?, ?, ?)")
                for r in rows {
                    try insertRow.execute(arguments: [record.name, r.experiment, r.seed,
                                                      Self.jsonObject(zip(record.parameters, r.parameters.map { .text($0) })),
                                                      Self.jsonObject(zip(record.metrics, r.metrics.map { .number($0) })),
                                                      r.outcome, r.expectationsPassed, r.expectationsTotal, r.alarmsRaised, r.wallS, r.ticks,
                                                      r.runID, r.error])
                    for (k, v) in zip(record.parameters, r.parameters) {
                        try insertValue.execute(arguments: [record.name, r.experiment, "parameter", k, v, Double(v)])
                    }
                    for (k, v) in zip(record.metrics, r.metrics) {
                        try insertValue.execute(arguments: [record.name, r.experiment, "metric", k, nil, v])
                    }
                }
            }
        } catch {
            throw Self.wrap(error, path: databasePath)
        }
    }

    /// The sweeps stored here, by name.
    public func sweeps() throws(RunStoreError) -> [String] {
        do { return try dbQueue.read { db in try String.fetchAll(db, sql: "SELECT name FROM sweep ORDER BY name") } } catch {
            throw Self.wrap(error, path: databasePath)
        }
    }

    /// A stored sweep and its rows in experiment order, or nil.
    public func sweep(_ name: String) throws(RunStoreError) -> (SweepRecord, [SweepRow])? {
        do {
            return try dbQueue.read { db -> (SweepRecord, [SweepRow])? in
                guard let s = try Row.fetchOne(db, sql: "SELECT * FROM sweep WHERE name = ?", arguments: [name]) else { return nil }
                let record = SweepRecord(name: s["name"], directory: s["directory"], specFile: s["spec_file"], fingerprint: s["fingerprint"],
                                         experiments: s["experiments"], parameters: Self.decodeArray(s["parameters"]),
                                         metrics: Self.decodeArray(s["metrics"]), sampling: s["sampling"], mergedAt: s["merged_at"])
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM sweep_experiment WHERE sweep = ? ORDER BY experiment", arguments: [name]).map { r in
                    let p = Self.decodeObject(r["parameters"]), m = Self.decodeObject(r["metrics"])
                    return SweepRow(experiment: r["experiment"], seed: r["seed"],
                                    parameters: record.parameters.map { (p[$0] as? String) ?? "" },
                                    metrics: record.metrics.map { (m[$0] as? NSNumber)?.doubleValue },
                                    outcome: r["outcome"], expectationsPassed: r["expectations_passed"], expectationsTotal: r["expectations_total"],
                                    alarmsRaised: r["alarms_raised"], wallS: r["wall_s"], ticks: r["ticks"], runID: r["run_id"], error: r["error"])
                }
                return (record, rows)
            }
        } catch {
            throw Self.wrap(error, path: databasePath)
        }
    }

    enum JSONScalar { case text(String), number(Double?) }

    // Written with the same JSONSerialization the readers below use: one JSON
    // implementation for both directions, not a hand-written escaper beside it.
    static func jsonArray(_ a: [String]) -> String {
        json(a as NSArray) ?? "[]"
    }

    static func jsonObject<S: Sequence>(_ pairs: S) -> String where S.Element == (String, JSONScalar) {
        let object = NSMutableDictionary()
        for (k, v) in pairs {
            switch v {
            case .text(let t): object[k] = t
            case .number(let d): object[k] = d.flatMap { $0.isFinite ? NSNumber(value: $0) : nil } ?? NSNull()
            }
        }
        return json(object) ?? "{}"
    }

    private static func json(_ object: Any) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    static func decodeArray(_ s: String) -> [String] {
        (try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String]) ?? []
    }

    static func decodeObject(_ s: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any]) ?? [:]
    }
}
