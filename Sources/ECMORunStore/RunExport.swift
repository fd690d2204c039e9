import Foundation

/// CSV for analysis in Python or R: the telemetry with a header whose names are valid
/// identifiers carrying their unit (`p_drain_mmhg`, `flow_l_per_min`), missing values as
/// `NA`, and the event log flattened to one row per event. Values are copied, not
/// re-formatted, so they round-trip exactly.
public enum RunExport {
    /// Telemetry column → (exported name, unit, meaning). Unknown columns are exported
    /// under a cleaned version of their own name.
    public static let telemetryColumns: [(source: String, name: String, unit: String, meaning: String)] = [
        ("t_s", "time_s", "s", "loop time since the start of the run"),
        ("state", "state", "", "lifecycle state (unconfigured, inactive, active, fault)"),
        ("phase", "phase", "", "run phase (idle, spin-up, regulating, ...)"),
        ("fault", "fault", "", "fault reason code (0 = none)"),
        ("P_drain_mmHg", "p_drain_mmhg", "mmHg", "drainage pressure"),
        ("P_pre_mmHg", "p_pre_mmhg", "mmHg", "pre-oxygenator pressure"),
        ("P_post_mmHg", "p_post_mmhg", "mmHg", "post-oxygenator pressure"),
        ("dP_oxy_mmHg", "dp_oxy_mmhg", "mmHg", "pressure drop across the oxygenator (P_pre - P_post)"),
        ("flow_lpm", "flow_l_per_min", "L/min", "circuit flow"),
        ("speed_rpm", "speed_rpm", "rpm", "measured pump speed"),
        ("speed_cmd_rpm", "speed_cmd_rpm", "rpm", "commanded pump speed"),
        ("pump_enabled", "pump_enabled", "0/1", "pump enable output"),
        ("clamp_closed", "clamp_closed", "0/1", "line clamp closed"),
        ("invalid_mask", "invalid_mask", "bits", "invalid sensors (1 P_drain, 2 P_pre, 4 P_post, 8 flow, 16 pump speed)"),
        ("sensor_errors", "sensor_errors", "count", "sensor read errors so far"),
        ("overruns", "overruns", "count", "loop overruns so far"),
        ("lateness_us", "lateness_us", "µs", "tick lateness"),
        ("exec_us", "exec_us", "µs", "tick execution time"),
        ("alarm_priority", "alarm_priority", "0-3", "highest active alarm priority (0 none, 1 low, 2 medium, 3 high)"),
        ("alarms_active", "alarms_active", "bits", "active alarms, one bit per alarm id"),
        ("speed_ceiling_rpm", "speed_ceiling_rpm", "rpm", "speed ceiling set by the safety interlocks"),
        ("cells_ml", "cells_ml", "mL", "cells delivered so far"),
        ("heparin_ml", "heparin_ml", "mL", "heparin delivered so far"),
        ("protocol_item", "protocol_item", "index", "current protocol item"),
        ("cells_halt", "cells_halt", "code", "cells channel halt reason (0 = none)"),
        ("outflow_clamp", "outflow_clamp", "0/1", "outflow clamp closed by the protocol"),
    ]

    /// The events CSV header.
    public static let eventColumns = ["time_s", "event", "action", "alarm", "priority", "actor", "channel", "item",
                                      "from", "to", "value", "value_unit", "detail"]

    /// The numeric field an event carries, in order of preference, with its unit.
    static let valueFields: [(key: String, unit: String)] = [
        ("lateness_s", "s"), ("steps", "steps"), ("steps_given", "steps"), ("speed_rpm", "rpm"),
        ("flow_lpm", "L/min"), ("strokes", "strokes"), ("rate_u_per_kg_per_h", "U/kg/h"),
        ("clamped_s", "s"), ("act_s", "s"),
    ]

    /// A telemetry column name as exported.
    public static func exportName(_ source: String) -> String {
        if let c = telemetryColumns.first(where: { $0.source == source }) { return c.name }
        var s = ""
        for ch in source.lowercased().unicodeScalars {
            s.unicodeScalars.append(CharacterSet.alphanumerics.contains(ch) && ch.isASCII ? ch : "_")
        }
        if let f = s.unicodeScalars.first, CharacterSet.decimalDigits.contains(f) { s = "x" + s }
        return s.isEmpty ? "column" : s
    }

