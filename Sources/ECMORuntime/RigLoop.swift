import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODrivers

/// Settings of one run that are not in the board file.
public struct RunSettings: Sendable {
    public var mode: PumpMode
    /// Record one telemetry frame every `recordEvery` ticks (the status and the loop still
    /// run at the full rate).
    public var recordEvery: Int
    public var telemetryCapacity: Int
    public var eventCapacity: Int
    /// An overrun is a tick that started later than this after its deadline.
    public var overrunThreshold: Duration?
    /// Alarm limits (already validated against their hard bounds).
    public var alarmLimits: AlarmLimits
    public var fouling: FoulingMonitor.Configuration
    /// What the loop does about overruns (nil: the defaults for the board's period, with
    /// `overrunThreshold` as the lateness threshold when given).
    public var overrunPolicy: OverrunPolicy?
    public init(mode: PumpMode, recordEvery: Int = 10, telemetryCapacity: Int = 8192, eventCapacity: Int = 1024,
                overrunThreshold: Duration? = nil, alarmLimits: AlarmLimits = AlarmLimits(),
                fouling: FoulingMonitor.Configuration = .init()) {
        self.alarmLimits = alarmLimits
        self.fouling = fouling
        self.mode = mode
        self.recordEvery = max(1, recordEvery)
        self.telemetryCapacity = telemetryCapacity
        self.eventCapacity = eventCapacity
        self.overrunThreshold = overrunThreshold
    }
}

/// The control loop: read → update → write, once per period.
///
/// One `tick` services the board (a simulated board advances its physics), reads every
/// sensor through its driver, runs the controller, hands its commands to the output
/// guard, kicks the watchdog if the tick was healthy, and copies a telemetry frame out
/// through a lock-free ring. A tick allocates nothing, takes no lock and never waits on
/// the consumer: the run record is written on another thread.
public final class RigLoop {
    public let board: BoardConfiguration
    public let hardware: any HardwareProvider
    public let sensors: SensorSuite
    public let outputs: OutputGuard
    public let telemetry: SPSCRing<TelemetryFrame>
    public let events: SPSCRing<RigEvent>
    @exclusivity(unchecked)
    public private(set) var controller: RigController
    /// Sensor validation, alarms, interlocks and the fouling monitor.
    @exclusivity(unchecked)
    public private(set) var safety: SafetySupervisor
    @exclusivity(unchecked)
    public private(set) var lastDecision = SafetyDecision(speedCeiling: nil, infusionPaused: false,
                                                          signals: AlarmSignals(buzzer: false, red: false, yellow: false, green: false))
    private var lastConfigMismatches = 0
    private var pendingWatchdogReport = false
    private var configMismatchUntil: Instant?
    @exclusivity(unchecked)
    public private(set) var frame: SensorFrame
    @exclusivity(unchecked)
    public private(set) var lastTelemetry = TelemetryFrame()
    @exclusivity(unchecked)
    public private(set) var tickCount: UInt64 = 0
    @exclusivity(unchecked)
    public private(set) var overruns: UInt32 = 0
    @exclusivity(unchecked)
    public private(set) var watchdogKicks: UInt64 = 0
    private let settings: RunSettings
    private let watchdog: (any Watchdog)?
    private let watchdogHot: UnretainedWatchdog?
    /// `hardware.clock`, fetched once: the protocol getter returns an owned reference, a
    /// retain/release pair per call.
    private let clock: any MonotonicClock
    private let overrunThreshold: Duration
    @exclusivity(unchecked)
    public private(set) var overrunMonitor: OverrunMonitor
    @exclusivity(unchecked)
    public private(set) var lastOverrunStatus = OverrunMonitor.Status()
    private var previousExecution: Duration = .zero
    private var shedding = false
    private var previousState: LifecycleState = .unconfigured
    private var previousPhase: RunPhase = .idle
    private var previousInvalidMask: UInt8 = 0
    /// The infusion engine (an engine with an empty plan when the run has no protocol).
    @exclusivity(unchecked)
    public private(set) var infusion: InfusionEngine
    public let hasInfusionPlan: Bool
    /// Between the loop and the delivery-journal writer (nil: no journal; then nothing is
    /// ever authorized and no step is issued).
    public let journal: JournalLink?
    @exclusivity(unchecked)
    public private(set) var lastInfusion = InfusionOutput()
    @exclusivity(unchecked)
    private var infusionInputs = InfusionInputs(circuitRunning: false)
    private var cellVolumePerStep = 0.0
    private var heparinVolumePerStep = 0.0
    @exclusivity(unchecked)
    public private(set) var stepsIssued: (cells: Int64, heparin: Int64) = (0, 0)
    /// The console link (nil: none). Set before the loop runs; its commands are applied
    /// once per tick before safety and its telemetry ring is fed every `link.every` ticks.
    @exclusivity(unchecked)
    public var link: RigLink? {
        didSet { linkHot = link.map { Unretained($0) } }
    }
    /// `link` for the tick, without ARC traffic (`link` owns it).
    @exclusivity(unchecked)
    private var linkHot: Unretained<RigLink>?

