/// What the safety layer decides each tick, applied by the runtime.
public struct SafetyDecision: Sendable, BitwiseCopyable, Equatable {
    /// Highest pump speed allowed now (suction or over-pressure interlock), nil: no limit.
    public var speedCeiling: PumpSpeed?
    /// Cell infusion must be paused (fouling, any infusion fault).
    public var infusionPaused: Bool
    /// The circulation cannot take cells now (flow low or unknown, pump stopped or not
    /// turning): the cell syringe pauses in this tick. High-priority circulation alarms add
    /// to it once evaluated (`RigCore`).
    public var circulationPause = false
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
    /// Flow alarm conditions clear only this far back inside their limits.
    public var flowHysteresis = Flow.lpm(0.2)
    /// ΔP and low P_post conditions clear only this far back inside their limits.
    public var dropHysteresis = Pressure(mmHg: 5)
    /// Tolerance of the flow plausibility band (between the last trusted reading and the
    /// pump curve's prediction): this fraction of the larger, never less than the floor.
    /// A disconnected analog input reading a rail value falls outside in its first tick.
    public var flowPlausibilityFraction = 0.2
    public var flowPlausibilityFloor = Flow.lpm(0.75)
    private var lastTrustedFlow: Flow?
    private var suctionHeld = false
    private var overPreHeld = false
    private var overPostHeld = false
    private var suctionWarnHeld = false
    private var overPreWarnHeld = false
    private var overPostWarnHeld = false
    private var flowLowHeld = false
    private var flowHighHeld = false
    private var dropHeld = false
    private var postLowHeld = false
    private var zeroFlowSince: Instant?
    /// The flow reading is not trusted this tick: it contradicted the pump curve, or it
    /// has not yet been plausible for `flowTrustRecovery` since it did (for the record and tests).
    public private(set) var flowImplausible = false
    /// How long a flow reading judged implausible must stay plausible, tick after tick,
    /// before it is trusted again. A single plausible-looking tick (a tachometer reading
    /// that spikes, widening the band) must not make a rail value the new trusted flow,
    /// from which it would be trusted for good; a reconnected meter is back within this.
    public var flowTrustRecovery = Duration.milliseconds(100)
    private var flowPlausibleSince: Instant?
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
        /// The pump regulates on flow (constant-flow mode): losing the flow reading means the
        /// controller holds a speed instead of a flow, which FLOW_SENSOR_HOLD says.
        public var flowControlled = false
        /// The output guard found a pump or clamp output (`outputFault`), or another output
        /// (`auxiliaryOutputFault`), failing: write error, aged-out command or read-back mismatch.
        public var outputFault = false
        public var auxiliaryOutputFault = false
        /// The rig has a safety co-processor and cannot hear it (`COPROCESSOR_LOST`).
        public var coprocessorLost = false
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

        // A reading pinned at the end of its range in the direction of danger is a
        // measurement of an extreme (a hard kink sucks P_drain past the sensor's range): the
        // pressure conditions act on the range end. Pinned the other way, it is not
        // believable and counts as invalid.
        let drainPinned = frame.drainPressure.status == .belowRange
        let prePinned = frame.preOxygenatorPressure.status == .aboveRange
        let postPinned = frame.postOxygenatorPressure.status == .aboveRange
        let pDrain = frame.drainPressure.isValid ? frame.drainPressure.value : nil
        let pPre = frame.preOxygenatorPressure.isValid ? frame.preOxygenatorPressure.value : nil
        let pPost = frame.postOxygenatorPressure.isValid ? frame.postOxygenatorPressure.value : nil
        let pDrainX = pDrain ?? (drainPinned ? frame.drainPressure.value : nil)
        let pPreX = pPre ?? (prePinned ? frame.preOxygenatorPressure.value : nil)
        let pPostX = pPost ?? (postPinned ? frame.postOxygenatorPressure.value : nil)
        let speed = frame.pumpSpeed.isValid ? frame.pumpSpeed.value : nil

