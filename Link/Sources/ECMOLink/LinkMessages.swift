// The console link protocol (docs/console-protocol.md): the messages a running
// `ecmo-rig` and an operator console exchange over a Unix stream socket, one JSON object
// per line. Foundation only, no firmware module, so a console package can depend on this
// module alone. Used on ordinary threads, never on the control loop.

/// Version numbers and limits of the wire protocol.
public enum LinkProtocol {
    /// Bumped only for incompatible changes; new optional fields and new message types a
    /// peer may ignore do not bump it.
    public static let version = 1
    /// Longest accepted line, newline excluded. A longer line is a protocol error.
    public static let maxLineBytes = 64 * 1024
    /// Longest accepted annotation text, in characters.
    public static let maxAnnotationCharacters = 500
    /// Default telemetry rate of the rig, Hz.
    public static let defaultTelemetryHz = 25.0
}

// MARK: - rig → console

/// First message of the rig: who it is and what it accepts. Static for the whole run.
public struct RigHello: Codable, Sendable, Equatable {
    public var protocolVersion: Int
    public var rigVersion: String
    public var board: String
    public var runID: String
    public var runDirectory: String
    public var loopPeriodMicroseconds: Int
    /// Wall-clock start of the run, ISO 8601 UTC (`t` = 0 of telemetry and events).
    public var startedAt: String
    /// Pump mode in which the run started: "flow" or "speed".
    public var mode: String
    public var telemetryHz: Double
    public var limits: SetpointLimits
    public var alarms: [AlarmCatalogueEntry]
    /// Command names this rig accepts.
    public var commands: [String]
    /// The run's alarm limits when the link started, with the hard bounds the core allows
    /// (nil from a rig that cannot change them). Later changes arrive as `alarm_limit` events.
    public var alarmLimits: [LinkAlarmLimit]?

    public init(protocolVersion: Int = LinkProtocol.version, rigVersion: String, board: String, runID: String,
                runDirectory: String, loopPeriodMicroseconds: Int, startedAt: String, mode: String,
                telemetryHz: Double, limits: SetpointLimits, alarms: [AlarmCatalogueEntry], commands: [String],
                alarmLimits: [LinkAlarmLimit]? = nil) {
        self.protocolVersion = protocolVersion
        self.rigVersion = rigVersion
        self.board = board
        self.runID = runID
        self.runDirectory = runDirectory
        self.loopPeriodMicroseconds = loopPeriodMicroseconds
        self.startedAt = startedAt
        self.mode = mode
        self.telemetryHz = telemetryHz
        self.limits = limits
        self.alarms = alarms
        self.commands = commands
        self.alarmLimits = alarmLimits
    }

    enum CodingKeys: String, CodingKey {
        case protocolVersion = "protocol", rigVersion = "rig_version", board, runID = "run_id"
        case runDirectory = "run_dir", loopPeriodMicroseconds = "loop_period_us", startedAt = "started_at"
        case mode, telemetryHz = "telemetry_hz", limits, alarms, commands, alarmLimits = "alarm_limits"
    }
}

/// One configurable alarm limit as the console shows it: the value in force and the hard
/// bounds the rig's core enforces (the console never keeps its own copy of the bounds).
public struct LinkAlarmLimit: Codable, Sendable, Equatable {
    /// The configuration key, e.g. "p_drain_low_mmhg" (what `set_alarm_limit` names).
    public var key: String
    public var value: Double
    public var min: Double
    public var max: Double
    /// "mmHg", "L/min", "s" or "" (a fraction).
    public var unit: String

    public init(key: String, value: Double, min: Double, max: Double, unit: String) {
        self.key = key
        self.value = value
        self.min = min
        self.max = max
        self.unit = unit
    }
}

/// The ranges the rig accepts for set-points (for the console's input fields; the rig
/// checks them again on every command).
public struct SetpointLimits: Codable, Sendable, Equatable {
    public var flowMinLpm: Double
    public var flowMaxLpm: Double
    public var rpmMin: Double
    public var rpmMax: Double
    /// Heparin infusion rate range, U/kg/h (nil: no heparin programme in this run).
    public var heparinMin: Double?
    public var heparinMax: Double?

