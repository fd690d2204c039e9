import ECMOCore
import ECMOHAL

/// A PWM channel of the mock board. `dutyCycle`, `enabled` and `periodNanoseconds`
/// are what the hardware really outputs (what the simulator observes); while stuck
/// they keep the stuck values whatever is written.
public final class MockPWMChannel: PWMOutput {
    public let id: Int
    public let name: String
    /// Period as the hardware holds it; 0 until set (as a fresh sysfs PWM channel).
    public private(set) var periodNanoseconds: UInt64 = 0
    public private(set) var dutyCycle: Double = 0
    public private(set) var enabled = false
    public private(set) var fault: MockLineFault = .none
    /// Last values written by the firmware (they differ from the outputs while stuck).
    public private(set) var commandedPeriodNanoseconds: UInt64 = 0
    public private(set) var commandedDutyCycle: Double = 0
    public private(set) var commandedEnabled = false
    private let clock: any MonotonicClock
    private let trace: MockTrace

    init(id: Int, name: String, clock: any MonotonicClock, trace: MockTrace) {
        self.id = id
        self.name = name
        self.clock = clock
        self.trace = trace
    }

    private var isStuck: Bool { if case .stuck = fault { true } else { false } }

    private func checkConnected() throws(HALError) {
        if case .disconnected = fault { throw .disconnected(what: "PWM channel") }
    }

    /// Where this channel's calls are reported (a HAL transcript), and its id there.
    public var tap: (any HALTap)?
    public var tapID: UInt16 = 0

    public func setPeriod(nanoseconds: UInt64) throws(HALError) {
        if tap == nil { return try writePeriod(nanoseconds) }
        try reported(.pwmPeriod, nanoseconds) { () throws(HALError) in try writePeriod(nanoseconds) }
    }

    public func setDutyCycle(_ fraction: Double) throws(HALError) {
        if tap == nil { return try writeDuty(fraction) }
        try reported(.pwmDuty, fraction.bitPattern) { () throws(HALError) in try writeDuty(fraction) }
    }

    public func setEnabled(_ enabled: Bool) throws(HALError) {
        if tap == nil { return try writeEnabled(enabled) }
        try reported(.pwmEnabled, enabled ? 1 : 0) { () throws(HALError) in try writeEnabled(enabled) }
    }

    /// What the hardware outputs (the stuck values while stuck).
    public func readBack() throws(HALError) -> (dutyCycle: Double, enabled: Bool) {
        if tap == nil {
            try checkConnected()
            return (dutyCycle, enabled)
        }
        do throws(HALError) {
            try checkConnected()
        } catch {
            tap?.call(tapID, .pwmReadBack, arguments: .init(start: nil, count: 0), results: .init(start: nil, count: 0), error: error)
            throw error
        }
        var b = [UInt8]()
        withUnsafeBytes(of: dutyCycle.bitPattern.littleEndian) { b.append(contentsOf: $0) }
        b.append(HALCallBytes.bool(enabled))
        b.withUnsafeBytes { tap?.call(tapID, .pwmReadBack, arguments: .init(start: nil, count: 0), results: $0, error: nil) }
        return (dutyCycle, enabled)
    }

    private func reported(_ op: HALTapOp, _ argument: UInt64, _ body: () throws(HALError) -> Void) throws(HALError) {
        let failure: HALError?
        do throws(HALError) { try body(); failure = nil } catch { failure = error }
        HALCallBytes.with(argument) { tap?.call(tapID, op, arguments: $0, results: .init(start: nil, count: 0), error: failure) }
        if let failure { throw failure }
    }

    /// A period of 0 is refused (`.invalidArgument`): the kernel refuses it too.
    private func writePeriod(_ nanoseconds: UInt64) throws(HALError) {
        guard nanoseconds > 0 else { throw .invalidArgument(what: "PWM period must be > 0") }
        try checkConnected()
        commandedPeriodNanoseconds = nanoseconds
        trace.append(TraceEntry(time: clock.now(), target: .pwmPeriod(id), value: Double(nanoseconds)))
        if !isStuck { periodNanoseconds = nanoseconds }
    }

    /// Refuses a fraction outside 0...1, NaN or infinite, with `.invalidArgument`.
    private func writeDuty(_ fraction: Double) throws(HALError) {
        guard fraction.isFinite, fraction >= 0, fraction <= 1 else {
            throw .invalidArgument(what: "PWM duty cycle outside 0...1")
        }
        try checkConnected()
        commandedDutyCycle = fraction
        trace.append(TraceEntry(time: clock.now(), target: .pwmDuty(id), value: fraction))
        if !isStuck { dutyCycle = fraction }
    }

    private func writeEnabled(_ enabled: Bool) throws(HALError) {
        try checkConnected()
        commandedEnabled = enabled
        trace.append(TraceEntry(time: clock.now(), target: .pwmEnabled(id), value: enabled ? 1 : 0))
        if !isStuck { self.enabled = enabled }
    }

    /// Output frozen at `dutyCycle` / `enabled` (a hung PWM controller). The level
    /// argument of `MockLineFault.stuck` records `enabled`.
    public func stuck(dutyCycle: Double, enabled: Bool) {
        fault = .stuck(enabled)
        self.dutyCycle = min(max(dutyCycle.isFinite ? dutyCycle : 0, 0), 1)
        self.enabled = enabled
    }

    /// Every access throws `.disconnected`.
    public func disconnect() { fault = .disconnected }

    /// Back to normal: the outputs take the last commanded values.
    public func clearFault() {
        fault = .none
        periodNanoseconds = commandedPeriodNanoseconds
        dutyCycle = commandedDutyCycle
        enabled = commandedEnabled
    }
}
