import Testing
import Foundation
import GRDB
import ECMORuntime
import ECMORunStore

@Suite struct RunIndexTests {
    @Test func aRealScenarioRunIsIndexedWithBoardVerdictsAndTheAlarmsOfItsEventLog() throws {
        let run = try #require(realRun, "the scenario run could not be produced")
        let store = try RunStore(runsDirectory: temporaryDirectory())
        try store.index(runDirectory: run.directory)
        let info = try #require(try store.run(id: "store-kink"))
        #expect(info.kind == "scenario")
        #expect(info.board == "sim")
        #expect(info.passed == run.result.passed)
        #expect(info.expectationsTotal == 1 && info.verdicts.first?.name == "suction alarm")
        #expect(info.startedAt != nil && info.endedAt != nil)
        #expect(info.mode == "constant_speed 3000 rpm")
        #expect(info.durationS == 9)
        // Counted independently from the raw lines.
        let lines = try String(contentsOf: run.directory.appendingPathComponent("events.jsonl"), encoding: .utf8).split(separator: "\n")
        let raised = lines.filter { $0.contains(#""action":"raised""#) }
        #expect(raised.count >= 1)
        #expect(info.alarmsTotal == raised.count)
        #expect(info.alarms.first { $0.alarm == "P_DRAIN_LOW" }?.raised == raised.filter { $0.contains("P_DRAIN_LOW") }.count)
        let csvLines = try String(contentsOf: run.directory.appendingPathComponent("telemetry.csv"), encoding: .utf8).split(separator: "\n")
        #expect(info.telemetryRows == csvLines.count - 1)
        #expect(info.events == lines.count)
    }

    @Test func alarmCountsByIdMatchTheEventsAndSurviveTheDatabase() throws {
        let runs = temporaryDirectory()
        writeFixtureRun(in: runs, name: "20261125-100000-bench-a-1", events: fixtureEvents, summary: fixtureSummary)
        let store = try RunStore(runsDirectory: runs)
        _ = try store.rescan()
        let info = try #require(try store.run(id: "20261125-100000-bench-a-1"))
        #expect(info.alarmsTotal == 3)
        #expect(info.alarms == [AlarmTally(alarm: "P_DRAIN_LOW", priority: "high", raised: 2),
                                AlarmTally(alarm: "FLOW_LOW", priority: "medium", raised: 1)])
        #expect(info.operatorName == "alice")
        #expect(info.protocolName == "quick-dose" && info.protocolHash == "03017967327dbcd8")
        #expect(info.cellsPrescribedMl == 0.5 && info.cellsDeliveredMl == 0.49)
        #expect(info.telemetryRows == 50 && info.telemetryDropped == 2)
        #expect(info.startedAt == "2026-11-25T10:00:00Z")
    }

    @Test func rescanIsIdempotentFollowsTheFoldersAndNeverTouchesRunFiles() throws {
        let runs = temporaryDirectory()
        for i in 0..<3 {
            writeFixtureRun(in: runs, name: "20261125-10000\(i)-bench-a-\(i)", events: fixtureEvents, summary: fixtureSummary)
        }
        try FileManager.default.createDirectory(at: runs.appendingPathComponent("journals"), withIntermediateDirectories: true)
        let before = snapshot(runs)
        let store = try RunStore(runsDirectory: runs)
        let first = try store.rescan()
        #expect(first.added.count == 3 && first.failed.isEmpty)
        let listed = try store.list()
        let second = try store.rescan()
        #expect(second.added.isEmpty && second.updated.isEmpty && second.removed.isEmpty && second.unchanged == 3)
        #expect(try store.list() == listed)
        // A fresh database from the same folders holds the same rows: the index is derived.
        try FileManager.default.removeItem(atPath: store.databasePath)
        let rebuilt = try RunStore(runsDirectory: runs)
        _ = try rebuilt.rescan()
        #expect(try rebuilt.list() == listed)
        #expect(snapshot(runs) == before)
        // A vanished folder leaves the index.
        try FileManager.default.removeItem(at: runs.appendingPathComponent("20261125-100001-bench-a-1"))
        let third = try rebuilt.rescan()
        #expect(third.removed == ["20261125-100001-bench-a-1"])
        #expect(try rebuilt.list().count == 2)
    }

    @Test func aFolderWithoutSummaryIsIndexedAsInterrupted() throws {
        let runs = temporaryDirectory()
        writeFixtureRun(in: runs, name: "20261125-110000-sim-9", events: Array(fixtureEvents.prefix(4)), summary: nil)
        let store = try RunStore(runsDirectory: runs)
        _ = try store.rescan()
        let info = try #require(try store.run(id: "20261125-110000-sim-9"))
        #expect(info.outcome == "interrupted")
        #expect(info.startedAt == "2026-11-25T11:00:00Z")   // from the folder name
        #expect(info.alarmsTotal == 1)
    }

