/// What the runtime read this tick, and about the tick itself: the core's whole view of
/// the world. Plain values, so a test builds one by hand with no board at all.
public struct RigTickInput: Sendable, BitwiseCopyable {
    public var now: Instant
    /// How long after its deadline this tick started, and how long the previous one ran.
    public var lateness: Duration = .zero
    public var previousExecution: Duration = .zero
    public var frame: SensorFrame
    /// What the output guard holds now (written last tick): where an interlock's speed
    /// reduction starts from, and whether the pump is driven.
    public var heldPumpSpeed: PumpSpeed = .zero
    public var heldPumpEnabled = false
    /// Device configuration read-backs that found a device changed, so far (all devices).
    public var configMismatches = 0
    /// Steps the delivery journal has made durable, per syringe (nil: no journal news).
    public var journalGrant: JournalGrant?
    /// How many syringe steps (magnitudes) the runtime really issued last tick, per channel
    /// (nil: all that were asked for). The engine takes back what was not issued.
    public var stepsIssued: IssuedSteps?
    /// What the output guard found wrong with the outputs when it wrote the last tick.
    public var outputFaults = OutputFaultInput()
    /// What the loop hears from the safety co-processor (nil: the rig has none).
    public var coprocessor: CoProcessorView?

    public init(now: Instant, frame: SensorFrame) {
        self.now = now
        self.frame = frame
    }
}

/// Output faults the runtime's output guard reported after its last write: a write that
/// failed, a command that aged out while the core meant to command it, or a read-back that
/// differed (debounced). `process`: pump speed, pump enable or return clamp.
public struct OutputFaultInput: Sendable, BitwiseCopyable, Equatable {
    public var process = false
    public var auxiliary = false
    public init(process: Bool = false, auxiliary: Bool = false) {
        self.process = process
        self.auxiliary = auxiliary
    }
}

/// Syringe steps the runtime issued in a tick (magnitudes, per channel).
public struct IssuedSteps: Sendable, BitwiseCopyable, Equatable {
    public var cells: Int64
    public var heparin: Int64
    public init(cells: Int64, heparin: Int64) {
        self.cells = cells
        self.heparin = heparin
    }
}

/// Steps the delivery journal has made durable (the infusion engine may issue up to these).
public struct JournalGrant: Sendable, BitwiseCopyable, Equatable {
    public var cells: Int64
    public var heparin: Int64
    public init(cells: Int64, heparin: Int64) {
        self.cells = cells
        self.heparin = heparin
    }
}

/// What the core decided this tick, for the runtime to write.
public struct RigTickOutput: Sendable, BitwiseCopyable {
    /// Pump speed, enable and return clamp (`.safe`: every process output to its safe value).
    public var process: ControlOutput = .none
    /// Every process output must be held safe and commands ignored (fault, not configured).
    public var holdSafe = true
    /// Buzzer and lamps: they keep sounding while the process outputs are held safe.
    public var signals = AlarmSignals(buzzer: false, red: false, yellow: false, green: false)
    /// Syringe enables, directions and this tick's steps (all zero without a protocol).
    public var syringes = InfusionOutput()
    /// The interlock speed ceiling in force (nil: none).
    public var speedCeiling: PumpSpeed?
    public var overrun = OverrunMonitor.Status()
    /// Ask the safety co-processor for the permit back, naming its trip (set in the tick an
    /// `activate` was accepted; the runtime sends the request).
    public var requestRearm = false
    public init() {}
}

/// The settings of a rig's core: what the board and the run decide, validated once.
public struct RigCoreConfiguration: Sendable {
    public var loopPeriod: Duration
    public var pump: PumpLimits
    public var pumpCurve: PumpCurve?
    public var mode: PumpMode
    public var alarmLimits: AlarmLimits
    public var fouling: FoulingMonitor.Configuration
    public var overrunPolicy: OverrunPolicy
    /// Oldest flow and speed sample the controller acts on.
    public var maximumSampleAge: Duration

