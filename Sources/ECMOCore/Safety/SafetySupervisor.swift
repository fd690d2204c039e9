/// What the safety layer decides each tick, applied by the runtime.
public struct SafetyDecision: Sendable, BitwiseCopyable, Equatable {
    /// Highest pump speed allowed now (suction or over-pressure interlock), nil: no limit.
    public var speedCeiling: PumpSpeed?
    /// Cell infusion must be paused (fouling, any infusion fault).
    public var infusionPaused: Bool
    /// Buzzer and lamps.
    public var signals: AlarmSignals
    public init(speedCeiling: PumpSpeed?, infusionPaused: Bool, signals: AlarmSignals) {
        self.speedCeiling = speedCeiling
        self.infusionPaused = infusionPaused
        self.signals = signals
    }
}

/// The safety core beside the controller: validates sensors, computes alarm conditions
/// from limits, runs the alarm system and the fouling monitor, and applies the pressure
/// interlocks (reduce speed toward the safe floor on suction or over-pressure). Air and
/// E-stop faults are taken by the runtime in the same tick (safe outputs at once); this
/// type adds their alarms. Pure: no I/O, time handed in, nothing allocated per tick.
public struct SafetySupervisor: Sendable {
    public var limits: AlarmLimits
    public private(set) var alarms: AlarmSystem
    public private(set) var validator = SensorValidator()
    public private(set) var fouling: FoulingMonitor
    /// Drift of a pressure sensor told from fouling (issue 15 item 8).
    public private(set) var crossCheck = SensorCrossCheck()
    public let pumpCurve: PumpCurve?
    /// The pump's lowest running speed: interlocks never push below it (a stopped
    /// centrifugal pump lets blood run backwards).
    public let safeFloor: PumpSpeed
    /// How fast an interlock takes speed away, and gives it back once the cause is gone.
    public var reductionRate = PumpSpeed(rpm: 500)
    public var recoveryRate = PumpSpeed(rpm: 200)
    public var maximumSpeed: PumpSpeed
    public private(set) var speedCeiling: PumpSpeed?
    public private(set) var conditions = AlarmConditions()
    /// P_pre below P_post beyond this is physically impossible in this circuit.
    public var crossCheckTolerance = Pressure(mmHg: 20)
    private var crossCheckSince: Instant?
    /// Pressure alarm conditions clear only this far back inside their limits.
    public var pressureHysteresis = Pressure(mmHg: 20)
    private var suctionHeld = false
    private var overPreHeld = false
    private var overPostHeld = false
    private var tachSince: Instant?
    private var lastUpdate: Instant?

    public init(limits: AlarmLimits = AlarmLimits(), pump: PumpLimits, pumpCurve: PumpCurve?,
                fouling: FoulingMonitor.Configuration = .init(), alarms: AlarmSystem = AlarmSystem()) {
        self.limits = limits
        self.alarms = alarms
        self.fouling = FoulingMonitor(configuration: fouling)
        self.pumpCurve = pumpCurve
        safeFloor = pump.minimumSpeed
        maximumSpeed = pump.maximumSpeed
    }

    /// Everything the supervisor looks at besides the sensor frame.
    public struct Context: Sendable {
        public var state: LifecycleState
        public var phase: RunPhase
        public var faultReason: FaultReason
        /// The speed command the controller produced last tick (start of a reduction).
        public var commandedSpeed: PumpSpeed
        public var pumpEnabled: Bool
        /// The overrun policy's alarm condition (not a single late tick: see `OverrunPolicy`).
        public var overrun: Bool
        public var deviceConfigMismatch: Bool
        public var syringeEmpty: Bool
        /// The board came up after a watchdog reset (reported once, latched until acknowledged).
        public var bootedAfterWatchdogReset: Bool
        /// Infusion conditions from the infusion engine (occlusion, near-empty, empty, deviation).
        public var infusion: InfusionConditions = InfusionConditions()
        /// The outflow-clamp procedure runs: low flow and low P_post are its intended effect,
        /// so those alarms (and the fouling monitor) stand down; pressure-high alarms do not.
        public var outflowClampProcedure = false
        public init(state: LifecycleState, phase: RunPhase, faultReason: FaultReason, commandedSpeed: PumpSpeed,
                    pumpEnabled: Bool, overrun: Bool, deviceConfigMismatch: Bool, syringeEmpty: Bool,
                    bootedAfterWatchdogReset: Bool = false) {
            self.bootedAfterWatchdogReset = bootedAfterWatchdogReset
            self.state = state
            self.phase = phase
            self.faultReason = faultReason
            self.commandedSpeed = commandedSpeed
            self.pumpEnabled = pumpEnabled
            self.overrun = overrun
            self.deviceConfigMismatch = deviceConfigMismatch
            self.syringeEmpty = syringeEmpty
        }
    }

