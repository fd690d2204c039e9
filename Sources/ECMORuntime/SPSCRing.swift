import Synchronization

/// A bounded single-producer single-consumer ring of plain values. The control loop is
/// the producer: `push` never blocks, never allocates and takes no lock (two atomic
/// loads and one store); when the ring is full it refuses and counts the loss, so a slow
/// disk can never delay a tick. The consumer (run recorder, status line) drains it on an
/// ordinary thread.
public final class SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Element>
    public let capacity: Int
    private let mask: Int
    /// Next slot to write (producer-owned).
    private let head = Atomic<Int>(0)
    /// Next slot to read (consumer-owned).
    private let tail = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)

    /// `capacity` is rounded up to a power of two.
    public init(capacity: Int) {
        var c = 2
        while c < capacity { c <<= 1 }
        self.capacity = c
        mask = c - 1
        storage = .allocate(capacity: c)
    }

    deinit { storage.deallocate() }

    /// Producer side. Returns false (and counts a drop) when full.
    @inline(__always)
    @discardableResult
    public func push(_ value: Element) -> Bool {
        let h = head.load(ordering: .relaxed)
        let t = tail.load(ordering: .acquiring)
        if h - t >= capacity {
            droppedCount.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        (storage + (h & mask)).initialize(to: value)
        head.store(h + 1, ordering: .releasing)
        return true
    }

    /// Consumer side.
    public func pop() -> Element? {
        let t = tail.load(ordering: .relaxed)
        let h = head.load(ordering: .acquiring)
        if t == h { return nil }
        let v = storage[t & mask]
        tail.store(t + 1, ordering: .releasing)
        return v
    }

    /// Consumer side: drains everything available into `body`; returns how many.
    @discardableResult
    public func drain(_ body: (Element) -> Void) -> Int {
        var n = 0
        while let v = pop() {
            body(v)
            n += 1
        }
        return n
    }

    /// Consumer side: drains at most `limit` values into `body`; returns how many. A
    /// consumer that writes each batch out stays bounded even while the producer keeps
    /// pace with it (a plain `drain` would then never return).
    @discardableResult
    public func drain(upTo limit: Int, _ body: (Element) -> Void) -> Int {
        var n = 0
        while n < limit, let v = pop() {
            body(v)
            n += 1
        }
        return n
    }

    public var count: Int { head.load(ordering: .acquiring) - tail.load(ordering: .acquiring) }
    public var isFull: Bool { count >= capacity }
    public var dropped: Int { droppedCount.load(ordering: .relaxed) }
    public var totalPushed: Int { head.load(ordering: .acquiring) }
}