    public init(loopPeriod: Duration, pump: PumpLimits, pumpCurve: PumpCurve?, mode: PumpMode,
                alarmLimits: AlarmLimits = AlarmLimits(), fouling: FoulingMonitor.Configuration = .init(),
                overrunPolicy: OverrunPolicy? = nil, maximumSampleAge: Duration = .milliseconds(50)) {
        self.loopPeriod = loopPeriod
        self.pump = pump
        self.pumpCurve = pumpCurve
        self.mode = mode
        self.alarmLimits = alarmLimits
        self.fouling = fouling
        self.overrunPolicy = overrunPolicy ?? OverrunPolicy(period: loopPeriod)
        self.maximumSampleAge = maximumSampleAge
    }
}

/// A configuration the core refuses, naming what.
public struct RigCoreConfigurationError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

/// The whole decision of one tick, in one pure value: hard interlocks, sample validation,
/// alarms, the infusion engine, the pump controller, and their order.
///
/// `step` takes what the sensors read and the time, and returns what the actuators and
/// annunciators should do; `apply` takes operator commands, validated here and only here.
/// No I/O, no clock, no allocation: the runtime reads the board, calls `apply` for each
/// pending command and then `step`, and writes the result. A test drives it with hand-made
/// frames and no board at all.
///
/// Order inside a step (one tick, no lag unless stated):
/// 1. overrun policy → the loop-lost safe state;
/// 2. hard interlocks: E-stop, air, lost deadline → `fault`, process outputs safe this tick;
/// 3. safety assessment: validation (before anyone acts on a sample), circulation alarm
///    conditions, fouling, the pressure interlock's speed ceiling;
/// 4. alarms, evaluated once;
/// 5. the infusion engine, obeying this tick's alarms, fouling pause and lifecycle;
/// 6. the pump controller under the interlock ceiling and the outflow clamp's limit.
/// Two things come from the previous tick, on purpose. The syringe alarm conditions
/// (occlusion, empty, near empty, deviation) reach the alarm system one tick after the
/// engine found them: the engine has already halted the channel itself in that tick, so
/// only the annunciation waits a millisecond, while the other direction — a high-priority
/// alarm stopping the cells and opening the outflow clamp — acts in the same tick. And
/// whether the outflow-clamp procedure runs is the engine's state entering the tick.
public struct RigCore: Sendable {
    public let configuration: RigCoreConfiguration
    public private(set) var controller: RigController
    public private(set) var safety: SafetySupervisor
    public private(set) var infusion: InfusionEngine
    public let hasInfusionPlan: Bool
    public private(set) var overrunMonitor: OverrunMonitor
    public private(set) var lastOutput = RigTickOutput()
    /// The frame after validation (invalid samples marked), as the controller saw it.
    public private(set) var frame: SensorFrame
    public private(set) var overruns: UInt32 = 0
    public private(set) var shedding = false
    /// Set by an accepted `stop` command; the runtime ends the run between ticks.
    public private(set) var stopRequested = false
    private var pendingWatchdogReport = false
    private var lastConfigMismatches = 0
    private var configMismatchUntil: Instant?
    private var previousState: LifecycleState = .unconfigured
    private var previousPhase: RunPhase = .idle
    private var previousInvalidMask: UInt8 = 0
    private var previousPinnedMask: UInt8 = 0
    private var lastInfusionInputs = InfusionInputs(circuitRunning: false)
    /// The safety co-processor as last heard (nil: the rig has none).
    public private(set) var coprocessor: CoProcessorView?
    /// After `activate`, the co-processor has this long to give the permit back.
    public static let permitGrace = Duration.milliseconds(250)
    private var permitDeadline: Instant?
    private var rearmPending = false

    /// `infusion`: the protocol's engine (nil: a run without a protocol).
    public init(configuration c: RigCoreConfiguration, infusion: InfusionEngine? = nil) throws(RigCoreConfigurationError) {
        let limits: AlarmLimits
        do { limits = try c.alarmLimits.validated() } catch { throw RigCoreConfigurationError(description: "\(error)") }
        configuration = c
        controller = RigController(configuration: RigControllerConfiguration(
            pump: c.pump, mode: c.mode, maximumSampleAge: c.maximumSampleAge))
        safety = SafetySupervisor(limits: limits, pump: c.pump, pumpCurve: c.pumpCurve, fouling: c.fouling)
        hasInfusionPlan = infusion != nil
        self.infusion = infusion ?? InfusionEngine(plan: InfusionPlan(channels: [], items: []), loopPeriod: c.loopPeriod,
                                                   pumpRamp: c.pump.maximumRampPerSecond, pumpMaximum: c.pump.maximumSpeed)
        overrunMonitor = OverrunMonitor(policy: c.overrunPolicy)
        frame = SensorFrame()
        if let refusal = Self.check(c.mode, pump: c.pump, limits: limits) {
            throw RigCoreConfigurationError(description: "set-point \(Self.describe(c.mode)): \(Self.explain(refusal))")
        }
    }

