/// Alarm vocabulary of the safety core: priorities, identifiers, definitions, events and
/// the per-tick condition set. Plain values, no allocation, no clock.

/// IEC 60601-1-8 alarm priority. Ordered: `low < medium < high`.
public enum AlarmPriority: UInt8, Sendable, BitwiseCopyable, Comparable, CaseIterable, CustomStringConvertible {
    case low = 1
    case medium = 2
    case high = 3

    public static func < (a: AlarmPriority, b: AlarmPriority) -> Bool { a.rawValue < b.rawValue }

    /// One level up, saturating at `high`.
    public var escalated: AlarmPriority {
        switch self {
        case .low: .medium
        case .medium, .high: .high
        }
    }

    public var description: String {
        switch self {
        case .low: "low"
        case .medium: "medium"
        case .high: "high"
        }
    }
}

/// Identifiers, stable strings for logs and scenario files.
///
/// Raw values are dense from 0 in declaration order, so `index` addresses fixed-size
/// per-alarm storage. New cases go at the end (raw values are written to run records).
public enum AlarmID: UInt8, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    case drainPressureLow = 0
    case prePressureHigh = 1
    case postPressureHigh = 2
    case postPressureLow = 3
    case oxygenatorDropHigh = 4
    case flowLow = 5
    case flowHigh = 6
    case speedFlowMismatch = 7
    case tachometerLost = 8
    case sensorInvalid = 9
    case airInLine = 10
    case emergencyStop = 11
    case loopOverrun = 12
    case deviceConfigMismatch = 13
    case foulingWarning = 14
    case foulingPause = 15
    case syringeOcclusion = 16
    case syringeNearEmpty = 17
    case syringeEmpty = 18
    case infusionDeviation = 19
    case watchdogReset = 20
    /// The warning tier of the pressure limits (the cases above are the alarm tier).
    case drainPressureWarning = 21
    case prePressureWarning = 22
    case postPressureWarning = 23
    /// Constant-flow mode has lost its flow reading and holds the last speed it set from a
    /// trusted one: the circuit is no longer regulated on flow.
    case flowSensorHold = 24
    /// Flow has been (near) zero for longer than the zero-flow limit while the circuit is active.
    case zeroFlow = 25

    /// A pump (speed, enable) or return-clamp output could not be written, its command
    /// aged out while the core meant to command it, or its read-back differs from what was
    /// written: the rig no longer knows what drives the blood.
    case outputFault = 26
    /// The same for any other output (syringe lines, buzzer, lamps).
    case auxiliaryOutputFault = 27
    /// The sensor cross-check suspects a pressure sensor of drifting (the role is in the event).
    case sensorDrift = 28
    /// The safety co-processor withdrew the pump permit (its own sensors saw a cause, or it
    /// stopped hearing the Pi): the pump has stopped; the rig faulted to its safe state.
    case protectiveTrip = 29
    /// The safety co-processor cannot be heard: the second protection layer is missing.
    case coprocessorLost = 30

    /// Number of identifiers; `index` is always in `0..<count`.
    public static let count: Int = Int(AlarmID.coprocessorLost.rawValue) + 1

    /// Alarms about the circulation (pressures, flow, pump, sensors, the loop), as opposed to
    /// the syringes' own: a high-priority one pauses the cell syringe.
    public var isCirculation: Bool {
        switch self {
        case .syringeOcclusion, .syringeNearEmpty, .syringeEmpty, .infusionDeviation, .watchdogReset,
             .deviceConfigMismatch, .foulingWarning, .foulingPause, .auxiliaryOutputFault, .sensorDrift:
            false
        default:
            true
        }
    }

    /// Dense index `0..<count`.
    @inline(__always) public var index: Int { Int(rawValue) }

    /// The identifier at `index`, or `nil` outside `0..<count`.
    @inline(__always) public init?(index: Int) {
        guard index >= 0, index < AlarmID.count else { return nil }
        self.init(rawValue: UInt8(truncatingIfNeeded: index))
    }

    /// Stable string used in logs and scenario files.
    public var identifier: String {
        switch self {
        case .drainPressureLow: "P_DRAIN_LOW"
        case .prePressureHigh: "P_PRE_HIGH"
        case .postPressureHigh: "P_POST_HIGH"
        case .postPressureLow: "P_POST_LOW"
        case .oxygenatorDropHigh: "DP_OXY_HIGH"
        case .flowLow: "FLOW_LOW"
        case .flowHigh: "FLOW_HIGH"
        case .speedFlowMismatch: "SPEED_FLOW_MISMATCH"
        case .tachometerLost: "TACH_LOST"
        case .sensorInvalid: "SENSOR_INVALID"
        case .airInLine: "AIR_IN_LINE"
        case .emergencyStop: "E_STOP"
        case .loopOverrun: "LOOP_OVERRUN"
        case .deviceConfigMismatch: "DEVICE_CONFIG_MISMATCH"
        case .foulingWarning: "OXY_FOULING_WARNING"
        case .foulingPause: "OXY_FOULING_PAUSE"
        case .syringeOcclusion: "SYRINGE_OCCLUSION"
        case .syringeNearEmpty: "SYRINGE_NEAR_EMPTY"
        case .syringeEmpty: "SYRINGE_EMPTY"
        case .infusionDeviation: "INFUSION_DEVIATION"
        case .watchdogReset: "WATCHDOG_RESET"
        case .drainPressureWarning: "P_DRAIN_LOW_WARN"
        case .prePressureWarning: "P_PRE_HIGH_WARN"
        case .postPressureWarning: "P_POST_HIGH_WARN"
        case .flowSensorHold: "FLOW_SENSOR_HOLD"
        case .zeroFlow: "NO_FLOW"
        case .outputFault: "OUTPUT_FAULT"
        case .auxiliaryOutputFault: "AUX_OUTPUT_FAULT"
        case .sensorDrift: "SENSOR_DRIFT"
        case .protectiveTrip: "PROTECTIVE_TRIP"
        case .coprocessorLost: "COPROCESSOR_LOST"
        }
    }

    /// Parses a stable identifier (exact, case-sensitive); `nil` if unknown.
    public init?(identifier: String) {
        for i in 0..<AlarmID.count {
            if let id = AlarmID(index: i), id.identifier == identifier {
                self = id
                return
            }
        }
        return nil
    }

    public var description: String { identifier }
}

