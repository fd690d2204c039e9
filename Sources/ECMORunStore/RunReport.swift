import Foundation
import ECMOLink

/// One self-contained HTML file per run (inline CSS and SVG, no script, no network):
/// what was run, by whom and when, doses prescribed against delivered, fouling
/// indicators, the alarms, and a plot per channel with infusion and alarm events marked.
/// Made to be printed and archived beside a lab notebook.
public enum RunReport {
    /// The channels plotted, in order: (telemetry column, title, unit, colour).
    public static let channels: [(column: String, title: String, unit: String, color: String)] = [
        ("P_drain_mmHg", "P_drain", "mmHg", "#1f5fa8"),
        ("P_pre_mmHg", "P_pre", "mmHg", "#b0413e"),
        ("P_post_mmHg", "P_post", "mmHg", "#6a3d9a"),
        ("dP_oxy_mmHg", "ΔP oxygenator", "mmHg", "#c77700"),
        ("flow_lpm", "Flow", "L/min", "#2a8a3e"),
        ("speed_rpm", "Pump speed", "rpm", "#333333"),
        ("cells_ml", "Cells delivered", "mL", "#8c2d7c"),
    ]

    /// Baseline and end of a fouling indicator.
    public struct Indicator: Sendable {
        public var name: String
        public var unit: String
        public var baseline: Double
        public var end: Double
        public var change: Double { baseline != 0 ? (end - baseline) / abs(baseline) * 100 : .nan }
    }

    /// Fouling indicators: means over a baseline window (30 s, or a tenth of the regulating
    /// time if shorter, from 10 s after regulation starts so spin-up is left out) and the last
    /// window of the same length, of the rows where the circuit was active, regulating and
    /// flowing. Resistance is ΔP/flow of the window means (mmHg·min/L).
    public static func fouling(_ t: TelemetryFile) -> [Indicator] {
        guard let time = t.column("t_s"), let dp = t.column("dP_oxy_mmHg"), let flow = t.column("flow_lpm") else { return [] }
        let state = t.text["state"], phase = t.text["phase"]
        var rows: [Int] = []
        for i in time.indices where flow[i].isFinite && flow[i] > 0.2 && dp[i].isFinite {
            if let state, state[i] != "active" { continue }
            if let phase, phase[i] != "regulating" { continue }
            rows.append(i)
        }
        guard let first = rows.first, let last = rows.last, time[last] > time[first] else { return [] }
        let span = time[last] - time[first]
        let window = min(30, span / 10)
        let settle = min(10, span / 5)   // the flow loop settles after spin-up
        let base = rows.filter { time[$0] >= time[first] + settle && time[$0] <= time[first] + settle + window }
        let end = rows.filter { time[$0] >= time[last] - window }
        func mean(_ c: [Double], _ idx: [Int]) -> Double { idx.reduce(0) { $0 + c[$1] } / Double(max(idx.count, 1)) }
        var out = [
            Indicator(name: "ΔP oxygenator", unit: "mmHg", baseline: mean(dp, base), end: mean(dp, end)),
            Indicator(name: "Oxygenator resistance", unit: "mmHg·min/L", baseline: mean(dp, base) / mean(flow, base),
                      end: mean(dp, end) / mean(flow, end)),
            Indicator(name: "Flow", unit: "L/min", baseline: mean(flow, base), end: mean(flow, end)),
        ]
        if let rpm = t.column("speed_rpm") {
            out.append(Indicator(name: "Pump speed", unit: "rpm", baseline: mean(rpm, base), end: mean(rpm, end)))
        }
        if let pre = t.column("P_pre_mmHg") {
            out.append(Indicator(name: "P_pre", unit: "mmHg", baseline: mean(pre, base), end: mean(pre, end)))
        }
        return out
    }

    static func markers(_ events: [RunEvent]) -> [SVGPlot.Marker] {
        var out: [SVGPlot.Marker] = []
        for e in events {
            if e.event == "infusion", let action = e.action, action != "agitation" {
                out.append(.init(time: e.time, kind: "infusion", color: "#1f77b4",
                                 title: "\(HTML.fixed(e.time, 1)) s infusion \(action) \(e.channel ?? "") item \(RunExport.scalar(e.fields["item"] as Any) ?? "")"))
            } else if e.event == "alarm", e.action == "raised" {
                let p = e.priority ?? "?"
                out.append(.init(time: e.time, kind: ["high", "medium", "low"].contains(p) ? "alarm-\(p)" : "alarm",
                                 color: p == "high" ? "#d62728" : p == "medium" ? "#e8a100" : "#17becf",
                                 title: "\(HTML.fixed(e.time, 1)) s alarm \(e.alarm ?? "?") raised (\(p))"))
            }
        }
        return out
    }