    public var state: LifecycleState { controller.state }
    public var phase: RunPhase { controller.phase }
    public var faultReason: FaultReason { controller.lifecycle.faultReason }

    // MARK: Boot

    /// The runtime has the hardware open with every output safe: read sensors, command nothing.
    public mutating func configure(now: Instant, emit: (RigEvent) -> Void) {
        transition(.configure, now: now, emit: emit)
    }

    /// The board came up after its watchdog reset it: raises the latched WATCHDOG_RESET
    /// alarm at the next step.
    public mutating func reportBootAfterWatchdogReset() { pendingWatchdogReport = true }

    /// Leaves the lifecycle: the runtime puts every output (annunciators too) safe.
    public mutating func shutdown(now: Instant, emit: (RigEvent) -> Void) {
        transition(.shutdown, now: now, emit: emit)
    }

    // MARK: Operator commands

    /// Validates one operator command against the rig's state, the board's and the run's
    /// limits, and carries it out if allowed. The only way an operator changes the rig.
    public mutating func apply(_ command: OperatorCommand, from source: AlarmActor, now: Instant,
                               emit: (RigEvent) -> Void) -> CommandResult {
        carryOut(command, from: source, now: now, emit: emit)
    }

    /// Whether `command` would be accepted now, without carrying it out (for a console
    /// that shows preconditions).
    public func check(_ command: OperatorCommand, now: Instant) -> CommandResult {
        var copy = self
        return copy.carryOut(command, from: .system, now: now, dryRun: true) { _ in }
    }

