/// Why the safety co-processor withdrew the pump permit. The first cause of a trip is
/// kept (latched) until the re-arm sequence; `ProtectiveCauses` says which are present now.
public enum ProtectiveTrip: UInt8, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    case none = 0
    /// Every start: the permit is earned by the re-arm sequence, never assumed.
    case powerOn = 1
    case airInLine = 2
    case emergencyStop = 3
    /// Drainage pressure beyond the deepest limit any configuration may set, held.
    case drainageSuction = 4
    /// Pre-oxygenator pressure beyond the highest limit any configuration may set, held.
    case preOxygenatorHigh = 5
    /// The pump turns and nothing flows, for longer than the main controller may allow it.
    case zeroFlow = 6
    /// The main controller (the Pi) stopped sending valid heartbeats.
    case heartbeatLost = 7

    public var description: String {
        switch self {
        case .none: "none"
        case .powerOn: "power_on"
        case .airInLine: "air_in_line"
        case .emergencyStop: "emergency_stop"
        case .drainageSuction: "drainage_suction"
        case .preOxygenatorHigh: "pre_oxygenator_high"
        case .zeroFlow: "zero_flow"
        case .heartbeatLost: "heartbeat_lost"
        }
    }
}

/// The causes present now, one bit per `ProtectiveTrip` (bit n = raw value n).
public struct ProtectiveCauses: OptionSet, Sendable, BitwiseCopyable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ trip: ProtectiveTrip) { rawValue = trip == .none ? 0 : UInt16(1) << UInt16(trip.rawValue) }
    public func contains(_ trip: ProtectiveTrip) -> Bool { contains(ProtectiveCauses(trip)) }
}

/// Why a re-arm request was refused (sent back in the status frame, for the operator).
public enum RearmRefusal: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case none = 0
    /// Not tripped: there is nothing to re-arm.
    case notTripped = 1
    /// The request names another trip than the current one (stale, replayed or crossed).
    case wrongTrip = 2
    /// A cause is still present, or has not been gone for `ProtectiveLimits.rearmClearTime`.
    case causePresent = 3
    /// No fresh heartbeat: the main controller is not (yet) running.
    case noHeartbeat = 4

    public var description: String {
        switch self {
        case .none: "none"
        case .notTripped: "not_tripped"
        case .wrongTrip: "wrong_trip"
        case .causePresent: "cause_present"
        case .noHeartbeat: "no_heartbeat"
        }
    }
}

/// The co-processor's limits. They sit outside anything the main controller may be
/// configured to (`AlarmLimitKey.hardBounds`): the co-processor never acts while the main
/// controller's own interlocks can still do their job, and always when they have not.
public struct ProtectiveLimits: Sendable, Equatable {
    /// The deepest drainage limit a configuration may set (−300 mmHg).
    public var drainageLow = Pressure(mmHg: AlarmLimitKey.drainPressureLow.hardBounds.lowerBound)
    /// The highest pre-oxygenator limit a configuration may set (600 mmHg).
    public var preOxygenatorHigh = Pressure(mmHg: AlarmLimitKey.prePressureHigh.hardBounds.upperBound)
    /// A pressure beyond its limit for this long is real, not one bad sample.
    public var pressurePersistence = Duration.milliseconds(50)
    /// Flow below this is no flow (the main controller's NO_FLOW threshold).
    public var zeroFlow = AlarmLimits.zeroFlow
    /// Twice the longest NO_FLOW limit a configuration may set (2 × 30 s): by then the main
    /// controller has alarmed and the team has had its time; a pump still turning against a
    /// closed circuit heats and damages blood.
    public var zeroFlowTime = Duration.seconds(2 * AlarmLimitKey.zeroFlowLimit.hardBounds.upperBound)
    /// The pump counts as turning from this speed (half the usual minimum running speed).
    public var turning = PumpSpeed(rpm: 500)
    /// Heartbeats come every 10 ms; ten missed is a controller that is not running.
    public var heartbeatTimeout = Duration.milliseconds(100)
    /// Every cause must have been gone this long before a re-arm is accepted.
    public var rearmClearTime = Duration.seconds(1)

