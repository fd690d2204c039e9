import Foundation
import ECMOCore
import ECMORuntime
@_exported import ECMORecordFormat

/// Writes the run record on an ordinary thread: `telemetry.csv` (one row per recorded
/// frame), `events.jsonl` (one JSON object per event) and `summary.json` at the end.
/// It drains the loop's rings; the loop never waits for it and never shares its lock.
/// Rows are flushed to disk every drain, so a crash loses at most the last ~20 ms.
public final class RunRecorder: @unchecked Sendable {
    public let directory: URL
    private let telemetry: SPSCRing<TelemetryFrame>
    private let events: SPSCRing<RigEvent>
    private let telemetryHandle: FileHandle
    private let eventsHandle: FileHandle
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


    /// Creates the run directory (and parents). Refuses to overwrite an existing record.
    /// Loop time written as 0 in the record (the run's start on the real monotonic clock,
    /// which otherwise counts from boot).
    public let timeOrigin: Instant

    public init(directory: URL, telemetry: SPSCRing<TelemetryFrame>, events: SPSCRing<RigEvent>, timeOrigin: Instant = .origin) throws {
        self.directory = directory
        self.timeOrigin = timeOrigin
        self.telemetry = telemetry
        self.events = events
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let csv = directory.appendingPathComponent("telemetry.csv")
        let jsonl = directory.appendingPathComponent("events.jsonl")
        for f in [csv, jsonl] where fm.fileExists(atPath: f.path) {
            throw RecorderError(message: "\(f.path) already exists: refusing to overwrite a run record")
        }
        guard fm.createFile(atPath: csv.path, contents: Data(Self.csvHeader.utf8)),
              fm.createFile(atPath: jsonl.path, contents: nil) else {
            throw RecorderError(message: "cannot create files in \(directory.path)")
        }
        telemetryHandle = try FileHandle(forWritingTo: csv)
        eventsHandle = try FileHandle(forWritingTo: jsonl)
        try telemetryHandle.seekToEnd()
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
        var s = summary
        s["telemetry_rows"] = .int(rowsWritten)
        s["events"] = .int(eventsWritten)
        s["telemetry_dropped"] = .int(telemetry.dropped)
        s["events_dropped"] = .int(events.dropped)
        let text = JSONValue.object(s).rendered(pretty: true) + "\n"
        try Data(text.utf8).write(to: directory.appendingPathComponent("summary.json"))
        try telemetryHandle.close()
        try eventsHandle.close()
        if let writeError { throw RecorderError(message: writeError) }
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
        do {
            if n > 0 { try telemetryHandle.write(contentsOf: csv) }
            if m > 0 { try eventsHandle.write(contentsOf: Data(jsonl.utf8)) }
        } catch {
            writeError = "writing the run record failed: \(error)"
        }
        lock.lock()
        if let last { _latest = last }
        rowsWritten += n
        eventsWritten += m
        lock.unlock()
        return (n, m)
    }

    public static let csvHeader = RecordFormat.csvHeader

    public static func csvRow(_ f: TelemetryFrame) -> String { RecordFormat.csvRow(f) }
    /// `RecordFormat.csvRow` (shared with the Pi image).
    public static func csvRow(_ f: TelemetryFrame, into b: inout [UInt8]) { RecordFormat.csvRow(f, into: &b) }
    public static func appendFixed(_ x: Double, _ decimals: Int, to b: inout [UInt8]) { RecordFormat.appendFixed(x, decimals, to: &b) }
    public static func appendInt(_ v: Int, to b: inout [UInt8]) { RecordFormat.appendInt(v, to: &b) }
    static func fixedParts(_ x: Double, _ decimals: Int) -> (Bool, Int, Int)? { RecordFormat.fixedParts(x, decimals) }
    public static func jsonLine(_ e: RigEvent) -> String { RecordFormat.jsonLine(e) }
    public static func jsonObject(_ e: RigEvent) -> [String: JSONValue] { RecordFormat.jsonObject(e) }
    public static func sensorNames(mask: UInt8) -> [String] { RecordFormat.sensorNames(mask: mask) }
    public static func fixed(_ x: Double, _ decimals: Int) -> String { RecordFormat.fixed(x, decimals) }
}

public struct RecorderError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
