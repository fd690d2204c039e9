import Foundation
import ECMOCore
import ECMORuntime
import ECMOPosix

/// Writes the run record on an ordinary thread: `telemetry.csv` (one row per recorded
/// frame), `events.jsonl` (one JSON object per event) and `summary.json` at the end.
/// It drains the loop's rings; the loop never waits for it and never shares its lock.
///
/// What survives what: rows reach the kernel every drain, so a killed process loses at
/// most the last ~20 ms; they are synced to the disk about once a second, so a power cut
/// loses at most about a second and leaves at most a torn last line, which the run store
/// drops when it reads an interrupted record (no summary). The summary is written to a
/// temporary file, synced and renamed after the rows are synced: a record with a summary
/// is whole. A write that fails (a full disk, EIO) is cut back to the last whole line and
/// that file gets no more rows: the record keeps what it had, and `finish` reports it.
public final class RunRecorder: @unchecked Sendable {
    public let directory: URL
    private let telemetry: SPSCRing<TelemetryFrame>
    private let events: SPSCRing<RigEvent>
    private let fileSystem: any RecordFileSystem
    private let telemetryFile: any RecordFile
    private let eventsFile: any RecordFile
    /// Per file: bytes of whole lines written, whether it stopped after a failed write.
    private var written = (telemetry: 0, events: 0)
    private var failed = (telemetry: false, events: false)
    private var lastSync = ContinuousClock.now
    /// How often the rows are made durable (`fdatasync`).
    public static let syncInterval = Duration.seconds(1)
    private let lock = NSLock()
    private var _latest: TelemetryFrame?
    private var stopping = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    public private(set) var rowsWritten = 0
    public private(set) var eventsWritten = 0
    private var writeError: String?
    /// Reused between drains (the recorder thread only).
    private var csvBuffer: [UInt8] = []
    /// Called on the recorder thread with each event's JSON line (for a log).
    public var onEvent: (@Sendable (String) -> Void)?
    /// Called with each event as drained (lockstep consumers such as the scenario runner).
    public var onRigEvent: ((RigEvent) -> Void)?
    /// Called on the recorder thread with each event, its time relative to the run's start
    /// (the console link's fan-out: `ConsoleLinkServer.offer(event:)`).
    public var onRunEvent: (@Sendable (RigEvent) -> Void)?

    public static let csvHeader = "t_s,state,phase,fault,P_drain_mmHg,P_pre_mmHg,P_post_mmHg,dP_oxy_mmHg,flow_lpm,speed_rpm,speed_cmd_rpm,pump_enabled,clamp_closed,invalid_mask,sensor_errors,overruns,lateness_us,exec_us,alarm_priority,alarms_active,speed_ceiling_rpm,cells_ml,heparin_ml,protocol_item,cells_halt,outflow_clamp\n"

    /// Creates the run directory (and parents). Refuses to overwrite an existing record.
    /// Loop time written as 0 in the record (the run's start on the real monotonic clock,
    /// which otherwise counts from boot).
    public let timeOrigin: Instant

    /// `fileSystem`: where every file call goes (tests: a log of them, replayed as a power
    /// cut leaves it; ENOSPC, EIO).
    public init(directory: URL, telemetry: SPSCRing<TelemetryFrame>, events: SPSCRing<RigEvent>, timeOrigin: Instant = .origin,
                fileSystem: any RecordFileSystem = PosixFileSystem()) throws {
        self.directory = directory
        self.timeOrigin = timeOrigin
        self.telemetry = telemetry
        self.events = events
        self.fileSystem = fileSystem
        let csv = directory.appendingPathComponent("telemetry.csv").path
        let jsonl = directory.appendingPathComponent("events.jsonl").path
        do throws(FileError) {
            try fileSystem.createDirectory(directory.path)
            for f in [csv, jsonl] where fileSystem.exists(f) {
                throw FileError(path: f, message: "already exists: refusing to overwrite a run record")
            }
            telemetryFile = try fileSystem.openForAppending(csv, creating: true, exclusive: true)
            eventsFile = try fileSystem.openForAppending(jsonl, creating: true, exclusive: true)
            let header = Array(Self.csvHeader.utf8)
            try telemetryFile.appendDurably(header)
            written.telemetry = header.count
            // The files' names must be durable too, or a power cut can lose the record.
            try fileSystem.syncDirectory(of: csv)
        } catch {
            throw RecorderError(message: "cannot create the run record: \(error.path): \(error.message)")
        }
    }

