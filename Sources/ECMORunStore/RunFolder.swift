import Foundation

/// What went wrong reading a run folder or the index, with the file (and line) it is
/// about, so an operator can find it. Reading never repairs or rewrites a run's files.
public struct RunStoreError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case notARunFolder, missingFile, malformedJSON, truncatedLine, badColumnCount, badHeader
        case unknownRun, ambiguousRun, database, io
    }
    public var kind: Kind
    /// The file or folder concerned.
    public var path: String
    /// 1-based line, when the error is about one line of a file.
    public var line: Int?
    public var message: String

    public init(_ kind: Kind, path: String, line: Int? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        path.isEmpty ? message : "\(path)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

/// One alarm's tally in a run: how often it was raised and its highest priority seen.
public struct AlarmTally: Codable, Sendable, Equatable {
    public var alarm: String
    public var priority: String
    public var raised: Int

    public init(alarm: String, priority: String, raised: Int) {
        self.alarm = alarm
        self.priority = priority
        self.raised = raised
    }
}

/// One scenario expectation's verdict as recorded in summary.json.
public struct VerdictEntry: Codable, Sendable, Equatable {
    public var name: String
    public var line: Int
    public var passed: Bool
    public var measured: String
}

/// Everything the store knows about one run, read from its folder. The index holds these
/// rows; `runs show` prints them.
public struct RunInfo: Codable, Sendable, Equatable {
    /// The folder's name: unique within a runs directory.
    public var id: String
    public var directory: String
    /// "run" (ecmo-rig run), "scenario" (ecmo-rig simulate) or "drill" (ecmo-rig drill: a
    /// scenario's verdicts on a rig's record).
    public var kind: String
    public var board: String?
    public var boardFile: String?
    public var protocolName: String?
    public var protocolFile: String?
    /// The plan hash (protocol bytes + board name) the delivery journal is bound to.
    public var protocolHash: String?
    public var operatorName: String?
    /// Wall clock, ISO 8601 UTC.
    public var startedAt: String?
    public var endedAt: String?
    /// Loop time covered by the record, in seconds.
    public var durationS: Double?
    public var wallS: Double?
    public var mode: String?
    /// completed, stopped, faulted, sensorsNotReady, fault, power_loss, or "interrupted"
    /// when the folder has no summary.json (the process died before the end).
    public var outcome: String
    public var passed: Bool?
    public var expectationsPassed: Int?
    public var expectationsTotal: Int?
    public var alarmsTotal: Int
    public var cellsPrescribedMl: Double?
    public var cellsDeliveredMl: Double?
    public var heparinPrescribedMl: Double?
    public var heparinDeliveredMl: Double?
    public var telemetryRows: Int
    public var telemetryDropped: Int?
    public var events: Int
    public var eventsDropped: Int?
    public var seed: Int?
    /// Sizes and modification times of the record files: a rescan skips an unchanged folder.
    public var fingerprint: String
    public var alarms: [AlarmTally] = []
    public var verdicts: [VerdictEntry] = []
}

/// Reads run folders (`telemetry.csv`, `events.jsonl`, `summary.json`), read-only.
public enum RunFolder {
    public static let telemetryFile = "telemetry.csv"
    public static let eventsFile = "events.jsonl"
    public static let summaryFile = "summary.json"
    /// Scenario runs only: start, end and wall time, outside the deterministic record.
    public static let wallclockFile = "wallclock.json"

    /// A folder is a run folder when it holds a telemetry or events file.
    public static func isRunFolder(_ url: URL) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: url.appendingPathComponent(telemetryFile).path)
            || fm.fileExists(atPath: url.appendingPathComponent(eventsFile).path)
    }

    /// Size and modification time of each record file.
    public static func fingerprint(_ dir: URL) -> String {
        [telemetryFile, eventsFile, summaryFile, wallclockFile].map { name in
            let attrs = try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)
            let size = (attrs?[.size] as? NSNumber)?.int64Value ?? -1
            let mtime = (attrs?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(size)@\(Int64((mtime * 1000).rounded()))"
        }.joined(separator: ";")
    }

    /// Reads and checks a whole run folder: every events line must be JSON, every
    /// telemetry row must have the header's number of fields and end with a newline.
    public static func read(_ dir: URL) throws(RunStoreError) -> RunInfo {
        let dir = dir.standardizedFileURL
        guard isRunFolder(dir) else {
            throw RunStoreError(.notARunFolder, path: dir.path, "not a run folder (no \(telemetryFile) or \(eventsFile))")
        }
        let fingerprint = fingerprint(dir)
        let summaryURL = dir.appendingPathComponent(summaryFile)
        // No summary: the run was interrupted (a crash, a kill, a power cut). What was written
        // after the last sync may be torn or garbage: the record is read up to its first
        // damaged line. A record with a summary was synced before it, so it must be whole.
        let hasSummary = FileManager.default.fileExists(atPath: summaryURL.path)
        let events = try readEvents(dir, allowTornTail: !hasSummary)
        let table = try TelemetryFile.scan(dir.appendingPathComponent(telemetryFile), allowTornTail: !hasSummary)
        var summary: [String: Any] = [:]
        if hasSummary { summary = try readJSONObject(summaryURL) }
        let s = JSONObject(summary)
        var info = RunInfo(
            id: dir.lastPathComponent, directory: dir.path,
            kind: s.string("kind") == "drill" ? "drill" : (s.string("scenario") != nil ? "scenario" : "run"),
            outcome: hasSummary ? (s.string("outcome") ?? "unknown") : "interrupted",
            alarmsTotal: 0, telemetryRows: table.rows, events: events.count, fingerprint: fingerprint)
        info.board = s.string("board")
        info.boardFile = s.string("board_file")
        info.operatorName = s.string("operator")
        info.seed = s.int("seed")
        info.wallS = s.double("wall_time_s")
        info.durationS = s.double("loop_time_s") ?? table.lastTime
        if info.durationS == nil, let ticks = s.int("ticks") { info.durationS = Double(ticks) / 1000 }
        info.telemetryDropped = s.int("telemetry_dropped")
        info.eventsDropped = s.int("events_dropped")
        if let sp = s.object("setpoint") {
            if let q = sp.double("flow_lpm") {
                info.mode = "constant_flow \(format(q)) L/min"
            } else if let r = sp.double("speed_rpm") {
                info.mode = "constant_speed \(format(r)) rpm"
            } else {
                info.mode = sp.string("mode")
            }
        }
        if let p = s.object("protocol") {
            info.protocolName = p.string("name")
            info.protocolFile = p.string("file")
            info.protocolHash = p.string("hash")
            info.cellsPrescribedMl = p.object("cells")?.double("prescribed_ml")
            info.cellsDeliveredMl = p.object("cells")?.double("delivered_ml")
            info.heparinPrescribedMl = p.object("heparin")?.double("prescribed_ml")
            info.heparinDeliveredMl = p.object("heparin")?.double("delivered_ml")
        }
        if info.cellsDeliveredMl == nil, let c = table.lastCells, info.protocolName != nil { info.cellsDeliveredMl = c }
        if info.kind == "scenario" || info.kind == "drill" {
            info.passed = s.bool("passed")
            info.verdicts = s.array("expectations").compactMap { v in
                guard let name = v.string("name") else { return nil }
                return VerdictEntry(name: name, line: v.int("line") ?? 0, passed: v.bool("passed") ?? false,
                                    measured: v.string("measured") ?? "")
            }
            info.expectationsTotal = info.verdicts.count
            info.expectationsPassed = info.verdicts.filter(\.passed).count
        }
        // Wall clock: written by the CLI; older records fall back on the folder name
        // (yyyyMMdd-HHmmss-…) or the summary's modification time.
        info.startedAt = s.string("started_at")
        info.endedAt = s.string("ended_at")
        // Scenario records keep the wall clock apart (wallclock.json) so the record files
        // stay byte-identical for the same seed.
        let clockURL = dir.appendingPathComponent(wallclockFile)
        if info.startedAt == nil, FileManager.default.fileExists(atPath: clockURL.path) {
            let c = JSONObject(try readJSONObject(clockURL))
            info.startedAt = c.string("started_at")
            info.endedAt = c.string("ended_at")
            info.wallS = info.wallS ?? c.double("wall_time_s")
        }
        if info.startedAt == nil, let start = startFromName(dir.lastPathComponent) {
            info.startedAt = iso(start)
            if info.endedAt == nil, let w = info.wallS { info.endedAt = iso(start.addingTimeInterval(w)) }
        }
        if info.endedAt == nil, hasSummary,
           let m = (try? FileManager.default.attributesOfItem(atPath: summaryURL.path))?[.modificationDate] as? Date {
            info.endedAt = iso(m)
        }
        info.alarms = tally(events)
        info.alarmsTotal = info.alarms.reduce(0) { $0 + $1.raised }
        return info
    }

    /// Alarm raises per alarm id, from the event log.
    public static func tally(_ events: [RunEvent]) -> [AlarmTally] {
        var counts: [String: AlarmTally] = [:]
        for e in events where e.event == "alarm" && e.action == "raised" {
            let id = e.alarm ?? "?"
            var t = counts[id] ?? AlarmTally(alarm: id, priority: e.priority ?? "?", raised: 0)
            t.raised += 1
            if rank(e.priority) > rank(t.priority) { t.priority = e.priority ?? t.priority }
            counts[id] = t
        }
        return counts.values.sorted { $0.raised != $1.raised ? $0.raised > $1.raised : $0.alarm < $1.alarm }
    }

    static func rank(_ p: String?) -> Int { ["low": 1, "medium": 2, "high": 3][p ?? ""] ?? 0 }

    /// Every event of `events.jsonl`; a line that is not a JSON object, or a last line
    /// without its newline (a torn write), is an error naming the line, unless
    /// `allowTornTail` (an interrupted record): then reading stops at the first such line.
    public static func readEvents(_ dir: URL, allowTornTail: Bool = false) throws(RunStoreError) -> [RunEvent] {
        let url = dir.appendingPathComponent(eventsFile)
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw RunStoreError(.io, path: url.path, "cannot read: \(error.localizedDescription)")
        }
        var events: [RunEvent] = []
        var lineNumber = 0
        var start = data.startIndex
        while start < data.endIndex {
            lineNumber += 1
            let nl = data[start...].firstIndex(of: 0x0A)
            let end = nl ?? data.endIndex
            let bytes = data[start..<end]
            start = nl.map { data.index(after: $0) } ?? data.endIndex
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            guard nl != nil else {
                if allowTornTail { break }
                throw RunStoreError(.truncatedLine, path: url.path, line: lineNumber, "last line has no newline: the record was cut short while writing")
            }
            let object: Any
            do { object = try JSONSerialization.jsonObject(with: Data(bytes)) } catch {
                if allowTornTail { break }
                throw RunStoreError(.malformedJSON, path: url.path, line: lineNumber, "not valid JSON")
            }
            guard let dict = object as? [String: Any] else {
                if allowTornTail { break }
                throw RunStoreError(.malformedJSON, path: url.path, line: lineNumber, "not a JSON object")
            }
            let o = JSONObject(dict)
            guard let t = o.double("t"), let name = o.string("event") else {
                if allowTornTail { break }
                throw RunStoreError(.malformedJSON, path: url.path, line: lineNumber, "an event needs a number \"t\" and a string \"event\"")
            }
            events.append(RunEvent(time: t, event: name, fields: dict, line: lineNumber))
        }
        return events
    }

    static func readJSONObject(_ url: URL) throws(RunStoreError) -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw RunStoreError(.io, path: url.path, "cannot read: \(error.localizedDescription)")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw RunStoreError(.malformedJSON, path: url.path, "not valid JSON (truncated?)")
        }
        guard let dict = object as? [String: Any] else {
            throw RunStoreError(.malformedJSON, path: url.path, "not a JSON object")
        }
        return dict
    }

    static func startFromName(_ name: String) -> Date? {
        guard name.count >= 15 else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.date(from: String(name.prefix(15)))
    }

    /// ISO 8601 UTC, seconds: the form stored in summary.json and the index.
    public static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: d)
    }

    static func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e12 ? String(Int(x)) : String(x)
    }
}