        // Flow against what the pump curve predicts for this speed and head.
        var predictedFlow: Flow?
        if running, let curve = pumpCurve, let sp = speed, let a = pPre, let d = pDrain, sp >= safeFloor {
            predictedFlow = curve.predictedFlow(speed: sp, head: a - d)
        }
        // A flow reading must lie between the last trusted one and what the pump curve
        // predicts for this speed and head (widened by a tolerance): after a kink or an
        // unclamp the real flow moves from the one toward the other (the curve is a steady
        // state, the fluid has inertia), while a wire falling to a rail jumps away from
        // both. Not acted on from the tick it appears, and not until it comes back.
        // Once a reading is judged implausible it stays untrusted until it has been
        // plausible for `flowTrustRecovery` without a break. Without a prediction (the
        // tachometer or a pressure invalid this tick) a reading is plausible only near the
        // last trusted flow; an invalid sample neither breaks nor builds the recovery.
        if frame.flow.isValid, let previous = lastTrustedFlow {
            let a = previous.litersPerMinute
            let b = predictedFlow?.litersPerMinute
            let tolerance = max(flowPlausibilityFraction * max(abs(a), abs(b ?? a)), flowPlausibilityFloor.litersPerMinute)
            let v = frame.flow.value.litersPerMinute
            let outside = b.map { v < min(a, $0) - tolerance || v > max(a, $0) + tolerance } ?? (abs(v - a) > tolerance)
            if outside {
                // A tick without a prediction judges only readings already suspect.
                if b != nil || flowImplausible {
                    flowImplausible = true
                    flowPlausibleSince = nil
                }
            } else if flowImplausible {
                let since = flowPlausibleSince ?? now
                flowPlausibleSince = since
                if now - since >= flowTrustRecovery {
                    flowImplausible = false
                    flowPlausibleSince = nil
                }
            }
            if flowImplausible { frame.flow.status = .deviceFault }
        }
        if frame.flow.isValid { lastTrustedFlow = frame.flow.value }
        let q = frame.flow.isValid ? frame.flow.value : nil

        var k = AlarmConditions()
        // Hysteresis: a condition, once met, holds until the value is back by its hysteresis.
        // Without it the interlock holds the pressure right at the limit, the condition
        // flickers, and the debounced alarm would never sound (or sound many times a minute).
        let h = pressureHysteresis
        suctionHeld = Self.below(pDrainX, limits.drainPressureLow, held: suctionHeld, by: h)
        suctionWarnHeld = Self.below(pDrainX, limits.drainPressureWarning, held: suctionWarnHeld, by: h)
        overPreHeld = Self.above(pPreX, limits.prePressureHigh, held: overPreHeld, by: h)
        overPreWarnHeld = Self.above(pPreX, limits.prePressureWarning, held: overPreWarnHeld, by: h)
        overPostHeld = Self.above(pPostX, limits.postPressureHigh, held: overPostHeld, by: h)
        overPostWarnHeld = Self.above(pPostX, limits.postPressureWarning, held: overPostWarnHeld, by: h)
        // The interlock acts on the plain comparison; the alarms on the held one.
        let suction = pDrainX.map { $0 < limits.drainPressureLow } ?? false
        let overPre = pPreX.map { $0 > limits.prePressureHigh } ?? false
        let overPost = pPostX.map { $0 > limits.postPressureHigh } ?? false
        let suctionWarn = pDrainX.map { $0 < limits.drainPressureWarning } ?? false
        let overPreWarn = pPreX.map { $0 > limits.prePressureWarning } ?? false
        let overPostWarn = pPostX.map { $0 > limits.postPressureWarning } ?? false
        k[.drainPressureLow] = reading && suctionHeld
        k[.prePressureHigh] = reading && overPreHeld
        k[.postPressureHigh] = reading && overPostHeld
        // One tier at a time: the warning stands down while its alarm tier is met.
        k[.drainPressureWarning] = reading && suctionWarnHeld && !suctionHeld
        k[.prePressureWarning] = reading && overPreWarnHeld && !overPreHeld
        k[.postPressureWarning] = reading && overPostWarnHeld && !overPostHeld
        postLowHeld = running && Self.below(pPost, limits.postPressureLow, held: postLowHeld, by: dropHysteresis)
        k[.postPressureLow] = postLowHeld
        if let a = pPre, let b = pPost {
            dropHeld = running && Self.above(a - b, limits.oxygenatorDropHigh, held: dropHeld, by: dropHysteresis)
        } else if !running {
            dropHeld = false
        }
        k[.oxygenatorDropHigh] = dropHeld
        flowLowHeld = running && (q.map { $0 < limits.flowLow || (flowLowHeld && $0 < limits.flowLow + flowHysteresis) } ?? false)
        flowHighHeld = reading && (q.map { $0 > limits.flowHigh || (flowHighHeld && $0 > limits.flowHigh - flowHysteresis) } ?? false)
        k[.flowLow] = flowLowHeld
        k[.flowHigh] = flowHighHeld

