/// Why a sample cannot be trusted. The controller never acts on anything but `.valid`.
public enum SampleStatus: UInt8, Sendable, BitwiseCopyable {
    /// Read and plausible, and fresh at the time it was taken.
    case valid = 0
    /// Never read yet (start-up).
    case missing = 1
    /// The device did not answer, or answered with an error status.
    case readError = 2
    /// The device reported a diagnostic (saturation, memory fault, out of range).
    case deviceFault = 3
    /// Too old: the last good value is older than the role's maximum age.
    case stale = 4
    /// Pinned at the low end of the sensor's range (the part saturated): the true value is
    /// at or below `value`, which holds the range end. Evidence of an extreme, not missing
    /// data — suction on a drainage sensor — so the safety core acts on it.
    case belowRange = 5
    /// Pinned at the high end of the sensor's range: the true value is at or above `value`.
    case aboveRange = 6
    /// The signal is outside what the sensor can output (an analog input at a supply rail:
    /// wire open or shorted). Unlike a pinned reading it says nothing about the process.
    case signalLost = 7
}

/// One reading of one sensor, with when it was taken, where it came from and how many
/// reads have failed so far (PX4's `SensorBaro`: timestamp, device id, error count).
public struct SensorSample<Value: Sendable & BitwiseCopyable>: Sendable, BitwiseCopyable {
    public var value: Value
    /// When the device measured it (not when the loop copied it).
    public var timestamp: Instant
    public var source: SensorRole
    /// Cumulative failed reads of this device since start.
    public var errorCount: UInt32
    public var status: SampleStatus

    public init(value: Value, timestamp: Instant, source: SensorRole, errorCount: UInt32 = 0, status: SampleStatus = .valid) {
        self.value = value
        self.timestamp = timestamp
        self.source = source
        self.errorCount = errorCount
        self.status = status
    }

    public var isValid: Bool { status == .valid }

    /// The reading is pinned at one end of the sensor's range (see `SampleStatus.belowRange`).
    public var isPinned: Bool { status == .belowRange || status == .aboveRange }

    /// The value, only if the sample is valid and not older than `maxAge` at `now`.
    public func value(at now: Instant, maxAge: Duration) -> Value? {
        guard status == .valid, now - timestamp <= maxAge else { return nil }
        return value
    }

    /// The same sample in another unit (a calibration applied), with its time, source,
    /// error count and status kept.
    @inlinable
    public func map<T: Sendable & BitwiseCopyable>(_ convert: (Value) -> T) -> SensorSample<T> {
        SensorSample<T>(value: convert(value), timestamp: timestamp, source: source, errorCount: errorCount, status: status)
    }
}

/// Everything the loop reads in one tick, by role. Plain values so that a tick copies
/// it without allocating.
public struct SensorFrame: Sendable, BitwiseCopyable {
    public var drainPressure: SensorSample<Pressure>
    public var preOxygenatorPressure: SensorSample<Pressure>
    public var postOxygenatorPressure: SensorSample<Pressure>
    public var flow: SensorSample<Flow>
    public var pumpSpeed: SensorSample<PumpSpeed>
    public var emergencyStop: Bool
    public var airDetected: Bool
    /// The cell syringe's empty end stop.
    public var syringeEmpty: Bool
    /// The heparin syringe's empty end stop (false when the board has none).
    public var heparinEmpty: Bool
    /// Cell-syringe plunger force (N), when the board has a force sensor (`.missing` otherwise).
    public var syringeForce: SensorSample<Double>

    public init(at time: Instant = .origin) {
        drainPressure = .init(value: .zero, timestamp: time, source: .drainPressure, status: .missing)
        preOxygenatorPressure = .init(value: .zero, timestamp: time, source: .preOxygenatorPressure, status: .missing)
        postOxygenatorPressure = .init(value: .zero, timestamp: time, source: .postOxygenatorPressure, status: .missing)
        flow = .init(value: .zero, timestamp: time, source: .flow, status: .missing)
        pumpSpeed = .init(value: .zero, timestamp: time, source: .pumpTachometer, status: .missing)
        emergencyStop = false
        airDetected = false
        syringeEmpty = false
        heparinEmpty = false
        syringeForce = .init(value: 0, timestamp: time, source: .syringeForce, status: .missing)
    }

    /// ΔP across the oxygenator, when both sides are valid.
    public var oxygenatorPressureDrop: Pressure? {
        guard preOxygenatorPressure.isValid, postOxygenatorPressure.isValid else { return nil }
        return preOxygenatorPressure.value - postOxygenatorPressure.value
    }
}

// Codable is for the records and files the hosted build writes; Embedded Swift has no Codable.
#if !hasFeature(Embedded)
extension SampleStatus: Codable {}
#endif
