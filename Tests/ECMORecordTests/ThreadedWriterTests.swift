import Testing
import Foundation
import ECMOCore
import ECMORuntime
import ECMORecord

/// The journal writer and the recorder on their own threads, as in a real-time run, with
/// this test's thread as the loop: what scripts/sanitize runs under ThreadSanitizer (the
/// lockstep tests call the same code from one thread only).
@Suite struct ThreadedWriterTests {
    @Test func theWriterThreadGrantsOnlyWhatItMadeDurableWhileTheLoopOffers() throws {
        let path = temporaryPath("j")
        let (j, _) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (100_000, 0))
        let link = JournalLink()
        let writer = JournalWriter(link: link, journal: j)
        writer.start()
        var granted: [Int64] = []
        for i in 1...150 {
            link.offer(snapshot(UInt64(i), cells: Int64(i) * 10))
            granted.append(link.granted.0)
            Thread.sleep(forTimeInterval: 0.0005)
        }
        writer.stop(final: snapshot(151, cells: 1500))
        #expect(granted == granted.sorted(), "grants only grow")
        #expect(granted.allSatisfy { $0 % 10 == 0 && $0 <= 1500 }, "every grant is a reservation the loop offered")
        let (_, r, _) = try DeliveryJournal.inspect(path: path)
        #expect(r.reserved[0] == 1500 && r.closedCleanly, "the clean-close record follows the thread's last write")
        #expect(r.reserved[0] >= link.granted.0, "nothing granted beyond what the file holds")
    }

    @Test func theRecorderThreadWritesEveryRowTheLoopPushedWhileTheStatusLineReadsIt() throws {
        let t = SPSCRing<TelemetryFrame>(capacity: 256)
        let e = SPSCRing<RigEvent>(capacity: 64)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-threaded-\(UUID().uuidString)")
        let r = try RunRecorder(directory: dir, telemetry: t, events: e)
        r.start()
        var pushed = 0
        for i in 1...2000 {
            var f = TelemetryFrame()
            f.time = Instant(nanosecondsSinceOrigin: UInt64(i) * 1_000_000)
            while !t.push(f) { Thread.sleep(forTimeInterval: 0.001) }
            pushed += 1
            if i % 500 == 0 { e.push(RigEvent(.shedding(i % 1000 == 0), at: f.time)) }
            if i % 100 == 0 { _ = r.latest }   // the status line, from the loop's side
        }
        try r.finish(summary: ["outcome": .string("completed")])
        #expect(r.rowsWritten == pushed && r.eventsWritten == 4)
        let csv = try String(contentsOf: dir.appendingPathComponent("telemetry.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + pushed)
    }
}
