import Foundation
import Testing
@testable import ECMORunStore

/// The index's scan of `telemetry.csv` streams the file: it must find what the in-memory
/// reader finds, with lines across its 1 MiB chunks, and the same errors at the same lines.
@Suite struct TelemetryScanTests {
    func file(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("scan-\(UUID().uuidString).csv")
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test func aRecordOfSeveralChunksScansToItsLastRow() throws {
        var text = "t_s,state,cells_ml\n"
        let rows = 120_000   // ~2.4 MB: lines fall across the chunk boundaries
        for i in 0..<rows { text += "\(i).000,active,\(Double(i) / 1000)\n" }
        let url = try file(text)
        defer { try? FileManager.default.removeItem(at: url) }
        let scan = try TelemetryFile.scan(url)
        #expect(scan.rows == rows)
        #expect(scan.lastTime == Double(rows - 1))
        #expect(scan.lastCells == Double(rows - 1) / 1000)
        #expect(scan.header == ["t_s", "state", "cells_ml"])
    }

    @Test func aTornLastLineIsNamedByItsNumber() throws {
        let url = try file("t_s,state\n0.001,active\n0.002,act")
        defer { try? FileManager.default.removeItem(at: url) }
        let error = #expect(throws: RunStoreError.self) { _ = try TelemetryFile.scan(url) }
        #expect(error?.line == 3, "\(String(describing: error))")
    }

    @Test func aRowWithTheWrongFieldCountIsNamed() throws {
        let url = try file("t_s,state\n0.001,active\n0.002,active,extra\n")
        defer { try? FileManager.default.removeItem(at: url) }
        let error = #expect(throws: RunStoreError.self) { _ = try TelemetryFile.scan(url) }
        #expect(error?.line == 3, "\(String(describing: error))")
    }

    @Test func anEmptyFileHasNoHeader() throws {
        let url = try file("")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: RunStoreError.self) { _ = try TelemetryFile.scan(url) }
    }
}
