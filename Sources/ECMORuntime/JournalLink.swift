import ECMOCore
import Synchronization

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
    /// Why an append was not made durable (typed: Embedded Swift has only typed throws).
    associatedtype AppendError: Error
    /// Appends `snapshot` and returns only once it is durable; throws if it is not.
    func append(_ snapshot: JournalSnapshot, flags: JournalRecordFlags) throws(AppendError)
}

/// Between the loop and the journal writer: the loop pushes snapshots (plain values,
/// no lock, no syscall); the writer makes them durable and publishes the reservations it
/// made durable through atomics, which the loop reads at the start of each tick. A slow
/// disk slows infusion (the loop waits for authority), never the loop.
public final class JournalLink: @unchecked Sendable {
    let requests: SPSCRing<JournalSnapshot>
    /// Durable reservations per channel (written by the writer, read by the loop).
    /// Stored inline (Synchronization's `Atomic`), not class-based atomics: a load from a
    /// class-based atomic retains it, and the loop reads these every tick.
    public let grantedCells = Atomic<Int64>(0)
    public let grantedHeparin = Atomic<Int64>(0)
    public let writeFailures = Atomic<Int>(0)
    private var lastPushedSequence: UInt64 = .max
    private var lastPushedReserved: (Int64, Int64) = (-1, -1)

    public init(capacity: Int = 256, granted: (Int64, Int64) = (0, 0)) {
        requests = SPSCRing(capacity: capacity)
        grantedCells.store(granted.0, ordering: .relaxed)
        grantedHeparin.store(granted.1, ordering: .relaxed)
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
            writeFailures.wrappingAdd(1, ordering: .relaxed)
            return 0
        }
        grantedCells.store(s.reserved.0, ordering: .releasing)
        grantedHeparin.store(s.reserved.1, ordering: .releasing)
        return 1
    }
}