/// How one alarm behaves.
public struct AlarmDefinition: Sendable, Equatable {
    public var id: AlarmID
    public var priority: AlarmPriority
    /// A latching alarm stays active after its condition ends until it is acknowledged.
    public var latching: Bool
    /// The condition must hold this long before the alarm is raised (debounce).
    public var conditionDelay: Duration
    /// Unacknowledged this long → priority one level up (not above high); repeated for
    /// each further `escalateAfter` while still unacknowledged. `nil`: never escalates.
    public var escalateAfter: Duration?
    /// A non-latching alarm clears only once its condition has been absent this long: a
    /// signal hovering at its limit is one alarm, not one per crossing.
    public var clearDelay: Duration
    /// Once raised, an alarm stays active at least this long, however briefly its condition
    /// held: an operator must be able to see it.
    public var minimumOnTime: Duration

    public init(id: AlarmID, priority: AlarmPriority, latching: Bool, conditionDelay: Duration, escalateAfter: Duration?,
                clearDelay: Duration = .zero, minimumOnTime: Duration = .zero) {
        self.id = id
        self.priority = priority
        self.latching = latching
        self.conditionDelay = conditionDelay
        self.escalateAfter = escalateAfter
        self.clearDelay = clearDelay
        self.minimumOnTime = minimumOnTime
    }

    /// Default clear delay and minimum on-time of every non-latching alarm.
    public static let standardClearDelay: Duration = .seconds(1)
    public static let standardMinimumOnTime: Duration = .seconds(3)

    /// Default escalation: 60 s for medium, 120 s for low, none for high.
    public static func standardEscalation(for priority: AlarmPriority) -> Duration? {
        switch priority {
        case .low: .seconds(120)
        case .medium: .seconds(60)
        case .high: nil
        }
    }

    /// The bench defaults for `id`.
    public static func standard(_ id: AlarmID) -> AlarmDefinition {
        let p: AlarmPriority
        let latching: Bool
        let delay: Duration
        switch id {
        case .drainPressureLow: (p, latching, delay) = (.high, false, .seconds(1))
        case .prePressureHigh: (p, latching, delay) = (.high, false, .milliseconds(500))
        case .postPressureHigh: (p, latching, delay) = (.high, false, .milliseconds(500))
        case .postPressureLow: (p, latching, delay) = (.medium, false, .seconds(2))
        case .oxygenatorDropHigh: (p, latching, delay) = (.medium, false, .seconds(5))
        case .flowLow: (p, latching, delay) = (.high, false, .seconds(2))
        case .flowHigh: (p, latching, delay) = (.medium, false, .seconds(2))
        case .speedFlowMismatch: (p, latching, delay) = (.medium, false, .seconds(3))
        case .tachometerLost: (p, latching, delay) = (.medium, false, .milliseconds(500))
        case .sensorInvalid: (p, latching, delay) = (.high, false, .milliseconds(50))
        case .airInLine: (p, latching, delay) = (.high, true, .zero)
        case .emergencyStop: (p, latching, delay) = (.high, true, .zero)
        case .loopOverrun: (p, latching, delay) = (.medium, true, .zero)
        case .deviceConfigMismatch: (p, latching, delay) = (.medium, true, .zero)
        case .foulingWarning: (p, latching, delay) = (.medium, true, .zero)
        case .foulingPause: (p, latching, delay) = (.high, true, .zero)
        case .syringeOcclusion: (p, latching, delay) = (.high, true, .zero)
        case .syringeNearEmpty: (p, latching, delay) = (.low, false, .zero)
        case .syringeEmpty: (p, latching, delay) = (.medium, true, .zero)
        case .infusionDeviation: (p, latching, delay) = (.medium, false, .zero)
        case .watchdogReset: (p, latching, delay) = (.high, true, .zero)
        case .drainPressureWarning: (p, latching, delay) = (.medium, false, .seconds(1))
        case .prePressureWarning: (p, latching, delay) = (.medium, false, .seconds(1))
        case .postPressureWarning: (p, latching, delay) = (.medium, false, .seconds(1))
        case .flowSensorHold: (p, latching, delay) = (.high, false, .zero)
        case .zeroFlow: (p, latching, delay) = (.high, false, .zero)
        // No delay: the output guard debounces the read-back itself (3 ticks), and a failed
        // write is a fact, not a noisy reading. Latched: an output that failed once and
        // recovered must still be seen by the operator.
        case .outputFault: (p, latching, delay) = (.high, true, .zero)
        case .auxiliaryOutputFault: (p, latching, delay) = (.medium, true, .zero)
        case .sensorDrift: (p, latching, delay) = (.medium, true, .zero)
        case .protectiveTrip: (p, latching, delay) = (.high, true, .zero)
        // 0 ms here: the supervisor already waited its silence timeout (100 ms) before it
        // called the co-processor lost.
        case .coprocessorLost: (p, latching, delay) = (.high, false, .zero)
        }
        return AlarmDefinition(id: id, priority: p, latching: latching, conditionDelay: delay,
                               escalateAfter: standardEscalation(for: p),
                               clearDelay: latching ? .zero : standardClearDelay,
                               minimumOnTime: latching ? .zero : standardMinimumOnTime)
    }
}