    @Test func migrationFromAnEmptyDatabaseCreatesTheSchema() throws {
        let runs = temporaryDirectory()
        // An existing, empty SQLite file (no tables), as another tool might leave it.
        let raw = try DatabaseQueue(path: runs.appendingPathComponent("runs.sqlite").path)
        try raw.write { db in try db.execute(sql: "PRAGMA user_version = 0") }
        try raw.close()
        let store = try RunStore(runsDirectory: runs)
        #expect(try store.appliedMigrations() == ["v1: runs, alarm counts, verdicts", "v2: sweeps, one row per experiment"])
        let check = try DatabaseQueue(path: store.databasePath)
        let tables = try check.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'grdb%' AND name NOT LIKE 'sqlite%' ORDER BY name")
        }
        #expect(tables == ["alarm_count", "run", "sweep", "sweep_experiment", "sweep_value", "verdict"])
        try check.close()
        #expect(try store.list().isEmpty)
    }
}

@Suite struct RunReferenceTests {
    func store() throws -> RunStore {
        let runs = temporaryDirectory()
        writeFixtureRun(in: runs, name: "20261125-100000-bench-a-1", rows: 5, events: [], summary: fixtureSummary)
        writeFixtureRun(in: runs, name: "20261125-100500-bench-a-2", rows: 5, events: [], summary: fixtureSummary)
        return try RunStore(runsDirectory: runs)
    }

    @Test func aRunIsFoundByIdUniquePrefixOrPath() throws {
        let s = try store()
        #expect(try s.resolve("20261125-100000-bench-a-1").id == "20261125-100000-bench-a-1")
        #expect(try s.resolve("20261125-1005").id == "20261125-100500-bench-a-2")
        let path = s.runsDirectory.appendingPathComponent("20261125-100000-bench-a-1").path
        #expect(try s.resolve(path).id == "20261125-100000-bench-a-1")
    }

    @Test func anUnknownRunIsANamedError() throws {
        let s = try store()
        let e = #expect(throws: RunStoreError.self) { try s.resolve("20271231") }
        #expect(e?.kind == .unknownRun)
        #expect(e?.description.contains("no run '20271231'") == true)
        #expect(e?.description.contains(s.runsDirectory.path) == true)
    }

    @Test func anAmbiguousPrefixNamesTheCandidates() throws {
        let s = try store()
        let e = #expect(throws: RunStoreError.self) { try s.resolve("20261125-10") }
        #expect(e?.kind == .ambiguousRun)
        #expect(e?.description.contains("matches 2 runs") == true)
        #expect(e?.description.contains("20261125-100000-bench-a-1") == true)
    }
}

@Suite struct BadInputTests {
    @Test func aMalformedEventLineIsNamedByFileAndLine() throws {
        let runs = temporaryDirectory()
        var events = fixtureEvents
        events[2] = #"{"action":"item_started","channel":"cells","event":"infus"#
        let dir = writeFixtureRun(in: runs, name: "bad-events", events: events, summary: fixtureSummary)
        let before = snapshot(runs)
        let e = #expect(throws: RunStoreError.self) { try RunFolder.read(dir) }
        #expect(e?.kind == .malformedJSON)
        #expect(e?.line == 3)
        #expect(e?.description.hasPrefix(dir.appendingPathComponent("events.jsonl").path + ":3:") == true)
        // The rescan reports it, indexes nothing for it and leaves the file as it was.
        let store = try RunStore(runsDirectory: runs)
        let report = try store.rescan()
        #expect(report.failed.map(\.line) == [3])
        #expect(try store.list().isEmpty)
        #expect(snapshot(runs) == before)
    }

    @Test func aTruncatedTelemetryRowIsNamedByItsLine() throws {
        let runs = temporaryDirectory()
        let dir = writeFixtureRun(in: runs, name: "cut", rows: 10, events: fixtureEvents, summary: fixtureSummary)
        let url = dir.appendingPathComponent("telemetry.csv")
        var text = try String(contentsOf: url, encoding: .utf8)
        text.removeLast(20)   // a crash in the middle of row 10: no newline, fields missing
        try Data(text.utf8).write(to: url)
        let e = #expect(throws: RunStoreError.self) { try RunFolder.read(dir) }
        #expect(e?.kind == .truncatedLine)
        #expect(e?.line == 11)
        #expect(e?.path == url.path)
        // A row with fields missing in the middle of the file.
        var lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[4] = "5.000,active,regulating"
        lines[lines.count - 1] = ""
        try Data(lines.joined(separator: "\n").utf8).write(to: url)
        let e2 = #expect(throws: RunStoreError.self) { try RunFolder.read(dir) }
        #expect(e2?.kind == .badColumnCount)
        #expect(e2?.line == 5)
        #expect(e2?.description.contains("3 fields, the header has 26") == true)
    }