        if let qq = q, let predicted = predictedFlow {
            let scale = max(predicted.litersPerMinute, 1.0)
            k[.speedFlowMismatch] = abs(qq.litersPerMinute - predicted.litersPerMinute) / scale > limits.speedFlowMismatchFraction
        }
        // Flow-controlled and blind: the controller holds the last speed it set from a
        // trusted reading (it never acts on an invalid sample); say so.
        k[.flowSensorHold] = regulating && c.flowControlled && q == nil

        // No flow while the circuit is meant to run (the outflow clamp included: its window
        // is bounded by the same limit).
        let active = c.state == .active
        let noFlow = active && (q.map { $0 < AlarmLimits.zeroFlow } ?? false)
        if noFlow { zeroFlowSince = zeroFlowSince ?? now } else { zeroFlowSince = nil }
        k[.zeroFlow] = zeroFlowSince.map { now - $0 >= limits.zeroFlowLimit } ?? false

        // Tachometer: the pump is driven and moving blood, yet no speed is measured.
        let tachSilent = c.pumpEnabled && c.commandedSpeed >= safeFloor && (speed.map { $0.rpm < 100 } ?? true)
            && (q.map { $0 >= .lpm(0.5) } ?? false)
        if tachSilent { tachSince = tachSince ?? now } else { tachSince = nil }
        // ...or the pump never reached its minimum speed at start-up (no flow yet, so the
        // test above cannot see it): the controller's spin-up time-out faulted the rig.
        k[.tachometerLost] = (tachSince.map { now - $0 >= .milliseconds(300) } ?? false) || c.faultReason == .spinUpTimeout

        // Any analog channel invalid (missing, stale, read error, failed validation, pinned
        // the wrong way), once the rig is reading; or P_pre below P_post, which this circuit
        // cannot do. A reading pinned toward danger is not "invalid": its alarm is the
        // pressure alarm it drives.
        let anyInvalid = (!frame.drainPressure.isValid && !drainPinned) || (!frame.preOxygenatorPressure.isValid && !prePinned)
            || (!frame.postOxygenatorPressure.isValid && !postPinned) || !frame.flow.isValid
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
        k[.outputFault] = c.outputFault
        k[.auxiliaryOutputFault] = c.auxiliaryOutputFault
        k[.protectiveTrip] = c.faultReason == .protectiveTrip
        k[.coprocessorLost] = c.coprocessorLost

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

        // Interlocks, without waiting for the alarms' delays. Alarm tier: take speed away
        // toward the safe floor. Warning tier: the pump may not speed up (a flow controller
        // would answer suction with more speed). The ceiling lifts slowly once both are gone.
        if regulating && (suction || overPre || overPost) {
            let from = speedCeiling ?? c.commandedSpeed
            speedCeiling = max(safeFloor, from - reductionRate * dt)
        } else if regulating && (suctionWarn || overPreWarn || overPostWarn) {
            speedCeiling = speedCeiling ?? c.commandedSpeed
        } else if let ceiling = speedCeiling {
            let raised = ceiling + recoveryRate * dt
            speedCeiling = raised >= maximumSpeed ? nil : raised
        }

        // No cells into a circuit that is not flowing: flow low or unknown, the pump not
        // driven or not turning, outside a coordinated outflow-clamp procedure.
        // No cells either while the second protection layer is missing.
        let circulationPause = running && (
            flowLowHeld || q == nil || c.coprocessorLost
            || !c.pumpEnabled
            || (speed.map { $0 < safeFloor * 0.5 } ?? true))

        var decision = SafetyDecision(speedCeiling: speedCeiling,
                                      // Syringe faults are the infusion engine's own halts; this is the
                                      // circuit-side pause (fouling) that the engine obeys.
                                      infusionPaused: fouling.pause,
                                      signals: AlarmSignals(buzzer: false, red: false, yellow: false, green: false))
        decision.circulationPause = circulationPause
        return decision
    }

    @inline(__always)
    static func below(_ v: Pressure?, _ limit: Pressure, held: Bool, by h: Pressure) -> Bool {
        v.map { $0 < limit || (held && $0 < limit + h) } ?? false
    }

    @inline(__always)
    static func above(_ v: Pressure?, _ limit: Pressure, held: Bool, by h: Pressure) -> Bool {
        v.map { $0 > limit || (held && $0 > limit - h) } ?? false
    }

    /// A high-priority circulation alarm is active (after this tick's evaluation).
    public var circulationAlarmHigh: Bool {
        var i = 0
        while i < AlarmID.count {
            if let id = AlarmID(index: i), id.isCirculation, alarms.priority(of: id) == .high { return true }
            i += 1
        }
        return false
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
