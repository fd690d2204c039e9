import Testing
import Foundation
import ECMOCore
import ECMORuntime
import ECMORecord
import ECMOPosix

func snapshot(_ seq: UInt64, cells: Int64, heparin: Int64 = 0, item: Int32 = 1, completed: Bool = false) -> JournalSnapshot {
    JournalSnapshot(sequence: seq, reserved: (cells, heparin), delivered: (cells, heparin), itemIndex: item,
                    itemStartedAt: 1_000_000_000, elapsed: 5_000_000_000, completed: completed, heparinRate: 10)
}

@Suite struct DeliveryJournalTests {
    @Test func aNewJournalRecoversTheLastDurableReservation() throws {
        let path = temporaryPath("j")
        let (j, r) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 50))
        #expect(r == nil, "new journal")
        try j.append(snapshot(1, cells: 100))
        try j.append(snapshot(2, cells: 250, heparin: 20, item: 2))
        let (_, again) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 50))
        let rec = try #require(again)
        #expect(rec.reserved == [250, 20])
        #expect(rec.itemIndex == 2)
        #expect(rec.elapsed == .seconds(5))
        #expect(rec.heparinRate == HeparinRate(unitsPerKilogramPerHour: 10))
        #expect(rec.records == 2 && rec.discardedBytes == 0 && !rec.closedCleanly)
    }

    @Test func aTornLastRecordIsDroppedAndTheNextAppendFollowsTheLastValidOne() throws {
        let path = temporaryPath("j")
        let (j, _) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        try j.append(snapshot(1, cells: 100))
        try j.append(snapshot(2, cells: 300))
        // A power cut in the middle of the second record's write: only 20 of its 64 bytes landed.
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        try full.prefix(64 * 2 + 20).write(to: URL(fileURLWithPath: path))
        let (j2, r) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        #expect(r?.reserved[0] == 100, "the torn reservation was never acted on")
        #expect(r?.discardedBytes == 20)
        try j2.append(snapshot(3, cells: 150))
        let (_, r2) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        #expect(r2?.reserved[0] == 150 && r2?.records == 2 && r2?.discardedBytes == 0)
    }

    @Test func aCorruptRecordEndsRecoveryAtTheLastGoodOne() throws {
        let path = temporaryPath("j")
        let (j, _) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        try j.append(snapshot(1, cells: 100))
        try j.append(snapshot(2, cells: 300))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[64 * 2 + 16] ^= 0xFF    // flip a bit of the second record's reservation
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (_, r) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        #expect(r?.reserved[0] == 100, "CRC mismatch: the record is not trusted")
    }

    @Test func aJournalOfAnotherPlanIsRefusedWithItsPath() throws {
        let path = temporaryPath("j")
        _ = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        #expect {
            _ = try DeliveryJournal.open(path: path, planHash: 8, prescribed: (1000, 0))
        } throws: { e in
            "\(e)".contains(path) && "\(e)".contains("another protocol")
        }
    }

    @Test func aFileThatIsNotAJournalIsRefused() throws {
        let path = temporaryPath("j")
        try Data("telemetry,csv\n1,2,3\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect { _ = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1, 0)) } throws: { e in
            "\(e)".contains("not a delivery journal") || "\(e)".contains("shorter than a journal header")
        }
        var header = [UInt8](repeating: 0, count: 64)
        header.replaceSubrange(0..<8, with: Array("ECMOJRN1".utf8))
        try Data(header).write(to: URL(fileURLWithPath: path))
        #expect { _ = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1, 0)) } throws: { e in
            "\(e)".contains("header is corrupt")
        }
    }

    @Test func theLinkGrantsOnlyWhatWasWrittenAndKeepsTheNewestOfSeveralRequests() throws {
        let path = temporaryPath("j")
        let (j, _) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        let link = JournalLink()
        link.offer(snapshot(1, cells: 10))
        link.offer(snapshot(1, cells: 10))   // nothing new: not queued again
        link.offer(snapshot(2, cells: 40))
        #expect(link.granted.0 == 0, "nothing durable yet")
        #expect(link.drain(into: j) == 1, "two requests, one write (the newest subsumes the older)")
        #expect(link.granted.0 == 40)
        #expect(j.recordsWritten == 1)
    }

    @Test func aFailedWriteGrantsNothing() throws {
        // /dev/full fails every write with ENOSPC: a stand-in for a full SD card.
        let full = "/dev/full"
        guard FileManager.default.fileExists(atPath: full) else { return }
        let (jf, _) = try DeliveryJournal.openForTesting(path: full, planHash: 7)
        let link = JournalLink()
        link.offer(snapshot(1, cells: 10))
        #expect(link.drain(into: jf) == 0)
        #expect(link.granted.0 == 0, "no durable record, no authority")
        #expect(link.writeFailures.load(ordering: .relaxed) == 1)
    }
}

/// Issue 15, item 12: the journal under faults of its own.
@Suite struct DeliveryJournalFaultTests {
    @Test func aFailedWriteIsCutBackSoTheNextRecordFollowsTheLastGoodOne() throws {
        let path = temporaryPath("j")
        let (j, _) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        try j.append(snapshot(1, cells: 100))
        // A failing disk: 30 bytes of the next record land, then the write fails.
        j.injectShortWriteForTesting = 30
        #expect(throws: JournalError.self) { try j.append(snapshot(2, cells: 200)) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == 64 * 2, "the torn bytes are cut off at once")
        try j.append(snapshot(3, cells: 300))
        let (_, r) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        #expect(r?.reserved[0] == 300, "the good record after the failure is recovered")
        #expect(r?.records == 2 && r?.skippedBytes == 0 && r?.discardedBytes == 0)
    }

    @Test func recoveryReadsPastATornRecordInTheMiddleAndKeepsEveryLaterReservation() throws {
        let path = temporaryPath("j")
        let (j, _) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        try j.append(snapshot(1, cells: 100))
        try j.append(snapshot(2, cells: 200))
        try j.append(snapshot(3, cells: 300))
        // As an older writer left it: 25 bytes of a torn record between records 1 and 2.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let torn = Array(bytes[(64 * 2)..<(64 * 2 + 25)])
        bytes.insert(contentsOf: torn, at: 64 * 2)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (_, r) = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0))
        #expect(r?.reserved[0] == 300, "a restart must not dose reservations 2 and 3 again: \(String(describing: r))")
        #expect(r?.records == 3 && r?.skippedBytes == 25)
    }

    @Test func aJournalWhoseDirectoryEntryCannotBeMadeDurableIsRefused() throws {
        let path = temporaryPath("j")
        #expect {
            _ = try DeliveryJournal.open(path: path, planHash: 7, prescribed: (1000, 0),
                                         syncDirectory: { (p: String) throws(FileError) in throw FileError(path: p, message: "EIO (injected)") })
        } throws: { e in
            "\(e)".contains("directory entry cannot be made durable") && "\(e)".contains(path)
        }
        #expect(!FileManager.default.fileExists(atPath: path), "no journal left behind to be trusted later")
    }
}
