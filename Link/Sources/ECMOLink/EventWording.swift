// One wording of the rig's events for people: the console's event list and the HTML run
// report both call it, so an operator reads the same sentence live and afterwards. The
// machine form (events.jsonl, the link's `values`) is unchanged; this only reads it.

/// Turns an event (its code and its `events.jsonl` fields) into one sentence with units.
/// Field `operator` (added by the console link when it knows who sent the command behind
/// an event) names the person; without it, the event's `by` (console, operator panel…).
public enum EventWording {
    public static func text(code: String, values v: [String: LinkValue]) -> String {
        func s(_ k: String) -> String? { if case .string(let x)? = v[k] { return x } ; return nil }
        func n(_ k: String) -> Double? { if case .number(let x)? = v[k] { return x } ; return nil }
        func b(_ k: String) -> Bool? { if case .bool(let x)? = v[k] { return x } ; return nil }
        func list(_ k: String) -> String {
            guard case .array(let a)? = v[k] else { return s(k) ?? "" }
            let names = a.compactMap { x -> String? in if case .string(let t) = x { return t } ; return nil }
            return names.isEmpty ? "none" : names.joined(separator: ", ")
        }
        let who: String? = s("operator").map { capitalized($0) } ?? s("by").flatMap { $0 == "system" ? nil : "The " + $0 }
        switch code {
        case "lifecycle":
            return "Circuit \(s("from") ?? "?") → \(s("to") ?? "?")"
        case "phase":
            return "Phase \(s("from") ?? "?") → \(s("to") ?? "?")"
        case "fault":
            return "FAULT: \(words(s("reason") ?? "unknown")); every output put safe"
        case "overrun":
            return "Loop \(duration(n("lateness_s"))) late (previous tick took \(duration(n("previous_execution_s"))))"
        case "shedding":
            return b("active") == true ? "Loop overloaded: non-critical work shed" : "Loop keeping time again: non-critical work resumed"
        case "setpoint":
            let what = s("mode") == "constant_flow" ? "flow \(number(n("flow_lpm"), 2)) L/min" : "speed \(number(n("speed_rpm"), 0)) rpm"
            return (who.map { "\($0) set " } ?? "Set-point: ") + what
        case "sensor_invalid": return "Sensor lost: \(list("sensors"))"
        case "sensor_recovered": return "Sensor valid again: \(list("sensors"))"
        case "sensor_pinned": return "Sensor at its range end: \(list("sensors"))" + (list("at_top") == "none" ? " (bottom)" : " (top: \(list("at_top")))")
        case "outputs_safe": return "Every output put to its safe value"
        case "watchdog_reset": return "Watchdog reset the board"
        case "output_expired": return "Output \(s("role") ?? "?") fell back to safe (its command aged out)"
        case "output_write_error": return "Output \(s("role") ?? "?") could not be written"
        case "output_mismatch": return "Output \(s("role") ?? "?") does not read back what was written"
        case "watchdog_withheld":
            let r = list("reasons")
            return r == "none" ? "Loop healthy again: watchdog kicked" : "Watchdog kick withheld: \(r)"
        case "alarm":
            let alarm = s("alarm") ?? "?"
            let priority = s("priority") ?? ""
            switch s("action") ?? "" {
            case "raised": return "Alarm \(alarm) raised (\(priority))"
            case "cleared": return "Alarm \(alarm) cleared"
            case "escalated": return "Alarm \(alarm) escalated to \(priority)"
            case "acknowledged": return "\(who ?? "Someone") acknowledged \(alarm)"
            case "audio paused": return "\(who ?? "Someone") paused the alarm audio"
            case "audio resumed": return "Alarm audio sounds again"
            case let other: return "Alarm \(alarm) \(other)"
            }
        case "alarm_limit":
            let key = s("key") ?? "?"
            let unit = limitUnit(key)
            return "\(who ?? "Someone") changed alarm limit \(key) from \(number(n("from"), 2)) to \(number(n("to"), 2))\(unit.isEmpty ? "" : " " + unit)"
        case "fouling_armed":
            return "Fouling monitor armed: baseline R \(number(n("resistance_mmhg_min_per_l"), 2)) mmHg/(L/min) at \(number(n("flow_lpm"), 2)) L/min (\(words(s("baseline") ?? "window")))"
        case "fouling_not_armed": return "Fouling monitor NOT armed: \(words(s("reason") ?? "no usable samples"))"
        case "fouling_resumed": return "Cells resumed after a fouling pause" + (s("baseline") != nil ? " on a new baseline" : "")
        case "sensor_drift": return "Pressure sensor \(s("role") ?? "?") suspected of drift (\(number(n("error_mmhg"), 0)) mmHg off)"
        case "infusion":
            let ch = s("channel") ?? "cells"
            let item = n("item").map { Int($0) }
            switch s("action") ?? "" {
            case "protocol_started": return (who.map { "\($0) started the protocol" } ?? "Protocol started")
            case "protocol_completed": return "Protocol completed"
            case "item_started": return "Protocol item \(item.map(String.init) ?? "?") started"
            case "item_completed": return "Protocol item \(item.map(String.init) ?? "?") completed"
            case "halted": return "\(capitalized(ch)) infusion halted: \(words(s("reason") ?? "?"))"
            case "resumed": return "\(capitalized(ch)) infusion resumed"
            case "clamp_closed": return "Outflow clamp closed (pump \(number(n("speed_rpm"), 0)) rpm)"
            case "clamp_opened": return "Outflow clamp opened after \(number(n("clamped_s"), 1)) s"
            case "baseline_closed": return "Baseline closed: cell doses may begin"
            case "heparin_rate_changed": return "Heparin rate \(number(n("rate_u_per_kg_per_h"), 1)) U/kg/h"
            case "act_advice": return "ACT \(number(n("act_s"), 0)) s: advice \(s("advice") ?? "?") heparin to \(number(n("suggested_u_per_kg_per_h"), 1)) U/kg/h"
            case "deviation": return "\(capitalized(ch)) delivered \(number(n("delivered_ml"), 2)) mL of \(number(n("prescribed_ml"), 2)) mL prescribed"
            case let other: return "\(capitalized(ch)): \(words(other))"
            }
        default:
            let detail = v.keys.sorted().filter { $0 != "operator" }.map { "\(words($0)) \(plain(v[$0] ?? .string("")))" }.joined(separator: ", ")
            return detail.isEmpty ? words(code) : "\(words(code)): \(detail)"
        }
    }