    /// The report of the run in `info.directory`.
    public static func html(run info: RunInfo) throws(RunStoreError) -> String {
        let dir = URL(fileURLWithPath: info.directory)
        let telemetry = try TelemetryFile.read(dir.appendingPathComponent(RunFolder.telemetryFile))
        let events = try RunFolder.readEvents(dir)
        return html(run: info, telemetry: telemetry, events: events, commands: readCommands(dir))
    }

    /// An accepted operator command from `commands.jsonl`: who sent which command when.
    public struct OperatorCommandRecord: Sendable, Equatable {
        public var time: Double
        public var command: String
        public var actor: String
        public init(time: Double, command: String, actor: String) {
            self.time = time
            self.command = command
            self.actor = actor
        }
    }

    /// The accepted commands of the run's console (none when it had no console or the file
    /// is unreadable: the report then names no operator, it does not fail).
    public static func readCommands(_ dir: URL) -> [OperatorCommandRecord] {
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("commands.jsonl")) else { return [] }
        var out: [OperatorCommandRecord] = []
        for line in data.split(separator: 0x0A) {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  o["result"] as? String == "ok", let actor = o["actor"] as? String, let name = o["command"] as? String,
                  let t = (o["t"] as? NSNumber)?.doubleValue else { continue }
            out.append(OperatorCommandRecord(time: t, command: name, actor: actor))
        }
        return out
    }

    /// The event in the console's words (`ECMOLink.EventWording`), with the operator whose
    /// accepted command (the last of its kind at or before the event) caused a `by: console` event.
    public static func words(_ ev: RunEvent, commands: [OperatorCommandRecord]) -> String {
        var values: [String: LinkValue] = [:]
        for (k, v) in ev.fields where k != "t" && k != "event" {
            if let lv = linkValue(v) { values[k] = lv }
        }
        if ev.fields["by"] as? String == "console" {
            let kind: String? = switch ev.event {
            case "alarm": ev.action == "acknowledged" ? "acknowledge" : (ev.action == "audio paused" ? "pause_audio" : nil)
            case "alarm_limit": "set_alarm_limit"
            default: nil
            }
            if let kind, let c = commands.last(where: { $0.command == kind && $0.time <= ev.time + 0.5 }) {
                values["operator"] = .string(c.actor)
            }
        }
        return EventWording.text(code: ev.event, values: values)
    }

    static func linkValue(_ v: Any) -> LinkValue? {
        if JSONObject.isBoolean(v), let b = v as? Bool { return .bool(b) }
        if let s = v as? String { return .string(s) }
        if let d = JSONObject.number(v) { return .number(d) }
        if let a = v as? [Any] { return .array(a.compactMap(linkValue)) }
        return nil
    }

    public static func html(run info: RunInfo, telemetry: TelemetryFile, events: [RunEvent],
                            commands: [OperatorCommandRecord] = []) -> String {
        let e = HTML.escape
        func opt(_ s: String?) -> String { s.map(e) ?? "–" }
        func num(_ d: Double?, _ decimals: Int) -> String { d.map { HTML.fixed($0, decimals) } ?? "–" }
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>Run report \(e(info.id))</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222;font-size:14px}
        h1{font-size:20px;margin-bottom:4px} h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ccc}
        table{border-collapse:collapse;margin:4px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
        th{background:#f2f2f2} td.n{text-align:right;font-variant-numeric:tabular-nums}
        .pass{color:#1a7f37;font-weight:600} .fail{color:#b42318;font-weight:600}
        .high{color:#b42318;font-weight:600} .medium{color:#a66900;font-weight:600} .low{color:#0e7490}
        svg.plot{display:block;margin:10px 0;page-break-inside:avoid}
        svg .grid{stroke:#e6e6e6;stroke-width:1} svg .axis{stroke:#444} svg .frame{fill:none;stroke:#444}
        svg text{font-size:11px;fill:#333} svg .ytick{text-anchor:end} svg .xtick,svg .xlabel{text-anchor:middle}
        svg .ylabel{text-anchor:middle} svg .ptitle{font-weight:600;font-size:13px}
        svg .marker{stroke-width:1;stroke-dasharray:3 3;opacity:.8}
        .muted{color:#666} @media print{body{margin:0;max-width:none}}
        </style></head><body>
        <h1>Run \(e(info.id))</h1>
        <p class="muted">\(e(info.directory)) · report written \(e(RunFolder.iso(Date()))) by ecmo-rig</p>

        """
        // Summary.
        h += "<h2>Summary</h2>\n<table class=\"summary\">\n"
        var verdict = "–"
        if let p = info.passed {
            verdict = "<span class=\"\(p ? "pass" : "fail")\">\(p ? "PASS" : "FAIL")</span> (\(info.expectationsPassed ?? 0)/\(info.expectationsTotal ?? 0) expectations)"
        }
        let rows: [(String, String)] = [
            ("Kind", e(info.kind)),
            ("Board", opt(info.board) + (info.boardFile.map { " <span class=\"muted\">(\(e($0)))</span>" } ?? "")),
            ("Protocol", info.protocolName.map { e($0) + (info.protocolFile.map { " <span class=\"muted\">(\(e($0)))</span>" } ?? "")
                + (info.protocolHash.map { " hash \(e($0))" } ?? "") } ?? "none"),
            ("Operator", opt(info.operatorName)),
            ("Started", opt(info.startedAt)),
            ("Ended", opt(info.endedAt)),
            ("Duration (loop time)", num(info.durationS, 1) + " s"),
            ("Wall time", num(info.wallS, 1) + " s"),
            ("Mode", opt(info.mode)),
            ("Outcome", e(info.outcome)),
            ("Verdict", verdict),
            ("Seed", info.seed.map(String.init) ?? "–"),
            ("Telemetry rows", "\(info.telemetryRows) (dropped \(info.telemetryDropped.map(String.init) ?? "–"))"),
            ("Events", "\(info.events) (dropped \(info.eventsDropped.map(String.init) ?? "–"))"),
            ("Alarms raised", "\(info.alarmsTotal)"),
        ]
        for (k, v) in rows { h += "<tr><th>\(e(k))</th><td>\(v)</td></tr>\n" }
        h += "</table>\n"

        // Doses.
        h += "<h2>Doses</h2>\n"
        if info.cellsPrescribedMl == nil && info.heparinPrescribedMl == nil && info.cellsDeliveredMl == nil {
            h += "<p class=\"muted\">No protocol: nothing prescribed.</p>\n"
        } else {
            h += "<table class=\"doses\"><tr><th>Channel</th><th>Prescribed (mL)</th><th>Delivered (mL)</th><th>Delivered (%)</th></tr>\n"
            for (name, p, d) in [("cells", info.cellsPrescribedMl, info.cellsDeliveredMl), ("heparin", info.heparinPrescribedMl, info.heparinDeliveredMl)]
            where p != nil || d != nil {
                let pct = (p ?? 0) > 0 ? num((d ?? 0) / (p ?? 1) * 100, 1) : "–"
                h += "<tr><td>\(name)</td><td class=\"n\">\(num(p, 3))</td><td class=\"n\">\(num(d, 3))</td><td class=\"n\">\(pct)</td></tr>\n"
            }
            h += "</table>\n"
        }

        // Fouling.
        h += "<h2>Fouling indicators</h2>\n"
        let indicators = fouling(telemetry)
        if indicators.isEmpty {
            h += "<p class=\"muted\">No regulated flow in the record: no baseline.</p>\n"
        } else {
            h += "<p class=\"muted\">Means over a baseline window (30 s, or a tenth of the regulating time if shorter, starting 10 s after regulation begins) and the last window of the same length, while active, regulating and flowing.</p>\n"
            h += "<table class=\"fouling\"><tr><th>Indicator</th><th>Baseline</th><th>End</th><th>Change (%)</th><th>Unit</th></tr>\n"
            for i in indicators {
                h += "<tr><td>\(e(i.name))</td><td class=\"n\">\(HTML.fixed(i.baseline, 3))</td><td class=\"n\">\(HTML.fixed(i.end, 3))</td><td class=\"n\">\(HTML.fixed(i.change, 1))</td><td>\(e(i.unit))</td></tr>\n"
            }
            h += "</table>\n"
        }

        // Alarms.
        h += "<h2>Alarms</h2>\n"
        let alarmEvents = events.filter { $0.event == "alarm" }
        if alarmEvents.isEmpty {
            h += "<p>No alarms.</p>\n"
        } else {
            h += "<table class=\"alarm-counts\"><tr><th>Alarm</th><th>Highest priority</th><th>Raised</th></tr>\n"
            for a in info.alarms {
                h += "<tr><td>\(e(a.alarm))</td><td class=\"\(e(a.priority))\">\(e(a.priority))</td><td class=\"n\">\(a.raised)</td></tr>\n"
            }
            h += "</table>\n<table class=\"alarm-log\"><tr><th>Time (s)</th><th>Alarm</th><th>Action</th><th>Priority</th><th>By</th></tr>\n"
            let limit = 500
            for a in alarmEvents.prefix(limit) {
                let p = a.priority ?? "?"
                h += "<tr><td class=\"n\">\(HTML.fixed(a.time, 3))</td><td>\(opt(a.alarm))</td><td>\(opt(a.action))</td><td class=\"\(e(p))\">\(e(p))</td><td>\(opt(a.fields["by"] as? String))</td></tr>\n"
            }
            h += "</table>\n"
            if alarmEvents.count > limit { h += "<p class=\"muted\">\(alarmEvents.count - limit) more alarm events in events.jsonl.</p>\n" }
        }

        // Every event in words (the console's wording), the operator named where known.
        if !events.isEmpty {
            let shown = events.filter { !($0.event == "infusion" && $0.action == "agitation") }
            h += "<h2>Events</h2>\n<table class=\"event-log\"><tr><th>Time (s)</th><th>What happened</th></tr>\n"
            for ev in shown.prefix(500) {
                h += "<tr><td class=\"n\">\(HTML.fixed(ev.time, 3))</td><td>\(e(words(ev, commands: commands)))</td></tr>\n"
            }
            h += "</table>\n"
            if shown.count > 500 { h += "<p class=\"muted\">\(shown.count - 500) more events in events.jsonl.</p>\n" }
        }

        // Verdicts.
        if !info.verdicts.isEmpty {
            h += "<h2>Scenario expectations</h2>\n<table class=\"verdicts\"><tr><th>Expectation</th><th>Line</th><th>Verdict</th><th>Measured</th></tr>\n"
            for v in info.verdicts {
                h += "<tr><td>\(e(v.name))</td><td class=\"n\">\(v.line)</td><td class=\"\(v.passed ? "pass" : "fail")\">\(v.passed ? "pass" : "FAIL")</td><td>\(e(v.measured))</td></tr>\n"
            }
            h += "</table>\n"
        }

        // Infusion log.
        let infusion = events.filter { $0.event == "infusion" && $0.action != "agitation" }
        if !infusion.isEmpty {
            h += "<h2>Infusion events</h2>\n<table class=\"infusion-log\"><tr><th>Time (s)</th><th>Action</th><th>Channel</th><th>Item</th><th>Detail</th></tr>\n"
            for ev in infusion.prefix(500) {
                let detail = ev.fields.keys.filter { !["t", "event", "action", "channel", "item"].contains($0) }.sorted()
                    .map { "\($0)=\(RunExport.scalar(ev.fields[$0] as Any) ?? "")" }.joined(separator: " ")
                h += "<tr><td class=\"n\">\(HTML.fixed(ev.time, 3))</td><td>\(opt(ev.action))</td><td>\(opt(ev.channel))</td><td class=\"n\">\(RunExport.scalar(ev.fields["item"] as Any) ?? "")</td><td>\(e(detail))</td></tr>\n"
            }
            h += "</table>\n"
            let agitations = events.filter { $0.event == "infusion" && $0.action == "agitation" }.count
            if agitations > 0 { h += "<p class=\"muted\">\(agitations) agitation events (not marked on the plots).</p>\n" }
        }

        // Plots.
        h += "<h2>Channels</h2>\n"
        let markers = markers(events)
        let time = telemetry.column("t_s") ?? []
        if time.isEmpty {
            h += "<p class=\"muted\">No telemetry rows.</p>\n"
        }
        for c in channels where !time.isEmpty {
            guard let values = telemetry.column(c.column) else { continue }
            var series = [SVGPlot.Series(label: c.title, values: values, color: c.color)]
            if c.column == "speed_rpm", let cmd = telemetry.column("speed_cmd_rpm") {
                series.append(.init(label: "commanded", values: cmd, color: "#999999", dashed: true))
            }
            if c.column == "cells_ml", let hep = telemetry.column("heparin_ml"), hep.contains(where: { $0.isFinite && $0 > 0 }) {
                series.append(.init(label: "heparin", values: hep, color: "#2ca02c"))
            }
            let plot = SVGPlot(id: c.column, title: c.title, unit: c.unit, times: time, series: series, markers: markers)
            h += plot.render() + "\n"
        }
        h += "<p class=\"muted\">Dashed vertical lines: infusion events (blue) and alarms raised (red high, amber medium, cyan low). Hover for details. Long runs are drawn from min/max per bucket (about 2000 points per plot), so spikes remain visible.</p>\n"
        h += "</body></html>\n"
        return h
    }
}