    private mutating func carryOut(_ command: OperatorCommand, from source: AlarmActor, now: Instant,
                                   dryRun: Bool = false, emit: (RigEvent) -> Void) -> CommandResult {
        let refuse = { (r: CommandRefusal) in CommandResult(refusal: r) }
        switch command {
        case .activate:
            guard state == .inactive else { return refuse(state == .active ? .alreadyRunning : .notAllowed) }
            // The circuit starts only on sensors the rig can trust (P_drain, P_pre, P_post, flow).
            guard Self.invalidMask(frame) & 0x0F == 0 else { return refuse(.sensorsNotReady) }
            // With a safety co-processor: only when it is heard and would give its permit (no
            // cause of its own, every cause gone for its re-arm time).
            if let cp = coprocessor, !cp.heard || !(cp.permit || cp.ready) { return refuse(.causePresent) }
            if !dryRun {
                transition(.activate, now: now, emit: emit)
                if coprocessor != nil {
                    rearmPending = true
                    permitDeadline = now + Self.permitGrace
                }
            }
            return .accepted
        case .deactivate:
            guard state == .active else { return refuse(.notAllowed) }
            if !dryRun { transition(.deactivate, now: now, emit: emit) }
            return .accepted
        case .clearFault:
            guard state == .fault else { return refuse(.notAllowed) }
            // A fault whose cause is still there would come straight back: say so instead.
            if frame.emergencyStop || frame.airDetected { return refuse(.causePresent) }
            if faultReason == .protectiveTrip, let cp = coprocessor, !cp.heard || !cp.causes.isEmpty {
                return refuse(.causePresent)
            }
            if !dryRun { transition(.clearFault, now: now, emit: emit) }
            return .accepted
        case .setFlow(let q):
            return setMode(.constantFlow(q), now: now, dryRun: dryRun, emit: emit)
        case .setSpeed(let s):
            return setMode(.constantSpeed(s), now: now, dryRun: dryRun, emit: emit)
        case .acknowledge(let id):
            if let id {
                guard safety.alarms.isActive(id) else { return refuse(.alarmNotActive) }
                if dryRun { return .accepted }
                return safety.acknowledge(id, by: source, now: now, emit: { emit(RigEvent(alarm: $0)) }) ? .accepted : refuse(.alarmNotActive)
            }
            var acknowledged = 0
            var i = 0
            while i < AlarmID.count {
                if let a = AlarmID(index: i), safety.alarms.isActive(a), !safety.alarms.isAcknowledged(a) {
                    if dryRun || safety.acknowledge(a, by: source, now: now, emit: { emit(RigEvent(alarm: $0)) }) { acknowledged += 1 }
                }
                i += 1
            }
            return acknowledged > 0 ? .accepted : refuse(.alarmNotActive)
        case .pauseAudio:
            if !dryRun { safety.pauseAudio(by: source, now: now, emit: { emit(RigEvent(alarm: $0)) }) }
            return .accepted
        case .pauseInfusion(let ch), .resumeInfusion(let ch):
            guard hasInfusionPlan else { return refuse(.noProtocol) }
            let channel = ch == .cells ? infusion.cells : infusion.heparin
            guard channel.present else { return refuse(.noProtocol) }
            if case .pauseInfusion = command {
                if channel.halt == .aborted || infusion.completed { return refuse(.protocolFinished) }
                if !dryRun { infusion.pause(ch, now: now, emit: { emit(RigEvent(infusion: $0)) }) }
                return .accepted
            }
            guard channel.halt != .none else { return refuse(.notHalted) }
            if dryRun { return .accepted }
            return infusion.resume(ch, input: lastInfusionInputs, now: now, emit: { emit(RigEvent(infusion: $0)) })
                ? .accepted : refuse(.causePresent)
        case .abortProtocol:
            guard hasInfusionPlan else { return refuse(.noProtocol) }
            if infusion.completed || infusion.cells.halt == .aborted { return refuse(.protocolFinished) }
            if !dryRun { infusion.abort(now: now, emit: { emit(RigEvent(infusion: $0)) }) }
            return .accepted
        case .startProtocol:
            guard hasInfusionPlan else { return refuse(.noProtocol) }
            if infusion.completed || infusion.cells.halt == .aborted { return refuse(.protocolFinished) }
            if infusion.started { return refuse(.alreadyRunning) }
            // A plan that starts with the circulation needs no command: it starts by itself.
            guard infusion.plan.start == .operator else { return refuse(.waitingForCircuit) }
            if infusion.operatorStartGiven { return refuse(.alreadyRunning) }
            // Only into a running circuit: the operator starts what they can see start.
            guard state == .active && phase == .regulating else { return refuse(.waitingForCircuit) }
            if !dryRun { infusion.operatorStart() }
            return .accepted
        case .enterACT(let act):
            guard hasInfusionPlan, infusion.plan.heparin != nil else { return refuse(.noProtocol) }
            if let r = SetpointLimits.check(act.seconds, SetpointLimits.actSeconds) { return r }
            if dryRun { return .accepted }
            return infusion.enterACT(act, now: now, emit: { emit(RigEvent(infusion: $0)) }) != nil ? .accepted : refuse(.noProtocol)
        case .setHeparinRate(let rate):
            guard hasInfusionPlan, infusion.plan.heparin != nil, infusion.heparin.present else { return refuse(.noProtocol) }
            if let r = SetpointLimits.check(rate.unitsPerKilogramPerHour, SetpointLimits.heparinRate) { return r }
            if dryRun { return .accepted }
            return infusion.setHeparinRate(rate, now: now, emit: { emit(RigEvent(infusion: $0)) }) ? .accepted : refuse(.noProtocol)
        case .resumeAfterFouling(let newBaseline):
            // Only a pause the operator has seen (acknowledged), and not on a suspect sensor.
            guard safety.fouling.pause else { return refuse(.notHalted) }
            if safety.alarms.isActive(.foulingPause) && !safety.alarms.isAcknowledged(.foulingPause) { return refuse(.notAcknowledged) }
            if safety.crossCheck.suspect != nil || !safety.fouling.mayResume(newBaseline: newBaseline) { return refuse(.causePresent) }
            if dryRun { return .accepted }
            safety.resumeAfterFoulingPause(newBaseline: newBaseline, now: now)
            if hasInfusionPlan, infusion.cells.halt == .safetyPause {
                var i = lastInfusionInputs
                i.infusionPaused = false
                _ = infusion.resume(.cells, input: i, now: now, emit: { emit(RigEvent(infusion: $0)) })
            }
            return .accepted
        case .setAlarmLimit(let key, let value):
            var limits = safety.limits
            let old = limits[key]
            limits[key] = value
            if let r = Self.limitRefusal(limits, changed: key, value: value) { return r }
            if !dryRun {
                safety.limits = limits
                emit(RigEvent(.alarmLimit(key: key, from: old, to: value, by: source), at: now))
            }
            return .accepted
        case .stop:
            if stopRequested { return refuse(.notAllowed) }
            if !dryRun { stopRequested = true }
            return .accepted
        }
    }