    public init(flowMinLpm: Double, flowMaxLpm: Double, rpmMin: Double, rpmMax: Double,
                heparinMin: Double? = nil, heparinMax: Double? = nil) {
        self.flowMinLpm = flowMinLpm
        self.flowMaxLpm = flowMaxLpm
        self.rpmMin = rpmMin
        self.rpmMax = rpmMax
        self.heparinMin = heparinMin
        self.heparinMax = heparinMax
    }

    enum CodingKeys: String, CodingKey {
        case flowMinLpm = "flow_min_lpm", flowMaxLpm = "flow_max_lpm", rpmMin = "rpm_min", rpmMax = "rpm_max"
        case heparinMin = "heparin_min_u_per_kg_h", heparinMax = "heparin_max_u_per_kg_h"
    }
}

/// One alarm the rig can raise.
public struct AlarmCatalogueEntry: Codable, Sendable, Equatable {
    /// Numeric id (dense from 0, stable across versions).
    public var id: Int
    /// Stable identifier, e.g. "FLOW_LOW": what `acknowledge` names.
    public var name: String
    /// Default priority: "low", "medium" or "high".
    public var priority: String
    public var latching: Bool

    public init(id: Int, name: String, priority: String, latching: Bool) {
        self.id = id
        self.name = name
        self.priority = priority
        self.latching = latching
    }
}

/// Pump set-point in force.
public struct LinkSetpoint: Codable, Sendable, Equatable {
    /// "flow" (value in L/min) or "speed" (value in rpm).
    public var mode: String
    public var value: Double
    public init(mode: String, value: Double) {
        self.mode = mode
        self.value = value
    }
}

/// One decimated frame of the loop. Pressures in mmHg, flow in L/min, speeds in rpm,
/// volumes in mL, times in seconds since the run started.
public struct LinkTelemetry: Codable, Sendable, Equatable {
    public var t: Double
    public var tick: UInt64
    public var state: String
    public var phase: String
    public var fault: String
    public var pDrain: Double
    public var pPre: Double
    public var pPost: Double
    public var dpOxy: Double
    public var flowLpm: Double
    public var rpm: Double
    public var rpmCmd: Double
    public var pumpOn: Bool
    public var clampClosed: Bool
    public var invalidMask: Int
    /// Highest active alarm priority: 0 none, 1 low, 2 medium, 3 high.
    public var alarmPriority: Int
    public var alarmsActive: Int
    public var cellsMl: Double
    public var heparinMl: Double
    /// Index of the protocol item in progress (−1: none).
    public var protocolItem: Int
    /// Halt reason of the cell channel ("none" when running or idle).
    public var cellsHalt: String
    public var outflowClamp: Bool
    public var latenessUs: Double
    public var execUs: Double
    public var overruns: Int
    /// Oxygenator resistance, mmHg/(L/min), and its baseline (nil until known).
    public var rOxy: Double?
    public var rOxyBaseline: Double?
    public var setpoint: LinkSetpoint

    public init(t: Double, tick: UInt64, state: String, phase: String, fault: String, pDrain: Double, pPre: Double,
                pPost: Double, dpOxy: Double, flowLpm: Double, rpm: Double, rpmCmd: Double, pumpOn: Bool,
                clampClosed: Bool, invalidMask: Int, alarmPriority: Int, alarmsActive: Int, cellsMl: Double,
                heparinMl: Double, protocolItem: Int, cellsHalt: String, outflowClamp: Bool, latenessUs: Double,
                execUs: Double, overruns: Int, rOxy: Double?, rOxyBaseline: Double?, setpoint: LinkSetpoint) {
        self.t = t
        self.tick = tick
        self.state = state
        self.phase = phase
        self.fault = fault
        self.pDrain = pDrain
        self.pPre = pPre
        self.pPost = pPost
        self.dpOxy = dpOxy
        self.flowLpm = flowLpm
        self.rpm = rpm
        self.rpmCmd = rpmCmd
        self.pumpOn = pumpOn
        self.clampClosed = clampClosed
        self.invalidMask = invalidMask
        self.alarmPriority = alarmPriority
        self.alarmsActive = alarmsActive
        self.cellsMl = cellsMl
        self.heparinMl = heparinMl
        self.protocolItem = protocolItem
        self.cellsHalt = cellsHalt
        self.outflowClamp = outflowClamp
        self.latenessUs = latenessUs
        self.execUs = execUs
        self.overruns = overruns
        self.rOxy = rOxy
        self.rOxyBaseline = rOxyBaseline
        self.setpoint = setpoint
    }

