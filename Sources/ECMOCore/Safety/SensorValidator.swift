/// Plausibility checks on each analog channel before anything acts on it: a sample that
/// fails is marked `.deviceFault`, so the controller holds instead of acting on it and
/// the SENSOR_INVALID alarm rises. Range, rate of change, stuck (no variance where the
/// signal always has some), and — in `SafetySupervisor` — cross-checks between channels.
public struct SensorValidator: Sendable {
    /// Limits of what one channel can physically show.
    public struct ChannelLimits: Sendable, Equatable {
        public var range: ClosedRange<Double>
        /// Largest believable change per second between two samples.
        public var maxRatePerSecond: Double
        public init(range: ClosedRange<Double>, maxRatePerSecond: Double) {
            self.range = range
            self.maxRatePerSecond = maxRatePerSecond
        }
        /// Blood-line pressures: a transducer beyond −500…+1000 mmHg is broken. Clamping
        /// or unclamping moves pressure by ~100 mmHg within one 5 ms sample (20 000 mmHg/s),
        /// so only a jump no fluid makes (500 mmHg in 5 ms) is a glitch.
        public static let pressure = ChannelLimits(range: -500...1000, maxRatePerSecond: 100_000)
        /// Flow: −2…15 L/min plausible; a jump of 1 L/min within 5 ms is not a circuit.
        public static let flow = ChannelLimits(range: -2...15, maxRatePerSecond: 200)
    }

    /// Why a channel was judged invalid (for the record).
    public enum Finding: UInt8, Sendable, BitwiseCopyable {
        case ok = 0, unavailable, outOfRange, rateOfChange, stuck
    }

    struct ChannelState: Sendable {
        var lastValue = Double.nan
        var lastTime: Instant?
        var windowStart: Instant?
        var windowMin = Double.infinity
        var windowMax = -Double.infinity
        var stuck = false
        var finding: Finding = .unavailable
    }

    /// Window over which a live signal must show some variance.
    public var stuckWindow: Duration
    public let limits: [ChannelLimits]
    private var channels: [ChannelState]

    /// Channels in `SensorFrame` order: P_drain, P_pre, P_post, flow.
    public init(stuckWindow: Duration = .seconds(2)) {
        self.stuckWindow = stuckWindow
        limits = [.pressure, .pressure, .pressure, .flow]
        channels = Array(repeating: ChannelState(), count: 4)
    }

    public func finding(_ channel: Int) -> Finding { channels[channel].finding }

    /// Checks one channel's sample and downgrades it when implausible.
    @inline(__always)
    mutating func check(_ channel: Int, value: Double, timestamp: Instant, valid: Bool, now: Instant) -> Bool {
        guard valid else {
            channels[channel].finding = .unavailable
            return false
        }
        let l = limits[channel]
        var ok = true
        var finding = Finding.ok
        if !l.range.contains(value) {
            ok = false
            finding = .outOfRange
        }
        // Rate of change between distinct samples.
        if let t0 = channels[channel].lastTime, timestamp > t0, channels[channel].lastValue.isFinite {
            let rate = abs(value - channels[channel].lastValue) / (timestamp - t0).seconds
            if rate > l.maxRatePerSecond {
                ok = false
                finding = .rateOfChange
            }
        }
        if channels[channel].lastTime.map({ timestamp > $0 }) ?? true {
            channels[channel].lastValue = value
            channels[channel].lastTime = timestamp
            // Stuck: over each window, a live analog signal shows some noise.
            if channels[channel].windowStart == nil { channels[channel].windowStart = now }
            channels[channel].windowMin = min(channels[channel].windowMin, value)
            channels[channel].windowMax = max(channels[channel].windowMax, value)
            if let start = channels[channel].windowStart, now - start >= stuckWindow {
                channels[channel].stuck = channels[channel].windowMax - channels[channel].windowMin == 0
                channels[channel].windowStart = now
                channels[channel].windowMin = .infinity
                channels[channel].windowMax = -.infinity
            }
        }
        if channels[channel].stuck {
            ok = false
            finding = .stuck
        }
        channels[channel].finding = finding
        return ok
    }

    /// Validates the four analog channels of `frame` in place.
    public mutating func validate(_ frame: inout SensorFrame, now: Instant) {
        if !check(0, value: frame.drainPressure.value.mmHg, timestamp: frame.drainPressure.timestamp, valid: frame.drainPressure.isValid, now: now) {
            if frame.drainPressure.isValid { frame.drainPressure.status = .deviceFault }
        }
        if !check(1, value: frame.preOxygenatorPressure.value.mmHg, timestamp: frame.preOxygenatorPressure.timestamp, valid: frame.preOxygenatorPressure.isValid, now: now) {
            if frame.preOxygenatorPressure.isValid { frame.preOxygenatorPressure.status = .deviceFault }
        }
        if !check(2, value: frame.postOxygenatorPressure.value.mmHg, timestamp: frame.postOxygenatorPressure.timestamp, valid: frame.postOxygenatorPressure.isValid, now: now) {
            if frame.postOxygenatorPressure.isValid { frame.postOxygenatorPressure.status = .deviceFault }
        }
        if !check(3, value: frame.flow.value.litersPerMinute, timestamp: frame.flow.timestamp, valid: frame.flow.isValid, now: now) {
            if frame.flow.isValid { frame.flow.status = .deviceFault }
        }
    }
}