    /// Validates `frame` in place, evaluates every alarm condition (the infusion
    /// conditions from `c.infusion`) and decides the interlocks: `assess` then `annunciate`.
    public mutating func update(_ frame: inout SensorFrame, context c: Context, now: Instant,
                                emit: (AlarmEvent) -> Void) -> SafetyDecision {
        var d = assess(&frame, context: c, now: now)
        d.signals = annunciate(infusion: c.infusion, syringeEmpty: c.syringeEmpty, now: now, emit: emit)
        return d
    }

    /// The circulation half of a tick, before the infusion engine runs: validates `frame`
    /// in place (implausible samples become invalid before the controller sees them),
    /// computes every circulation alarm condition, runs the fouling monitor and decides
    /// the pressure interlocks. The alarms are not evaluated yet (`annunciate` does, once
    /// the infusion engine has reported this tick's syringe conditions), so the infusion
    /// alarms act in the tick their cause appears. `signals` in the result are off.
    public mutating func assess(_ frame: inout SensorFrame, context c: Context, now: Instant) -> SafetyDecision {
        let dt = lastUpdate.map { (now - $0).seconds } ?? 0
        lastUpdate = now
        validator.validate(&frame, now: now)
        let regulating = c.state == .active && c.phase == .regulating
        // Flow-dependent alarms stand down while the outflow clamp is on purpose.
        let running = regulating && !c.outflowClampProcedure
        let reading = c.state != .unconfigured

        let pDrain = frame.drainPressure.isValid ? frame.drainPressure.value : nil
        let pPre = frame.preOxygenatorPressure.isValid ? frame.preOxygenatorPressure.value : nil
        let pPost = frame.postOxygenatorPressure.isValid ? frame.postOxygenatorPressure.value : nil
        let q = frame.flow.isValid ? frame.flow.value : nil
        let speed = frame.pumpSpeed.isValid ? frame.pumpSpeed.value : nil

        var k = AlarmConditions()
        // Hysteresis: a pressure condition, once met, holds until the pressure is back by
        // `pressureHysteresis`. Without it the interlock holds the pressure right at the
        // limit, the condition flickers, and the debounced alarm would never sound.
        let h = pressureHysteresis
        suctionHeld = pDrain.map { $0 < limits.drainPressureLow || (suctionHeld && $0 < limits.drainPressureLow + h) } ?? false
        overPreHeld = pPre.map { $0 > limits.prePressureHigh || (overPreHeld && $0 > limits.prePressureHigh - h) } ?? false
        overPostHeld = pPost.map { $0 > limits.postPressureHigh || (overPostHeld && $0 > limits.postPressureHigh - h) } ?? false
        // The interlock acts on the plain comparison (as before); the alarms on the held one.
        let suction = pDrain.map { $0 < limits.drainPressureLow } ?? false
        let overPre = pPre.map { $0 > limits.prePressureHigh } ?? false
        let overPost = pPost.map { $0 > limits.postPressureHigh } ?? false
        k[.drainPressureLow] = reading && suctionHeld
        k[.prePressureHigh] = reading && overPreHeld
        k[.postPressureHigh] = reading && overPostHeld
        k[.postPressureLow] = running && (pPost.map { $0 < limits.postPressureLow } ?? false)
        if let a = pPre, let b = pPost { k[.oxygenatorDropHigh] = running && (a - b) > limits.oxygenatorDropHigh }
        k[.flowLow] = running && (q.map { $0 < limits.flowLow } ?? false)
        k[.flowHigh] = reading && (q.map { $0 > limits.flowHigh } ?? false)

        // Flow against what the pump curve predicts for this speed and head.
        if running, let curve = pumpCurve, let s = speed, let a = pPre, let d = pDrain, let qq = q,
           s >= safeFloor, let predicted = curve.predictedFlow(speed: s, head: a - d) {
            let scale = max(predicted.litersPerMinute, 1.0)
            k[.speedFlowMismatch] = abs(qq.litersPerMinute - predicted.litersPerMinute) / scale > limits.speedFlowMismatchFraction
        }
        // Tachometer: the pump is driven and moving blood, yet no speed is measured.
        let tachSilent = c.pumpEnabled && c.commandedSpeed >= safeFloor && (speed.map { $0.rpm < 100 } ?? true)
            && (q.map { $0 >= .lpm(0.5) } ?? false)
        if tachSilent { tachSince = tachSince ?? now } else { tachSince = nil }
        // ...or the pump never reached its minimum speed at start-up (no flow yet, so the
        // test above cannot see it): the controller's spin-up time-out faulted the rig.
        k[.tachometerLost] = (tachSince.map { now - $0 >= .milliseconds(300) } ?? false) || c.faultReason == .spinUpTimeout

        // Any analog channel invalid (missing, stale, read error or failed validation),
        // once the rig is reading; or P_pre below P_post, which this circuit cannot do.
        let anyInvalid = !frame.drainPressure.isValid || !frame.preOxygenatorPressure.isValid
            || !frame.postOxygenatorPressure.isValid || !frame.flow.isValid
        var crossFail = false
        if let a = pPre, let b = pPost, a < b - crossCheckTolerance {
            crossCheckSince = crossCheckSince ?? now
            crossFail = now - (crossCheckSince ?? now) >= .seconds(1)
        } else {
            crossCheckSince = nil
        }
        k[.sensorInvalid] = reading && (anyInvalid || crossFail)
        k[.airInLine] = frame.airDetected || c.faultReason == .airInLine
        k[.emergencyStop] = frame.emergencyStop || c.faultReason == .emergencyStop
        k[.loopOverrun] = c.overrun || c.faultReason == .loopOverrun
        k[.deviceConfigMismatch] = c.deviceConfigMismatch
        k[.watchdogReset] = c.bootedAfterWatchdogReset

        // Fouling.
        var dp: Pressure?
        if let a = pPre, let b = pPost { dp = a - b }
        // Sensor cross-check (drift) first: a suspected sensor freezes the fouling monitor.
        let standDown = k[.prePressureHigh] || k[.postPressureHigh] || k[.drainPressureLow] || k[.flowLow]
        crossCheck.update(drain: pDrain, pre: pPre, post: pPost, flow: q, speed: speed, running: running && !standDown,
                          pumpStopped: !c.pumpEnabled || (speed.map { $0.rpm < 100 } ?? false), curve: pumpCurve, now: now)
        k[.sensorDrift] = crossCheck.suspect != nil
        fouling.update(pressureDrop: dp, flow: q, regulating: running, now: now, sensorSuspect: crossCheck.suspect != nil)
        k[.foulingWarning] = fouling.warning
        k[.foulingPause] = fouling.pause
        conditions = k

        // Interlocks: suction or over-pressure take speed away toward the safe floor,
        // without waiting for the alarm's delay; the ceiling lifts slowly afterwards.
        if regulating && (suction || overPre || overPost) {
            let from = speedCeiling ?? c.commandedSpeed
            speedCeiling = max(safeFloor, from - reductionRate * dt)
        } else if let ceiling = speedCeiling {
            let raised = ceiling + recoveryRate * dt
            speedCeiling = raised >= maximumSpeed ? nil : raised
        }
        return SafetyDecision(speedCeiling: speedCeiling,
                              // Syringe faults are the infusion engine's own halts; this is the
                              // circuit-side pause (fouling) that the engine obeys.
                              infusionPaused: fouling.pause,
                              signals: AlarmSignals(buzzer: false, red: false, yellow: false, green: false))
    }

