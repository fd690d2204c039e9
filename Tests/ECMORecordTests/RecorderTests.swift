import Testing
import Foundation
import ECMOCore
import ECMORuntime
import ECMORecord

@Suite struct RecorderTests {
    func tempDir() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-rec-\(UUID().uuidString)")
    }

    @Test func recorderWritesCSVEventsAndSummary() throws {
        let t = SPSCRing<TelemetryFrame>(capacity: 64)
        let e = SPSCRing<RigEvent>(capacity: 64)
        let dir = tempDir()
        let r = try RunRecorder(directory: dir, telemetry: t, events: e)
        var f = TelemetryFrame()
        f.time = Instant(nanosecondsSinceOrigin: 1_500_000_000)
        f.flow = .lpm(4.0123)
        f.preOxygenatorPressure = .mmHg(170)
        f.postOxygenatorPressure = .mmHg(150)
        t.push(f)
        e.push(RigEvent(.lifecycle(from: .inactive, to: .active), at: f.time))
        r.drainOnce()
        try r.finish(summary: ["board": .string("sim")])
        let csv = try String(contentsOf: dir.appendingPathComponent("telemetry.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[1].hasPrefix("1.500,unconfigured,idle,0,0.00,170.00,150.00,20.00,4.012,"))
        let ev = try String(contentsOf: dir.appendingPathComponent("events.jsonl"), encoding: .utf8)
        #expect(ev == "{\"event\":\"lifecycle\",\"from\":\"inactive\",\"t\":1.5,\"to\":\"active\"}\n")
        let summary = try String(contentsOf: dir.appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summary.contains("\"telemetry_rows\": 1"))
        #expect(summary.contains("\"board\": \"sim\""))
    }

    @Test func recorderRefusesToOverwriteAnExistingRecord() throws {
        let dir = tempDir()
        let t = SPSCRing<TelemetryFrame>(capacity: 8), e = SPSCRing<RigEvent>(capacity: 8)
        let r = try RunRecorder(directory: dir, telemetry: t, events: e)
        try r.finish(summary: [:])
        #expect(throws: RecorderError.self) { _ = try RunRecorder(directory: dir, telemetry: t, events: e) }
        let csv = try String(contentsOf: dir.appendingPathComponent("telemetry.csv"), encoding: .utf8)
        #expect(csv == RunRecorder.csvHeader, "the existing record is untouched")
    }

    @Test func fixedFormattingIsLocaleFreeAndRounds() {
        #expect(RunRecorder.fixed(-0.004, 2) == "0.00")
        #expect(RunRecorder.fixed(-12.345, 1) == "-12.3")
        #expect(RunRecorder.fixed(3.14159, 3) == "3.142")
        #expect(RunRecorder.fixed(2.05, 0) == "2")
        #expect(RunRecorder.fixed(.nan, 2) == "nan")
    }
}

@Suite struct SPSCRingTests {
    @Test func ringKeepsOrderAcrossThreadsAndCountsDropsWhenFull() async {
        let ring = SPSCRing<Int>(capacity: 1024)
        let total = 200_000
        let consumer = Task.detached { () -> (Int, Bool) in
            var expected = 0, ordered = true, n = 0
            while n < total {
                if let v = ring.pop() {
                    if v != expected { ordered = false }
                    expected += 1
                    n += 1
                } else {
                    await Task.yield()
                }
            }
            return (n, ordered)
        }
        var i = 0
        while i < total {
            if ring.push(i) { i += 1 }
        }
        let (n, ordered) = await consumer.value
        #expect(n == total)
        #expect(ordered)

        let small = SPSCRing<Int>(capacity: 4)
        for k in 0..<6 { small.push(k) }
        #expect(small.dropped == 2)
        #expect(small.pop() == 0)
    }
}
