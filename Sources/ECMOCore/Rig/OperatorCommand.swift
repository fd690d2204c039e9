/// What a person (or a script acting for one) asks of the rig. One type for every source —
/// the console link, the command line, scenario files, tests — so every request passes the
/// same validation in `RigCore.apply` and a rule proven in one place holds in all of them.
/// Plain values: it crosses the console link's ring as a copy.
public enum OperatorCommand: Sendable, BitwiseCopyable, Equatable {
    /// Start the circuit from `inactive`: spin up against the closed clamp, unclamp, regulate.
    case activate
    /// Leave `active` for `inactive`: the pump stops and every output goes to its safe value.
    case deactivate
    /// Leave `fault` for `inactive` once its cause is gone (the circuit stays stopped).
    case clearFault
    case setFlow(Flow)
    case setSpeed(PumpSpeed)
    /// One alarm, or (nil) every active, unacknowledged alarm.
    case acknowledge(AlarmID?)
    case pauseAudio
    case pauseInfusion(InfusionChannel)
    case resumeInfusion(InfusionChannel)
    case abortProtocol
    case startProtocol
    case enterACT(Duration)
    case setHeparinRate(HeparinRate)
    /// End the run: the runtime stops the loop between ticks and puts every output safe.
    case stop
    /// Resume after a fouling pause (OXY_FOULING_PAUSE acknowledged), optionally on a new
    /// baseline (the present resistance): the monitor re-arms and the cells resume.
    case resumeAfterFouling(newBaseline: Bool)
    /// Change one alarm limit during the run (value in the key's unit). The core checks it
    /// against the key's hard bounds and its partner limits exactly as a configuration file
    /// is checked, so no console or script can set what a file could not.
    case setAlarmLimit(AlarmLimitKey, Double)

    /// A stable name for logs and replies.
    public var name: String {
        switch self {
        case .activate: "activate"
        case .deactivate: "deactivate"
        case .clearFault: "clear_fault"
        case .setFlow: "set_flow"
        case .setSpeed: "set_speed"
        case .acknowledge: "acknowledge"
        case .pauseAudio: "pause_audio"
        case .pauseInfusion: "pause_infusion"
        case .resumeInfusion: "resume_infusion"
        case .abortProtocol: "abort_protocol"
        case .startProtocol: "start_protocol"
        case .enterACT: "enter_act"
        case .setHeparinRate: "set_heparin_rate"
        case .stop: "stop"
        case .resumeAfterFouling: "resume_after_fouling"
        case .setAlarmLimit: "set_alarm_limit"
        }
    }
}

/// Why the rig refused a command. The console link turns it into the protocol's `reason`.
public enum CommandRefusal: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case none = 0
    /// Below the limit in `CommandResult.limit`.
    case belowMinimum = 1
    /// Above the limit in `CommandResult.limit`.
    case aboveMaximum = 2
    case unknownAlarm = 3
    case alarmNotActive = 4
    case noProtocol = 5
    case notHalted = 6
    /// The cause of a halt or fault is still present.
    case causePresent = 7
    case alreadyRunning = 8
    case protocolFinished = 9
    case waitingForCircuit = 10
    /// Not allowed in the rig's present state (or from this source).
    case notAllowed = 11
    /// `activate` while a pressure or flow sensor is not delivering valid samples.
    case sensorsNotReady = 12
    /// The alarm behind the request has not been acknowledged yet.
    case notAcknowledged = 13

    /// The protocol's `reason` code.
    public var description: String {
        switch self {
        case .none: "none"
        case .belowMinimum, .aboveMaximum: "out_of_range"
        case .unknownAlarm: "unknown_alarm"
        case .alarmNotActive: "alarm_not_active"
        case .noProtocol: "no_protocol"
        case .notHalted: "not_halted"
        case .causePresent: "cause_present"
        case .alreadyRunning: "already_running"
        case .protocolFinished: "protocol_finished"
        case .waitingForCircuit: "waiting_for_circuit"
        case .notAllowed: "not_allowed"
        case .sensorsNotReady: "sensors_not_ready"
        case .notAcknowledged: "not_acknowledged"
        }
    }
}

/// The rig's answer to one command.
public struct CommandResult: Sendable, BitwiseCopyable, Equatable {
    public var refusal: CommandRefusal
    /// The limit crossed (out of range only), in the command's unit.
    public var limit: Double
    public var accepted: Bool { refusal == .none }
    public static let accepted = CommandResult(refusal: .none)
    public init(refusal: CommandRefusal, limit: Double = 0) {
        self.refusal = refusal
        self.limit = limit
    }
}

/// Every operator-settable range, defined once. Loaders (CLI, protocol and scenario files)
/// check a value against these before a run, and `RigCore.apply` checks every command
/// against them (and against the run's live limits) during one.
public enum SetpointLimits {
    /// Flow set-point, L/min: the bench's range (a centrifugal pump recirculates below about
    /// 1 L/min; consoles cap the flow at 8 L/min). A live set-point must also lie within the
    /// run's flow alarm limits, or it would alarm at once.
    public static let flowLitersPerMinute: ClosedRange<Double> = 0.5...8.0
    /// Speed set-point, rpm, as a file or the command line may state it before a board is
    /// known (centrifugal bench pumps); a live set-point must also lie within the board's
    /// pump limits, which the core checks.
    public static let speedRPM: ClosedRange<Double> = 500...6000
    /// Heparin infusion rate, U/kg/h: far above any ELSO band, below a typing error.
    public static let heparinRate: ClosedRange<Double> = 0...100
    /// ACT entries, seconds.
    public static let actSeconds: ClosedRange<Double> = 30...1500

    /// Checks `value` against `range`: nil when inside, else the refusal and the bound.
    @inlinable
    public static func check(_ value: Double, _ range: ClosedRange<Double>) -> CommandResult? {
        if !(value >= range.lowerBound) { return CommandResult(refusal: .belowMinimum, limit: range.lowerBound) }
        if !(value <= range.upperBound) { return CommandResult(refusal: .aboveMaximum, limit: range.upperBound) }
        return nil
    }
}

/// How long one run may last, defined once: the command line's `--duration`, a protocol's
/// phases and its whole plan, and a scenario's length. A week: longer is not a bench
/// experiment, and a plan that long comes from a rate or a concentration typed wrong.
public enum RunLimits {
    public static let longestRun: Duration = .seconds(7 * 24 * 3600)
}
