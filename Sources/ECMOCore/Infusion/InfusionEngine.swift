/// The infusion engine: executes an `InfusionPlan` tick by tick beside the circuit
/// controller. Pure: time and readings are handed in, step counts and requests come out.
///
/// Never over-infuse:
/// - every forward step of a channel must first be *authorized* by the delivery journal
///   (written and fsync'd by the runtime off the loop); the engine asks for a reservation
///   a little ahead (`InfusionMonitoring.journalLookahead`) and never steps past what is
///   durable. After a crash the restart takes the journal's authorized count as delivered,
///   so what is lost is at most one lookahead of steps, always *under* the plan;
/// - withdrawals (occlusion back-off, agitation) leave the plunger behind its count and are
///   returned before dosing continues, so the plunger never gets ahead of the journal;
/// - the channel's prescribed total is a hard ceiling on reservations.
///
/// Safety: any infusion fault stops the syringe and keeps the circuit running. Halts
/// latch until an operator resumes the channel (an automatic restart of a cell dose is
/// an experimental decision, not the firmware's).
public struct InfusionEngine: Sendable {
    public let plan: InfusionPlan
    /// Pump ramp used for the outflow-clamp speed change (the board's maximum ramp).
    public let pumpRamp: PumpSpeed
    public let pumpMaximum: PumpSpeed
    /// Cumulative cell steps at the start of each item (one more entry: the end), computed
    /// once so the tick does not sum the plan again.
    private let itemStart: [Int64]

    public private(set) var cells: ChannelState
    public private(set) var heparin: ChannelState
    /// Protocol clock: time since the protocol started (nanoseconds; starts when the
    /// circuit first regulates).
    public private(set) var elapsed: Int64 = 0
    public private(set) var started = false
    /// The operator asked the plan to start (`ProtocolStart.operator`).
    public private(set) var operatorStartGiven = false

    /// The operator's start of a plan that waits for it: it starts once circulation is sound.
    public mutating func operatorStart() { operatorStartGiven = true }
    /// Built from a journal (a restart after a crash or power loss).
    public private(set) var resumed = false
    public private(set) var completed = false
    /// Cell-channel timeline position.
    public private(set) var itemIndex = 0
    public private(set) var stage: Stage = .pending
    /// Protocol time at which the current item (or its current stage) began.
    public private(set) var itemStartedAt: Int64 = 0
    private var stageStartedAt: Int64 = 0
    private var clampClosedAt: Int64 = 0
    public private(set) var clampClosed = false
    /// Speed limit of the clamp procedure, ramping (nil: none).
    public private(set) var speedLimit: PumpSpeed?
    private var lastNow: Instant?
    private var deviationSince: Int64?
    private var nextAgitationAt: Int64 = 0
    private var agitation = AgitationState()
    /// Heparin infusion rate in force (the operator changes it; advice never does).
    public private(set) var heparinRate: HeparinRate?
    public private(set) var lastAdvice: HeparinAdvice?
    private var heparinStage: HeparinStage = .notStarted
    /// The journal should write a snapshot (item transitions, reservations).
    public private(set) var journalSequence: UInt64 = 0
    public private(set) var conditions = InfusionConditions()

    public enum Stage: UInt8, Sendable, BitwiseCopyable {
        case pending = 0, preparingClamp, clampedBefore, delivering, clampedAfter, done
    }
    enum HeparinStage: UInt8, Sendable { case notStarted, bolus, infusion, finished }

    /// Per-channel delivery state.
    public struct ChannelState: Sendable, BitwiseCopyable {
        /// Forward steps issued (prime and doses), cumulative over restarts.
        public internal(set) var delivered: Int64 = 0
        /// Forward steps the journal has made durable: delivery never passes it.
        public internal(set) var authorized: Int64 = 0
        /// Reservation the engine wants the journal to make durable (≥ authorized).
        public internal(set) var requested: Int64 = 0
        /// Hard ceiling: the plan's total for the channel.
        public let prescribed: Int64
        /// Steps the syringe holds from the empty stop (fill − dead volume).
        public let capacity: Int64
        /// Steps withdrawn (back-off, agitation) still to be pushed back before dosing.
        public internal(set) var deficit: Int64 = 0
        public internal(set) var generator = StepGenerator()
        public internal(set) var halt: InfusionHalt = .none
        public internal(set) var lookaheadSteps: Int64 = 1
        public internal(set) var stepRate: Double = 0
        public internal(set) var maximumPerTick: Int64 = 1
        public let present: Bool
        init(prescribed: Int64, capacity: Int64, present: Bool) {
            self.prescribed = prescribed
            self.capacity = capacity
            self.present = present
        }
        public var remainingSteps: Int64 { max(capacity - delivered, 0) }
    }

    struct AgitationState: Sendable {
        var strokesLeft = 0
        var withdrawing = true
        var gen = StepGenerator()
        var active: Bool { strokesLeft > 0 }
    }

    /// Where the journal says a previous run got to.
    public struct Resume: Sendable, Equatable {
        public var authorized: [Int64]
        public var itemIndex: Int
        public var itemStartedAt: Duration
        public var elapsed: Duration
        public var heparinRate: HeparinRate?
        public init(authorized: [Int64], itemIndex: Int, itemStartedAt: Duration, elapsed: Duration, heparinRate: HeparinRate? = nil) {
            self.authorized = authorized
            self.itemIndex = itemIndex
            self.itemStartedAt = itemStartedAt
            self.elapsed = elapsed
            self.heparinRate = heparinRate
        }
    }