    @Test func absurdNumbersInADamagedRecordAreShownNotACrash() throws {
        let runs = temporaryDirectory()
        let summary = fixtureSummary.replacingOccurrences(of: "\"loop_time_s\": 50", with: "\"loop_time_s\": 1e300")
            .replacingOccurrences(of: "\"delivered_ml\": 0.49", with: "\"delivered_ml\": -1e300")
        let dir = writeFixtureRun(in: runs, name: "absurd", rows: 20, events: fixtureEvents, summary: summary) { column, r in
            column == "dP_oxy_mmHg" && r == 5 ? "1e300" : column == "flow_lpm" && r == 6 ? "nan" : fixtureValue(column, r)
        }
        let info = try RunFolder.read(dir)
        #expect(info.durationS == 1e300)
        let html = try RunReport.html(run: info)
        #expect(html.contains("<svg"))
        #expect(RunText.fixed(-1e300, 3).contains("e+300"))
    }

    @Test func aCorruptDatabaseIsANamedErrorNotACrash() throws {
        let runs = temporaryDirectory()
        let db = runs.appendingPathComponent("runs.sqlite")
        try Data(repeating: 0x41, count: 4096).write(to: db)
        let e = #expect(throws: RunStoreError.self) { try RunStore(runsDirectory: runs) }
        #expect(e?.kind == .database)
        #expect(e?.path == db.path)
        #expect(e?.message.contains("corrupt") == true)
    }

    @Test func aLockedDatabaseIsANamedErrorNotAHang() throws {
        let runs = temporaryDirectory()
        writeFixtureRun(in: runs, name: "r1", rows: 3, events: [], summary: fixtureSummary)
        let store = try RunStore(runsDirectory: runs, busyTimeout: 0.1)
        // Another process holds an exclusive lock (here: another connection on a thread).
        let other = try DatabaseQueue(path: store.databasePath)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread {
            try? other.writeWithoutTransaction { db in
                try db.inTransaction(.exclusive) {
                    locked.signal()
                    release.wait()
                    return .rollback
                }
            }
            done.signal()
        }.start()
        locked.wait()
        let e = #expect(throws: RunStoreError.self) { _ = try store.rescan() }
        release.signal()
        done.wait()
        #expect(e?.kind == .database)
        #expect(e?.message.contains("locked") == true)
        #expect(try store.rescan().added == ["r1"])
    }
}