    public init(board: BoardConfiguration, hardware: any HardwareProvider, settings: RunSettings, useWatchdog: Bool = true,
                infusion: InfusionEngine? = nil, journal: JournalLink? = nil) throws {
        self.board = board
        let emptyPlan = InfusionPlan(channels: [], items: [])
        self.infusion = infusion ?? InfusionEngine(plan: emptyPlan, loopPeriod: board.loopPeriod,
                                                   pumpRamp: board.pump.limits.maximumRampPerSecond,
                                                   pumpMaximum: board.pump.limits.maximumSpeed)
        hasInfusionPlan = infusion != nil
        self.journal = journal
        cellVolumePerStep = infusion?.plan.channel(.cells)?.volumePerStep.milliliters ?? 0
        heparinVolumePerStep = infusion?.plan.channel(.heparin)?.volumePerStep.milliliters ?? 0
        self.hardware = hardware
        clock = hardware.clock
        self.settings = settings
        overrunThreshold = settings.overrunThreshold ?? board.loopPeriod
        var policy = settings.overrunPolicy ?? OverrunPolicy(period: board.loopPeriod)
        if settings.overrunPolicy == nil, let t = settings.overrunThreshold { policy.latenessThreshold = t }
        overrunMonitor = OverrunMonitor(policy: policy)
        // Outputs first, so that every actuator holds its safe value before anything else happens.
        outputs = try OutputGuard.build(board: board, hardware: hardware)
        sensors = try SensorSuite(board: board, hardware: hardware)
        controller = RigController(configuration: RigControllerConfiguration(
            pump: board.pump.limits, mode: settings.mode,
            maximumSampleAge: board.sensors[.flow]?.maxAge ?? .milliseconds(50)))
        // Limits beyond their hard bounds are refused here, whoever built the settings.
        let limits = try settings.alarmLimits.validated()
        safety = SafetySupervisor(limits: limits, pump: board.pump.limits, pumpCurve: board.pump.curve,
                                  fouling: settings.fouling)
        telemetry = SPSCRing(capacity: settings.telemetryCapacity)
        events = SPSCRing(capacity: settings.eventCapacity)
        frame = SensorFrame(at: hardware.clock.now())
        if useWatchdog {
            let wd = try hardware.watchdog(board.watchdog)
            do { try wd.start(timeout: board.watchdog.timeout) } catch {
                throw HardwareOpenError(what: "watchdog \(board.watchdog.device)", cause: error)
            }
            watchdog = wd
            watchdogHot = UnretainedWatchdog(wd)
        } else {
            watchdog = nil
            watchdogHot = nil
        }
    }

    public var state: LifecycleState { controller.state }

    /// Applies a lifecycle event (operator or runtime). Returns false if refused.
    @discardableResult
    public func handle(_ event: LifecycleEvent, now: Instant) -> Bool {
        do {
            try controller.handle(event)
        } catch {
            return false
        }
        if case .fault = event { outputs.forceSafe() }
        if case .shutdown = event { outputs.forceSafe() }
        if case .clearFault = event { outputs.release() }
        if case .activate = event { outputs.release() }
        noteTransitions(now: now)
        return true
    }

    /// The board started after its watchdog reset it (Linux: `WDIOF_CARDRESET` in the boot
    /// status; simulation: the simulated watchdog): raises the latched WATCHDOG_RESET alarm.
    public func reportBootAfterWatchdogReset() { pendingWatchdogReport = true }

    /// The operator (or console) acknowledges an alarm. Returns false if it was not active.
    @discardableResult
    public func acknowledge(_ id: AlarmID, by actor: AlarmActor, now: Instant) -> Bool {
        let ring = events
        return safety.acknowledge(id, by: actor, now: now) { e in ring.push(RigEvent(alarm: e)) }
    }

    /// The operator pauses alarm audio (IEC 60601-1-8: for the configured pause, 120 s by default).
    public func pauseAudio(by actor: AlarmActor, now: Instant) {
        let ring = events
        safety.pauseAudio(by: actor, now: now) { e in ring.push(RigEvent(alarm: e)) }
    }