    /// `loopPeriod` sets the per-tick step cap (maximum step rate × period, at least 1).
    public init(plan: InfusionPlan, loopPeriod: Duration, pumpRamp: PumpSpeed, pumpMaximum: PumpSpeed, resume: Resume? = nil) {
        self.plan = plan
        self.pumpRamp = pumpRamp
        self.pumpMaximum = pumpMaximum
        var starts: [Int64] = [0]
        for item in plan.items { starts.append((starts.last ?? 0) + item.steps) }
        itemStart = starts
        func make(_ c: InfusionChannel) -> ChannelState {
            guard let spec = plan.channel(c) else { return ChannelState(prescribed: 0, capacity: 0, present: false) }
            var s = ChannelState(prescribed: plan.prescribedSteps(c),
                                 capacity: spec.steps(for: max(spec.fillVolume - spec.syringe.deadVolume, .zero)), present: true)
            let perTick = spec.drive.maximumStepRate * loopPeriod.seconds
            s.maximumPerTick = max(1, Int64(perTick.rounded(.down)))
            return s
        }
        cells = make(.cells)
        heparin = make(.heparin)
        heparinRate = plan.heparin?.infusion
        if let r = resume {
            cells.delivered = min(r.authorized.first ?? 0, cells.prescribed)
            cells.authorized = cells.delivered
            cells.requested = cells.delivered
            heparin.delivered = min(r.authorized.count > 1 ? r.authorized[1] : 0, heparin.prescribed)
            heparin.authorized = heparin.delivered
            heparin.requested = heparin.delivered
            unconfirmedAtRestart = (cells.delivered, heparin.delivered)
            itemIndex = min(max(r.itemIndex, 0), plan.items.count)
            itemStartedAt = r.itemStartedAt.nanoseconds
            elapsed = r.elapsed.nanoseconds
            if let hr = r.heparinRate { heparinRate = hr }
            // The protocol clock resumes once the restarted circuit regulates again.
            resumed = true
            if plan.onRestart == .stop {
                cells.halt = cells.present ? .restartStopped : .none
                heparin.halt = heparin.present ? .restartStopped : .none
            }
            heparinStage = heparin.delivered >= (plan.heparin?.bolusSteps ?? 0) ? .infusion : .bolus
            if plan.heparin == nil { heparinStage = .finished }
            completed = itemIndex >= plan.items.count
        }
    }

    // MARK: Per tick

    /// One tick. `emit` receives events (item started/completed, halts, clamp…).
    public mutating func update(_ input: InfusionInputs, now: Instant, emit: (InfusionEvent) -> Void) -> InfusionOutput {
        let dt = lastNow.map { max((now - $0).nanoseconds, 0) } ?? 0
        lastNow = now
        circuitRunningNow = input.circuitRunning
        var out = InfusionOutput()

        if !started {
            // A plan that waits for the operator does not start before the operator says so.
            if plan.start == .operator && !operatorStartGiven {
                startSoundSince = nil
                return finish(&out, input: input)
            }
            // The protocol clock starts once the circuit regulates and has flowed soundly for
            // `circulationSettle` (after the unclamp, flow takes a moment to rise and crosses
            // its limit with noise: no prime into a line not yet flowing, no halt at once).
            guard input.circuitRunning && !input.circulationPaused else {
                startSoundSince = nil
                return finish(&out, input: input)
            }
            let since = startSoundSince ?? now
            startSoundSince = since
            guard now - since >= Self.circulationSettle else { return finish(&out, input: input) }
            started = true
            emit(InfusionEvent(resumed ? .restarted : .protocolStarted, at: now, value: Double(elapsed) / 1e9))
            if plan.heparin != nil && heparin.present { startHeparin(now: now, emit: emit) }
            journalSequence &+= 1
        } else {
            elapsed &+= dt
        }

        // Faults that stop a channel at once, in this tick.
        checkChannelFaults(input, now: now, emit: emit)
        if !input.circuitRunning {
            halt(.cells, .circuitStopped, now: now, emit: emit)
            halt(.heparin, .circuitStopped, now: now, emit: emit)
        }
        if input.infusionPaused && cells.halt == .none && stage != .done && !completed {
            halt(.cells, .safetyPause, now: now, emit: emit)
        }
        // No cells into a circuit that is not flowing; back only as the protocol says. A
        // dose that is going in halts; one not yet begun waits (see `.pending`), so a
        // transient at start-up does not stop a protocol whose first dose is an hour away.
        if input.circulationPaused && cells.halt == .none && !completed && cellsMoving {
            halt(.cells, .circulationPause, now: now, emit: emit)
        }
        if cells.halt == .circulationPause {
            if input.circulationPaused || !input.circuitRunning {
                circulationSoundSince = nil
            } else if let after = plan.monitoring.circulationResumeAfter {
                let since = circulationSoundSince ?? elapsed
                circulationSoundSince = since
                if elapsed - since >= after.nanoseconds {
                    circulationSoundSince = nil
                    _ = resume(.cells, input: input, now: now, emit: emit)
                }
            }
        } else {
            circulationSoundSince = nil
        }

        // Outflow clamp: open at once on any high-priority alarm, over-pressure or overtime.
        if clampClosed, let c = currentItem?.clamp {
            let overtime = elapsed - clampClosedAt >= c.maximumClamped.nanoseconds
            // Over-pressure (or no valid P_pre) for 100 ms: a transient of the closing valve is not.
            let over = input.preOxygenatorPressure.map { $0 > c.maximumPrePressure } ?? true
            if over { clampOverPressureSince = clampOverPressureSince ?? elapsed } else { clampOverPressureSince = nil }
            let overPressure = clampOverPressureSince.map { elapsed - $0 >= 100_000_000 } ?? false
            if input.highPriorityAlarm || overPressure || overtime || cells.halt != .none {
                openClamp(now: now, emit: emit)
                if stage == .delivering || stage == .clampedBefore {
                    let reason: InfusionHalt = input.highPriorityAlarm ? .safetyPause : (overtime ? .clampTimeout : .clampPressure)
                    halt(.cells, reason, now: now, emit: emit)
                }
                if stage == .clampedAfter { completeItem(now: now, emit: emit) }
            }
        }

        if cells.present { runTimeline(input, dt: dt, now: now, emit: emit, out: &out) }
        if heparin.present { runHeparin(dt: dt, now: now, emit: emit, out: &out) }

        // Back-off after an occlusion runs even though the channel is halted.
        // Each back-off step joins the deficit (to be pushed back on resume) only as it is
        // issued: a resume before the back-off ends abandons the rest, and never pushes
        // forward steps that were never withdrawn.
        if cells.halt == .occlusion && out.cellSteps == 0 && backoffPending {
            let n = min(cells.maximumPerTick, backoffLeft)
            if n > 0 {
                backoffLeft -= n
                cells.deficit += n
                out.cellSteps = -Int32(clamping: n)
                cellRequest = .withdraw
            }
            if backoffLeft == 0 { backoffPending = false }
        }

        // Speed limit: ramp down while the clamp procedure runs, back up afterwards.
        updateSpeedLimit(input, dt: dt)
        if !completed && itemIndex >= plan.items.count {
            completed = true
            emit(InfusionEvent(.protocolCompleted, at: now))
            journalSequence &+= 1
        }
        return finish(&out, input: input)
    }