    /// The most recent frame drained (for the status line).
    public var latest: TelemetryFrame? {
        lock.lock(); defer { lock.unlock() }
        return _latest
    }

    public func start() {
        let t = Thread { [self] in
            while true {
                lock.lock()
                let stop = stopping
                lock.unlock()
                drainOnce()
                if stop { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            finished.signal()
        }
        t.name = "run-recorder"
        thread = t
        t.start()
    }

    /// Drains what is left, writes the summary and closes the files.
    public func finish(summary: [String: JSONValue]) throws {
        lock.lock()
        stopping = true
        lock.unlock()
        if thread != nil { finished.wait() } else { drainOnce() }
        drainOnce()
        syncRows()
        var s = summary
        s["telemetry_rows"] = .int(rowsWritten)
        s["events"] = .int(eventsWritten)
        s["telemetry_dropped"] = .int(telemetry.dropped)
        s["events_dropped"] = .int(events.dropped)
        let text = JSONValue.object(s).rendered(pretty: true) + "\n"
        // Whole or absent after a power cut: written aside, synced, renamed into place.
        let final = directory.appendingPathComponent("summary.json").path
        let aside = final + ".tmp"
        do throws(FileError) {
            if fileSystem.exists(aside) { try fileSystem.remove(aside) }
            let f = try fileSystem.openForAppending(aside, creating: true, exclusive: true)
            defer { f.close() }
            try f.appendDurably(Array(text.utf8))
            try fileSystem.rename(aside, to: final)
            try fileSystem.syncDirectory(of: final)
        } catch {
            telemetryFile.close()
            eventsFile.close()
            throw RecorderError(message: "writing the run summary failed: \(error.path): \(error.message)" + (writeError.map { "; \($0)" } ?? ""))
        }
        telemetryFile.close()
        eventsFile.close()
        if let writeError { throw RecorderError(message: writeError) }
    }

    /// Makes the rows written so far durable (the recorder thread, or `finish`).
    private func syncRows() {
        lastSync = .now
        for (file, stopped) in [(telemetryFile, failed.telemetry), (eventsFile, failed.events)] where !stopped {
            do throws(FileError) { try file.sync() } catch {
                noteFailure("syncing \(error.path) failed: \(error.message)")
            }
        }
    }

    private func noteFailure(_ message: String) {
        if writeError == nil { writeError = "writing the run record failed: \(message)" }
    }

    /// Appends whole lines; a failure cuts the file back to its last whole line and stops it.
    private func append(_ bytes: [UInt8], toTelemetry: Bool) {
        let file = toTelemetry ? telemetryFile : eventsFile
        guard !(toTelemetry ? failed.telemetry : failed.events) else { return }
        do throws(FileError) {
            try file.write(bytes)
            if toTelemetry { written.telemetry += bytes.count } else { written.events += bytes.count }
        } catch {
            try? file.truncate(to: toTelemetry ? written.telemetry : written.events)
            try? file.sync()
            if toTelemetry { failed.telemetry = true } else { failed.events = true }
            noteFailure("\(error.path): \(error.message); the record keeps the lines written before it and gets no more")
        }
    }

    /// One pass: moves everything in the rings to disk. Public for lockstep tests.
    public func drainOnce() {
        // In batches of at most a ring's worth: when the producer keeps pace (a lockstep
        // run waiting for the recorder), one unbounded drain would hold the whole run in
        // memory before writing any of it.
        while true {
            let (n, m) = drainBatch(limit: telemetry.capacity)
            if n < telemetry.capacity && m < events.capacity { break }
        }
    }

    private func drainBatch(limit: Int) -> (Int, Int) {
        var csv = csvBuffer
        csv.removeAll(keepingCapacity: true)
        csvBuffer = []
        defer { csvBuffer = csv }
        var last: TelemetryFrame?
        let n = telemetry.drain(upTo: limit) { f in
            var row = f
            row.time = Instant(nanosecondsSinceOrigin: f.time.nanosecondsSinceOrigin &- timeOrigin.nanosecondsSinceOrigin)
            Self.csvRow(row, into: &csv)
            last = row
        }
        var jsonl = ""
        let m = events.drain(upTo: events.capacity) { e in
            var event = e
            event.time = Instant(nanosecondsSinceOrigin: e.time.nanosecondsSinceOrigin &- timeOrigin.nanosecondsSinceOrigin)
            onRigEvent?(e)
            onRunEvent?(event)
            let line = Self.jsonLine(event)
            jsonl += line + "\n"
            onEvent?(line)
        }
        if n > 0 { append(csv, toTelemetry: true) }
        if m > 0 { append(Array(jsonl.utf8), toTelemetry: false) }
        if ContinuousClock.now - lastSync >= Self.syncInterval { syncRows() }
        lock.lock()
        if let last { _latest = last }
        // Rows that reached the file (after a failed write, none more do).
        rowsWritten += failed.telemetry ? 0 : n
        eventsWritten += failed.events ? 0 : m
        lock.unlock()
        return (n, m)
    }

    public static func csvRow(_ f: TelemetryFrame) -> String {
        var b: [UInt8] = []
        b.reserveCapacity(160)
        csvRow(f, into: &b)
        return String(decoding: b, as: UTF8.self)
    }

    /// Appends one CSV row as ASCII bytes. The writer formats about 10 × faster this way
    /// than by string interpolation (a 1 kHz record is 86.4 M rows a day).
    public static func csvRow(_ f: TelemetryFrame, into b: inout [UInt8]) {
        let comma: UInt8 = 44
        appendFixed(f.time.secondsSinceOrigin, 3, to: &b); b.append(comma)
        b.append(contentsOf: f.state.description.utf8); b.append(comma)
        b.append(contentsOf: f.phase.description.utf8); b.append(comma)
        appendInt(Int(f.faultReason.rawValue), to: &b); b.append(comma)
        appendFixed(f.drainPressure.mmHg, 2, to: &b); b.append(comma)
        appendFixed(f.preOxygenatorPressure.mmHg, 2, to: &b); b.append(comma)
        appendFixed(f.postOxygenatorPressure.mmHg, 2, to: &b); b.append(comma)
        appendFixed(f.oxygenatorPressureDrop.mmHg, 2, to: &b); b.append(comma)
        appendFixed(f.flow.litersPerMinute, 3, to: &b); b.append(comma)
        appendFixed(f.measuredSpeed.rpm, 1, to: &b); b.append(comma)
        appendFixed(f.commandedSpeed.rpm, 1, to: &b); b.append(comma)
        b.append(f.pumpEnabled ? 49 : 48); b.append(comma)
        b.append(f.clampClosed ? 49 : 48); b.append(comma)
        appendInt(Int(f.invalidMask), to: &b); b.append(comma)
        appendInt(Int(f.sensorErrors), to: &b); b.append(comma)
        appendInt(Int(f.overruns), to: &b); b.append(comma)
        appendFixed(f.lateness.seconds * 1e6, 1, to: &b); b.append(comma)
        appendFixed(f.executionTime.seconds * 1e6, 1, to: &b); b.append(comma)
        appendInt(Int(f.highestAlarm), to: &b); b.append(comma)
        appendInt(Int(f.activeAlarms), to: &b); b.append(comma)
        appendFixed(f.speedCeiling.rpm, 0, to: &b); b.append(comma)
        appendFixed(f.cellsDelivered.milliliters, 4, to: &b); b.append(comma)
        appendFixed(f.heparinDelivered.milliliters, 4, to: &b); b.append(comma)
        appendInt(Int(f.infusionItem), to: &b); b.append(comma)
        appendInt(Int(f.cellsHalt), to: &b); b.append(comma)
        b.append(f.outflowClamp ? 49 : 48)
        b.append(10)
    }

    /// `fixed(x, decimals)` as ASCII bytes.
    public static func appendFixed(_ x: Double, _ decimals: Int, to b: inout [UInt8]) {
        guard let (negative, whole, frac) = fixedParts(x, decimals) else {
            b.append(contentsOf: fixed(x, decimals).utf8)
            return
        }
        if negative { b.append(45) }
        appendInt(whole, to: &b)
        if decimals > 0 {
            b.append(46)
            var digits = 1
            var t = frac
            while t >= 10 { t /= 10; digits += 1 }
            for _ in digits..<max(digits, decimals) { b.append(48) }
            appendInt(frac, to: &b)
        }
    }

    /// A non-negative integer's decimal digits (negative: with a minus sign).
    public static func appendInt(_ v: Int, to b: inout [UInt8]) {
        if v < 0 {
            b.append(45)
            if v == .min { b.append(contentsOf: String(v).dropFirst().utf8); return }
            appendInt(-v, to: &b)
            return
        }
        if v < 10 { b.append(48 + UInt8(v)); return }
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var x = v
        withUnsafeMutableBytes(of: &tmp) { t in
            while x > 0 { t[n] = 48 + UInt8(x % 10); x /= 10; n += 1 }
            var i = n - 1
            while i >= 0 { b.append(t[i]); i -= 1 }
        }
    }

    /// Sign, whole part and fraction digits of `x` rounded to `decimals`; nil when not
    /// finite or too large for an Int (then the caller spells it out).
    static func fixedParts(_ x: Double, _ decimals: Int) -> (Bool, Int, Int)? {
        guard x.isFinite, decimals >= 0, decimals <= 9 else { return nil }
        var p = 1.0
        for _ in 0..<decimals { p *= 10 }
        let scaled = (abs(x) * p).rounded()
        guard scaled < 9.0e18 else { return nil }
        let whole = Int(scaled / p)
        let frac = Int(scaled - Double(whole) * p)
        return (x < 0 && scaled != 0, whole, frac)
    }

    public static func jsonLine(_ e: RigEvent) -> String {
        JSONValue.object(jsonObject(e)).rendered(pretty: false)
    }

    /// The fields of an event's `events.jsonl` line (`t`, `event` and the rest).
    public static func jsonObject(_ e: RigEvent) -> [String: JSONValue] {
        var o: [String: JSONValue] = ["t": .number(e.time.secondsSinceOrigin)]
        switch e.kind {
        case .lifecycle(let from, let to):
            o["event"] = .string("lifecycle")
            o["from"] = .string(from.description)
            o["to"] = .string(to.description)
        case .phase(let from, let to):
            o["event"] = .string("phase")
            o["from"] = .string(from.description)
            o["to"] = .string(to.description)
        case .fault(let reason):
            o["event"] = .string("fault")
            o["reason"] = .string(reason.description)
        case .overrun(let lateness, let previous):
            o["event"] = .string("overrun")
            o["lateness_s"] = .number(lateness.seconds)
            o["previous_execution_s"] = .number(previous.seconds)
        case .shedding(let active):
            o["event"] = .string("shedding")
            o["active"] = .bool(active)
        case .outputWriteError(let role):
            o["event"] = .string("output_write_error")
            o["role"] = .string(role.rawValue)
        case .sensorInvalid(let mask):
            o["event"] = .string("sensor_invalid")
            o["sensors"] = .array(sensorNames(mask: mask).map { .string($0) })
        case .sensorRecovered(let mask):
            o["event"] = .string("sensor_recovered")
            o["sensors"] = .array(sensorNames(mask: mask).map { .string($0) })
        case .sensorPinned(let mask, let high):
            o["event"] = .string("sensor_pinned")
            o["sensors"] = .array(sensorNames(mask: mask).map { .string($0) })
            o["at_top"] = .array(sensorNames(mask: high).map { .string($0) })
        case .setpoint(let mode):
            o["event"] = .string("setpoint")
            switch mode {
            case .constantFlow(let q):
                o["mode"] = .string("constant_flow")
                o["flow_lpm"] = .number(q.litersPerMinute)
            case .constantSpeed(let s):
                o["mode"] = .string("constant_speed")
                o["speed_rpm"] = .number(s.rpm)
            }
        case .outputsSafe:
            o["event"] = .string("outputs_safe")
        case .watchdogReset:
            o["event"] = .string("watchdog_reset")
        case .alarm(let a):
            o["event"] = .string("alarm")
            o["alarm"] = .string(a.id?.identifier ?? "ALL")
            o["action"] = .string("\(a.kind)")
            o["priority"] = .string("\(a.priority)")
            o["by"] = .string("\(a.actor)")
        case .monitor(let m):
            o["event"] = .string(m.kind.description)
            if let r = m.resistance { o["resistance_mmhg_min_per_l"] = .number(r.mmHgMinutePerLiter) }
            if let q = m.flow { o["flow_lpm"] = .number(q.litersPerMinute) }
            if let b = m.source { o["baseline"] = .string(b.description) }
            if m.reason != .none { o["reason"] = .string(m.reason.description) }
            if let r = m.role { o["role"] = .string(r.rawValue) }
            if let e = m.error { o["error_mmhg"] = .number(e.mmHg) }
            if m.check != .none { o["check"] = .string(m.check.description) }
        case .infusion(let i):
            o["event"] = .string("infusion")
            o["action"] = .string(i.kind.name)
            o["channel"] = .string(i.channel.description)
            o["item"] = .int(Int(i.item))
            switch i.kind {
            case .halted: o["reason"] = .string(InfusionHalt(rawValue: UInt8(clamping: Int(i.value)))?.description ?? "?")
            case .itemStarted: o["steps"] = .number(i.value)
            case .itemCompleted: o["steps_given"] = .number(i.value)
            case .clampClosed: o["speed_rpm"] = .number(i.value)
            case .clampOpened, .clampRequestWithdrawn: o["clamped_s"] = .number(i.value)
            case .deviation:
                o["delivered_steps"] = .number(i.value)
                o["prescribed_steps"] = .number(i.extra)
                o["delivered_ml"] = .number(i.value * i.scale)
                o["prescribed_ml"] = .number(i.extra * i.scale)
            case .agitation: o["strokes"] = .number(i.value)
            case .heparinRateChanged: o["rate_u_per_kg_per_h"] = .number(i.value)
            case .actAdvice:
                o["act_s"] = .number(i.extra)
                o["suggested_u_per_kg_per_h"] = .number(i.value)
                o["advice"] = .string(i.item > 0 ? "increase" : (i.item < 0 ? "decrease" : "keep"))
                o["applied"] = .bool(false)
            default: break
            }
        case .outputExpired(let role):
            o["event"] = .string("output_expired")
            o["role"] = .string(role.rawValue)
        case .outputMismatch(let role):
            o["event"] = .string("output_mismatch")
            o["role"] = .string(role.rawValue)
        case .watchdogWithheld(let reasons):
            o["event"] = .string("watchdog_withheld")
            o["reasons"] = .array(LoopHealth(rawValue: reasons).names.map { .string($0) })
        case .alarmLimit(let key, let from, let to, let by):
            o["event"] = .string("alarm_limit")
            o["key"] = .string(key.rawValue)
            o["from"] = .number(from)
            o["to"] = .number(to)
            o["by"] = .string(by.description)
        }
        return o
    }

    public static func sensorNames(mask: UInt8) -> [String] {
        let names = ["P_drain", "P_pre", "P_post", "flow", "pump_speed"]
        return names.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
    }

    /// Locale-independent fixed-point formatting (CSV must not depend on the machine).
    public static func fixed(_ x: Double, _ decimals: Int) -> String {
        guard x.isFinite else { return "nan" }
        // Beyond an Int's range (never a physical reading): the plain spelling, not a trap.
        guard let (negative, whole, frac) = fixedParts(x, decimals) else { return "\(x)" }
        var s = (negative ? "-" : "") + String(whole)
        if decimals > 0 {
            let f = String(frac)
            s += "." + String(repeating: "0", count: max(0, decimals - f.count)) + f
        }
        return s
    }
}

public struct RecorderError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A small JSON value with deterministic output (sorted keys), so that the same run gives
/// the same bytes.
public enum JSONValue: Sendable, Equatable {
    case string(String)
    case number(Double)
    case int(Int)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public func rendered(pretty: Bool, indent: String = "") -> String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .number(let d):
            guard d.isFinite else { return "null" }
            if d == d.rounded() && abs(d) < 1e15 { return String(Int(d)) }
            return "\(d)"
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let a):
            return "[" + a.map { $0.rendered(pretty: false) }.joined(separator: pretty ? ", " : ",") + "]"
        case .object(let o):
            let inner = indent + "  "
            let items = o.keys.sorted().map { k in
                (pretty ? inner : "") + Self.quote(k) + (pretty ? ": " : ":") + (o[k] ?? .null).rendered(pretty: pretty, indent: inner)
            }
            return pretty ? "{\n" + items.joined(separator: ",\n") + "\n" + indent + "}" : "{" + items.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            default:
                if u.value < 0x20 { r += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16) } else { r.unicodeScalars.append(u) }
            }
        }
        return r + "\""
    }
}