    enum CodingKeys: String, CodingKey {
        case t, tick, state, phase, fault, pDrain = "p_drain", pPre = "p_pre", pPost = "p_post", dpOxy = "dp_oxy"
        case flowLpm = "flow_lpm", rpm, rpmCmd = "rpm_cmd", pumpOn = "pump_on", clampClosed = "clamp_closed"
        case invalidMask = "invalid_mask", alarmPriority = "alarm_priority", alarmsActive = "alarms_active"
        case cellsMl = "cells_ml", heparinMl = "heparin_ml", protocolItem = "protocol_item", cellsHalt = "cells_halt"
        case outflowClamp = "outflow_clamp", latenessUs = "lateness_us", execUs = "exec_us", overruns
        case rOxy = "r_oxy", rOxyBaseline = "r_oxy_baseline", setpoint
    }
}

/// A JSON scalar or list of scalars, for the free-form values of an event.
public enum LinkValue: Codable, Sendable, Equatable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case array([LinkValue])

    /// A JSON string is always text: the codec reads "nan"/"inf" strings as Doubles for
    /// typed number fields, so trying Double first would turn a note reading "inf" into a
    /// number (found by fuzzing). A non-finite number the rig sends arrives as its text.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let a = try? c.decode([LinkValue].self) { self = .array(a) }
        else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a number, string, bool or list")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .array(let a): try c.encode(a)
        }
    }
}

/// Something that happened in the loop (the same events as `events.jsonl`).
public struct LinkEvent: Codable, Sendable, Equatable {
    public var t: Double
    /// Event code: lifecycle, phase, fault, overrun, setpoint, alarm, infusion, ...
    public var code: String
    /// The event's fields as in `events.jsonl` (without `t` and `event`).
    public var values: [String: LinkValue]
    /// One line for a person.
    public var text: String

    public init(t: Double, code: String, values: [String: LinkValue], text: String) {
        self.t = t
        self.code = code
        self.values = values
        self.text = text
    }
}

/// One active alarm.
public struct LinkAlarm: Codable, Sendable, Equatable {
    public var id: Int
    public var name: String
    /// Current (possibly escalated) priority: "low", "medium", "high".
    public var priority: String
    /// "active" (condition present, unacknowledged), "latched" (condition gone, waiting
    /// for an acknowledge) or "acknowledged".
    public var state: String
    /// When it was raised, seconds since the run started.
    public var since: Double

    public init(id: Int, name: String, priority: String, state: String, since: Double) {
        self.id = id
        self.name = name
        self.priority = priority
        self.state = state
        self.since = since
    }
}

/// The whole alarm state: sent when it changes and at 1 Hz.
public struct LinkAlarms: Codable, Sendable, Equatable {
    public var t: Double
    public var alarms: [LinkAlarm]
    /// Seconds left of the audio pause (0: audio not paused).
    public var audioPausedRemaining: Double

    public init(t: Double, alarms: [LinkAlarm], audioPausedRemaining: Double) {
        self.t = t
        self.alarms = alarms
        self.audioPausedRemaining = audioPausedRemaining
    }

    enum CodingKeys: String, CodingKey {
        case t, alarms, audioPausedRemaining = "audio_paused_remaining_s"
    }
}