    private var backoffPending = false
    private var circulationSoundSince: Int64?
    private var circuitRunningNow = false
    /// Steps the journal of an earlier run had reserved, taken as given at this restart
    /// (so never dosed again) but never confirmed delivered: the summary shows them apart.
    public private(set) var unconfirmedAtRestart: (cells: Int64, heparin: Int64) = (0, 0)

    /// What this tick's steps of a channel were for, so that steps the runtime could not
    /// issue (outputs held safe, a driver not enabled, a failed write) are taken back out
    /// of the count they were put in: the engine's plunger is always the real one.
    enum StepRequest: UInt8, Sendable, BitwiseCopyable { case none, dose, pushBack, withdraw }
    private var cellRequest = StepRequest.none
    private var heparinRequest = StepRequest.none
    private var lastOutputSteps: (Int32, Int32) = (0, 0)
    private var lastRequests: (StepRequest, StepRequest) = (.none, .none)

    /// The runtime reports how many of last tick's steps it really issued (magnitudes).
    /// Steps requested but not issued are taken back: a dose step not issued is not
    /// delivered; a withdrawal not issued is no deficit to push back later (which would
    /// move the plunger past what the journal authorised); a push-back not issued is
    /// still owed.
    public mutating func confirmIssued(cells issuedCells: Int64, heparin issuedHeparin: Int64) {
        func shortfall(_ requested: Int32, _ issued: Int64) -> Int64 { max(Int64(requested.magnitude) - max(issued, 0), 0) }
        let sc = shortfall(lastOutputSteps.0, issuedCells)
        if sc > 0 {
            switch lastRequests.0 {
            case .dose: cells.delivered -= sc
            case .pushBack: cells.deficit += sc
            case .withdraw: cells.deficit = max(cells.deficit - sc, 0)
            case .none: break
            }
        }
        let sh = shortfall(lastOutputSteps.1, issuedHeparin)
        if sh > 0 {
            switch lastRequests.1 {
            case .dose: heparin.delivered -= sh
            case .pushBack: heparin.deficit += sh
            case .withdraw: heparin.deficit = max(heparin.deficit - sh, 0)
            case .none: break
            }
        }
        lastOutputSteps = (0, 0)
    }
    private var startSoundSince: Instant?
    /// How long the circulation must be sound before the protocol clock starts.
    public static let circulationSettle: Duration = .milliseconds(500)

    /// The cell syringe is (or is about to be) pushing or pulling: a dose or prime under way,
    /// its clamp procedure, or agitation.
    private var cellsMoving: Bool {
        guard let item = currentItem else { return false }
        switch stage {
        case .preparingClamp, .clampedBefore: return true
        case .delivering: return item.steps > 0 || agitation.active
        default: return false
        }
    }
    private var occlusionSince: Int64?
    private var clampOverPressureSince: Int64?
    private var backoffLeft: Int64 = 0

    @inline(__always)
    private func stepsBefore(_ index: Int) -> Int64 { itemStart[min(max(index, 0), itemStart.count - 1)] }

    private var currentItem: PlanItem? { itemIndex < plan.items.count ? plan.items[itemIndex] : nil }

    private mutating func finish(_ out: inout InfusionOutput, input: InfusionInputs) -> InfusionOutput {
        lastOutputSteps = (out.cellSteps, out.heparinSteps)
        lastRequests = (cellRequest, heparinRequest)
        cellRequest = .none
        heparinRequest = .none
        out.clampClosed = clampClosed
        out.speedLimit = speedLimit
        out.cellsEnabled = cells.present && (out.cellSteps != 0 || (cells.halt == .none && stage == .delivering))
        out.heparinEnabled = heparin.present && (out.heparinSteps != 0 || (heparin.halt == .none && heparinStage != .notStarted && heparinStage != .finished))
        out.clampProcedure = stage == .preparingClamp || stage == .clampedBefore || clampClosed || (speedLimit != nil)
        updateConditions(input)
        out.conditions = conditions
        requestReservations()
        return out
    }

    // MARK: Cell timeline