/// Who did something to an alarm (for the alarm log).
public enum AlarmActor: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case system = 0
    case operatorPanel = 1
    case console = 2
    case protocolEngine = 3

    public var description: String {
        switch self {
        case .system: "system"
        case .operatorPanel: "operator panel"
        case .console: "console"
        case .protocolEngine: "protocol engine"
        }
    }
}

public enum AlarmEventKind: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case raised = 1
    case acknowledged = 2
    case cleared = 3
    case escalated = 4
    case audioPaused = 5
    case audioResumed = 6

    public var description: String {
        switch self {
        case .raised: "raised"
        case .acknowledged: "acknowledged"
        case .cleared: "cleared"
        case .escalated: "escalated"
        case .audioPaused: "audio paused"
        case .audioResumed: "audio resumed"
        }
    }
}

/// One entry of the alarm log.
///
/// `priority` is the alarm's current priority (after escalation: the new one). For the
/// global audio events (`id == nil`): `audioPaused` carries the highest priority that was
/// sounding when the pause began (`low` if none was), `audioResumed` the highest that
/// sounds again.
public struct AlarmEvent: Sendable, BitwiseCopyable, Equatable {
    /// `nil` for global audio pause / resume events.
    public var id: AlarmID?
    public var kind: AlarmEventKind
    public var priority: AlarmPriority
    public var time: Instant
    public var actor: AlarmActor

    public init(id: AlarmID?, kind: AlarmEventKind, priority: AlarmPriority, time: Instant, actor: AlarmActor) {
        self.id = id
        self.kind = kind
        self.priority = priority
        self.time = time
        self.actor = actor
    }
}

/// The set of conditions true this tick: a bit set over `AlarmID` (no allocation).
public struct AlarmConditions: Sendable, BitwiseCopyable, Equatable {
    /// Bit `id.index` set ⇔ the condition of `id` is true.
    public var bits: UInt64

    public init() { bits = 0 }
    public init(bits: UInt64) { self.bits = bits & AlarmConditions.validMask }
    /// Test and setup convenience (the variadic array allocates; do not use per tick).
    public init(_ ids: AlarmID...) {
        bits = 0
        for i in 0..<ids.count { self[ids[i]] = true }
    }

    static let validMask: UInt64 = AlarmID.count >= 64 ? ~0 : (UInt64(1) << UInt64(AlarmID.count)) - 1

    // A masking shift: ids are below 64 (`validMask`), and the smart shift's range checks
    // were most of the 24 writes a tick makes here.
    @inline(__always) static func mask(_ id: AlarmID) -> UInt64 { UInt64(1) &<< UInt64(truncatingIfNeeded: id.rawValue) }

    public subscript(id: AlarmID) -> Bool {
        @inline(__always) get { bits & AlarmConditions.mask(id) != 0 }
        @inline(__always) set {
            if newValue { bits |= AlarmConditions.mask(id) } else { bits &= ~AlarmConditions.mask(id) }
        }
    }

    public var isEmpty: Bool { bits == 0 }
    public var count: Int { bits.nonzeroBitCount }
    public mutating func insert(_ id: AlarmID) { self[id] = true }
    public mutating func remove(_ id: AlarmID) { self[id] = false }
    public func contains(_ id: AlarmID) -> Bool { self[id] }
    public static func | (a: AlarmConditions, b: AlarmConditions) -> AlarmConditions { AlarmConditions(bits: a.bits | b.bits) }
    public static func |= (a: inout AlarmConditions, b: AlarmConditions) { a.bits |= b.bits }
}