    /// Changes the pump set-point (bumpless).
    public func setMode(_ mode: PumpMode, now: Instant) {
        controller.setMode(mode)
        switch mode {
        case .constantFlow(let q): events.push(RigEvent(.setpoint, at: now, 1, q.litersPerMinute))
        case .constantSpeed(let s): events.push(RigEvent(.setpoint, at: now, 0, s.rpm))
        }
    }

    /// One period of the loop. `lateness`: how long after its deadline the tick started.
    public func tick(now: Instant, lateness: Duration = .zero) {
        let started = clock.now()
        tickCount &+= 1
        // Overrun policy: count, alarm, shed, and the safe state if the safety tasks
        // cannot keep their deadline (see `OverrunPolicy`).
        let status = overrunMonitor.update(lateness: lateness, previousExecution: previousExecution, period: board.loopPeriod)
        lastOverrunStatus = status
        if status.overran {
            overruns &+= 1
            events.push(RigEvent(.overrun, at: now, lateness.seconds, previousExecution.seconds))
        }
        if status.shed != shedding {
            shedding = status.shed
            events.push(RigEvent(.shedding, at: now, shedding ? 1 : 0))
        }

        // Read.
        hardware.service(now: now)
        sensors.read(into: &frame, now: now)

        // Hard interlocks: E-stop and air put every process output safe in this tick; so
        // does a loop that has lost its deadline.
        if status.safeState && controller.state != .fault && controller.state != .unconfigured {
            handle(.fault(.loopOverrun), now: now)
        }
        if frame.emergencyStop && controller.state != .fault {
            handle(.fault(.emergencyStop), now: now)
        } else if frame.airDetected && controller.state != .fault {
            handle(.fault(.airInLine), now: now)
        }

        // Console commands: validated here by the rig, before safety sees this tick.
        if let l = linkHot { l.with { applyLinkCommands($0, now: now) } }

        // Safety: validate samples (before the controller sees them), alarms, interlocks.
        let mismatches = sensors.configMismatchCount
        if mismatches != lastConfigMismatches {
            lastConfigMismatches = mismatches
            configMismatchUntil = now + .seconds(1)
        }
        var context = SafetySupervisor.Context(
            state: controller.state, phase: controller.phase, faultReason: controller.lifecycle.faultReason,
            commandedSpeed: PumpSpeed(rpm: outputs.value(of: .pumpSpeed) ?? 0),
            pumpEnabled: (outputs.value(of: .pumpEnable) ?? 0) != 0, overrun: status.alarm,
            deviceConfigMismatch: configMismatchUntil.map { now <= $0 } ?? false,
            syringeEmpty: frame.syringeEmpty, bootedAfterWatchdogReset: pendingWatchdogReport)
        pendingWatchdogReport = false
        context.infusion = lastInfusion.conditions
        context.outflowClampProcedure = lastInfusion.clampProcedure
        let ring = events
        lastDecision = safety.update(&frame, context: context, now: now) { e in ring.push(RigEvent(alarm: e)) }

        // Infusion: after safety (its pause and alarms act in this tick), before the
        // controller (the outflow clamp's speed limit and clamp request).
        if hasInfusionPlan { runInfusion(now: now) }

        // Update.
        var ceiling = lastDecision.speedCeiling
        if let l = lastInfusion.speedLimit { ceiling = ceiling.map { min($0, l) } ?? l }
        let output = controller.update(frame, now: now, speedCeiling: ceiling, clampRequest: lastInfusion.clampClosed)

        // Write.
        switch output {
        case .none: break
        case .safe: if !outputs.forcedSafe { outputs.forceSafe() }
        case .command(let c): outputs.command(c, now: now)
        }
        outputs.annunciate(lastDecision.signals, now: now)
        if hasInfusionPlan { commandSyringes(now: now) }
        outputs.enforce(now: now)
        if hasInfusionPlan { pulseSyringes() }
        noteTransitions(now: now)

        // A healthy tick kicks the watchdog; a hung loop never gets here.
        if let wd = watchdogHot {
            do {
                try wd.kick()
                watchdogKicks &+= 1
            } catch {
                events.push(RigEvent(.fault, at: now, Double(FaultReason.watchdog.rawValue)))
            }
        }

        var t = TelemetryFrame()
        t.tick = tickCount
        t.time = now
        t.state = controller.state
        t.phase = controller.phase
        t.faultReason = controller.lifecycle.faultReason
        t.drainPressure = frame.drainPressure.value
        t.preOxygenatorPressure = frame.preOxygenatorPressure.value
        t.postOxygenatorPressure = frame.postOxygenatorPressure.value
        t.flow = frame.flow.value
        t.measuredSpeed = frame.pumpSpeed.value
        t.commandedSpeed = PumpSpeed(rpm: outputs.value(of: .pumpSpeed) ?? 0)
        t.pumpEnabled = (outputs.value(of: .pumpEnable) ?? 0) != 0
        t.clampClosed = (outputs.value(of: .clamp) ?? 1) != 0
        t.invalidMask = invalidMask()
        t.sensorErrors = frame.drainPressure.errorCount &+ frame.preOxygenatorPressure.errorCount
            &+ frame.postOxygenatorPressure.errorCount &+ frame.flow.errorCount &+ frame.pumpSpeed.errorCount
        t.overruns = overruns
        t.highestAlarm = safety.alarms.highestActivePriority?.rawValue ?? 0
        t.activeAlarms = UInt8(clamping: safety.alarms.activeCount)
        t.speedCeiling = lastDecision.speedCeiling ?? .zero
        t.cellsDelivered = Volume(milliliters: Double(infusion.cells.delivered) * cellVolumePerStep)
        t.heparinDelivered = Volume(milliliters: Double(infusion.heparin.delivered) * heparinVolumePerStep)
        t.infusionItem = Int16(clamping: infusion.itemIndex)
        t.cellsHalt = infusion.cells.halt.rawValue
        t.outflowClamp = lastInfusion.clampClosed
        t.lateness = lateness
        t.executionTime = clock.now() - started
        previousExecution = t.executionTime
        lastTelemetry = t
        // Shedding: the run record is the first thing to go (one row in ten) while the loop is late.
        let every = UInt64(settings.recordEvery) * (shedding ? 10 : 1)
        if tickCount % every == 0 {
            telemetry.push(t)
        }
        if let l = linkHot, tickCount % UInt64(l.with { $0.every }) == 0 {
            fillLinkFields(&t, now: now)
            l.with { $0.telemetry.push(t) }
        }
        if t.invalidMask != previousInvalidMask {
            let appeared = t.invalidMask & ~previousInvalidMask
            let cleared = previousInvalidMask & ~t.invalidMask
            if appeared != 0 { events.push(RigEvent(.sensorInvalid, at: now, Double(appeared))) }
            if cleared != 0 { events.push(RigEvent(.sensorRecovered, at: now, Double(cleared))) }
            previousInvalidMask = t.invalidMask
        }
    }