    public init() {}

    /// Limits that cannot work are refused: each must be positive and finite.
    public var isValid: Bool {
        drainageLow.mmHg.isFinite && preOxygenatorHigh.mmHg.isFinite && zeroFlow.litersPerMinute.isFinite
            && turning.rpm.isFinite && pressurePersistence >= .zero && zeroFlowTime > .zero
            && heartbeatTimeout > .zero && rearmClearTime >= .zero
    }
}

/// What the co-processor reads with its own inputs, independently of the main controller:
/// its own pressure transducer channels, flow and tachometer, the air detector and the
/// E-stop contact. nil: the channel is unreadable (no interlock can act on it; reported).
public struct ProtectiveInputs: Sendable, BitwiseCopyable, Equatable {
    public var drainage: Pressure?
    public var preOxygenator: Pressure?
    public var flow: Flow?
    public var pumpSpeed: PumpSpeed?
    public var airDetected: Bool
    public var emergencyStop: Bool
    public init(drainage: Pressure?, preOxygenator: Pressure?, flow: Flow?, pumpSpeed: PumpSpeed?,
                airDetected: Bool, emergencyStop: Bool) {
        self.drainage = drainage
        self.preOxygenator = preOxygenator
        self.flow = flow
        self.pumpSpeed = pumpSpeed
        self.airDetected = airDetected
        self.emergencyStop = emergencyStop
    }
}

/// The hard interlocks of the independent safety co-processor: it owns a pump-permit
/// output wired in series with the main controller's pump enable, so either can stop the
/// pump and neither can run it alone. Commercial consoles keep such a protective layer
/// beside the controller; here it runs the same core code (units, limits, the link codec)
/// on a Cortex-M.
///
/// A cause withdraws the permit in the step it is detected and the trip latches: nothing
/// re-permits until every cause has been gone for `rearmClearTime`, heartbeats are fresh,
/// and the main controller sends a re-arm naming this trip (`rearm(tripCount:)`), which
/// it does only on the operator's `clear_fault` + `activate`. Pure: time handed in, no
/// allocation, no I/O.
public struct ProtectiveInterlock: Sendable {
    public let limits: ProtectiveLimits
    /// The pump-permit output (true: the pump may run).
    public private(set) var permit = false
    /// The cause that withdrew the permit (latched), `.none` while permitted.
    public private(set) var trip: ProtectiveTrip = .powerOn
    /// Trips since power-on (the power-on state is trip 0); a re-arm must name the current one.
    public private(set) var tripCount: UInt16 = 0
    /// The causes present in the last step.
    public private(set) var causes: ProtectiveCauses = []
    /// Input channels that were unreadable in the last step (bit 0 drainage, 1 pre-oxygenator,
    /// 2 flow, 3 pump speed): an interlock that cannot see does not act, and says so.
    public private(set) var blindChannels: UInt8 = 0
    public private(set) var lastRefusal: RearmRefusal = .none
    /// Re-arm requests received (accepted or refused), for the bench report.
    public private(set) var rearmAttempts: UInt16 = 0
    private var lastHeartbeat: Instant?
    private var drainageSince: Instant?
    private var preSince: Instant?
    private var zeroFlowSince: Instant?
    private var clearSince: Instant?
    /// The main controller's pump command from its last heartbeat (for the status frame).
    public private(set) var controllerPumpCommand = false

    public init(limits: ProtectiveLimits = ProtectiveLimits()) {
        self.limits = limits
    }

    /// A valid heartbeat arrived (the link checked its CRC and sequence).
    public mutating func heartbeat(pumpCommanded: Bool, now: Instant) {
        lastHeartbeat = now
        controllerPumpCommand = pumpCommanded
    }

    /// Heartbeats are fresh at `now`.
    public func heartbeatFresh(now: Instant) -> Bool {
        lastHeartbeat.map { now - $0 <= limits.heartbeatTimeout } ?? false
    }