    /// Why `limits` (with `changed` just set to `value`) may not be taken, as the bound an
    /// operator must respect: the key's hard bounds, or the partner limit it must stay below
    /// (above). Nil when acceptable. Allocation-free: the checks are the file loader's.
    static func limitRefusal(_ limits: AlarmLimits, changed: AlarmLimitKey, value: Double) -> CommandResult? {
        if let r = SetpointLimits.check(value, changed.hardBounds) { return r }
        // The (low, high) pairs `AlarmLimits.validated()` requires, without an array (no allocation).
        func pair(_ low: AlarmLimitKey, _ high: AlarmLimitKey) -> CommandResult? {
            guard !(limits[low] < limits[high]) else { return nil }
            if low == changed { return CommandResult(refusal: .aboveMaximum, limit: limits[high]) }
            if high == changed { return CommandResult(refusal: .belowMinimum, limit: limits[low]) }
            return nil
        }
        return pair(.flowLow, .flowHigh) ?? pair(.postPressureLow, .postPressureHigh)
            ?? pair(.drainPressureLow, .drainPressureWarning) ?? pair(.prePressureWarning, .prePressureHigh)
            ?? pair(.postPressureWarning, .postPressureHigh) ?? pair(.postPressureLow, .postPressureWarning)
    }

    private mutating func setMode(_ mode: PumpMode, now: Instant, dryRun: Bool, emit: (RigEvent) -> Void) -> CommandResult {
        if let r = Self.check(mode, pump: configuration.pump, limits: safety.limits) { return r }
        if !dryRun {
            controller.setMode(mode)
            emit(RigEvent(.setpoint(mode), at: now))
        }
        return .accepted
    }

    /// A pump mode against the one definition of its range: flow within
    /// `SetpointLimits.flowLitersPerMinute` and the run's flow alarm limits, speed within
    /// the board's pump limits. Nil when acceptable.
    public static func check(_ mode: PumpMode, pump: PumpLimits, limits: AlarmLimits) -> CommandResult? {
        switch mode {
        case .constantFlow(let q):
            let hard = SetpointLimits.flowLitersPerMinute
            let lo = max(hard.lowerBound, limits.flowLow.litersPerMinute)
            let hi = min(hard.upperBound, limits.flowHigh.litersPerMinute)
            return SetpointLimits.check(q.litersPerMinute, lo...max(lo, hi))
        case .constantSpeed(let s):
            return SetpointLimits.check(s.rpm, pump.minimumSpeed.rpm...pump.maximumSpeed.rpm)
        }
    }

    static func describe(_ mode: PumpMode) -> String {
        switch mode {
        case .constantFlow(let q): "\(q.litersPerMinute) L/min"
        case .constantSpeed(let s): "\(s.rpm) rpm"
        }
    }

    static func explain(_ r: CommandResult) -> String {
        switch r.refusal {
        case .belowMinimum: "below the minimum \(r.limit)"
        case .aboveMaximum: "above the maximum \(r.limit)"
        default: r.refusal.description
        }
    }

    // MARK: The tick