    // MARK: Infusion

    private func runInfusion(now: Instant) {
        if let link = journal {
            let g = link.granted
            infusion.grant(cells: g.0, heparin: g.1)
        }
        var input = InfusionInputs(circuitRunning: controller.state == .active && controller.phase == .regulating)
        input.infusionPaused = lastDecision.infusionPaused
        input.highPriorityAlarm = safety.alarms.highestActivePriority == .high
        input.measuredSpeed = frame.pumpSpeed.isValid ? frame.pumpSpeed.value : nil
        input.commandedSpeed = PumpSpeed(rpm: outputs.value(of: .pumpSpeed) ?? 0)
        input.preOxygenatorPressure = frame.preOxygenatorPressure.isValid ? frame.preOxygenatorPressure.value : nil
        input.cellsEmptySwitch = frame.syringeEmpty
        input.heparinEmptySwitch = frame.heparinEmpty
        input.cellsForce = frame.syringeForce.isValid ? frame.syringeForce.value : nil
        infusionInputs = input
        let ring = events
        var baselineClosed = false
        lastInfusion = infusion.update(input, now: now) { e in
            if e.kind == .baselineClosed { baselineClosed = true }
            ring.push(RigEvent(infusion: e))
        }
        if baselineClosed { safety.closeFoulingBaseline(now: now) }
        journal?.offer(infusion.journalSnapshot)
    }

    private func commandSyringes(now: Instant) {
        let c = lastInfusion
        outputs.command(.syringeEnable, c.cellsEnabled ? 1 : 0, now: now)
        // Logical DIR asserted = withdraw (the board file's active_low flips the wire).
        if c.cellSteps != 0 { outputs.command(.syringeDirection, c.cellSteps < 0 ? 1 : 0, now: now) }
        outputs.command(.heparinEnable, c.heparinEnabled ? 1 : 0, now: now)
        if c.heparinSteps != 0 { outputs.command(.heparinDirection, c.heparinSteps < 0 ? 1 : 0, now: now) }
    }