    private mutating func runTimeline(_ input: InfusionInputs, dt: Int64, now: Instant, emit: (InfusionEvent) -> Void,
                                      out: inout InfusionOutput) {
        guard let item = currentItem else { return }
        switch stage {
        case .pending:
            guard elapsed >= item.earliestStart.nanoseconds, cells.halt == .none || item.steps == 0 else { return }
            // A dose does not begin into a circuit that is not flowing: it waits.
            if input.circulationPaused && item.steps > 0 { return }
            itemStartedAt = elapsed
            stageStartedAt = elapsed
            let done = max(cells.delivered - stepsBefore(itemIndex), 0)
            let rest = max(item.steps - done, 0)
            cells.stepRate = item.stepRate
            cells.generator = StepGenerator(steps: rest, over: .seconds(item.stepRate > 0 ? Double(rest) / item.stepRate : 0))
            cells.lookaheadSteps = max(1, Int64((item.stepRate * plan.monitoring.journalLookahead.seconds).rounded(.up)))
            emit(InfusionEvent(.itemStarted, at: now, channel: .cells, item: itemIndex, value: Double(rest)))
            journalSequence &+= 1
            if item.agitation != nil { nextAgitationAt = elapsed + (item.agitation?.interval.nanoseconds ?? 0) }
            if item.clamp != nil && rest > 0 {
                stage = .preparingClamp
                emit(InfusionEvent(.clampPreparing, at: now, channel: .cells, item: itemIndex))
            } else {
                stage = .delivering
            }
        case .preparingClamp:
            guard cells.halt == .none, let c = item.clamp else { return }
            let target = c.pumpSpeed
            let settled = input.measuredSpeed.map { abs($0.rpm - target.rpm) <= c.speedTolerance.rpm } ?? false
            let pressureOK = input.preOxygenatorPressure.map { $0 < c.maximumPrePressure } ?? false
            if settled && pressureOK && !input.highPriorityAlarm {
                clampClosed = true
                clampClosedAt = elapsed
                stage = .clampedBefore
                stageStartedAt = elapsed
                emit(InfusionEvent(.clampClosed, at: now, channel: .cells, item: itemIndex, value: input.measuredSpeed?.rpm ?? 0))
            } else if elapsed - stageStartedAt > c.settleTimeout.nanoseconds {
                halt(.cells, .clampNotSettled, now: now, emit: emit)
            }
        case .clampedBefore:
            guard let c = item.clamp else { stage = .delivering; return }
            if elapsed - stageStartedAt >= c.before.nanoseconds {
                stage = .delivering
                stageStartedAt = elapsed
            }
        case .delivering:
            if item.steps == 0 && item.kind != .prime {
                // A wait (baseline, observation).
                if elapsed - itemStartedAt >= item.duration.nanoseconds { completeItem(now: now, emit: emit) }
                runAgitation(dt: dt, now: now, emit: emit, out: &out, nextDose: true)
                return
            }
            guard cells.halt == .none else { return }
            // The dose keeps its schedule: its time runs on while agitation strokes (withdraw
            // first) and their return take the motor; the steps that fell due meanwhile go
            // out afterwards, within the channel's step-rate cap.
            if runAgitation(dt: dt, now: now, emit: emit, out: &out, nextDose: false) {
                _ = cells.generator.advance(by: .nanoseconds(dt), maximumPerAdvance: 0)
                return
            }
            // Push back what was withdrawn before dosing further.
            if cells.deficit > 0 {
                let n = min(cells.deficit, cells.maximumPerTick)
                cells.deficit -= n
                out.cellSteps = Int32(clamping: n)
                cellRequest = .pushBack
                _ = cells.generator.advance(by: .nanoseconds(dt), maximumPerAdvance: 0)
                return
            }
            let allowance = max(cells.authorized - cells.delivered, 0)
            let n = cells.generator.advance(by: .nanoseconds(dt), maximumPerAdvance: cells.maximumPerTick, allowance: allowance)
            if n > 0 {
                cells.delivered += n
                out.cellSteps = Int32(clamping: n)
                cellRequest = .dose
            }
            if cells.generator.isComplete {
                if let c = item.clamp, clampClosed {
                    stage = .clampedAfter
                    stageStartedAt = elapsed
                    _ = c
                } else {
                    completeItem(now: now, emit: emit)
                }
            }
        case .clampedAfter:
            guard let c = item.clamp else { completeItem(now: now, emit: emit); return }
            if elapsed - stageStartedAt >= c.after.nanoseconds {
                openClamp(now: now, emit: emit)
                completeItem(now: now, emit: emit)
            }
        case .done:
            break
        }
    }

    private mutating func completeItem(now: Instant, emit: (InfusionEvent) -> Void) {
        guard let item = currentItem else { return }
        if clampClosed { openClamp(now: now, emit: emit) }
        emit(InfusionEvent(.itemCompleted, at: now, channel: .cells, item: itemIndex,
                           value: Double(cells.delivered - stepsBefore(itemIndex))))
        if item.kind == .baseline { emit(InfusionEvent(.baselineClosed, at: now, channel: .cells, item: itemIndex)) }
        itemIndex += 1
        stage = .pending
        itemStartedAt = elapsed
        journalSequence &+= 1
    }

    private mutating func openClamp(now: Instant, emit: (InfusionEvent) -> Void) {
        guard clampClosed else { return }
        clampClosed = false
        // Events say what the outputs do: with the circuit stopped (a fault, E-stop, air)
        // the return clamp is held closed by the safe state whatever this procedure wanted.
        let kind: InfusionEvent.Kind = circuitRunningNow ? .clampOpened : .clampRequestWithdrawn
        emit(InfusionEvent(kind, at: now, channel: .cells, item: itemIndex, value: Double(elapsed - clampClosedAt) / 1e9))
    }

