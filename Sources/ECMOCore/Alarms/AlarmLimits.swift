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
    /// The warning tier of the pressure limits (the keys above are the alarm tier).
    case drainPressureWarning = "p_drain_warning_mmhg"
    case prePressureWarning = "p_pre_warning_mmhg"
    case postPressureWarning = "p_post_warning_mmhg"
    /// Longest time the circuit may stand with (near) zero flow before NO_FLOW.
    case zeroFlowLimit = "zero_flow_limit_s"

    /// The range a configuration may never leave (in the key's unit).
    public var hardBounds: ClosedRange<Double> {
        switch self {
        // An alarm tier leaves room for its warning tier inside it, and the reverse.
        case .drainPressureLow: -300 ... -20
        case .prePressureHigh: 110 ... 600
        case .postPressureHigh: 60 ... 600
        case .postPressureLow: -50 ... 200
        case .oxygenatorDropHigh: 10 ... 300
        case .flowLow: 0.2 ... 5
        case .flowHigh: 1 ... 10
        case .speedFlowMismatchFraction: 0.1 ... 1
        case .drainPressureWarning: -290 ... -10
        case .prePressureWarning: 100 ... 590
        case .postPressureWarning: 50 ... 590
        case .zeroFlowLimit: 1 ... 30
        }
    }

    public var description: String { rawValue }

    /// A dense index for fixed-size messages (the console link's command ring), without
    /// building `allCases` (an allocation) on the loop thread.
    public var index: Int {
        switch self {
        case .drainPressureLow: 0
        case .prePressureHigh: 1
        case .postPressureHigh: 2
        case .postPressureLow: 3
        case .oxygenatorDropHigh: 4
        case .flowLow: 5
        case .flowHigh: 6
        case .speedFlowMismatchFraction: 7
        case .drainPressureWarning: 8
        case .prePressureWarning: 9
        case .postPressureWarning: 10
        case .zeroFlowLimit: 11
        }
    }

    public init?(index: Int) {
        switch index {
        case 0: self = .drainPressureLow
        case 1: self = .prePressureHigh
        case 2: self = .postPressureHigh
        case 3: self = .postPressureLow
        case 4: self = .oxygenatorDropHigh
        case 5: self = .flowLow
        case 6: self = .flowHigh
        case 7: self = .speedFlowMismatchFraction
        case 8: self = .drainPressureWarning
        case 9: self = .prePressureWarning
        case 10: self = .postPressureWarning
        case 11: self = .zeroFlowLimit
        default: return nil
        }
    }
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
///
/// Pressures have two tiers, as on the consoles: a warning (medium priority; the pump may
/// not speed up) and an alarm (high priority; speed is taken away toward the safe floor and
/// the cell syringe pauses). Defaults from the domain note: drainage −100 / −150 mmHg,
/// P_pre and P_post 400 / 500 mmHg.
public struct AlarmLimits: Sendable, Equatable {
    /// Drainage (suction) pressure below this → `P_DRAIN_LOW_WARN` (medium).
    public var drainPressureWarning: Pressure = .mmHg(-100)
    /// Drainage (suction) pressure below this → `P_DRAIN_LOW` (high).
    public var drainPressureLow: Pressure = .mmHg(-150)
    /// Pre-oxygenator pressure above this → `P_PRE_HIGH_WARN` (medium).
    public var prePressureWarning: Pressure = .mmHg(400)
    /// Pre-oxygenator pressure above this → `P_PRE_HIGH` (high).
    public var prePressureHigh: Pressure = .mmHg(500)
    /// Post-oxygenator (return) pressure above this → `P_POST_HIGH_WARN` (medium).
    public var postPressureWarning: Pressure = .mmHg(400)
    /// Post-oxygenator (return) pressure above this → `P_POST_HIGH` (high).
    public var postPressureHigh: Pressure = .mmHg(500)
    /// Flow below `zeroFlow` for this long while the circuit is active → `NO_FLOW` (high).
    /// Also bounds the outflow-clamp window.
    public var zeroFlowLimit: Duration = .seconds(30)
    /// What counts as no flow (a sensor's zero drift is well below it).
    public static let zeroFlow: Flow = .lpm(0.3)
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
            case .drainPressureWarning: drainPressureWarning.mmHg
            case .prePressureWarning: prePressureWarning.mmHg
            case .postPressureWarning: postPressureWarning.mmHg
            case .zeroFlowLimit: zeroFlowLimit.seconds
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
            case .drainPressureWarning: drainPressureWarning = .mmHg(newValue)
            case .prePressureWarning: prePressureWarning = .mmHg(newValue)
            case .postPressureWarning: postPressureWarning = .mmHg(newValue)
            // Saturates: a non-finite value is caught by `validated()` through the getter.
            case .zeroFlowLimit: zeroFlowLimit = newValue.isFinite ? .seconds(newValue) : .seconds(-1)
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
        // The alarm tier lies beyond the warning tier.
        try Self.requireBelow(.drainPressureLow, .drainPressureWarning, in: self)
        try Self.requireBelow(.prePressureWarning, .prePressureHigh, in: self)
        try Self.requireBelow(.postPressureWarning, .postPressureHigh, in: self)
        try Self.requireBelow(.postPressureLow, .postPressureWarning, in: self)
        return self
    }

    /// The warning tier that goes with an alarm tier a configuration set alone, when the
    /// default warning would not lie inside it: the same distance from the alarm tier as
    /// the defaults (50 mmHg for drainage, 100 mmHg for P_pre and P_post), kept within its
    /// hard bounds. Loaders call it for keys the file did not give, and say so.
    public mutating func deriveWarningTiers(given: Set<AlarmLimitKey>) -> [AlarmLimitKey] {
        var derived: [AlarmLimitKey] = []
        func fit(_ key: AlarmLimitKey, _ value: Double) {
            let b = key.hardBounds
            self[key] = min(max(value, b.lowerBound), b.upperBound)
            derived.append(key)
        }
        if !given.contains(.drainPressureWarning), given.contains(.drainPressureLow), !(drainPressureLow < drainPressureWarning) {
            fit(.drainPressureWarning, drainPressureLow.mmHg + 50)
        }
        if !given.contains(.prePressureWarning), given.contains(.prePressureHigh), !(prePressureWarning < prePressureHigh) {
            fit(.prePressureWarning, prePressureHigh.mmHg - 100)
        }
        if !given.contains(.postPressureWarning), given.contains(.postPressureHigh), !(postPressureWarning < postPressureHigh) {
            fit(.postPressureWarning, max(postPressureHigh.mmHg - 100, (postPressureLow.mmHg + postPressureHigh.mmHg) / 2))
        }
        return derived
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
