import ECMOCore
import ECMOHAL

/// A digital output of the mock board. `level` is what the hardware actually drives
/// (what the simulator observes); it differs from the command while a fault is injected.
public final class MockOutputLine: DigitalOutput {
    public let id: Int
    public let name: String
    /// The level the pin really has.
    public private(set) var level = false
    /// The last value the firmware wrote (even if a fault kept it off the pin).
    public private(set) var commanded = false
    public private(set) var fault: MockLineFault = .none
    /// Successful `set` calls.
    public private(set) var writeCount = 0
    /// Rising edges on the pin so far.
    public private(set) var risingEdges: UInt64 = 0
    /// Called on each rising edge of the pin, inside `set` (a stepper's STEP input acts on
    /// the edge, so the simulated mechanism moves exactly when the firmware pulses), with
    /// the context given to `onRise(_:context:)`. A C function and an unretained context,
    /// not a closure: calling a stored closure retains its context, and `set` runs in the tick.
    public typealias RiseHandler = @convention(c) (UnsafeMutableRawPointer) -> Void
    private var riseHandler: RiseHandler?
    private var riseContext: UnsafeMutableRawPointer?

    /// Sets (or with nil, removes) the rising-edge handler. The context is not retained:
    /// whoever passes it keeps it alive while the line can be written.
    public func onRise(_ handler: RiseHandler?, context: UnsafeMutableRawPointer?) {
        riseHandler = handler
        riseContext = context
    }
    private let clock: any MonotonicClock
    private let trace: MockTrace

    init(id: Int, name: String, clock: any MonotonicClock, trace: MockTrace) {
        self.id = id
        self.name = name
        self.clock = clock
        self.trace = trace
    }

    /// Where this line's calls are reported (a HAL transcript), and its id there.
    public var tap: (any HALTap)?
    public var tapID: UInt16 = 0

    /// Writes are traced with the commanded value, also when stuck (the firmware did
    /// write). A disconnected line throws and traces nothing: nothing reached the pin.
    public func set(_ asserted: Bool) throws(HALError) {
        if tap == nil { return try drive(commanded: asserted) }
        let failure: HALError?
        do throws(HALError) { try drive(commanded: asserted); failure = nil } catch { failure = error }
        HALCallBytes.with(HALCallBytes.bool(asserted)) { tap?.call(tapID, .outputSet, arguments: $0, results: .init(start: nil, count: 0), error: failure) }
        if let failure { throw failure }
    }

    private func drive(commanded asserted: Bool) throws(HALError) {
        if case .disconnected = fault { throw .disconnected(what: "output line") }
        commanded = asserted
        writeCount += 1
        trace.append(TraceEntry(time: clock.now(), target: .line(id), value: asserted ? 1 : 0))
        if case .none = fault {
            let rose = asserted && !level
            level = asserted
            if rose {
                risingEdges &+= 1
                if let h = riseHandler, let c = riseContext { h(c) }
            }
        }
    }

    /// The real level of the pin (so a stuck line reads back its stuck level, which is
    /// how readback catches it).
    public func readBack() throws(HALError) -> Bool {
        if tap == nil {
            if case .disconnected = fault { throw .disconnected(what: "output line") }
            return level
        }
        let failure: HALError? = if case .disconnected = fault { .disconnected(what: "output line") } else { nil }
        HALCallBytes.with(HALCallBytes.bool(level)) { tap?.call(tapID, .outputReadBack, arguments: .init(start: nil, count: 0), results: failure == nil ? $0 : .init(start: nil, count: 0), error: failure) }
        if let failure { throw failure }
        return level
    }

    /// Pin stuck at `level` (shorted driver, welded relay).
    public func stuck(at level: Bool) {
        fault = .stuck(level)
        self.level = level
    }

    /// Line gone: every access throws `.disconnected`.
    public func disconnect() { fault = .disconnected }

    /// Back to normal: the pin takes the last commanded value again.
    public func clearFault() {
        fault = .none
        level = commanded
    }
}

/// A digital input of the mock board. The simulator `drive`s it; the firmware reads it
/// and drains its edge events, which sit in a ring preallocated at creation so that
/// both `drive` and `readEdges` never allocate.
///
/// When the ring is full the oldest event is dropped and counted in `droppedEvents`
/// (what the Linux GPIO character device does with its event FIFO).
public final class MockInputLine: DigitalInput {
    public static let defaultEdgeCapacity = 4096

    public let id: Int
    public let name: String
    public let edges: EdgeDetection
    /// The level the outside world drives (what the firmware sees when no fault).
    public private(set) var level = false
    public private(set) var fault: MockLineFault = .none
    /// Events lost because the ring was full.
    public private(set) var droppedEvents = 0
    public let edgeCapacity: Int
    private let ring: UnsafeMutablePointer<EdgeEvent>
    private var head = 0
    /// Events waiting to be read.
    public private(set) var pendingEvents = 0
    private let clock: any MonotonicClock