/// One line of `events.jsonl`, with the decoded fields the store and reports use.
public struct RunEvent: @unchecked Sendable {
    public var time: Double
    public var event: String
    /// All fields of the line, as JSONSerialization gave them.
    public var fields: [String: Any]
    public var line: Int

    public var action: String? { fields["action"] as? String }
    public var alarm: String? { fields["alarm"] as? String }
    public var priority: String? { fields["priority"] as? String }
    public var channel: String? { fields["channel"] as? String }
}

/// Typed access to a JSONSerialization dictionary (numbers arrive as NSNumber).
struct JSONObject {
    let raw: [String: Any]
    init(_ raw: [String: Any]) { self.raw = raw }
    func string(_ k: String) -> String? { raw[k] as? String }
    func double(_ k: String) -> Double? { raw[k].flatMap(Self.number) }

    /// A JSON number as Double, never a Bool or a String. JSONSerialization gives NSNumber,
    /// and on Linux an NSNumber 0 or 1 also casts to Bool: the boolean kind is told apart by
    /// its class (__NSCFBoolean), on both platforms.
    static func number(_ v: Any) -> Double? {
        if isBoolean(v) { return nil }
        if let n = v as? NSNumber, !(v is String) { return n.doubleValue }
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        return nil
    }

    static func isBoolean(_ v: Any) -> Bool {
        if type(of: v) == Bool.self { return true }
        return v is NSNumber && String(describing: type(of: v)).contains("Boolean")
    }

    func int(_ k: String) -> Int? { double(k).flatMap { $0.isFinite && $0 == $0.rounded() ? Int(exactly: $0) : nil } }
    func bool(_ k: String) -> Bool? {
        guard let v = raw[k], Self.isBoolean(v) else { return nil }
        return v as? Bool
    }
    func object(_ k: String) -> JSONObject? { (raw[k] as? [String: Any]).map(JSONObject.init) }
    func array(_ k: String) -> [JSONObject] { ((raw[k] as? [Any]) ?? []).compactMap { ($0 as? [String: Any]).map(JSONObject.init) } }
}
