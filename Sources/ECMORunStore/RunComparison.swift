import Foundation

/// `ecmo-rig report RUN RUN…`: several runs overlaid on common axes — flow, ΔP oxygenator,
/// oxygenator resistance and cells delivered against the time since each run's first dose —
/// and their outcome metrics side by side. The figure the field publishes (Millar et al.:
/// cells against vesicles against control) drawn from our own run records.
public enum RunComparison {
    /// One run as the comparison reads it.
    public struct Run: Sendable {
        public var info: RunInfo
        public var telemetry: TelemetryFile
        public var events: [RunEvent]
        public init(info: RunInfo, telemetry: TelemetryFile, events: [RunEvent]) {
            self.info = info
            self.telemetry = telemetry
            self.events = events
        }
    }

    /// Where a run's time axis starts (t = 0 of the overlay) and what that instant was.
    public struct Anchor: Sendable, Equatable {
        public var time: Double
        public var what: String
        public init(time: Double, what: String) {
            self.time = time
            self.what = what
        }
    }

    /// The first dose: the protocol closing its baseline (the instant cells may begin), else
    /// the first item started after it, else — a run without doses, e.g. a control — the
    /// start of regulation, else the record's start. Said in the report for every run.
    public static func anchor(_ r: Run) -> Anchor {
        if let e = r.events.first(where: { $0.event == "infusion" && $0.action == "baseline_closed" }) {
            return Anchor(time: e.time, what: "first dose (baseline closed)")
        }
        if let e = r.events.first(where: { $0.event == "phase" && $0.fields["to"] as? String == "regulating" }) {
            return Anchor(time: e.time, what: "regulation start (no dose in this run)")
        }
        return Anchor(time: r.telemetry.column("t_s")?.first ?? 0, what: "record start")
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"]

    /// Bucket means of `values` (by `time` − `origin`) on the grid `t0 + i·dt`, i < n; NaN where
    /// the run has no sample.
    static func resample(time: [Double], values: [Double], origin: Double, t0: Double, dt: Double, n: Int) -> [Double] {
        var sum = [Double](repeating: 0, count: n), count = [Int](repeating: 0, count: n)
        for i in time.indices where i < values.count && values[i].isFinite && time[i].isFinite {
            let k = Int(((time[i] - origin - t0) / dt).rounded(.down))
            guard k >= 0 && k < n else { continue }
            sum[k] += values[i]
            count[k] += 1
        }
        return (0..<n).map { count[$0] > 0 ? sum[$0] / Double(count[$0]) : .nan }
    }

    public static func html(runs: [Run], points: Int = 1200) -> String {
        let e = HTML.escape
        let anchors = runs.map(anchor)
        // Common axis: from the earliest start to the latest end, relative to each anchor.
        var lo = Double.infinity, hi = -Double.infinity
        for (r, a) in zip(runs, anchors) {
            guard let t = r.telemetry.column("t_s"), let first = t.first, let last = t.last else { continue }
            lo = min(lo, first - a.time)
            hi = max(hi, last - a.time)
        }
        if !lo.isFinite || !hi.isFinite || hi <= lo { lo = 0; hi = 1 }
        let n = max(10, points)
        let dt = (hi - lo) / Double(n)
        let grid = (0..<n).map { lo + (Double($0) + 0.5) * dt }
        let title = runs.map { $0.info.id }.joined(separator: " vs ")
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>Comparison: \(e(title))</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222;font-size:14px}
        h1{font-size:20px;margin-bottom:4px} h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ccc}
        table{border-collapse:collapse;margin:4px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
        th{background:#f2f2f2} td.n{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#666}
        svg.plot{display:block;margin:10px 0;page-break-inside:avoid}
        svg .grid{stroke:#e6e6e6;stroke-width:1} svg .axis{stroke:#444} svg .frame{fill:none;stroke:#444}
        svg text{font-size:11px;fill:#333} svg .ytick{text-anchor:end} svg .xtick,svg .xlabel{text-anchor:middle}
        svg .ylabel{text-anchor:middle} svg .ptitle{font-weight:600;font-size:13px}
        </style></head><body>
        <h1>Comparison: \(e(title))</h1>
        <p class="muted">\(runs.count) runs overlaid against the time since each run's first dose (t = 0); means over \(HTML.fixed(dt, 1)) s buckets.</p>

        """
        // Outcome metrics side by side.
        h += "<h2>Outcome metrics</h2>\n<table class=\"metrics\"><tr><th>Metric</th>"
        for (i, r) in runs.enumerated() {
            let plan = r.info.protocolName.map { "protocol " + $0 } ?? "no protocol"
            h += "<th><span style=\"color:\(palette[i % palette.count])\">■</span> \(e(r.info.id))<br><span class=\"muted\">\(e(plan))</span></th>"
        }
        h += "</tr>\n"
        func row(_ name: String, _ cell: (Int, Run) -> String) {
            h += "<tr><td>\(e(name))</td>"
            for (i, r) in runs.enumerated() { h += "<td class=\"n\">\(e(cell(i, r)))</td>" }
            h += "</tr>\n"
        }
        func num(_ d: Double?, _ k: Int) -> String { d.map { HTML.fixed($0, k) } ?? "–" }
        let indicators = runs.map { RunReport.fouling($0.telemetry) }
        func indicator(_ i: Int, _ name: String) -> RunReport.Indicator? { indicators[i].first { $0.name.hasPrefix(name) } }
        row("Board") { _, r in r.info.board ?? "–" }
        row("Operator") { _, r in r.info.operatorName ?? "–" }
        row("Outcome") { _, r in r.info.outcome + (r.info.passed.map { $0 ? " (expectations pass)" : " (expectations FAIL)" } ?? "") }
        row("Duration (h)") { _, r in num(r.info.durationS.map { $0 / 3600 }, 2) }
        row("t = 0 is") { i, _ in anchors[i].what + " at " + HTML.fixed(anchors[i].time, 1) + " s" }
        row("Cells prescribed (mL)") { _, r in num(r.info.cellsPrescribedMl, 2) }
        row("Cells delivered (mL)") { _, r in num(r.info.cellsDeliveredMl, 2) }
        row("Alarms raised") { _, r in String(r.info.alarmsTotal) }
        for name in ["Oxygenator resistance", "ΔP oxygenator", "Flow"] {
            guard indicators.contains(where: { $0.contains { $0.name.hasPrefix(name) } }) else { continue }
            let unit = indicators.lazy.compactMap { $0.first { $0.name.hasPrefix(name) }?.unit }.first ?? ""
            row("\(name): baseline → end (\(unit))") { i, _ in
                indicator(i, name).map { HTML.fixed($0.baseline, 2) + " → " + HTML.fixed($0.end, 2) } ?? "–"
            }
            row("\(name): change (%)") { i, _ in num(indicator(i, name)?.change, 1) }
        }
        h += "</table>\n"

        // Overlays.
        struct Channel { var id: String; var title: String; var unit: String; var values: (TelemetryFile) -> [Double]? }
        let channels = [
            Channel(id: "flow", title: "Flow", unit: "L/min") { $0.column("flow_lpm") },
            Channel(id: "dp", title: "ΔP oxygenator", unit: "mmHg") { $0.column("dP_oxy_mmHg") },
            Channel(id: "r", title: "Oxygenator resistance ΔP/flow", unit: "mmHg/(L/min)") { t in
                guard let dp = t.column("dP_oxy_mmHg"), let q = t.column("flow_lpm") else { return nil }
                return zip(dp, q).map { $1 > 0.3 ? $0 / $1 : .nan }
            },
            Channel(id: "cells", title: "Cells delivered", unit: "mL") { $0.column("cells_ml") },
        ]
        h += "<h2>Overlays (t = 0: each run's first dose)</h2>\n"
        for c in channels {
            var series: [SVGPlot.Series] = []
            for (i, r) in runs.enumerated() {
                guard let t = r.telemetry.column("t_s"), let v = c.values(r.telemetry) else { continue }
                let values = resample(time: t, values: v, origin: anchors[i].time, t0: lo, dt: dt, n: n)
                // Every other run dashed: runs that agree stay visible one over the other.
                series.append(SVGPlot.Series(label: r.info.id, values: values, color: palette[i % palette.count], dashed: i % 2 == 1))
            }
            let plot = SVGPlot(id: "compare-" + c.id, title: c.title + " against time since the first dose", unit: c.unit,
                               times: grid, series: series, markers: [])
            h += plot.render()
        }
        h += "<p class=\"muted\">Runs: " + runs.map { e($0.info.directory) }.joined(separator: ", ") + "</p>\n</body></html>\n"
        return h
    }

    /// Reads each run folder and writes the comparison.
    public static func html(infos: [RunInfo]) throws(RunStoreError) -> String {
        var runs: [Run] = []
        for info in infos {
            let dir = URL(fileURLWithPath: info.directory)
            let telemetry = try TelemetryFile.read(dir.appendingPathComponent(RunFolder.telemetryFile))
            runs.append(Run(info: info, telemetry: telemetry, events: try RunFolder.readEvents(dir)))
        }
        return html(runs: runs)
    }
}