    /// One tick's decision. `input.frame` is validated in place into `frame`.
    public mutating func step(_ input: RigTickInput, emit: (RigEvent) -> Void) -> RigTickOutput {
        let now = input.now
        var out = RigTickOutput()

        // 1. Overrun policy: count, alarm, shed, and the safe state if the safety tasks
        // cannot keep their deadline (see `OverrunPolicy`).
        let status = overrunMonitor.update(lateness: input.lateness, previousExecution: input.previousExecution,
                                           period: configuration.loopPeriod)
        out.overrun = status
        if status.overran {
            overruns &+= 1
            emit(RigEvent(.overrun(lateness: input.lateness, previousExecution: input.previousExecution), at: now))
        }
        if status.shed != shedding {
            shedding = status.shed
            emit(RigEvent(.shedding(shedding), at: now))
        }

        // 2. Hard interlocks: E-stop and air put every process output safe in this tick; so
        // does a loop that has lost its deadline.
        frame = input.frame
        if status.safeState && state != .fault && state != .unconfigured {
            transition(.fault(.loopOverrun), now: now, emit: emit)
        }
        if frame.emergencyStop && state != .fault && state != .unconfigured {
            transition(.fault(.emergencyStop), now: now, emit: emit)
        } else if frame.airDetected && state != .fault && state != .unconfigured {
            transition(.fault(.airInLine), now: now, emit: emit)
        }
        // The safety co-processor withdrew its permit (heard, not permitting, past the grace
        // after activation): the pump has stopped, so the rest of the circuit goes safe too.
        coprocessor = input.coprocessor
        if let cp = input.coprocessor {
            if cp.heard && cp.permit { permitDeadline = nil }
            if state == .active && cp.heard && !cp.permit && (permitDeadline.map { now >= $0 } ?? true) {
                transition(.fault(.protectiveTrip), now: now, emit: emit)
            }
        }

        // 3. Safety assessment, before anything acts on a sample.
        if input.configMismatches != lastConfigMismatches {
            lastConfigMismatches = input.configMismatches
            configMismatchUntil = now + .seconds(1)
        }
        var context = SafetySupervisor.Context(
            state: state, phase: phase, faultReason: faultReason,
            commandedSpeed: input.heldPumpSpeed, pumpEnabled: input.heldPumpEnabled, overrun: status.alarm,
            deviceConfigMismatch: configMismatchUntil.map { now <= $0 } ?? false,
            syringeEmpty: frame.syringeEmpty, bootedAfterWatchdogReset: pendingWatchdogReport)
        pendingWatchdogReport = false
        context.outflowClampProcedure = lastOutput.syringes.clampProcedure
        if case .constantFlow = controller.mode { context.flowControlled = true }
        context.outputFault = input.outputFaults.process
        context.auxiliaryOutputFault = input.outputFaults.auxiliary
        context.coprocessorLost = input.coprocessor.map { !$0.heard } ?? false
        var decision = safety.assess(&frame, context: context, now: now)
        safety.reportMonitorEvents(emit: emit)

        // 4. Alarms, once, before the infusion engine: a high-priority alarm raised in this
        // tick stops the cells and opens the outflow clamp in this tick.
        decision.signals = safety.annunciate(infusion: lastOutput.syringes.conditions, syringeEmpty: frame.syringeEmpty,
                                             now: now) { emit(RigEvent(alarm: $0)) }

        // 5. Infusion: after the alarms (its pause acts in this tick), before the controller
        // (the outflow clamp's speed limit and clamp request).
        var syringes = InfusionOutput()
        if hasInfusionPlan {
            if let g = input.journalGrant { infusion.grant(cells: g.cells, heparin: g.heparin) }
            if let s = input.stepsIssued { infusion.confirmIssued(cells: s.cells, heparin: s.heparin) }
            var i = InfusionInputs(circuitRunning: state == .active && phase == .regulating)
            i.infusionPaused = decision.infusionPaused
            i.highPriorityAlarm = safety.alarms.highestActivePriority == .high
            i.circulationPaused = decision.circulationPause || safety.circulationAlarmHigh
            i.measuredSpeed = frame.pumpSpeed.isValid ? frame.pumpSpeed.value : nil
            i.commandedSpeed = input.heldPumpSpeed
            i.preOxygenatorPressure = frame.preOxygenatorPressure.isValid ? frame.preOxygenatorPressure.value : nil
            i.cellsEmptySwitch = frame.syringeEmpty
            i.heparinEmptySwitch = frame.heparinEmpty
            i.cellsForce = frame.syringeForce.isValid ? frame.syringeForce.value : nil
            lastInfusionInputs = i
            var baselineClosed = false
            syringes = infusion.update(i, now: now) { e in
                if e.kind == .baselineClosed { baselineClosed = true }
                emit(RigEvent(infusion: e))
            }
            if baselineClosed { safety.closeFoulingBaseline(now: now) }
        }

        // 6. The controller, under the interlock ceiling and the outflow clamp's limit.
        var ceiling = decision.speedCeiling
        if let l = syringes.speedLimit { ceiling = ceiling.map { min($0, l) } ?? l }
        out.process = controller.update(frame, now: now, speedCeiling: ceiling, clampRequest: syringes.clampClosed)
        out.holdSafe = state == .fault || state == .unconfigured
        out.signals = decision.signals
        out.syringes = syringes
        out.speedCeiling = decision.speedCeiling
        noteTransitions(now: now, emit: emit)

        // Pinned readings are told apart from lost ones in the record.
        let pinned = Self.pinnedMask(frame)
        let mask = Self.invalidMask(frame) & ~pinned
        if mask != previousInvalidMask {
            let appeared = mask & ~previousInvalidMask
            let cleared = previousInvalidMask & ~mask
            if appeared != 0 { emit(RigEvent(.sensorInvalid(mask: appeared), at: now)) }
            if cleared != 0 { emit(RigEvent(.sensorRecovered(mask: cleared), at: now)) }
            previousInvalidMask = mask
        }
        if pinned != previousPinnedMask {
            let appeared = pinned & ~previousPinnedMask
            if appeared != 0 { emit(RigEvent(.sensorPinned(mask: appeared, high: Self.pinnedHighMask(frame) & appeared), at: now)) }
            previousPinnedMask = pinned
        }
        if rearmPending {
            rearmPending = false
            out.requestRearm = true
        }
        lastOutput = out
        return out
    }