    /// Seconds as a person reads them: µs, ms or s.
    public static func duration(_ seconds: Double?) -> String {
        guard let x = seconds, x.isFinite else { return "?" }
        let a = abs(x)
        if a < 1e-3 { return "\(number(x * 1e6, 0)) µs" }
        if a < 1 { return "\(number(x * 1e3, 1)) ms" }
        return "\(number(x, 1)) s"
    }

    /// Fixed decimals, trailing zeros dropped (2.50 → 2.5, 3.00 → 3); locale-independent.
    public static func number(_ x: Double?, _ decimals: Int) -> String {
        guard let x, x.isFinite else { return "?" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let r = (x * scale).rounded() / scale
        guard abs(r) < 1e15 else { return "\(r)" }
        if r == r.rounded() { return String(Int(r)) }
        var t = "\(r)"
        if t.contains("e") { return t }
        while t.hasSuffix("0") { t.removeLast() }
        return t
    }

    /// The unit of an alarm-limit key, from its suffix.
    public static func limitUnit(_ key: String) -> String {
        if key.hasSuffix("_mmhg") { return "mmHg" }
        if key.hasSuffix("_lpm") { return "L/min" }
        if key.hasSuffix("_s") { return "s" }
        return ""
    }

    static func words(_ s: String) -> String { s.replacingUnderscores() }
    static func capitalized(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
    static func plain(_ v: LinkValue) -> String {
        switch v {
        case .number(let d): number(d, 3)
        case .string(let s): s
        case .bool(let b): b ? "yes" : "no"
        case .array(let a): a.map(plain).joined(separator: " ")
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}