    /// The second half of a tick: adds this tick's syringe conditions to the circulation
    /// conditions `assess` found, evaluates the alarm system once, and returns what the
    /// buzzer and lamps show.
    public mutating func annunciate(infusion: InfusionConditions, syringeEmpty: Bool, now: Instant,
                                    emit: (AlarmEvent) -> Void) -> AlarmSignals {
        conditions[.syringeEmpty] = syringeEmpty || infusion.empty
        conditions[.syringeOcclusion] = infusion.occlusion
        conditions[.syringeNearEmpty] = infusion.nearEmpty
        conditions[.infusionDeviation] = infusion.deviation
        alarms.evaluate(conditions, now: now, emit: emit)
        return alarms.signals(at: now)
    }

    /// Operator actions on alarms.
    public mutating func acknowledge(_ id: AlarmID, by actor: AlarmActor, now: Instant, emit: (AlarmEvent) -> Void) -> Bool {
        alarms.acknowledge(id, by: actor, now: now, emit: emit)
    }

    public mutating func pauseAudio(by actor: AlarmActor, now: Instant, emit: (AlarmEvent) -> Void) {
        alarms.pauseAudio(by: actor, now: now, emit: emit)
    }

    /// The protocol is about to infuse cells: freeze the fouling baseline now.
    public mutating func closeFoulingBaseline(now: Instant) { fouling.closeBaseline(now: now) }

    /// The operator resumes after a fouling pause (the core checked the acknowledgment).
    public mutating func resumeAfterFoulingPause(newBaseline: Bool, now: Instant) {
        fouling.resume(newBaseline: newBaseline, now: now)
    }
}

extension SafetySupervisor {
    /// Hands the oxygenator monitors' events (fouling armed / not armed / resumed, sensor
    /// drift) to the rig's log. Called once a tick after `assess`.
    public mutating func reportMonitorEvents(emit: (RigEvent) -> Void) {
        while let e = fouling.takeEvent() { emit(RigEvent(.monitor(e), at: e.time)) }
        if let e = crossCheck.takeEvent() { emit(RigEvent(.monitor(e), at: e.time)) }
    }
}