    /// Runs agitation strokes when due. Returns true while a stroke is under way.
    @discardableResult
    private mutating func runAgitation(dt: Int64, now: Instant, emit: (InfusionEvent) -> Void,
                                       out: inout InfusionOutput, nextDose: Bool) -> Bool {
        // The plan of the current dose, or (during a wait) of the next dose still to come.
        var plan: AgitationPlan? = currentItem?.agitation
        if nextDose, plan == nil {
            var i = itemIndex + 1
            while i < self.plan.items.count {
                if case .dose = self.plan.items[i].kind { plan = self.plan.items[i].agitation; break }
                i += 1
            }
        }
        guard let a = plan, cells.halt == .none, !clampClosed, a.steps > 0, a.strokes > 0 else { return false }
        if !agitation.active {
            if nextAgitationAt == 0 { nextAgitationAt = elapsed + a.interval.nanoseconds }
            guard elapsed >= nextAgitationAt else { return false }
            nextAgitationAt = elapsed + a.interval.nanoseconds
            agitation.strokesLeft = a.strokes
            agitation.withdrawing = true
            agitation.gen = StepGenerator(steps: a.steps, over: .seconds(Double(a.steps) / max(a.stepRate, 1)))
            emit(InfusionEvent(.agitation, at: now, channel: .cells, item: itemIndex, value: Double(a.strokes)))
        }
        let n = agitation.gen.advance(by: .nanoseconds(dt), maximumPerAdvance: cells.maximumPerTick)
        if n > 0 {
            if agitation.withdrawing {
                cells.deficit += n
                out.cellSteps = -Int32(clamping: n)
                cellRequest = .withdraw
            } else {
                let back = min(n, cells.deficit)
                cells.deficit -= back
                out.cellSteps = Int32(clamping: back)
                cellRequest = .pushBack
            }
        }
        if agitation.gen.isComplete {
            if agitation.withdrawing {
                agitation.withdrawing = false
                agitation.gen = StepGenerator(steps: a.steps, over: .seconds(Double(a.steps) / max(a.stepRate, 1)))
            } else {
                agitation.strokesLeft -= 1
                agitation.withdrawing = true
                agitation.gen = StepGenerator(steps: a.steps, over: .seconds(Double(a.steps) / max(a.stepRate, 1)))
            }
        }
        return true
    }

    // MARK: Heparin

    private mutating func startHeparin(now: Instant, emit: (InfusionEvent) -> Void) {
        guard let h = plan.heparin else { return }
        let done = heparin.delivered
        if done < h.bolusSteps {
            heparinStage = .bolus
            let rest = h.bolusSteps - done
            heparin.stepRate = h.bolusStepRate
            heparin.generator = StepGenerator(steps: rest, over: .seconds(Double(rest) / max(h.bolusStepRate, 1e-9)))
        } else {
            beginHeparinInfusion(now: now, emit: emit)
        }
        heparin.lookaheadSteps = max(1, Int64((heparin.stepRate * plan.monitoring.journalLookahead.seconds).rounded(.up)))
        emit(InfusionEvent(.itemStarted, at: now, channel: .heparin, item: heparinStage == .bolus ? 0 : 1))
    }

    private mutating func beginHeparinInfusion(now: Instant, emit: (InfusionEvent) -> Void) {
        guard let h = plan.heparin else { return }
        let rest = max(h.totalSteps - heparin.delivered, 0)
        let rate = currentHeparinStepRate
        heparin.stepRate = rate
        heparin.generator = StepGenerator(steps: rate > 0 ? rest : 0, over: .seconds(rate > 0 ? Double(rest) / rate : 0))
        heparin.lookaheadSteps = max(1, Int64((rate * plan.monitoring.journalLookahead.seconds).rounded(.up)))
        heparinStage = rate > 0 && rest > 0 ? .infusion : .finished
    }

    private var currentHeparinStepRate: Double {
        guard let h = plan.heparin, let spec = plan.channel(.heparin), let r = heparinRate else { return 0 }
        return spec.stepRate(for: h.concentration.infusionRate(for: r, weight: h.weight))
    }

    private mutating func runHeparin(dt: Int64, now: Instant, emit: (InfusionEvent) -> Void, out: inout InfusionOutput) {
        guard heparinStage == .bolus || heparinStage == .infusion, heparin.halt == .none else { return }
        if heparin.deficit > 0 {
            let n = min(heparin.deficit, heparin.maximumPerTick)
            heparin.deficit -= n
            out.heparinSteps = Int32(clamping: n)
            heparinRequest = .pushBack
            return
        }
        let allowance = max(heparin.authorized - heparin.delivered, 0)
        let n = heparin.generator.advance(by: .nanoseconds(dt), maximumPerAdvance: heparin.maximumPerTick, allowance: allowance)
        if n > 0 {
            heparin.delivered += n
            out.heparinSteps = Int32(clamping: n)
            heparinRequest = .dose
        }
        if heparin.generator.isComplete {
            if heparinStage == .bolus {
                emit(InfusionEvent(.itemCompleted, at: now, channel: .heparin, item: 0, value: Double(heparin.delivered)))
                beginHeparinInfusion(now: now, emit: emit)
                journalSequence &+= 1
            } else {
                heparinStage = .finished
                emit(InfusionEvent(.itemCompleted, at: now, channel: .heparin, item: 1, value: Double(heparin.delivered)))
                journalSequence &+= 1
            }
        }
        // The heparin infusion outlives the cell timeline: anticoagulation goes on for as
        // long as blood circulates (until the run stops or the syringe is spent).
    }

    // MARK: Faults and monitors

    private mutating func checkChannelFaults(_ input: InfusionInputs, now: Instant, emit: (InfusionEvent) -> Void) {
        if cells.present, input.cellsEmptySwitch {
            let dosing = cells.halt == .none && stage == .delivering && (currentItem?.steps ?? 0) > 0 && cells.generator.remaining > 0
            halt(.cells, .empty, now: now, emit: emit)
            // Ran empty mid-dose: the dose cannot be given as prescribed. Say so now, with
            // what went in and what was prescribed, to the step.
            if dosing, let item = currentItem {
                let given = max(cells.delivered - stepsBefore(itemIndex), 0)
                emit(InfusionEvent(.deviation, at: now, channel: .cells, item: itemIndex, value: Double(given), extra: Double(item.steps),
                                   scale: plan.channel(.cells)?.volumePerStep.milliliters ?? 0))
                journalSequence &+= 1
            }
        }
        if heparin.present, input.heparinEmptySwitch {
            halt(.heparin, .empty, now: now, emit: emit)
        }
        if cells.present, let f = input.cellsForce, let spec = plan.channel(.cells) {
            let netNewtons = max(f - plan.monitoring.frictionNewtons, 0)
            let pressure = Pressure(pascals: netNewtons / (spec.syringe.areaSquareMillimeters * 1e-6))
            // Debounced: a pressure transient at the port (a clamp closing, a pump speed
            // step) is not an occlusion; a real one builds up and stays.
            if pressure > plan.monitoring.occlusionPressure { occlusionSince = occlusionSince ?? elapsed } else { occlusionSince = nil }
            let persistent = occlusionSince.map { elapsed - $0 >= plan.monitoring.occlusionDelay.nanoseconds } ?? false
            if persistent && cells.halt != .occlusion {
                halt(.cells, .occlusion, now: now, emit: emit, force: true)
                // Back off to relieve the line (the steps are returned before dosing resumes).
                let back = spec.steps(for: plan.monitoring.occlusionBackoff)
                backoffLeft = back
                backoffPending = back > 0
            }
        }
    }

