import Testing
import Foundation
import GRDB
@testable import ECMORunStore

@Suite struct SweepStoreTests {
    func record(_ n: Int = 3) -> SweepRecord {
        SweepRecord(name: "s", directory: "/x", specFile: "s.yaml", fingerprint: "f", experiments: n,
                    parameters: ["circuit.act_s", "seed"], metrics: ["t_warn", "flow"], sampling: "grid", mergedAt: "2026-12-04T00:00:00Z")
    }
    func row(_ i: Int, act: String, warn: Double?) -> SweepRow {
        SweepRow(experiment: i, seed: 7 + i, parameters: [act, String(7 + i)], metrics: [warn, 4.0 - Double(i) / 10], outcome: "completed",
                 expectationsPassed: 1, expectationsTotal: 1, alarmsRaised: 0, wallS: 1.5, ticks: 1000, runID: nil, error: nil)
    }

    @Test func anIndexMadeBeforeSweepsUpgradesInPlaceAndKeepsItsRuns() throws {
        let runs = temporaryDirectory()
        let db = try DatabaseQueue(path: runs.appendingPathComponent("runs.sqlite").path)
        // The schema as it was before sweeps: only migration v1 applied, one run in it.
        try RunStore.migrator.migrate(db, upTo: "v1: runs, alarm counts, verdicts")
        try db.write { db in
            try db.execute(sql: "INSERT INTO run (id, directory, kind, outcome, alarms_total, telemetry_rows, events, fingerprint) VALUES ('r1', '/gone', 'run', 'completed', 0, 1, 1, 'x')")
        }
        try db.close()
        let store = try RunStore(runsDirectory: runs)
        #expect(try store.appliedMigrations().count == 2)
        #expect(try store.run(id: "r1")?.outcome == "completed")
    }

    @Test func aSweepIsStoredOnceEachExperimentAndReadBackWithNotReachedAsNil() throws {
        let store = try RunStore(runsDirectory: temporaryDirectory())
        try store.replaceSweep(record(), rows: [row(0, act: "200", warn: 900), row(1, act: "400", warn: nil)])
        // A second merge replaces, never duplicates.
        try store.replaceSweep(record(), rows: [row(0, act: "200", warn: 900), row(1, act: "400", warn: nil), row(2, act: "400", warn: 1200)])
        let (r, rows) = try #require(try store.sweep("s"))
        #expect(r.parameters == ["circuit.act_s", "seed"] && r.experiments == 3)
        #expect(rows.map(\.experiment) == [0, 1, 2])
        #expect(rows[1].metrics[0] == nil && rows[0].metrics[0] == 900 && rows[2].parameters == ["400", "9"])
        let db = try DatabaseQueue(path: store.databasePath)
        let n = try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM sweep_value WHERE kind = 'metric' AND name = 't_warn' AND value IS NOT NULL") }
        #expect(n == 2)
    }

    @Test func theSweepReportIsSelfContainedWithAHeatMapCellPerCombination() throws {
        let rows = [row(0, act: "200", warn: 900), row(1, act: "400", warn: nil), row(2, act: "400", warn: 1200)]
        let c = try SweepReport.choose(record(), x: nil, y: nil, metric: nil)
        #expect(c == SweepReport.Choice(x: "circuit.act_s", y: nil, metric: "t_warn"))
        #expect(throws: RunStoreError.self) { try SweepReport.choose(record(), x: "nope", y: nil, metric: nil) }
        let html = SweepReport.html(record: record(), rows: rows, choice: c)
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "no script, no external file")
        #expect(html.components(separatedBy: "<g class=\"cell\">").count - 1 == 2)
        #expect(html.contains("1200") && html.contains("1/2"), "act 400: one of two reached, mean of the one")
    }
}
