import Testing
import Foundation
import ECMORunStore

/// The comparison report overlays runs on the time since each run's first dose and puts
/// their outcome metrics side by side.
@Suite struct RunComparisonTests {
    @Test func runsAreAlignedOnTheirFirstDoseAndTheirMetricsSitSideBySide() throws {
        let runs = temporaryDirectory()
        // The fixture's protocol closes its baseline at 5 s in one run and 15 s in the other.
        let a = writeFixtureRun(in: runs, name: "cells", rows: 40, events: fixtureEvents + [
            #"{"action":"baseline_closed","channel":"cells","event":"infusion","item":1,"t":5}"#,
        ], summary: fixtureSummary)
        let b = writeFixtureRun(in: runs, name: "control", rows: 40, events: fixtureEvents + [
            #"{"action":"baseline_closed","channel":"cells","event":"infusion","item":1,"t":15}"#,
        ], summary: fixtureSummary)
        let infos = [try RunFolder.read(a), try RunFolder.read(b)]
        let html = try RunComparison.html(infos: infos)
        let parsed = try infos.map { info in
            RunComparison.Run(info: info, telemetry: try TelemetryFile.read(URL(fileURLWithPath: info.directory).appendingPathComponent("telemetry.csv")),
                              events: try RunFolder.readEvents(URL(fileURLWithPath: info.directory)))
        }
        #expect(RunComparison.anchor(parsed[0]) == RunComparison.Anchor(time: 5, what: "first dose (baseline closed)"))
        #expect(RunComparison.anchor(parsed[1]).time == 15)
        for id in ["compare-flow", "compare-dp", "compare-r", "compare-cells"] { #expect(html.contains("id=\"plot-\(id)\"")) }
        #expect(html.contains("<th>Metric</th>"))
        #expect(html.contains(infos[0].id) && html.contains(infos[1].id))
        #expect(html.contains("first dose (baseline closed) at 5.0 s") && html.contains("first dose (baseline closed) at 15.0 s"))
        #expect(html.contains("Oxygenator resistance: change (%)"))
    }
}