    private mutating func halt(_ channel: InfusionChannel, _ reason: InfusionHalt,
                               now: Instant, emit: (InfusionEvent) -> Void, force: Bool = false) {
        let current = channel == .cells ? cells : heparin
        guard current.present else { return }
        if current.halt != .none && !force { return }
        if current.halt == reason { return }
        if channel == .cells { cells.halt = reason } else { heparin.halt = reason }
        if channel == .cells {
            agitation = AgitationState()
            if clampClosed { openClamp(now: now, emit: emit) }
            if stage == .clampedBefore { stage = .preparingClamp }
            if stage == .clampedAfter { stage = .delivering }
        }
        emit(InfusionEvent(.halted, at: now, channel: channel, item: channel == .cells ? itemIndex : 0, value: Double(reason.rawValue)))
        journalSequence &+= 1
    }

    private mutating func updateConditions(_ input: InfusionInputs) {
        var k = InfusionConditions()
        k.occlusion = cells.halt == .occlusion || heparin.halt == .occlusion
        k.empty = (cells.present && input.cellsEmptySwitch) || (heparin.present && input.heparinEmptySwitch)
            || cells.halt == .empty || heparin.halt == .empty
        // Near empty: little volume left in a channel that still has work to do.
        func nearEmpty(_ c: ChannelState, _ spec: SyringeChannelSpecification?, active: Bool) -> Bool {
            guard c.present, active, let spec else { return false }
            let left = spec.volume(steps: c.remainingSteps)
            if left < plan.monitoring.nearEmptyVolume { return true }
            // Time to empty counts for continuous infusions only: a bolus empties its share
            // of the barrel in seconds by design.
            let rate = c.stepRate
            let segment = Double(c.generator.total) / max(rate, 1e-9)
            return rate > 0 && segment > plan.monitoring.nearEmptyTime.seconds
                && Double(c.remainingSteps) / rate < plan.monitoring.nearEmptyTime.seconds
        }
        k.nearEmpty = nearEmpty(cells, plan.channel(.cells), active: stage == .delivering && (currentItem?.steps ?? 0) > 0)
            || nearEmpty(heparin, plan.channel(.heparin), active: heparinStage == .infusion || heparinStage == .bolus)
        // Deviation: a dose cannot go as planned (clamp would not settle or ran over), or
        // delivery lags its schedule.
        var lagging = false
        if stage == .delivering && cells.halt == .none && !agitation.active && cells.deficit == 0 {
            let lag = cells.generator.due - cells.generator.issued
            let allowed = max(Int64(Double(cells.generator.total) * plan.monitoring.deviationFraction), Int64(cells.stepRate) + 1)
            lagging = lag > allowed
        }
        if lagging { deviationSince = deviationSince ?? elapsed } else { deviationSince = nil }
        let now = elapsed
        let delay = plan.monitoring.deviationDelay.nanoseconds
        let halt = cells.halt
        // A dose cut short by an empty syringe deviates from the moment it stops.
        let cutShort = halt == .empty && stage == .delivering && (currentItem?.steps ?? 0) > 0 && cells.generator.remaining > 0
        let lagged = deviationSince.map { now - $0 >= delay } ?? false
        k.deviation = lagged || halt == .clampNotSettled || halt == .clampTimeout || halt == .clampPressure || cutShort
        conditions = k
    }

    private mutating func updateSpeedLimit(_ input: InfusionInputs, dt: Int64) {
        let ramp = pumpRamp.rpm * Double(dt) / 1e9
        // Held only while the procedure is live: a halted dose gives the speed back.
        let holding = cells.halt == .none
            && (stage == .preparingClamp || stage == .clampedBefore || clampClosed || stage == .delivering)
        if holding, let c = currentItem?.clamp {
            let from = speedLimit ?? max(input.commandedSpeed, c.pumpSpeed)
            speedLimit = max(c.pumpSpeed, from - PumpSpeed(rpm: ramp))
        } else if let l = speedLimit {
            let up = l + PumpSpeed(rpm: ramp)
            speedLimit = up >= pumpMaximum ? nil : up
        }
    }

    private mutating func requestReservations() {
        func want(_ c: inout ChannelState, ceiling: Int64) {
            guard c.present else { return }
            let headroom = c.authorized - c.delivered
            if headroom * 2 <= c.lookaheadSteps {
                let target = min(ceiling, c.delivered + c.lookaheadSteps)
                if target > c.requested { c.requested = target }
            }
        }
        // Cells: never reserve past the end of the current item.
        if cells.halt == .none && stage == .delivering, currentItem != nil {
            let ceiling = min(stepsBefore(itemIndex + 1), cells.prescribed)
            want(&cells, ceiling: ceiling)
        }
        if heparin.halt == .none && (heparinStage == .bolus || heparinStage == .infusion) {
            let ceiling = min(heparinStage == .bolus ? (plan.heparin?.bolusSteps ?? 0) : heparin.prescribed, heparin.prescribed)
            want(&heparin, ceiling: ceiling)
        }
    }

    // MARK: From the journal and the operator

