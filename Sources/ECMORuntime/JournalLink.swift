import Atomics
import ECMOCore
import Foundation

/// Flags of a journal record.
public struct JournalRecordFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let completed = JournalRecordFlags(rawValue: 1)
    public static let closedCleanly = JournalRecordFlags(rawValue: 2)
}

/// Where the journal writer makes the loop's reservations durable: ECMORecord's
/// `DeliveryJournal` (a file, fdatasync'd), or a test's stand-in. The runtime knows only
/// this, so the loop's module does no file I/O; the writer calls it off the loop thread.
public protocol DurableJournal: AnyObject {
    /// Appends `snapshot` and returns only once it is durable; throws if it is not.
    func append(_ snapshot: JournalSnapshot, flags: JournalRecordFlags) throws
}

/// Between the loop and the journal writer: the loop pushes snapshots (plain values,
/// no lock, no syscall); the writer makes them durable and publishes the reservations it
/// made durable through atomics, which the loop reads at the start of each tick. A slow
/// disk slows infusion (the loop waits for authority), never the loop.
public final class JournalLink: @unchecked Sendable {
    let requests: SPSCRing<JournalSnapshot>
    /// Durable reservations per channel (written by the writer, read by the loop).
    /// Unsafe (manually allocated) atomics, not `ManagedAtomic`: a load from a class-based
    /// atomic retains it, and the loop reads these every tick.
    public let grantedCells = UnsafeAtomic<Int64>.create(0)
    public let grantedHeparin = UnsafeAtomic<Int64>.create(0)
    public let writeFailures = ManagedAtomic<Int>(0)
    private var lastPushedSequence: UInt64 = .max
    private var lastPushedReserved: (Int64, Int64) = (-1, -1)

    public init(capacity: Int = 256, granted: (Int64, Int64) = (0, 0)) {
        requests = SPSCRing(capacity: capacity)
        grantedCells.store(granted.0, ordering: .relaxed)
        grantedHeparin.store(granted.1, ordering: .relaxed)
    }

    deinit {
        grantedCells.destroy()
        grantedHeparin.destroy()
    }

    /// Loop side: hands a snapshot to the writer when it says something new.
    @inline(__always)
    public func offer(_ s: JournalSnapshot) {
        guard s.sequence != lastPushedSequence || s.reserved.0 != lastPushedReserved.0 || s.reserved.1 != lastPushedReserved.1 else { return }
        if requests.push(s) {
            lastPushedSequence = s.sequence
            lastPushedReserved = s.reserved
        }
    }

    /// Loop side: what the writer has made durable.
    @inline(__always)
    public var granted: (Int64, Int64) {
        (grantedCells.load(ordering: .acquiring), grantedHeparin.load(ordering: .acquiring))
    }

    /// Writer side: writes the newest pending snapshot (older ones are subsumed: every
    /// field only moves forward) and publishes its reservations. Returns records written.
    @discardableResult
    public func drain(into journal: some DurableJournal, flags: JournalRecordFlags = []) -> Int {
        var newest: JournalSnapshot?
        _ = requests.drain { newest = $0 }
        guard let s = newest else { return 0 }
        do {
            try journal.append(s, flags: flags)
        } catch {
            // Not durable: no new authority. Infusion stalls (and alarms as a deviation).
            writeFailures.wrappingIncrement(ordering: .relaxed)
            return 0
        }
        grantedCells.store(s.reserved.0, ordering: .releasing)
        grantedHeparin.store(s.reserved.1, ordering: .releasing)
        return 1
    }
}

/// Makes the loop's journal requests durable: synchronously between ticks (lockstep
/// simulation) or on its own ordinary thread (real time), never on the loop's thread.
public final class JournalWriter: @unchecked Sendable {
    public let link: JournalLink
    public let journal: any DurableJournal
    private let stopFlag = ManagedAtomic<Bool>(false)
    private let running = ManagedAtomic<Bool>(false)
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
