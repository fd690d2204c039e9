/// A protocol resolved into what the infusion engine executes: a sequence of items on
/// the protocol clock for the cell channel, and a continuous heparin programme beside
/// it. Every volume is already whole steps; the engine does no dose arithmetic.
public struct InfusionPlan: Sendable, Equatable {
    /// The channels set up for the run, indexed by `InfusionChannel.rawValue` (nil: unused).
    public var channels: [SyringeChannelSpecification?]
    /// Cell-channel timeline, executed in order.
    public var items: [PlanItem]
    public var heparin: HeparinProgramme?
    /// What a restart after a crash or power loss does with an unfinished plan.
    public var onRestart: RestartPolicy
    /// What starts the plan (`circulation` unless the protocol says `start: operator`).
    public var start: ProtocolStart = .circulation
    /// Occlusion, near-empty and deviation thresholds.
    public var monitoring: InfusionMonitoring

    public init(channels: [SyringeChannelSpecification?], items: [PlanItem], heparin: HeparinProgramme? = nil,
                onRestart: RestartPolicy = .stop, monitoring: InfusionMonitoring = InfusionMonitoring()) {
        var c = channels
        while c.count < InfusionChannel.count { c.append(nil) }
        self.channels = c
        self.items = items
        self.heparin = heparin
        self.onRestart = onRestart
        self.monitoring = monitoring
    }

    public func channel(_ c: InfusionChannel) -> SyringeChannelSpecification? { channels[c.rawValue] }

    /// Forward steps the plan prescribes on a channel, in total: the hard ceiling the
    /// journal holds the channel to, across any number of restarts.
    public func prescribedSteps(_ c: InfusionChannel) -> Int64 {
        switch c {
        case .cells:
            var n: Int64 = 0
            for item in items { n += item.steps }
            return n
        case .heparin:
            return heparin?.totalSteps ?? 0
        }
    }

    /// Steps of cell-channel items before `index` (where item `index` starts on the channel).
    public func stepsBefore(item index: Int) -> Int64 {
        var n: Int64 = 0
        var i = 0
        while i < index && i < items.count { n += items[i].steps; i += 1 }
        return n
    }
}

/// One item of the cell-channel timeline.
public struct PlanItem: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Fill the infusion line (not dosed): `steps` at the prime rate.
        case prime
        /// Circuit runs, nothing infused: the fouling baseline is taken here.
        case baseline
        /// A cell (or particle) dose.
        case dose(index: Int)
        /// Circuit runs, nothing infused, after the doses.
        case observation
    }
    public var kind: Kind
    /// Earliest start on the protocol clock (doses on a schedule); an item never starts
    /// before the previous one ends.
    public var earliestStart: Duration
    /// Waits (baseline, observation) last this long; doses and primes last as long as their steps take.
    public var duration: Duration
    /// Forward steps (0 for waits).
    public var steps: Int64
    public var stepRate: Double
    /// For doses: the dose as planned (volume, cells, rate).
    public var dose: PlannedDose?
    public var clamp: OutflowClampPlan?
    public var agitation: AgitationPlan?

    public init(kind: Kind, earliestStart: Duration = .zero, duration: Duration, steps: Int64 = 0, stepRate: Double = 0,
                dose: PlannedDose? = nil, clamp: OutflowClampPlan? = nil, agitation: AgitationPlan? = nil) {
        self.kind = kind
        self.earliestStart = earliestStart
        self.duration = duration
        self.steps = steps
        self.stepRate = stepRate
        self.dose = dose
        self.clamp = clamp
        self.agitation = agitation
    }
}

/// Liu et al.'s outflow clamp: bring the pump down to a safe speed, clamp the return line
/// shortly before the dose and keep it clamped for a while after, so cells go to the
/// patient's lungs and not round the circuit. The clamp closes only when the measured
/// speed and P_pre are within the limits here, and opens at once on any high-priority
/// alarm or when the window would exceed `maximumClamped`.
public struct OutflowClampPlan: Sendable, Equatable {
    public var pumpSpeed: PumpSpeed
    /// Measured speed must be within this of `pumpSpeed` before the clamp closes.
    public var speedTolerance: PumpSpeed
    /// P_pre must be below this to close, and the clamp opens if it rises above it.
    public var maximumPrePressure: Pressure
    /// Clamp this long before the dose starts…
    public var before: Duration
    /// …and keep it this long after the dose ends.
    public var after: Duration
    /// A centrifugal pump must not run without flow for long (≤ 30 s, Bio-Console):
    /// the clamp opens when it has been closed this long, whatever the dose is doing.
    public var maximumClamped: Duration
    /// How long to wait for the pump to reach `pumpSpeed` before giving up (dose skipped
    /// to unclamped delivery is *not* done: the dose waits and an alarm says why).
    public var settleTimeout: Duration
    public init(pumpSpeed: PumpSpeed, speedTolerance: PumpSpeed = .rpm(150), maximumPrePressure: Pressure = .mmHg(300),
                before: Duration = .seconds(5), after: Duration = .seconds(10), maximumClamped: Duration = .seconds(30),
                settleTimeout: Duration = .seconds(30)) {
        self.pumpSpeed = pumpSpeed
        self.speedTolerance = speedTolerance
        self.maximumPrePressure = maximumPrePressure
        self.before = before
        self.after = after
        self.maximumClamped = maximumClamped
        self.settleTimeout = settleTimeout
    }
}

