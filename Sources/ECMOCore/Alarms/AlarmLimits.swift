/// The configurable alarm limits, their stable configuration keys and the hard bounds
/// that no configuration may exceed.

/// A configurable limit, by its stable configuration key.
public enum AlarmLimitKey: String, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    case drainPressureLow = "p_drain_low_mmhg"
    case prePressureHigh = "p_pre_high_mmhg"
    case postPressureHigh = "p_post_high_mmhg"
    case postPressureLow = "p_post_low_mmhg"
    case oxygenatorDropHigh = "dp_oxy_high_mmhg"
    case flowLow = "flow_low_lpm"
    case flowHigh = "flow_high_lpm"
    case speedFlowMismatchFraction = "speed_flow_mismatch_fraction"

    /// The range a configuration may never leave (in the key's unit).
    public var hardBounds: ClosedRange<Double> {
        switch self {
        case .drainPressureLow: -300 ... -10
        case .prePressureHigh: 100 ... 600
        case .postPressureHigh: 50 ... 600
        case .postPressureLow: -50 ... 200
        case .oxygenatorDropHigh: 10 ... 300
        case .flowLow: 0.2 ... 5
        case .flowHigh: 1 ... 10
        case .speedFlowMismatchFraction: 0.1 ... 1
        }
    }

    public var description: String { rawValue }
}

/// A limit that a configuration may not take.
public struct AlarmLimitError: Error, Equatable, CustomStringConvertible {
    /// The configuration key of the offending limit.
    public var key: String
    /// The value it was given.
    public var value: Double
    /// Its hard bounds.
    public var bounds: ClosedRange<Double>
    /// Set when the value is within its hard bounds but not below its partner limit
    /// (`flow_low_lpm` < `flow_high_lpm`, `p_post_low_mmhg` < `p_post_high_mmhg`).
    public var mustBeBelowKey: String?
    /// The partner limit's value when `mustBeBelowKey` is set.
    public var mustBeBelowValue: Double?

    public init(key: String, value: Double, bounds: ClosedRange<Double>,
                mustBeBelowKey: String? = nil, mustBeBelowValue: Double? = nil) {
        self.key = key
        self.value = value
        self.bounds = bounds
        self.mustBeBelowKey = mustBeBelowKey
        self.mustBeBelowValue = mustBeBelowValue
    }

    public var description: String {
        if let other = mustBeBelowKey {
            let otherValue = mustBeBelowValue.map { " = \($0)" } ?? ""
            return "alarm limit \(key) = \(value) must be below \(other)\(otherValue)"
        }
        return "alarm limit \(key) = \(value) is outside its hard bounds \(bounds.lowerBound) ... \(bounds.upperBound)"
    }
}

/// Configurable limits with hard bounds a configuration can never exceed.
public struct AlarmLimits: Sendable, Equatable {
    /// Drainage (suction) pressure below this → `P_DRAIN_LOW`.
    public var drainPressureLow: Pressure = .mmHg(-100)
    /// Pre-oxygenator pressure above this → `P_PRE_HIGH`.
    public var prePressureHigh: Pressure = .mmHg(400)
    /// Post-oxygenator (return) pressure above this → `P_POST_HIGH`.
    public var postPressureHigh: Pressure = .mmHg(400)
    /// Post-oxygenator pressure below this → `P_POST_LOW`.
    public var postPressureLow: Pressure = .mmHg(10)
    /// Oxygenator drop (pre − post) above this → `DP_OXY_HIGH`.
    public var oxygenatorDropHigh: Pressure = .mmHg(60)
    /// Flow below this → `FLOW_LOW`.
    public var flowLow: Flow = .lpm(1.0)
    /// Flow above this → `FLOW_HIGH`.
    public var flowHigh: Flow = .lpm(7.0)
    /// |measured − predicted| / predicted above this → `SPEED_FLOW_MISMATCH`.
    public var speedFlowMismatchFraction: Double = 0.35

    public init() {}

    /// The value of `key` in the key's unit (mmHg, L/min, fraction).
    public subscript(key: AlarmLimitKey) -> Double {
        get {
            switch key {
            case .drainPressureLow: drainPressureLow.mmHg
            case .prePressureHigh: prePressureHigh.mmHg
            case .postPressureHigh: postPressureHigh.mmHg
            case .postPressureLow: postPressureLow.mmHg
            case .oxygenatorDropHigh: oxygenatorDropHigh.mmHg
            case .flowLow: flowLow.litersPerMinute
            case .flowHigh: flowHigh.litersPerMinute
            case .speedFlowMismatchFraction: speedFlowMismatchFraction
            }
        }
        set {
            switch key {
            case .drainPressureLow: drainPressureLow = .mmHg(newValue)
            case .prePressureHigh: prePressureHigh = .mmHg(newValue)
            case .postPressureHigh: postPressureHigh = .mmHg(newValue)
            case .postPressureLow: postPressureLow = .mmHg(newValue)
            case .oxygenatorDropHigh: oxygenatorDropHigh = .mmHg(newValue)
            case .flowLow: flowLow = .lpm(newValue)
            case .flowHigh: flowHigh = .lpm(newValue)
            case .speedFlowMismatchFraction: speedFlowMismatchFraction = newValue
            }
        }
    }

    /// Returns `self` if every limit is finite and within its hard bounds and the low/high
    /// pairs are consistent (`flowLow < flowHigh`, `postPressureLow < postPressureHigh`);
    /// otherwise throws naming the first offending limit (in `AlarmLimitKey` order),
    /// its value and the bound it breaks.
    public func validated() throws(AlarmLimitError) -> AlarmLimits {
        for key in AlarmLimitKey.allCases {
            let v = self[key]
            let b = key.hardBounds
            // NaN is not contained in any range, so it fails here too.
            guard b.contains(v) else { throw AlarmLimitError(key: key.rawValue, value: v, bounds: b) }
        }
        try Self.requireBelow(.flowLow, .flowHigh, in: self)
        try Self.requireBelow(.postPressureLow, .postPressureHigh, in: self)
        return self
    }

    private static func requireBelow(_ low: AlarmLimitKey, _ high: AlarmLimitKey, in limits: AlarmLimits) throws(AlarmLimitError) {
        let lo = limits[low]
        let hi = limits[high]
        guard lo < hi else {
            throw AlarmLimitError(key: low.rawValue, value: lo, bounds: low.hardBounds,
                                  mustBeBelowKey: high.rawValue, mustBeBelowValue: hi)
        }
    }
}
