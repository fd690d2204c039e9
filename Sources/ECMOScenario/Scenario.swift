import ECMOCore
import ECMOSim
import ECMOProtocol

/// A scenario: a reproducible experiment or fault drill on the simulated rig. Data, not
/// code (HIL/scenarios/*.yaml, format in HIL/README.md): the same file runs in the test
/// suite, from `ecmo-rig simulate`, and later against the virtual board.
public struct Scenario: Sendable {
    public var file: String
    public var name: String
    public var description: String
    public var seed: UInt64
    /// Board file path as written (resolved against the working directory, then the repository root).
    public var board: String
    public var duration: Duration
    public var circuit: CircuitSpec
    public var control: PumpMode
    public var recordInterval: Duration
    public var events: [TimedEvent]
    /// An experiment protocol to run (infusion plan, alarm limits), path as written.
    public var protocolFile: String?
    public var expectations: [Expectation]
    /// The protocol's text, already in hand (a sweep's experiment edits the protocol file's
    /// tree and validates the result): used instead of reading `protocolFile`, which still
    /// names it in messages and places the journal's plan hash.
    public var protocolText: String? = nil
    /// Expectations whose verdict on the virtual board may differ from the pure
    /// simulation's, each with its reason (`virtual_board: {differences: …}`): the lane
    /// lists them beside the verdicts instead of failing on them.
    public var virtualBoardDifferences: [VirtualBoardDifference] = []
}

/// An allowed difference between the virtual board's verdict and the simulator's.
public struct VirtualBoardDifference: Sendable, Equatable {
    public var expectation: String
    public var reason: String
    public var line: Int
    public init(expectation: String, reason: String, line: Int) {
        self.expectation = expectation
        self.reason = reason
        self.line = line
    }
}

/// Which circuit the plant models, with the experiment's settings.
public struct CircuitSpec: Sendable, Equatable {
    public var preset: CircuitPreset
    /// Activated clotting time in seconds (anticoagulation).
    public var actSeconds: Double?
    public var membrane: MembraneMaterial?
}

/// Something that happens at a time of the run (and, for faults, may last an interval).
public struct TimedEvent: Sendable {
    public var at: Duration
    /// End of a fault interval; `nil`: until the end of the run.
    public var until: Duration?
    public var action: ScenarioAction
    /// Where it was written (for messages in the verdict).
    public var line: Int
    /// A drill's words for the person who makes this fault on a real rig (`prompt:`), and
    /// for undoing it when its `for:` ends (`release:`); nil: `DrillStep`'s default wording.
    /// Only faults a person can make (`Fault.drillAction`) take them.
    public var prompt: String? = nil
    public var releasePrompt: String? = nil
}


public enum ScenarioAction: Sendable {
    case fault(Fault)
    /// Cells (or vesicles) enter the circuit at a port, as a bolus.
    case infuseParticles(count: Double, kind: ParticleKind, port: InfusionPort)
    case setFlow(Flow)
    case setSpeed(PumpSpeed)
    case setACT(seconds: Double)
    /// The operator clears a fault (the rig returns to inactive, never straight to running).
    case clearFault
    /// The operator starts the circuit again (activate).
    case activate
    /// The operator acknowledges an alarm (nil: all active alarms).
    case acknowledgeAlarm(AlarmID?)
    /// The operator pauses alarm audio.
    case audioPause
    /// Operator commands of a protocol run.
    case resumeInfusion(InfusionChannel)
    case pauseInfusion(InfusionChannel)
    case abortProtocol
    case enterACT(seconds: Double)
    case setHeparinRate(Double)
    /// The operator resumes after a fouling pause, optionally on a new baseline.
    case resumeAfterFouling(newBaseline: Bool)
    /// The firmware crashes (a kill -9, a fatal error): no clean shutdown, no last record;
    /// the plant runs on, the program starts again at once through its own boot path with
    /// the same board, protocol and delivery journal, finds its session marker, comes up
    /// inactive with every output safe and waits for an operator's `activate`.
    case crash
}