@Suite struct ExportTests {
    @Test func exportedTelemetryRoundTripsEveryValueUnderUnitCleanNames() throws {
        let run = try #require(realRun)
        let csv = try RunExport.telemetryCSV(runDirectory: run.directory)
        let original = try String(contentsOf: run.directory.appendingPathComponent("telemetry.csv"), encoding: .utf8)
        let a = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let b = original.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(a.count == b.count)
        #expect(a[0].prefix(10).joined(separator: ",") == "time_s,state,phase,fault,p_drain_mmhg,p_pre_mmhg,p_post_mmhg,dp_oxy_mmhg,flow_l_per_min,speed_rpm")
        // Every exported name is an identifier R and pandas accept as is.
        for name in a[0] { #expect(name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" } && name.first?.isLetter == true) }
        var compared = 0
        for (ra, rb) in zip(a.dropFirst(), b.dropFirst()) {
            #expect(ra.count == rb.count)
            for (x, y) in zip(ra, rb) {
                if y == "nan" { #expect(x == "NA") } else if let dy = Double(y) { #expect(Double(x) == dy) } else { #expect(x == y) }
                compared += 1
            }
        }
        #expect(compared > 1000)
    }

    @Test func eventsExportDecodesAlarmsAndValuesOneRowPerEvent() throws {
        let runs = temporaryDirectory()
        let dir = writeFixtureRun(in: runs, name: "ev", rows: 3, events: fixtureEvents, summary: fixtureSummary)
        let csv = try RunExport.eventsCSV(runDirectory: dir)
        let rows = csv.split(separator: "\n").map(String.init)
        #expect(rows.count == fixtureEvents.count + 1)
        #expect(rows[0] == "time_s,event,action,alarm,priority,actor,channel,item,from,to,value,value_unit,detail")
        #expect(rows[1] == "0.2,lifecycle,,,,,,,inactive,active,,,")
        #expect(rows[3] == "2,infusion,item_started,,,,cells,0,,,2801,steps,")
        #expect(rows[4] == "10.5,alarm,raised,P_DRAIN_LOW,high,system,,,,,,,")
        #expect(rows[6] == "20.25,alarm,raised,FLOW_LOW,medium,system,,,,,,,")
        #expect(rows[10] == "41,sensor_invalid,,,,,,,,,,,sensors=P_drain|flow")
    }

    @Test func exportRefusesToWriteIntoTheRunFolder() throws {
        let runs = temporaryDirectory()
        let dir = writeFixtureRun(in: runs, name: "x", rows: 3, events: [], summary: fixtureSummary)
        let info = try RunFolder.read(dir)
        let before = snapshot(runs)
        #expect(throws: RunStoreError.self) { try RunExport.write(run: info, out: dir.path) }
        #expect(snapshot(runs) == before)
        let out = temporaryDirectory()
        let (t, e) = try RunExport.write(run: info, out: out.appendingPathComponent("x.csv").path)
        #expect(t.lastPathComponent == "x.csv" && e.lastPathComponent == "x-events.csv")
    }
}

@Suite struct ReportTests {
    @Test func theReportHoldsTheSummaryNumbersAndOneSVGPerChannelWithEventMarkers() throws {
        let runs = temporaryDirectory()
        let dir = writeFixtureRun(in: runs, name: "20261125-100000-bench-a-1", rows: 50, events: fixtureEvents, summary: fixtureSummary)
        let info = try RunFolder.read(dir)
        let html = try RunReport.html(run: info)
        for s in ["bench-a", "quick-dose", "alice", "2026-11-25T10:00:00Z", "0.500", "0.490", "98.0", "P_DRAIN_LOW", "FLOW_LOW",
                  "Oxygenator resistance"] {
            #expect(html.contains(s), "report lacks \(s)")
        }
        let svgs = html.components(separatedBy: "<svg").dropFirst()
        #expect(svgs.count == RunReport.channels.count)
        for (svg, channel) in zip(svgs, RunReport.channels) {
            #expect(svg.contains("id=\"plot-\(channel.column)\""))
            #expect(svg.contains("class=\"marker infusion\""), "no infusion marker in \(channel.column)")
            #expect(svg.contains("class=\"marker alarm-high\""), "no alarm marker in \(channel.column)")
            #expect(svg.contains("class=\"xlabel\">time (s)"))
            #expect(svg.contains("class=\"legend\">infusion event"))
        }
        // Self-contained: nothing fetched from anywhere.
        // (The only URL is the SVG namespace, which is a name, never fetched.)
        for s in ["<script", "src=", "href=", "https://", "@import", "url("] {
            #expect(!html.contains(s), "report refers to something outside: \(s)")
        }
    }

    @Test func foulingIndicatorsCompareBaselineAndEnd() throws {
        let runs = temporaryDirectory()
        let dir = writeFixtureRun(in: runs, name: "f", rows: 400, events: [], summary: fixtureSummary)
        let t = try TelemetryFile.read(dir.appendingPathComponent("telemetry.csv"))
        let f = RunReport.fouling(t)
        let dp = try #require(f.first { $0.name == "ΔP oxygenator" })
        // Rows 1 s apart, ΔP = 10 + 0.1 r; baseline from 10 s after the start for 30 s, end the last 30 s.
        #expect(abs(dp.baseline - (10 + 0.1 * 24.5)) < 0.11)
        #expect(abs(dp.end - (10 + 0.1 * 384.5)) < 0.11)
        #expect(dp.change > 0)
    }

    @Test func decimationKeepsAOneSampleSpike() {
        var values = (0..<200_000).map { sin(Double($0) / 1000) }
        values[123_457] = 50
        values[170_001] = -40
        let idx = SVGPlot.decimate(values, maxPoints: 2000)
        #expect(idx.count <= 2000)
        #expect(idx.contains(123_457) && idx.contains(170_001))
        let kept = idx.compactMap { $0 }
        #expect(kept == kept.sorted())
    }

    @Test func theReportOfARealRunMarksItsAlarms() throws {
        let run = try #require(realRun)
        let info = try RunFolder.read(run.directory)
        let html = try RunReport.html(run: info)
        #expect(html.components(separatedBy: "<svg").count - 1 == RunReport.channels.count)
        #expect(html.contains("class=\"marker alarm-high\""))
        #expect(html.contains("suction alarm"))
    }
}
