import ECMOCore

/// What a trace entry was written to. Ids are the ones `MockBoard` hands out
/// (`MockBoard.name(of:)` turns them back into names).
public enum TraceTarget: Hashable, Sendable, BitwiseCopyable {
    /// A digital output line; value 1 = asserted, 0 = released (the *commanded* value).
    case line(Int)
    /// A PWM channel's duty cycle; value = fraction 0...1.
    case pwmDuty(Int)
    /// A PWM channel's enable; value 1 / 0.
    case pwmEnabled(Int)
    /// A PWM channel's period; value = nanoseconds.
    case pwmPeriod(Int)
    /// An acknowledged I²C write (plain, or the write half of a write-read). Value = the
    /// bytes after the first, read as a big-endian unsigned integer (at most 6 of them),
    /// so an ADS1115 register write `[pointer, msb, lsb]` traces the register value.
    case i2cWrite(bus: Int, address: UInt8, firstByte: UInt8, length: Int)
    /// A write attempt that was not acknowledged (nothing there, or an injected NAK).
    /// Value = the length of the attempted write.
    case i2cNAK(bus: Int, address: UInt8, firstByte: UInt8)
}

/// One write seen by the mock board, stamped with the injected clock.
public struct TraceEntry: Equatable, Sendable, BitwiseCopyable {
    public var time: Instant
    public var target: TraceTarget
    public var value: Double
    public init(time: Instant, target: TraceTarget, value: Double) {
        self.time = time
        self.target = target
        self.value = value
    }
}

/// A fixed-capacity ring of every write made through the mock board, so a test (or a
/// HIL run record) can prove what reached the hardware and when.
///
/// The storage is allocated once in `init`; `append` never allocates, because the control
/// loop that writes through the mock is checked to be allocation-free. When the ring is
/// full the oldest entry is overwritten and counted in `overwritten`.
/// Not thread-safe: one loop owns the board.
public final class MockTrace {
    public let capacity: Int
    private let storage: UnsafeMutablePointer<TraceEntry>
    /// Index of the oldest entry.
    private var head = 0
    /// Entries held now (≤ capacity).
    public private(set) var count = 0
    /// Writes appended since creation or the last `clear()`.
    public private(set) var totalWrites: UInt64 = 0
    /// Entries lost because the ring was full.
    public private(set) var overwritten: UInt64 = 0

    /// `capacity` below 1 is raised to 1 (a trace that can hold nothing proves nothing).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        storage = .allocate(capacity: self.capacity)
    }

    deinit {
        // `TraceEntry` is BitwiseCopyable: nothing to deinitialize.
        storage.deallocate()
    }

    /// Records one write. Never allocates.
    public func append(_ entry: TraceEntry) {
        totalWrites &+= 1
        if count < capacity {
            (storage + (head + count) % capacity).initialize(to: entry)
            count += 1
        } else {
            (storage + head).initialize(to: entry)
            head = (head + 1) % capacity
            overwritten &+= 1
        }
    }

    /// The entry `index` places after the oldest (0 = oldest). `nil` when out of range.
    public subscript(index: Int) -> TraceEntry? {
        guard index >= 0, index < count else { return nil }
        return storage[(head + index) % capacity]
    }

    /// All entries, oldest first. Allocates (for tests and reports, not for the loop).
    public var entries: [TraceEntry] {
        var out: [TraceEntry] = []
        out.reserveCapacity(count)
        for i in 0..<count { out.append(storage[(head + i) % capacity]) }
        return out
    }

    /// The newest entry for `target`, if it is still in the ring. Does not allocate.
    public func last(for target: TraceTarget) -> TraceEntry? {
        var i = count - 1
        while i >= 0 {
            let e = storage[(head + i) % capacity]
            if e.target == target { return e }
            i -= 1
        }
        return nil
    }

    /// The value last written to `target`, if it is still in the ring.
    public func lastValue(for target: TraceTarget) -> Double? { last(for: target)?.value }

    /// Empties the ring and resets `totalWrites` and `overwritten`. Keeps the storage.
    public func clear() {
        head = 0
        count = 0
        totalWrites = 0
        overwritten = 0
    }
}