/// The fault catalogue (documented in HIL/README.md). Each is made real in the plant or
/// the devices below the HAL; the firmware only sees its effects.
public enum Fault: Sendable, Equatable {
    case sensorDisconnect(SensorRole)
    case sensorStuck(SensorRole)
    /// Offset growing by `perMinute` (in the sensor's unit: mmHg or L/min) from the fault start.
    case sensorDrift(SensorRole, perMinute: Double)
    /// Extra Gaussian noise (standard deviation, sensor's unit).
    case sensorNoiseBurst(SensorRole, standardDeviation: Double)
    /// The sensor's I²C device does not acknowledge for the interval.
    case i2cNAKBurst(SensorRole)
    case pumpStall
    case tachometerLoss
    /// Drainage line kinked (0...1 occlusion): suction.
    case drainageKink(occlusion: Double)
    /// Return line kinked (0...1 occlusion): over-pressure.
    case returnKink(occlusion: Double)
    case clampStuck(closed: Bool)
    /// The syringe's line is occluded (cells: the load cell sees the force rise; heparin:
    /// the plant's line blocks, which the firmware cannot see without a force sensor).
    case syringeOcclusion(InfusionChannel)
    /// The syringe's empty end stop closes.
    case syringeEmpty(InfusionChannel)
    /// An operator clamps the return line by hand: the plant's line is shut, the firmware's
    /// clamp output is untouched (it does not know).
    case handClamp
    case airInLine
    case emergencyStop
    /// Each tick in the interval starts this late.
    case loopOverrun(delay: Duration)
    /// The loop hangs for the interval: nothing ticks, so nothing kicks the watchdog.
    case watchdogStarved
    /// Power is cut at `at`: the run ends without a shutdown sequence.
    case powerLoss
    /// The sensor's device resets itself (brown-out): its configuration returns to
    /// power-on defaults, which only a read-back notices.
    case deviceReset(SensorRole)
    /// The delivery journal cannot be written (full or failing SD card): no new
    /// reservation becomes durable, so the syringe must stop.
    case journalStall
    /// An output's hardware stops following its writes: a line stuck at `level` (0/1,
    /// logical), or the pump PWM frozen at duty `level` (a hung controller; a board reset
    /// clears it). Only the output guard's read-back sees it.
    case outputStuck(ActuatorRole, level: Double)
    /// Every write to (and read of) the output fails, as a line or PWM channel gone.
    case outputWriteFailure(ActuatorRole)

    public static let names = ["sensor_disconnect", "sensor_stuck", "sensor_drift", "sensor_noise_burst", "i2c_nak_burst",
                               "pump_stall", "tachometer_loss", "drainage_kink", "return_kink", "clamp_stuck",
                               "syringe_occlusion", "syringe_empty", "air_in_line", "emergency_stop", "loop_overrun",
                               "watchdog_starved", "power_loss", "device_reset", "journal_stall", "output_stuck",
                               "output_write_failure", "hand_clamp"]
}

/// What a scenario checks.
public struct Expectation: Sendable {
    public var name: String
    public var kind: Kind
    public var line: Int

    public enum Kind: Sendable {
        case metric(Metric, statistic: Statistic, window: ClosedRange<Duration>, change: Change?, bound: Bound)
        case state(LifecycleState, window: ClosedRange<Duration>)
        case output(OutputSignal, bound: Bound, window: ClosedRange<Duration>)
        case input(InputSignal, asserted: Bool, window: ClosedRange<Duration>)
        /// An event of `kind` (with `detail` if given) between `after` and `after + within`.
        case event(EventKind, detail: String?, after: Duration, within: Duration)
        /// No event of `kind` in the window.
        case noEvent(EventKind, detail: String?, window: ClosedRange<Duration>)
        /// The alarm (nil: any alarm) is raised (at `priority`, if given) between `after` and `after + within`.
        case alarm(AlarmID?, priority: AlarmPriority?, after: Duration, within: Duration)
        /// How many times something happened in the window is within the bound.
        case count(CountSubject, window: ClosedRange<Duration>, bound: Bound)
        /// `first` happens, and then `then` (not before it); with `within`, `then` must
        /// happen no later than that after `first`. Without it, `then` may never happen.
        /// `after`: occurrences before it are not counted (a metric that crosses a level
        /// in the start-up transient is not the crossing the drill is about).
        case order(first: Occurrence, then: Occurrence, within: Duration?, after: Duration)
        /// The alarm (nil: any alarm) is never raised in the window.
        case noAlarm(AlarmID?, window: ClosedRange<Duration>)
    }

