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
    /// counts rows. Errors name the line.
    /// `allowTornTail`: an interrupted record, read up to its first damaged line.
    public static func scan(_ url: URL, allowTornTail: Bool = false) throws(RunStoreError) -> Scan {
        guard FileManager.default.fileExists(atPath: url.path) else {
            return Scan(header: [], rows: 0)
        }
        let data = try load(url)
        var scan = Scan(header: [], rows: 0)
        // Interrupted while the header itself was being written: a record of nothing yet.
        if allowTornTail && !data.contains(0x0A) { return scan }
        var lastLine: ArraySlice<UInt8> = []
        var cellsIndex: Int?
        try forEachLine(data, url: url, allowTornTail: allowTornTail) { number, line in
            if number == 1 {
                scan.header = String(decoding: line, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                cellsIndex = scan.header.firstIndex(of: "cells_ml")
            } else {
                scan.rows += 1
                lastLine = line
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

    /// Calls `body` with each line (without its newline), 1-based. Checks the header looks
    /// like the recorder's, every row has as many fields as the header, and the last line
    /// ends with a newline. `allowTornTail` (an interrupted record, no summary): read up to
    /// the first damaged line instead, since a power cut may leave the part written after
    /// the last sync torn or full of garbage; the file itself is never changed.
    static func forEachLine(_ data: [UInt8], url: URL, allowTornTail: Bool = false, _ body: (Int, ArraySlice<UInt8>) throws(RunStoreError) -> Void) throws(RunStoreError) {
        guard !data.isEmpty else { throw RunStoreError(.badHeader, path: url.path, line: 1, "empty file: no header") }
        var number = 0
        var start = 0
        var expected = 0
        while start < data.count {
            number += 1
            var end = start
            var commas = 0
            while end < data.count && data[end] != 0x0A {
                if data[end] == 0x2C { commas += 1 }
                end += 1
            }
            guard end < data.count else {
                if allowTornTail { return }
                throw RunStoreError(.truncatedLine, path: url.path, line: number, "last line has no newline: the record was cut short while writing")
            }
            var line = data[start..<end]
            if line.last == 0x0D { line = line.dropLast() }
            if number == 1 {
                guard line.starts(with: Array("t_s,".utf8)) else {
                    if allowTornTail { return }
                    throw RunStoreError(.badHeader, path: url.path, line: 1, "header must start with t_s (the recorder's telemetry header)")
                }
                expected = commas + 1
            } else if commas + 1 != expected {
                if allowTornTail { return }
                throw RunStoreError(.badColumnCount, path: url.path, line: number, "\(commas + 1) fields, the header has \(expected)")
            }
            try body(number, line)
            start = end + 1
        }
    }
}