    /// A re-arm would be accepted now: tripped, every cause gone for `rearmClearTime`, and
    /// heartbeats fresh (sent in the status frame, so the Pi can tell the operator to wait).
    public func rearmReady(now: Instant) -> Bool {
        !permit && causes.isEmpty && heartbeatFresh(now: now)
            && (clearSince.map { now - $0 >= limits.rearmClearTime } ?? false)
    }

    /// One step: evaluates every cause from `inputs` and withdraws the permit in the step a
    /// cause is detected. Returns the permit to drive.
    @discardableResult
    public mutating func step(_ inputs: ProtectiveInputs, now: Instant) -> Bool {
        var c: ProtectiveCauses = []
        var blind: UInt8 = 0
        if inputs.airDetected { c.insert(ProtectiveCauses(.airInLine)) }
        if inputs.emergencyStop { c.insert(ProtectiveCauses(.emergencyStop)) }
        if let p = inputs.drainage {
            if p < limits.drainageLow { drainageSince = drainageSince ?? now } else { drainageSince = nil }
        } else {
            drainageSince = nil
            blind |= 1
        }
        if let s = drainageSince, now - s >= limits.pressurePersistence { c.insert(ProtectiveCauses(.drainageSuction)) }
        if let p = inputs.preOxygenator {
            if p > limits.preOxygenatorHigh { preSince = preSince ?? now } else { preSince = nil }
        } else {
            preSince = nil
            blind |= 2
        }
        if let s = preSince, now - s >= limits.pressurePersistence { c.insert(ProtectiveCauses(.preOxygenatorHigh)) }
        if inputs.flow == nil { blind |= 4 }
        if inputs.pumpSpeed == nil { blind |= 8 }
        if let q = inputs.flow, let n = inputs.pumpSpeed, q < limits.zeroFlow, n >= limits.turning {
            zeroFlowSince = zeroFlowSince ?? now
        } else {
            zeroFlowSince = nil
        }
        if let s = zeroFlowSince, now - s >= limits.zeroFlowTime { c.insert(ProtectiveCauses(.zeroFlow)) }
        if !heartbeatFresh(now: now) { c.insert(ProtectiveCauses(.heartbeatLost)) }
        causes = c
        blindChannels = blind
        if c.isEmpty { clearSince = clearSince ?? now } else { clearSince = nil }
        if permit, let first = Self.firstCause(c) {
            permit = false
            trip = first
            tripCount &+= 1
        }
        return permit
    }

    /// The main controller asks for the permit back, naming the trip it is answering.
    /// Accepted only when tripped, for this trip, with every cause gone long enough and
    /// heartbeats fresh; the refusal is kept for the status frame.
    @discardableResult
    public mutating func rearm(tripCount named: UInt16, now: Instant) -> RearmRefusal {
        let r: RearmRefusal
        rearmAttempts &+= 1
        if permit {
            r = .notTripped
        } else if named != tripCount {
            r = .wrongTrip
        } else if !heartbeatFresh(now: now) {
            r = .noHeartbeat
        } else if !causes.isEmpty || !(clearSince.map { now - $0 >= limits.rearmClearTime } ?? false) {
            r = .causePresent
        } else {
            r = .none
            permit = true
            trip = .none
        }
        lastRefusal = r
        return r
    }

    /// The cause reported when several appear in one step: the one the operator must act
    /// on first (air and E-stop before pressures, the link last).
    static func firstCause(_ c: ProtectiveCauses) -> ProtectiveTrip? {
        if c.contains(.airInLine) { return .airInLine }
        if c.contains(.emergencyStop) { return .emergencyStop }
        if c.contains(.drainageSuction) { return .drainageSuction }
        if c.contains(.preOxygenatorHigh) { return .preOxygenatorHigh }
        if c.contains(.zeroFlow) { return .zeroFlow }
        if c.contains(.heartbeatLost) { return .heartbeatLost }
        return nil
    }
}