    public enum Metric: String, Sendable, CaseIterable {
        case flow = "flow_lpm", drainPressure = "p_drain_mmhg", prePressure = "p_pre_mmhg", postPressure = "p_post_mmhg"
        case oxygenatorDrop = "dp_oxy_mmhg", speed = "speed_rpm", commandedSpeed = "speed_cmd_rpm"
        case oxygenatorResistance = "oxy_resistance"
        /// Volume the firmware has issued to each syringe (mL), and its protocol item.
        case cellsDelivered = "cells_ml", heparinDelivered = "heparin_ml", protocolItem = "protocol_item"
        /// What the simulated syringe really delivered (mL), and the pressure in its line.
        case plantCellsDelivered = "plant_cells_ml", syringeLinePressure = "syringe_line_mmhg"
        /// The plant's truth (what the physics has, not what the sensors report).
        case trueFlow = "true_flow_lpm", trueDrainPressure = "true_p_drain_mmhg", truePrePressure = "true_p_pre_mmhg"
        case truePostPressure = "true_p_post_mmhg", trueSpeed = "true_speed_rpm"
    }
    /// Digital inputs as the firmware would read them.
    public enum InputSignal: String, Sendable, CaseIterable {
        case airDetector = "air_detector", emergencyStop = "estop", syringeEndEmpty = "syringe_end_empty"
        case syringeEndFull = "syringe_end_full"
    }
    /// `rate`: the change per second between the window's first and last samples.
    public enum Statistic: String, Sendable, CaseIterable { case mean, min, max, last, range, rate }
    /// What a count expectation counts.
    public enum CountSubject: Sendable {
        /// Raises of an alarm (nil: of any alarm).
        case alarmRaises(AlarmID?)
        /// Events of a kind (with a detail, if given): overruns, watchdog resets, halts…
        case events(EventKind, detail: String?)
    }
    /// Something that happens at an instant, for ordering expectations.
    public enum Occurrence: Sendable {
        /// An alarm (nil: any) is raised.
        case alarm(AlarmID?)
        case event(EventKind, detail: String?)
        /// A metric first goes below (or above) a level.
        case crosses(Metric, below: Double?, above: Double?)
        public var description: String {
            switch self {
            case .alarm(let id): "alarm \(id?.identifier ?? "any")"
            case .event(let k, let d): "event \(k.rawValue)\(d.map { " \($0)" } ?? "")"
            case .crosses(let m, let below, let above):
                below.map { "\(m.rawValue) below \($0)" } ?? above.map { "\(m.rawValue) above \($0)" } ?? m.rawValue
            }
        }
    }
    /// Compare the change relative to a baseline window's mean instead of the raw value.
    public enum Change: Sendable {
        case percent(baseline: ClosedRange<Duration>)
        case absolute(baseline: ClosedRange<Duration>)
    }
    public enum OutputSignal: String, Sendable, CaseIterable {
        case pumpEnable = "pump_enable", clamp = "clamp", pumpSpeedCommand = "pump_speed_cmd_rpm"
        case buzzer = "buzzer", ledRed = "led_red", ledYellow = "led_yellow", ledGreen = "led_green"
        case syringeEnable = "syringe_enable", outflowClamp = "outflow_clamp"
        /// The heparin driver's enable; the syringes' direction lines (1: withdraw).
        case heparinEnable = "heparin_enable", syringeDirection = "syringe_dir", heparinDirection = "heparin_dir"
    }
    public enum EventKind: String, Sendable, CaseIterable {
        case lifecycle, phase, fault, sensorInvalid = "sensor_invalid", sensorRecovered = "sensor_recovered", sensorPinned = "sensor_pinned"
        case overrun, outputsSafe = "outputs_safe", watchdogReset = "watchdog_reset"
        /// Infusion engine events; detail: the action (clamp_closed, halted, agitation,
        /// protocol_completed, …) or a halt reason (occlusion, empty, …).
        case infusion
        /// The overrun policy started (detail `on`) or stopped (`off`) shedding non-critical work.
        case shedding
        /// The oxygenator monitors; detail: the baseline source (`window`, `early`,
        /// `after_close`, `operator_resume`), the reason, or the suspected sensor and check.
        case foulingArmed = "fouling_armed", foulingNotArmed = "fouling_not_armed", foulingResumed = "fouling_resumed"
        case sensorDrift = "sensor_drift"
    }
    public struct Bound: Sendable, Equatable {
        public var atLeast: Double?
        public var atMost: Double?
        public func holds(_ v: Double) -> Bool {
            guard v.isFinite else { return false }
            return (atLeast.map { v >= $0 } ?? true) && (atMost.map { v <= $0 } ?? true)
        }
        public var description: String {
            switch (atLeast, atMost) {
            case let (a?, b?): a == b ? "= \(a)" : "in [\(a), \(b)]"
            case let (a?, nil): "≥ \(a)"
            case let (nil, b?): "≤ \(b)"
            default: "any"
            }
        }
    }
}