    /// The run's telemetry as analysis CSV.
    public static func telemetryCSV(runDirectory: URL) throws(RunStoreError) -> String {
        let url = runDirectory.appendingPathComponent(RunFolder.telemetryFile)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw RunStoreError(.missingFile, path: url.path, "no telemetry in this run folder")
        }
        let data = try TelemetryFile.load(url)
        var out = ""
        out.reserveCapacity(data.count + 256)
        try TelemetryFile.forEachLine(data, url: url) { number, line in
            let fields = String(decoding: line, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false)
            if number == 1 {
                out += fields.map { exportName(String($0)) }.joined(separator: ",")
            } else {
                out += fields.map { f in f == "nan" || f.isEmpty ? "NA" : String(f) }.joined(separator: ",")
            }
            out += "\n"
        }
        return out
    }

    /// The run's events as CSV, one row per line of events.jsonl.
    public static func eventsCSV(runDirectory: URL) throws(RunStoreError) -> String {
        let events = try RunFolder.readEvents(runDirectory)
        var out = eventColumns.joined(separator: ",") + "\n"
        let standard: Set<String> = ["t", "event", "action", "alarm", "priority", "by", "channel", "item", "from", "to"]
        for e in events {
            let o = JSONObject(e.fields)
            var used = standard
            var value = "", unit = ""
            for (k, u) in valueFields {
                if let v = e.fields[k], let text = scalar(v) {
                    value = text; unit = u; used.insert(k)
                    break
                }
            }
            let detail = e.fields.keys.filter { !used.contains($0) }.sorted().map { k in "\(k)=\(scalar(e.fields[k] as Any) ?? "")" }
                .joined(separator: ";")
            let row: [String] = [
                scalar(e.fields["t"] as Any) ?? "", e.event, o.string("action") ?? "", o.string("alarm") ?? "",
                o.string("priority") ?? "", o.string("by") ?? "", o.string("channel") ?? "",
                scalar(e.fields["item"] as Any) ?? "", o.string("from") ?? "", o.string("to") ?? "",
                value, unit, detail,
            ]
            out += row.map(csvField).joined(separator: ",") + "\n"
        }
        return out
    }

    /// A JSON scalar as text; arrays joined with "|".
    static func scalar(_ v: Any) -> String? {
        if JSONObject.isBoolean(v) { return (v as? Bool) == true ? "true" : "false" }
        switch v {
        case let s as String: return s
        case let a as [Any]: return a.compactMap { scalar($0) }.joined(separator: "|")
        default:
            guard let d = JSONObject.number(v) else { return nil }
            if d == d.rounded() && abs(d) < 1e15 { return String(Int(d)) }
            return "\(d)"
        }
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Where `runs export` writes: `out` ending in `.csv` names the telemetry file (events
    /// beside it as `<stem>-events.csv`); otherwise `out` is a directory that gets
    /// `<id>-telemetry.csv` and `<id>-events.csv`. Never inside the run folder itself.
    public static func write(run: RunInfo, out: String) throws(RunStoreError) -> (telemetry: URL, events: URL) {
        let target = URL(fileURLWithPath: out).standardizedFileURL
        let telemetryURL: URL, eventsURL: URL
        if target.pathExtension.lowercased() == "csv" {
            telemetryURL = target
            eventsURL = target.deletingPathExtension().appendingPathExtension("csv").deletingLastPathComponent()
                .appendingPathComponent(target.deletingPathExtension().lastPathComponent + "-events.csv")
        } else {
            telemetryURL = target.appendingPathComponent("\(run.id)-telemetry.csv")
            eventsURL = target.appendingPathComponent("\(run.id)-events.csv")
        }
        let runDir = URL(fileURLWithPath: run.directory).standardizedFileURL.path
        if telemetryURL.deletingLastPathComponent().path == runDir {
            throw RunStoreError(.io, path: telemetryURL.path, "refusing to write into the run folder: a run record is never modified")
        }
        let runDirectory = URL(fileURLWithPath: run.directory)
        let telemetry = try telemetryCSV(runDirectory: runDirectory)
        let events = try eventsCSV(runDirectory: runDirectory)
        do {
            try FileManager.default.createDirectory(at: telemetryURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(telemetry.utf8).write(to: telemetryURL, options: .atomic)
            try Data(events.utf8).write(to: eventsURL, options: .atomic)
        } catch {
            throw RunStoreError(.io, path: telemetryURL.deletingLastPathComponent().path, "cannot write the export: \(error.localizedDescription)")
        }
        return (telemetryURL, eventsURL)
    }
}