    /// The journal made reservations durable: delivery may proceed up to these counts.
    public mutating func grant(cells c: Int64, heparin h: Int64) {
        if c > cells.authorized { cells.authorized = min(c, cells.prescribed) }
        if h > heparin.authorized { heparin.authorized = min(h, heparin.prescribed) }
    }

    /// A snapshot for the journal: what is reserved and where the timeline is.
    public var journalSnapshot: JournalSnapshot {
        JournalSnapshot(sequence: journalSequence, reserved: (cells.requested, heparin.requested),
                        delivered: (cells.delivered, heparin.delivered), itemIndex: Int32(clamping: itemIndex),
                        itemStartedAt: itemStartedAt, elapsed: elapsed, completed: completed,
                        heparinRate: heparinRate?.unitsPerKilogramPerHour ?? -1)
    }

    /// Operator: resume a halted channel. Refused (false) while its cause is still present.
    public mutating func resume(_ channel: InfusionChannel, input: InfusionInputs, now: Instant, emit: (InfusionEvent) -> Void) -> Bool {
        var ch = channel == .cells ? cells : heparin
        guard ch.present, ch.halt != .none else { return false }
        guard input.circuitRunning else { return false }
        if channel == .cells {
            if input.cellsEmptySwitch || input.infusionPaused || input.circulationPaused { return false }
            if let f = input.cellsForce, let spec = plan.channel(.cells) {
                let p = Pressure(pascals: max(f - plan.monitoring.frictionNewtons, 0) / (spec.syringe.areaSquareMillimeters * 1e-6))
                if p > plan.monitoring.occlusionPressure { return false }
            }
        } else if input.heparinEmptySwitch {
            return false
        }
        ch.halt = .none
        if channel == .cells {
            cells = ch
            backoffPending = false
            backoffLeft = 0
            if stage == .preparingClamp || stage == .clampedBefore { stageStartedAt = elapsed }
            if stage == .delivering, currentItem?.clamp != nil, !clampClosed, cells.generator.remaining > 0 {
                stage = .preparingClamp
                stageStartedAt = elapsed
            }
        } else {
            heparin = ch
        }
        emit(InfusionEvent(.resumed, at: now, channel: channel, item: channel == .cells ? itemIndex : 0))
        journalSequence &+= 1
        return true
    }

    /// Operator: pause a channel (latched like any halt).
    public mutating func pause(_ channel: InfusionChannel, now: Instant, emit: (InfusionEvent) -> Void) {
        if channel == .cells { halt(.cells, .operatorPause, now: now, emit: emit) }
        else { halt(.heparin, .operatorPause, now: now, emit: emit) }
    }

    /// Operator: abort the protocol: both channels stop for good, the clamp opens.
    public mutating func abort(now: Instant, emit: (InfusionEvent) -> Void) {
        halt(.cells, .aborted, now: now, emit: emit, force: true)
        halt(.heparin, .aborted, now: now, emit: emit, force: true)
        itemIndex = plan.items.count
        heparinStage = .finished
    }

    /// Operator: change the heparin infusion rate (the only way it changes).
    public mutating func setHeparinRate(_ rate: HeparinRate, now: Instant, emit: (InfusionEvent) -> Void) -> Bool {
        guard plan.heparin != nil, heparin.present, rate.unitsPerKilogramPerHour >= 0 else { return false }
        heparinRate = rate
        if heparinStage == .infusion {
            let r = currentHeparinStepRate
            heparin.stepRate = r
            heparin.generator.retime(stepsPerSecond: r)
            heparin.lookaheadSteps = max(1, Int64((r * plan.monitoring.journalLookahead.seconds).rounded(.up)))
        }
        emit(InfusionEvent(.heparinRateChanged, at: now, channel: .heparin, value: rate.unitsPerKilogramPerHour))
        journalSequence &+= 1
        return true
    }

    /// Operator: an ACT measurement. Returns the advice (logged by the caller; never applied).
    public mutating func enterACT(_ act: Duration, now: Instant, emit: (InfusionEvent) -> Void) -> HeparinAdvice? {
        guard let h = plan.heparin else { return nil }
        let advice = HeparinAdvisor.advise(act: act, target: h.actTarget, current: heparinRate ?? HeparinRate(unitsPerKilogramPerHour: 0),
                                           step: h.adviceStep)
        lastAdvice = advice
        emit(InfusionEvent(.actAdvice, at: now, channel: .heparin, item: Int(advice.direction.rawValue),
                           value: advice.suggestedRate.unitsPerKilogramPerHour, extra: act.seconds))
        return advice
    }
}

/// Why a channel stopped. Raw values go to the run record.
public enum InfusionHalt: UInt8, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    case none = 0
    case operatorPause = 1
    /// The safety layer paused infusion (fouling threshold, high-priority alarm).
    case safetyPause = 2
    case occlusion = 3
    case empty = 4
    /// The circuit left regulation (fault, E-stop, stop): nothing goes into a stopped circuit.
    case circuitStopped = 5
    case clampNotSettled = 6
    case clampTimeout = 7
    case clampPressure = 8
    /// The firmware restarted with an unfinished plan whose policy is `stop`.
    case restartStopped = 9
    case aborted = 10
    /// The circulation could not take cells (flow low or unknown, pump stopped, a
    /// high-priority circulation alarm): resumes as the protocol's monitoring says.
    case circulationPause = 11

    public var description: String {
        switch self {
        case .none: "none"
        case .operatorPause: "operator_pause"
        case .safetyPause: "safety_pause"
        case .occlusion: "occlusion"
        case .empty: "empty"
        case .circuitStopped: "circuit_stopped"
        case .clampNotSettled: "clamp_not_settled"
        case .clampTimeout: "clamp_timeout"
        case .clampPressure: "clamp_pressure"
        case .restartStopped: "restart_stopped"
        case .aborted: "aborted"
        case .circulationPause: "circulation_pause"
        }
    }
}

