import ECMOCore
import ECMOHAL

/// An in-memory board below the HAL: digital lines, PWM channels and I²C buses with
/// register-level device models, fault injection on each, and a trace of every write.
/// The simulator is just another board (Zephyr's `native_sim`): the runtime talks to
/// these objects through the HAL protocols and cannot tell them from hardware.
///
/// Lookups create the object on first use and return the same object for the same name
/// afterwards. Each object gets a small integer id (in creation order, starting at 0,
/// shared by all kinds) that the trace uses instead of the name, so tracing never
/// copies a string. Not thread-safe by design: one loop owns the board.
public final class MockBoard {
    /// The clock every write is stamped with, and device models are timed by.
    public let clock: any MonotonicClock
    public let trace: MockTrace

    private var outputs: [String: MockOutputLine] = [:]
    private var inputs: [String: MockInputLine] = [:]
    private var pwms: [String: MockPWMChannel] = [:]
    private var buses: [String: MockI2CBus] = [:]
    private var names: [String] = []

    public init(clock: any MonotonicClock, traceCapacity: Int = 65536) {
        self.clock = clock
        trace = MockTrace(capacity: traceCapacity)
    }

    private func nextID(_ name: String) -> Int {
        names.append(name)
        return names.count - 1
    }

    /// The output line called `name`.
    public func outputLine(_ name: String) -> MockOutputLine {
        if let line = outputs[name] { return line }
        let line = MockOutputLine(id: nextID(name), name: name, clock: clock, trace: trace)
        outputs[name] = line
        return line
    }

    /// The input line called `name`. `edges` and `edgeCapacity` apply when the line is
    /// created; a later lookup returns the existing line unchanged.
    public func inputLine(_ name: String, edges: EdgeDetection,
                          edgeCapacity: Int = MockInputLine.defaultEdgeCapacity) -> MockInputLine {
        if let line = inputs[name] { return line }
        let line = MockInputLine(id: nextID(name), name: name, edges: edges, clock: clock, edgeCapacity: edgeCapacity)
        inputs[name] = line
        return line
    }

    /// The PWM channel called `name`.
    public func pwmChannel(_ name: String) -> MockPWMChannel {
        if let channel = pwms[name] { return channel }
        let channel = MockPWMChannel(id: nextID(name), name: name, clock: clock, trace: trace)
        pwms[name] = channel
        return channel
    }

    /// The I²C bus called `name`.
    public func i2cBus(_ name: String) -> MockI2CBus {
        if let bus = buses[name] { return bus }
        let bus = MockI2CBus(id: nextID(name), name: name, clock: clock, trace: trace)
        buses[name] = bus
        return bus
    }

    /// The name of the object with trace id `id`, or `nil` if there is none.
    public func name(of id: Int) -> String? {
        guard id >= 0, id < names.count else { return nil }
        return names[id]
    }
}

/// A fault injected into a mock line or channel.
public enum MockLineFault: Equatable, Sendable {
    case none
    /// The hardware level is stuck: writes are accepted (and traced) but change nothing;
    /// reads return the stuck level.
    case stuck(Bool)
    /// Every access throws `HALError.disconnected`.
    case disconnected
}
