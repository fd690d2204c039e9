import Foundation

/// `telemetry.csv`, read-only: a fast structural check for the index, and the columns as
/// numbers for reports. Columns are found by name, so a record with more or fewer columns
/// (an older or newer firmware) still reads.
public struct TelemetryFile: Sendable {
    public var header: [String]
    /// Column-major values; a field that is not a number (state names, "nan") is NaN.
    public var columns: [[Double]]
    /// The text columns kept as text (state, phase, fault), column-major.
    public var text: [String: [String]]
    public var rowCount: Int { columns.first?.count ?? 0 }

    public func column(_ name: String) -> [Double]? {
        header.firstIndex(of: name).map { columns[$0] }
    }

    static let textColumns: Set<String> = ["state", "phase", "fault"]

    /// Result of the structural scan.
    public struct Scan: Sendable {
        public var header: [String]
        public var rows: Int
        public var lastTime: Double?
        public var lastCells: Double?
    }

    /// Checks every row has the header's field count and the file ends with a newline;
    /// counts rows. Errors name the line. `allowTornTail`: an interrupted record, read up
    /// to its first damaged line. Streams the file in 1 MiB chunks: the index scans every
    /// finished run, and a run's end must not hold its whole record in memory.
    public static func scan(_ url: URL, allowTornTail: Bool = false) throws(RunStoreError) -> Scan {
        guard FileManager.default.fileExists(atPath: url.path) else {
            return Scan(header: [], rows: 0)
        }
        var scan = Scan(header: [], rows: 0)
        var lastLine: [UInt8] = []
        var cellsIndex: Int?
        try forEachLine(streaming: url, allowTornTail: allowTornTail) { number, line in
            if number == 1 {
                scan.header = String(decoding: line, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                cellsIndex = scan.header.firstIndex(of: "cells_ml")
            } else {
                scan.rows += 1
                lastLine.removeAll(keepingCapacity: true)
                lastLine.append(contentsOf: line)
            }
        }
        if scan.rows > 0 {
            let fields = String(decoding: lastLine, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false)
            scan.lastTime = Double(fields[0])
            if let i = cellsIndex, i < fields.count { scan.lastCells = Double(fields[i]) }
        }
        return scan
    }

    /// Reads the whole table (for reports and exports).
    public static func read(_ url: URL) throws(RunStoreError) -> TelemetryFile {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw RunStoreError(.missingFile, path: url.path, "no telemetry in this run folder")
        }
        let data = try load(url)
        var header: [String] = []
        var columns: [[Double]] = []
        var text: [String: [String]] = [:]
        var textIndex: [Int: String] = [:]
        try forEachLine(data, url: url) { number, line in
            if number == 1 {
                header = String(decoding: line, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                columns = Array(repeating: [], count: header.count)
                for (i, h) in header.enumerated() where textColumns.contains(h) { textIndex[i] = h; text[h] = [] }
                return
            }
            var i = 0
            var fieldStart = line.startIndex
            var p = line.startIndex
            while true {
                if p == line.endIndex || line[p] == 0x2C {
                    let field = line[fieldStart..<p]
                    columns[i].append(parseDouble(field))
                    if let name = textIndex[i] { text[name]?.append(String(decoding: field, as: UTF8.self)) }
                    i += 1
                    if p == line.endIndex { break }
                    fieldStart = line.index(after: p)
                }
                p = line.index(after: p)
            }
        }
        return TelemetryFile(header: header, columns: columns, text: text)
    }

    static func parseDouble(_ bytes: ArraySlice<UInt8>) -> Double {
        // Fast path for plain decimals ("-12.34"), the recorder's only number form.
        var negative = false
        var p = bytes.startIndex
        if p < bytes.endIndex, bytes[p] == 0x2D { negative = true; p += 1 }
        guard p < bytes.endIndex else { return .nan }
        var whole: Double = 0
        var frac: Double = 0
        var scale: Double = 1
        var seenDot = false
        var digits = 0
        while p < bytes.endIndex {
            let c = bytes[p]
            if c >= 0x30 && c <= 0x39 {
                digits += 1
                if seenDot { scale /= 10; frac += Double(c - 0x30) * scale } else { whole = whole * 10 + Double(c - 0x30) }
            } else if c == 0x2E && !seenDot {
                seenDot = true
            } else {
                return Double(String(decoding: bytes, as: UTF8.self)) ?? .nan
            }
            p += 1
        }
        guard digits > 0 else { return .nan }
        let v = whole + frac
        return negative ? -v : v
    }

    static func load(_ url: URL) throws(RunStoreError) -> [UInt8] {
        do { return [UInt8](try Data(contentsOf: url)) } catch {
            throw RunStoreError(.io, path: url.path, "cannot read: \(error.localizedDescription)")
        }
    }

    /// The structure every line must have: a header like the recorder's, then rows with as
    /// many fields as the header. Fed one line at a time, so a file can be streamed.
    struct LineCheck {
        var number = 0
        var expected = 0
        /// Nil when the line is sound; else what is wrong with it.
        mutating func check(_ line: inout ArraySlice<UInt8>, url: URL) -> RunStoreError? {
            number += 1
            if line.last == 0x0D { line = line.dropLast() }
            var commas = 0
            for b in line where b == 0x2C { commas += 1 }
            if number == 1 {
                guard line.starts(with: Array("t_s,".utf8)) else {
                    return RunStoreError(.badHeader, path: url.path, line: 1, "header must start with t_s (the recorder's telemetry header)")
                }
                expected = commas + 1
            } else if commas + 1 != expected {
                return RunStoreError(.badColumnCount, path: url.path, line: number, "\(commas + 1) fields, the header has \(expected)")
            }
            return nil
        }
    }

    static func truncated(_ url: URL, line: Int) -> RunStoreError {
        RunStoreError(.truncatedLine, path: url.path, line: line, "last line has no newline: the record was cut short while writing")
    }

    /// Calls `body` with each line (without its newline), 1-based. Checks the header looks
    /// like the recorder's, every row has as many fields as the header, and the last line
    /// ends with a newline. `allowTornTail` (an interrupted record, no summary): read up to
    /// the first damaged line instead, since a power cut may leave the part written after
    /// the last sync torn or full of garbage; the file itself is never changed.
    static func forEachLine(_ data: [UInt8], url: URL, allowTornTail: Bool = false, _ body: (Int, ArraySlice<UInt8>) throws(RunStoreError) -> Void) throws(RunStoreError) {
        guard !data.isEmpty else {
            if allowTornTail { return }
            throw RunStoreError(.badHeader, path: url.path, line: 1, "empty file: no header")
        }
        var check = LineCheck()
        var start = 0
        while start < data.count {
            guard let end = data[start...].firstIndex(of: 0x0A) else {
                if allowTornTail { return }
                throw truncated(url, line: check.number + 1)
            }
            var line = data[start..<end]
            if let e = check.check(&line, url: url) {
                if allowTornTail { return }
                throw e
            }
            try body(check.number, line)
            start = end + 1
        }
    }

    /// `forEachLine` over the file read in chunks: memory stays at one chunk and one line.
    static func forEachLine(streaming url: URL, allowTornTail: Bool = false, _ body: (Int, ArraySlice<UInt8>) throws(RunStoreError) -> Void) throws(RunStoreError) {
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw RunStoreError(.io, path: url.path, "cannot read: \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        var check = LineCheck()
        var buffer: [UInt8] = []
        var sawBytes = false
        while true {
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw RunStoreError(.io, path: url.path, "cannot read: \(error.localizedDescription)")
            }
            guard let chunk, !chunk.isEmpty else { break }
            sawBytes = true
            buffer.append(contentsOf: chunk)
            var start = 0
            while let end = buffer[start...].firstIndex(of: 0x0A) {
                var line = buffer[start..<end]
                if let e = check.check(&line, url: url) {
                    if allowTornTail { return }
                    throw e
                }
                try body(check.number, line)
                start = end + 1
            }
            buffer.removeFirst(start)
        }
        if allowTornTail { return }
        guard sawBytes else { throw RunStoreError(.badHeader, path: url.path, line: 1, "empty file: no header") }
        guard buffer.isEmpty else { throw truncated(url, line: check.number + 1) }
    }
}
