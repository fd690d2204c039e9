import ECMOCore
import Foundation
import Synchronization

/// Makes the loop's journal requests durable: synchronously between ticks (lockstep
/// simulation) or on its own ordinary thread (real time), never on the loop's thread.
public final class JournalWriter: @unchecked Sendable {
    public let link: JournalLink
    public let journal: any DurableJournal
    private let stopFlag = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    private var thread: Thread?

    public init(link: JournalLink, journal: any DurableJournal) {
        self.link = link
        self.journal = journal
    }

    /// One pass: writes the newest pending snapshot, if any.
    @inline(__always)
    public func serviceOnce() {
        if link.requests.count > 0 { link.drain(into: journal) }
    }

    public var isThreaded: Bool { running.load(ordering: .acquiring) }

    /// Starts the writer thread (real-time pacing). It polls every 0.5 ms: the loop asks
    /// for reservations a lookahead (100 ms by default) before it needs them.
    ///
    /// The flags are release/acquire, not relaxed: `stop` must see `running == false` only
    /// after the thread's last pass (its journal writes and grants) has happened, so that
    /// the final clean-close record is written after, never interleaved with, that pass;
    /// and the thread must see the stop request together with everything before it.
    public func start() {
        running.store(true, ordering: .releasing)
        let t = Thread { [self] in
            while !stopFlag.load(ordering: .acquiring) {
                serviceOnce()
                Thread.sleep(forTimeInterval: 0.0005)
            }
            serviceOnce()
            running.store(false, ordering: .releasing)
        }
        t.name = "delivery-journal"
        thread = t
        t.start()
    }

    /// Stops the thread after a last pass, and writes a final record marking a clean close.
    public func stop(final snapshot: JournalSnapshot?) {
        if thread != nil {
            stopFlag.store(true, ordering: .releasing)
            while running.load(ordering: .acquiring) { Thread.sleep(forTimeInterval: 0.0002) }
            thread = nil
        } else {
            serviceOnce()
        }
        if let s = snapshot { try? journal.append(s, flags: JournalRecordFlags.closedCleanly) }
    }
}