/// One item of the experiment protocol's timeline.
public struct LinkProtocolItem: Codable, Sendable, Equatable {
    public var index: Int
    /// "prime", "baseline", "dose N" (N from 1), "observation".
    public var kind: String
    /// Planned earliest start, seconds after the protocol starts.
    public var at: Double
    public var durationS: Double
    /// Cell volume of the item, mL (0 for non-dose items).
    public var volumeMl: Double
    /// "done", "current" or "pending".
    public var status: String

    public init(index: Int, kind: String, at: Double, durationS: Double, volumeMl: Double, status: String) {
        self.index = index
        self.kind = kind
        self.at = at
        self.durationS = durationS
        self.volumeMl = volumeMl
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case index, kind, at = "at_s", durationS = "duration_s", volumeMl = "volume_ml", status
    }
}

/// Run and protocol state: sent after `hello`, when the item or a halt changes, and every 5 s.
public struct LinkProtocolState: Codable, Sendable, Equatable {
    public var t: Double
    /// False when the run has no protocol (then `items` is empty).
    public var loaded: Bool
    public var name: String?
    /// "none", "waiting", "running", "halted", "completed" or "aborted".
    public var state: String
    public var items: [LinkProtocolItem]
    public var currentItem: Int
    /// Planned start of the next dose item, seconds after the protocol starts (nil: none left).
    public var nextDoseAt: Double?
    public var cellsPlannedMl: Double
    public var cellsDeliveredMl: Double
    public var heparinDeliveredMl: Double
    public var cellsHalt: String

    public init(t: Double, loaded: Bool, name: String?, state: String, items: [LinkProtocolItem], currentItem: Int,
                nextDoseAt: Double?, cellsPlannedMl: Double, cellsDeliveredMl: Double, heparinDeliveredMl: Double,
                cellsHalt: String) {
        self.t = t
        self.loaded = loaded
        self.name = name
        self.state = state
        self.items = items
        self.currentItem = currentItem
        self.nextDoseAt = nextDoseAt
        self.cellsPlannedMl = cellsPlannedMl
        self.cellsDeliveredMl = cellsDeliveredMl
        self.heparinDeliveredMl = heparinDeliveredMl
        self.cellsHalt = cellsHalt
    }

    enum CodingKeys: String, CodingKey {
        case t, loaded, name, state, items, currentItem = "current_item", nextDoseAt = "next_dose_at_s"
        case cellsPlannedMl = "cells_planned_ml", cellsDeliveredMl = "cells_delivered_ml"
        case heparinDeliveredMl = "heparin_delivered_ml", cellsHalt = "cells_halt"
    }
}

/// The rig's answer to one command.
public struct LinkReply: Codable, Sendable, Equatable {
    /// The `id` of the command answered.
    public var id: UInt64
    public var ok: Bool
    /// Machine-readable refusal code (nil when ok), e.g. "out_of_range", "alarm_not_active".
    public var reason: String?
    /// Human text of the refusal (nil when ok).
    public var message: String?

    public init(id: UInt64, ok: Bool, reason: String? = nil, message: String? = nil) {
        self.id = id
        self.ok = ok
        self.reason = reason
        self.message = message
    }
}

/// A protocol error. `fatal`: the sender closes the connection after it.
public struct LinkError: Codable, Sendable, Equatable {
    /// "bad_json", "line_too_long", "unknown_type", "missing_field", "bad_field",
    /// "version_mismatch", "hello_required", "too_many_clients", ...
    public var code: String
    public var message: String
    public var fatal: Bool

    public init(code: String, message: String, fatal: Bool) {
        self.code = code
        self.message = message
        self.fatal = fatal
    }
}

/// Everything the rig sends.
public enum RigMessage: Sendable, Equatable {
    case hello(RigHello)
    case telemetry(LinkTelemetry)
    case event(LinkEvent)
    case alarms(LinkAlarms)
    case protocolState(LinkProtocolState)
    case reply(LinkReply)
    case error(LinkError)

    /// The wire `type` of the message.
    public var type: String {
        switch self {
        case .hello: "hello"
        case .telemetry: "telemetry"
        case .event: "event"
        case .alarms: "alarms"
        case .protocolState: "protocol"
        case .reply: "reply"
        case .error: "error"
        }
    }
}

