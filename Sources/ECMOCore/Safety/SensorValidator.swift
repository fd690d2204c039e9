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
        /// The device reports its reading pinned at a range end (see `SampleStatus.belowRange`).
        case pinned
    }

    struct ChannelState: Sendable {
        var lastValue = Double.nan
        var lastTime: Instant?
        var windowStart: Instant?
        var windowMin = Double.infinity
        var windowMax = -Double.infinity
        var stuck = false
        var finding: Finding = .unavailable
        /// After a jump no circuit makes, the channel is not trusted again until it comes
        /// back near its last trusted value or shows a live (noisy) signal for
        /// `quarantineWindow`: a wire that falls to a rail jumps once and then reads a
        /// steady, plausible-looking value, which must not steer the pump meanwhile.
        var quarantined = false
        var quarantineStart: Instant?
        var quarantineMin = Double.infinity
        var quarantineMax = -Double.infinity
        var quarantineSamples = 0
        var trustedValue = Double.nan
        var trustedTime: Instant?
    }

    /// How many fresh samples, not all equal, a channel that jumped must show before it is
    /// trusted again: a live signal has noise (a real step recovers within a few samples,
    /// well inside SENSOR_INVALID's delay); a wire at a rail reads the same value every time.
    public var quarantineSamples = 4

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
        let fresh = channels[channel].lastTime.map { timestamp > $0 } ?? true
        // Rate of change between distinct samples.
        if let t0 = channels[channel].lastTime, timestamp > t0, channels[channel].lastValue.isFinite {
            let rate = abs(value - channels[channel].lastValue) / (timestamp - t0).seconds
            if rate > l.maxRatePerSecond {
                ok = false
                finding = .rateOfChange
                channels[channel].quarantined = true
                channels[channel].quarantineStart = now
                channels[channel].quarantineMin = value
                channels[channel].quarantineMax = value
                channels[channel].quarantineSamples = 1
            }
        }
        if ok && channels[channel].quarantined && fresh {
            // Back near the last trusted value (a glitch that ended)? Or a live signal at
            // a new level for the whole window (a real step)? Otherwise still not trusted.
            var back = false
            if let t = channels[channel].trustedTime, timestamp > t, channels[channel].trustedValue.isFinite {
                back = abs(value - channels[channel].trustedValue) / (timestamp - t).seconds <= l.maxRatePerSecond
            }
            channels[channel].quarantineMin = min(channels[channel].quarantineMin, value)
            channels[channel].quarantineMax = max(channels[channel].quarantineMax, value)
            channels[channel].quarantineSamples += 1
            let live = channels[channel].quarantineSamples >= quarantineSamples
                && channels[channel].quarantineMax > channels[channel].quarantineMin
            if back || live {
                channels[channel].quarantined = false
                channels[channel].quarantineStart = nil
            }
        }
        if channels[channel].quarantined {
            ok = false
            finding = .rateOfChange
        }
        if ok && fresh {
            channels[channel].trustedValue = value
            channels[channel].trustedTime = timestamp
        }
        if fresh {
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

    /// Validates the four analog channels of `frame` in place. A pinned reading passes
    /// through as it is (its status already says it cannot be used as a value).
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
        if frame.drainPressure.isPinned { channels[0].finding = .pinned }
        if frame.preOxygenatorPressure.isPinned { channels[1].finding = .pinned }
        if frame.postOxygenatorPressure.isPinned { channels[2].finding = .pinned }
    }
}