/// What the engine reads each tick.
public struct InfusionInputs: Sendable, BitwiseCopyable {
    /// The rig is active and regulating (infusion only goes into a running circuit).
    public var circuitRunning: Bool
    /// The safety layer's pause (fouling, infusion faults).
    public var infusionPaused: Bool
    /// Any high-priority alarm is active: the outflow clamp opens at once.
    public var highPriorityAlarm: Bool
    /// The circulation cannot take cells now (`SafetyDecision.circulationPause` or a
    /// high-priority circulation alarm): the cell syringe pauses in this tick.
    public var circulationPaused = false
    public var measuredSpeed: PumpSpeed?
    public var commandedSpeed: PumpSpeed
    public var preOxygenatorPressure: Pressure?
    public var cellsEmptySwitch: Bool
    public var heparinEmptySwitch: Bool
    /// Plunger force of the cell syringe (N), when the board has a force sensor.
    public var cellsForce: Double?
    public init(circuitRunning: Bool, infusionPaused: Bool = false, highPriorityAlarm: Bool = false,
                measuredSpeed: PumpSpeed? = nil, commandedSpeed: PumpSpeed = .zero, preOxygenatorPressure: Pressure? = nil,
                cellsEmptySwitch: Bool = false, heparinEmptySwitch: Bool = false, cellsForce: Double? = nil) {
        self.circuitRunning = circuitRunning
        self.infusionPaused = infusionPaused
        self.highPriorityAlarm = highPriorityAlarm
        self.measuredSpeed = measuredSpeed
        self.commandedSpeed = commandedSpeed
        self.preOxygenatorPressure = preOxygenatorPressure
        self.cellsEmptySwitch = cellsEmptySwitch
        self.heparinEmptySwitch = heparinEmptySwitch
        self.cellsForce = cellsForce
    }
}

/// Infusion alarm conditions, fed to the safety layer's alarm system.
public struct InfusionConditions: Sendable, BitwiseCopyable, Equatable {
    public var occlusion = false
    public var nearEmpty = false
    public var empty = false
    public var deviation = false
    public init() {}
}

/// What the engine wants this tick.
public struct InfusionOutput: Sendable, BitwiseCopyable {
    /// Microsteps to issue this tick: positive infuses, negative withdraws.
    public var cellSteps: Int32 = 0
    public var heparinSteps: Int32 = 0
    public var cellsEnabled = false
    public var heparinEnabled = false
    /// Outflow clamp: the return line must be clamped.
    public var clampClosed = false
    /// Outflow-clamp procedure: the pump must not exceed this.
    public var speedLimit: PumpSpeed?
    /// The clamp procedure runs (flow-related alarms that it causes on purpose are masked).
    public var clampProcedure = false
    public var conditions = InfusionConditions()
    public init() {}
}

/// A snapshot of delivery for the journal: plain values.
public struct JournalSnapshot: Sendable, BitwiseCopyable {
    public var sequence: UInt64
    public var reserved: (Int64, Int64)
    public var delivered: (Int64, Int64)
    public var itemIndex: Int32
    public var itemStartedAt: Int64
    public var elapsed: Int64
    public var completed: Bool
    /// U/kg/h; negative: none.
    public var heparinRate: Double
    public init(sequence: UInt64, reserved: (Int64, Int64), delivered: (Int64, Int64), itemIndex: Int32,
                itemStartedAt: Int64, elapsed: Int64, completed: Bool, heparinRate: Double) {
        self.sequence = sequence
        self.reserved = reserved
        self.delivered = delivered
        self.itemIndex = itemIndex
        self.itemStartedAt = itemStartedAt
        self.elapsed = elapsed
        self.completed = completed
        self.heparinRate = heparinRate
    }
}

/// Something the engine did, for the run record.
public struct InfusionEvent: Sendable, BitwiseCopyable, Equatable {
    public enum Kind: UInt8, Sendable, BitwiseCopyable, CaseIterable {
        case protocolStarted = 1, itemStarted, itemCompleted, halted, resumed, clampPreparing, clampClosed, clampOpened,
             agitation, baselineClosed, heparinRateChanged, actAdvice, protocolCompleted, restarted
        /// A dose cannot be delivered as prescribed (the syringe ran empty mid-dose): `value`
        /// the item's steps delivered, `extra` its steps prescribed, `scale` mL per step.
        case deviation
        /// The outflow-clamp procedure ended while the rig holds its outputs safe: the
        /// procedure's clamp request is withdrawn, but the return clamp stays closed (the
        /// safe state), so this is not `clamp_opened`.
        case clampRequestWithdrawn
        public var name: String {
            switch self {
            case .protocolStarted: "protocol_started"
            case .itemStarted: "item_started"
            case .itemCompleted: "item_completed"
            case .halted: "halted"
            case .resumed: "resumed"
            case .clampPreparing: "clamp_preparing"
            case .clampClosed: "clamp_closed"
            case .clampOpened: "clamp_opened"
            case .agitation: "agitation"
            case .baselineClosed: "baseline_closed"
            case .heparinRateChanged: "heparin_rate_changed"
            case .actAdvice: "act_advice"
            case .protocolCompleted: "protocol_completed"
            case .restarted: "restarted"
            case .deviation: "deviation"
            case .clampRequestWithdrawn: "clamp_request_withdrawn"
            }
        }
    }
    public var kind: Kind
    public var time: Instant
    public var channel: InfusionChannel
    public var item: Int
    public var value: Double
    public var extra: Double
    /// Millilitres per step of the channel, where `value`/`extra` are step counts (0: not).
    public var scale: Double
    public init(_ kind: Kind, at time: Instant, channel: InfusionChannel = .cells, item: Int = 0, value: Double = 0, extra: Double = 0,
                scale: Double = 0) {
        self.kind = kind
        self.time = time
        self.channel = channel
        self.item = item
        self.value = value
        self.extra = extra
        self.scale = scale
    }
}