/// Keeps cells in suspension: every `interval`, the plunger draws back `steps` and
/// pushes them back, `strokes` times (zero net volume). It withdraws first, so an
/// agitation cut short by a crash can only leave the syringe behind the plan, never ahead.
public struct AgitationPlan: Sendable, Equatable {
    public var interval: Duration
    public var steps: Int64
    public var strokes: Int
    public var stepRate: Double
    public init(interval: Duration, steps: Int64, strokes: Int, stepRate: Double) {
        self.interval = interval
        self.steps = steps
        self.strokes = strokes
        self.stepRate = stepRate
    }
}

/// The heparin channel's programme: a bolus at the start, then a continuous infusion
/// until the protocol ends. The rate is changed only by an operator's command; ACT
/// advice is logged, never applied by itself.
public struct HeparinProgramme: Sendable, Equatable {
    public var bolusSteps: Int64
    public var bolusStepRate: Double
    /// Continuous infusion (steps/s); 0: none.
    public var infusionStepRate: Double
    /// Steps the syringe can give to the infusion (usable volume less the bolus).
    public var infusionSteps: Int64
    public var bolus: HeparinDose?
    public var infusion: HeparinRate?
    public var concentration: HeparinConcentration
    public var weight: BodyWeight
    public var actTarget: ClosedRange<Double>
    /// Fraction the advisory rate changes by per step outside the band.
    public var adviceStep: Double
    public init(bolusSteps: Int64, bolusStepRate: Double, infusionStepRate: Double, infusionSteps: Int64,
                bolus: HeparinDose?, infusion: HeparinRate?, concentration: HeparinConcentration, weight: BodyWeight,
                actTarget: ClosedRange<Double> = 180...220, adviceStep: Double = 0.1) {
        self.bolusSteps = bolusSteps
        self.bolusStepRate = bolusStepRate
        self.infusionStepRate = infusionStepRate
        self.infusionSteps = infusionSteps
        self.bolus = bolus
        self.infusion = infusion
        self.concentration = concentration
        self.weight = weight
        self.actTarget = actTarget
        self.adviceStep = adviceStep
    }
    public var totalSteps: Int64 { bolusSteps + infusionSteps }
}

/// What starts a plan's clock.
public enum ProtocolStart: String, Sendable, Equatable, CaseIterable {
    /// The plan starts by itself once the circuit regulates and flows soundly (0.5 s).
    case circulation
    /// The plan waits, with the circuit running, for the operator's `start_protocol` (from the
    /// console or `ecmo-rig command`); then it starts once circulation is sound, as above.
    case `operator`
}

/// What a restart does with a plan the journal shows unfinished.
public enum RestartPolicy: String, Sendable, Equatable, CaseIterable {
    /// Continue where the journal says the plan got to (what was reserved counts as given).
    case resume
    /// Give nothing more; the operator decides (the safe default for cells).
    case stop
}

/// Thresholds of the infusion monitors.
public struct InfusionMonitoring: Sendable, Equatable {
    /// Occlusion: line pressure at the syringe above this (force ÷ plunger area, net of
    /// friction). Infusion pumps offer 100…1000 mmHg; 300 is a common default.
    public var occlusionPressure: Pressure
    /// Plunger friction subtracted from the force reading before the conversion.
    public var frictionNewtons: Double
    /// Near-empty: less than this volume, or less than `nearEmptyTime` at the current rate, left.
    public var nearEmptyVolume: Volume
    public var nearEmptyTime: Duration
    /// Deviation: delivery lags the schedule by more than this for longer than `deviationDelay`.
    public var deviationFraction: Double
    public var deviationDelay: Duration
    /// The journal reserves steps this far ahead of delivery: the most a crash can leave
    /// undelivered (and unknown) is this much delivery at the current rate.
    public var journalLookahead: Duration
    /// After an occlusion the plunger backs off this much to relieve the line, so that
    /// clearing the occlusion does not release a bolus (ECRI: ≤ 0.5 mL).
    public var occlusionBackoff: Volume
    /// The over-pressure must last this long to be an occlusion (port transients are not).
    public var occlusionDelay: Duration
    /// After a circulation pause (no cells into a circuit that is not flowing), the cell
    /// syringe resumes by itself once the circulation has been sound this long; nil: only
    /// an operator's `resume_infusion` resumes it (the default: a person looks first).
    public var circulationResumeAfter: Duration?
    public init(occlusionPressure: Pressure = .mmHg(300), frictionNewtons: Double = 3, nearEmptyVolume: Volume = .mL(1),
                nearEmptyTime: Duration = .seconds(300), deviationFraction: Double = 0.05, deviationDelay: Duration = .seconds(5),
                journalLookahead: Duration = .milliseconds(100), occlusionBackoff: Volume = .mL(0.2),
                occlusionDelay: Duration = .milliseconds(500)) {
        self.occlusionDelay = occlusionDelay
        self.occlusionBackoff = occlusionBackoff
        self.occlusionPressure = occlusionPressure
        self.frictionNewtons = frictionNewtons
        self.nearEmptyVolume = nearEmptyVolume
        self.nearEmptyTime = nearEmptyTime
        self.deviationFraction = deviationFraction
        self.deviationDelay = deviationDelay
        self.journalLookahead = journalLookahead
    }
}
