import Foundation
import ECMOCore
import ECMORuntime
@_exported import ECMORecordFormat
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