    init(id: Int, name: String, edges: EdgeDetection, clock: any MonotonicClock, edgeCapacity: Int) {
        self.id = id
        self.name = name
        self.edges = edges
        self.clock = clock
        self.edgeCapacity = max(1, edgeCapacity)
        ring = .allocate(capacity: self.edgeCapacity)
    }

    deinit { ring.deallocate() }

    /// Sets the level seen on the pin at `time` and, when the level changes and the
    /// edge detection asks for that edge, queues an event stamped `time`. While stuck
    /// or disconnected the level is remembered but no event is produced.
    public func drive(_ newLevel: Bool, at time: Instant) {
        let previous = level
        level = newLevel
        guard case .none = fault, previous != newLevel else { return }
        let kind: EdgeEvent.Kind = newLevel ? .rising : .falling
        switch (edges, kind) {
        case (.both, _), (.rising, .rising), (.falling, .falling): break
        default: return
        }
        enqueue(EdgeEvent(kind: kind, timestamp: time))
    }

    /// `drive(_:at:)` at the clock's present time.
    public func drive(_ newLevel: Bool) { drive(newLevel, at: clock.now()) }

    private func enqueue(_ event: EdgeEvent) {
        if pendingEvents == edgeCapacity {
            head = (head + 1) % edgeCapacity
            pendingEvents -= 1
            droppedEvents += 1
        }
        (ring + (head + pendingEvents) % edgeCapacity).initialize(to: event)
        pendingEvents += 1
    }

    /// Where this line's calls are reported (a HAL transcript), and its id there.
    public var tap: (any HALTap)?
    public var tapID: UInt16 = 0

    /// Small enough to inline: a call the caller cannot inline, on a line it holds in an
    /// optional `let`, costs a retain per tick (tick-gate counts them).
    @inline(__always)
    public func read() throws(HALError) -> Bool {
        if tap == nil { return try sensedLevel() }
        return try tappedRead()
    }

    @inline(never)
    private func tappedRead() throws(HALError) -> Bool {
        let value: Bool
        do throws(HALError) { value = try sensedLevel() } catch {
            tap?.call(tapID, .inputRead, arguments: .init(start: nil, count: 0), results: .init(start: nil, count: 0), error: error)
            throw error
        }
        HALCallBytes.with(HALCallBytes.bool(value)) { tap?.call(tapID, .inputRead, arguments: .init(start: nil, count: 0), results: $0, error: nil) }
        return value
    }

    @inline(__always)
    private func sensedLevel() throws(HALError) -> Bool {
        switch fault {
        case .none: return level
        case .stuck(let l): return l
        case .disconnected: throw .disconnected(what: "input line")
        }
    }

    /// Moves up to `buffer.count` pending events, oldest first. Never allocates.
    public func readEdges(into buffer: UnsafeMutableBufferPointer<EdgeEvent>) throws(HALError) -> Int {
        if tap == nil { return try takeEdges(into: buffer) }
        let capacity = UInt64(buffer.count)
        do throws(HALError) {
            let n = try takeEdges(into: buffer)
            var bytes = [UInt8]()
            bytes.reserveCapacity(n * HALCallBytes.edgeSize)
            for i in 0..<n {
                bytes.append(buffer[i].kind.rawValue)
                withUnsafeBytes(of: buffer[i].timestamp.nanosecondsSinceOrigin.littleEndian) { bytes.append(contentsOf: $0) }
            }
            HALCallBytes.with(capacity) { a in bytes.withUnsafeBytes { tap?.call(tapID, .inputEdges, arguments: a, results: $0, error: nil) } }
            return n
        } catch {
            HALCallBytes.with(capacity) { tap?.call(tapID, .inputEdges, arguments: $0, results: .init(start: nil, count: 0), error: error) }
            throw error
        }
    }

    private func takeEdges(into buffer: UnsafeMutableBufferPointer<EdgeEvent>) throws(HALError) -> Int {
        if case .disconnected = fault { throw .disconnected(what: "input line") }
        let n = min(buffer.count, pendingEvents)
        for i in 0..<n {
            buffer[i] = ring[(head + i) % edgeCapacity]
        }
        head = (head + n) % edgeCapacity
        pendingEvents -= n
        return n
    }

    /// Reads return `level` whatever is driven, and no edges are produced.
    public func stuck(at level: Bool) { fault = .stuck(level) }
    /// Reads throw `.disconnected`.
    public func disconnect() { fault = .disconnected }
    /// Back to normal (no event is produced for a level change hidden by the fault).
    public func clearFault() { fault = .none }
}