// MARK: - console → rig

/// The console's answer to the rig's `hello`.
public struct ConsoleHello: Codable, Sendable, Equatable {
    public var protocolVersion: Int
    /// Free text naming the console (for the rig's log).
    public var client: String?

    public init(protocolVersion: Int = LinkProtocol.version, client: String? = nil) {
        self.protocolVersion = protocolVersion
        self.client = client
    }

    enum CodingKeys: String, CodingKey {
        case protocolVersion = "protocol", client
    }
}

/// Infusion channel named by a command.
public enum LinkChannel: String, Codable, Sendable, Equatable, CaseIterable {
    case cells
    case heparin
}

/// What a command asks for, with its arguments.
public enum LinkCommand: Sendable, Equatable {
    case setFlow(lpm: Double)
    case setSpeed(rpm: Double)
    /// `alarm`: an alarm name from the catalogue, or "all".
    case acknowledge(alarm: String)
    case pauseAudio
    case protocolPause(channel: LinkChannel)
    case protocolResume(channel: LinkChannel)
    case protocolAbort
    case protocolStart
    /// An ACT measurement, seconds.
    case enterACT(seconds: Double)
    /// Heparin infusion rate, U/kg/h.
    case setHeparinRate(unitsPerKilogramPerHour: Double)
    case annotate(text: String)
    /// Software stop: the run shuts down safely.
    case stop
    /// Start the circuit from `inactive` (refused with `sensors_not_ready` while a sensor is
    /// not valid): how an operator restarts a rig that came up waiting after an unclean stop.
    case activate
    /// Leave `fault` for `inactive` once its cause is gone (refused with `cause_present`).
    case clearFault
    /// Resume cell infusion after a fouling pause (OXY_FOULING_PAUSE acknowledged first,
    /// refused with `not_acknowledged`); `new_baseline`: the present resistance becomes the baseline.
    case foulingResume(newBaseline: Bool)
    /// Change one alarm limit (`key` from the hello's `alarm_limits`); the rig's core checks
    /// the hard bounds and the low/high pairs and refuses with `out_of_range` naming the bound.
    case setAlarmLimit(key: String, value: Double)

    /// Every command name, as on the wire.
    public static let allNames = ["set_flow", "set_speed", "acknowledge", "pause_audio", "protocol_pause",
                                  "protocol_resume", "protocol_abort", "protocol_start", "enter_act",
                                  "set_heparin_rate", "annotate", "stop", "activate", "clear_fault", "fouling_resume",
                                  "set_alarm_limit"]

    public var name: String {
        switch self {
        case .setFlow: "set_flow"
        case .setSpeed: "set_speed"
        case .acknowledge: "acknowledge"
        case .pauseAudio: "pause_audio"
        case .protocolPause: "protocol_pause"
        case .protocolResume: "protocol_resume"
        case .protocolAbort: "protocol_abort"
        case .protocolStart: "protocol_start"
        case .enterACT: "enter_act"
        case .setHeparinRate: "set_heparin_rate"
        case .annotate: "annotate"
        case .stop: "stop"
        case .activate: "activate"
        case .clearFault: "clear_fault"
        case .foulingResume: "fouling_resume"
        case .setAlarmLimit: "set_alarm_limit"
        }
    }
}

/// A command from the console. `actor` and `role` are what the console authenticated;
/// the rig records them and checks only the command itself.
public struct ConsoleCommand: Sendable, Equatable {
    /// Chosen by the console, echoed in the reply.
    public var id: UInt64
    public var actor: String
    /// "operator" (a viewer's commands should never reach the rig; it refuses them too).
    public var role: String
    public var command: LinkCommand

    public init(id: UInt64, actor: String, role: String, command: LinkCommand) {
        self.id = id
        self.actor = actor
        self.role = role
        self.command = command
    }
}

/// Everything a console sends.
public enum ConsoleMessage: Sendable, Equatable {
    case hello(ConsoleHello)
    case command(ConsoleCommand)

    public var type: String {
        switch self {
        case .hello: "hello"
        case .command: "command"
        }
    }
}