    private func pulseSyringes() {
        let c = lastInfusion
        if c.cellSteps != 0 {
            let n = outputs.pulse(.syringeStep, count: Int(c.cellSteps.magnitude), requiring: .syringeEnable)
            stepsIssued.cells &+= Int64(n)
        }
        if c.heparinSteps != 0 {
            let n = outputs.pulse(.heparinStep, count: Int(c.heparinSteps.magnitude), requiring: .heparinEnable)
            stepsIssued.heparin &+= Int64(n)
        }
    }

    /// Operator: resume a halted infusion channel. False if refused (cause still present).
    @discardableResult
    public func resumeInfusion(_ channel: InfusionChannel, now: Instant) -> Bool {
        let ring = events
        return infusion.resume(channel, input: infusionInputs, now: now) { e in ring.push(RigEvent(infusion: e)) }
    }

    /// Operator: pause an infusion channel.
    public func pauseInfusion(_ channel: InfusionChannel, now: Instant) {
        let ring = events
        infusion.pause(channel, now: now) { e in ring.push(RigEvent(infusion: e)) }
    }

    /// Operator: abort the protocol (both syringes stop for good; the clamp opens).
    public func abortProtocol(now: Instant) {
        let ring = events
        infusion.abort(now: now) { e in ring.push(RigEvent(infusion: e)) }
    }

    /// Operator: change the heparin infusion rate.
    @discardableResult
    public func setHeparinRate(_ rate: HeparinRate, now: Instant) -> Bool {
        let ring = events
        return infusion.setHeparinRate(rate, now: now) { e in ring.push(RigEvent(infusion: e)) }
    }

    /// Operator: an ACT measurement; the advice is logged, never applied.
    @discardableResult
    public func enterACT(_ act: Duration, now: Instant) -> HeparinAdvice? {
        let ring = events
        return infusion.enterACT(act, now: now) { e in ring.push(RigEvent(infusion: e)) }
    }

    /// Puts every output safe, leaves the lifecycle, and disarms the watchdog (clean exit only).
    public func shutdown(now: Instant) {
        handle(.shutdown, now: now)
        outputs.forceSafe(includingAnnunciators: true)
        events.push(RigEvent(.outputsSafe, at: now))
        if let wd = watchdog { try? wd.stop() }
    }

    private func invalidMask() -> UInt8 {
        var m: UInt8 = 0
        if !frame.drainPressure.isValid { m |= 1 }
        if !frame.preOxygenatorPressure.isValid { m |= 2 }
        if !frame.postOxygenatorPressure.isValid { m |= 4 }
        if !frame.flow.isValid { m |= 8 }
        if !frame.pumpSpeed.isValid { m |= 16 }
        return m
    }

    private func noteTransitions(now: Instant) {
        let s = controller.state
        if s != previousState {
            events.push(RigEvent(.lifecycle, at: now, Double(previousState.rawValue), Double(s.rawValue)))
            if s == .fault { events.push(RigEvent(.fault, at: now, Double(controller.lifecycle.faultReason.rawValue))) }
            previousState = s
        }
        let p = controller.phase
        if p != previousPhase {
            events.push(RigEvent(.phase, at: now, Double(previousPhase.rawValue), Double(p.rawValue)))
            previousPhase = p
        }
    }
}

extension OutputGuard {
    /// Builds the guard for a board: every digital output and the pump speed channel, each
    /// written to its safe value as it is added.
    public static func build(board: BoardConfiguration, hardware: any HardwareProvider) throws -> OutputGuard {
        let g = OutputGuard()
        for role in ActuatorRole.allCases {
            guard let c = board.outputs[role] else { continue }
            let line = try hardware.outputLine(c)
            g.add(role, sink: .digital(line), safeValue: c.safeValue ? 1 : 0, maxCommandAge: c.maxCommandAge)
        }
        let pwm = try hardware.pwmChannel(chip: board.pump.pwmChip, channel: board.pump.channel)
        let calibration = board.pump.calibration
        let pump: PumpSpeedOutput
        do {
            pump = try PumpSpeedOutput(pwm: pwm, calibration: calibration, period: board.pump.period)
        } catch {
            throw HardwareOpenError(what: "pump PWM \(board.pump.pwmChip)/\(board.pump.channel)", cause: error)
        }
        g.add(.pumpSpeed, sink: .pumpSpeed(pump), safeValue: board.pump.safeSpeed.rpm, maxCommandAge: board.pump.maxCommandAge)
        return g
    }
}