    /// Bit i set: sample i (P_drain, P_pre, P_post, flow, speed) is not valid.
    @inlinable
    public static func invalidMask(_ frame: SensorFrame) -> UInt8 {
        var m: UInt8 = 0
        if !frame.drainPressure.isValid { m |= 1 }
        if !frame.preOxygenatorPressure.isValid { m |= 2 }
        if !frame.postOxygenatorPressure.isValid { m |= 4 }
        if !frame.flow.isValid { m |= 8 }
        if !frame.pumpSpeed.isValid { m |= 16 }
        return m
    }

    public var invalidMask: UInt8 { Self.invalidMask(frame) }

    /// Bit i set: pressure sample i (P_drain, P_pre, P_post) is pinned at a range end.
    @inlinable
    public static func pinnedMask(_ frame: SensorFrame) -> UInt8 {
        var m: UInt8 = 0
        if frame.drainPressure.isPinned { m |= 1 }
        if frame.preOxygenatorPressure.isPinned { m |= 2 }
        if frame.postOxygenatorPressure.isPinned { m |= 4 }
        return m
    }

    /// Bit i set: pressure sample i is pinned at the high end of its range.
    @inlinable
    public static func pinnedHighMask(_ frame: SensorFrame) -> UInt8 {
        var m: UInt8 = 0
        if frame.drainPressure.status == .aboveRange { m |= 1 }
        if frame.preOxygenatorPressure.status == .aboveRange { m |= 2 }
        if frame.postOxygenatorPressure.status == .aboveRange { m |= 4 }
        return m
    }

    private mutating func transition(_ event: LifecycleEvent, now: Instant, emit: (RigEvent) -> Void) {
        do { try controller.handle(event) } catch { return }
        noteTransitions(now: now, emit: emit)
    }

    private mutating func noteTransitions(now: Instant, emit: (RigEvent) -> Void) {
        let s = state
        if s != previousState {
            emit(RigEvent(.lifecycle(from: previousState, to: s), at: now))
            if s == .fault { emit(RigEvent(.fault(faultReason), at: now)) }
            previousState = s
        }
        let p = phase
        if p != previousPhase {
            emit(RigEvent(.phase(from: previousPhase, to: p), at: now))
            previousPhase = p
        }
    }
}
