/// The rig's reason to exist: watches the oxygenator for cell deposits. It takes a
/// baseline of resistance R = ΔP_oxy / Q and of flow (before the first cell infusion:
/// by default a window early in regulation, or when the protocol says), tracks both with
/// an exponential filter that shrugs off noise and set-point changes (R barely depends on
/// Q), and raises a warning at a first rise of R and pauses cell infusion at a second.
/// Clinical practice reads a 30–50 % rise of ΔP per unit flow as oxygenator thrombosis
/// (Lubnow et al. 2014): the defaults are those two numbers.
///
/// It never switches itself off silently: a protocol that closes the baseline before the
/// default window opens gets a baseline from what was measured since the circuit settled
/// (`earlySettle`), or, when nothing was, from the first `lateWindow` after the close (cells
/// foul over minutes to hours, so half a minute into a dose is still a clean oxygenator).
/// Arming, and failing to arm, are reported as `MonitorEvent`s.
public struct FoulingMonitor: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Regulation time before the baseline window opens (lets the circuit settle).
        public var baselineDelay: Duration = .seconds(120)
        public var baselineWindow: Duration = .seconds(180)
        /// Samples count for a baseline closed early (by the protocol) only after this much
        /// regulation: the spin-up and unclamping transient is over.
        public var earlySettle: Duration = .seconds(10)
        /// Shortest span of samples a baseline is made of; less, and it is taken after the close.
        public var minimumBaselineSpan: Duration = .seconds(5)
        /// When the baseline was closed before any usable sample: collect this long after.
        public var lateWindow: Duration = .seconds(30)
        /// Filter time constant for R and Q.
        public var filterTimeConstant: Duration = .seconds(30)
        /// Rise of R over baseline that warns, and that pauses cell infusion.
        public var warningRise: Double = 0.30
        public var pauseRise: Double = 0.50
        /// Flow below which R is not computed (the ratio means nothing).
        public var minimumFlow: Flow = .lpm(0.3)
        public init() {}

        /// Hard bounds for the thresholds a protocol may set: below 10 % the filtered noise
        /// and set-point changes would warn; above 200 % the oxygenator is nearly closed
        /// (Millar: ΔP ×5 at 4 h) before anything pauses.
        public static let warningRiseBounds: ClosedRange<Double> = 0.10...1.00
        public static let pauseRiseBounds: ClosedRange<Double> = 0.20...2.00

        /// Why these thresholds cannot be used, or nil (the pause must come after the warning).
        public static func check(warningRise w: Double, pauseRise p: Double) -> String? {
            guard w.isFinite, warningRiseBounds.contains(w) else {
                return "fouling warning rise must be within \(Int(warningRiseBounds.lowerBound * 100))…\(Int(warningRiseBounds.upperBound * 100)) %"
            }
            guard p.isFinite, pauseRiseBounds.contains(p) else {
                return "fouling pause rise must be within \(Int(pauseRiseBounds.lowerBound * 100))…\(Int(pauseRiseBounds.upperBound * 100)) %"
            }
            guard p > w else { return "fouling pause rise must be above the warning rise" }
            return nil
        }
    }

    public var configuration: Configuration
    public private(set) var baselineResistance: HydraulicResistance?
    public private(set) var baselineFlow: Flow?
    public private(set) var filteredResistance: HydraulicResistance?
    public private(set) var filteredFlow: Flow?
    public private(set) var warningAt: Instant?
    public private(set) var pauseAt: Instant?
    /// When and how the baseline was set (the monitor armed).
    public private(set) var armedAt: Instant?
    public private(set) var armedBy: MonitorEvent.BaselineSource?
    /// After an operator resumed a pause without a new baseline: the rise that pauses again.
    public private(set) var pauseRearmRise: Double?
    private var regulatingSince: Instant?
    private var baseSumR = 0.0, baseSumQ = 0.0, baseCount = 0
    private var baseFirst: Instant?, baseLast: Instant?
    private var inWindow = false
    private var baselineForced = false
    /// The baseline was closed with nothing to make it of: collecting after the close until this.
    private var lateUntil: Instant?
    private var lastUpdate: Instant?
    /// Events not yet handed to the rig's log (plain values: nothing allocated).
    private var pending: MonitorEvent?
    private var pendingSecond: MonitorEvent?

    public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

    /// Rise of filtered R over the baseline (0.3 = +30 %), once both exist.
    public var resistanceRise: Double? {
        guard let b = baselineResistance, let r = filteredResistance, b.mmHgMinutePerLiter > 0 else { return nil }
        return r.mmHgMinutePerLiter / b.mmHgMinutePerLiter - 1
    }

    /// Change of filtered flow from baseline (−0.25 = 25 % lower).
    public var flowChange: Double? {
        guard let b = baselineFlow, let q = filteredFlow, b.litersPerMinute > 0 else { return nil }
        return q.litersPerMinute / b.litersPerMinute - 1
    }

    public var warning: Bool { warningAt != nil }
    public var pause: Bool { pauseAt != nil }
    public var armed: Bool { baselineResistance != nil }

    /// Ends the baseline window now (the protocol is about to infuse cells). With samples
    /// from the default window, or at least `minimumBaselineSpan` of settled samples before
    /// it, the baseline is set from them; otherwise it
    /// is collected over `lateWindow` from now, and the log says so.
    public mutating func closeBaseline(now: Instant) {
        guard !baselineForced else { return }
        baselineForced = true
        guard baselineResistance == nil else { return }
        if baseCount > 0, let a = baseFirst, let b = baseLast, inWindow || b - a >= configuration.minimumBaselineSpan {
            arm(now: now, source: inWindow ? .window : .early)
        } else {
            resetSums()
            lateUntil = now + configuration.lateWindow
            post(MonitorEvent(.foulingNotArmed, at: now, reason: .closedBeforeSettled))
        }
    }

    /// One step with this tick's validated ΔP and flow (nil when not valid), while the
    /// circuit is regulating (`regulating` false resets the settle timer, not the baseline).
    /// `sensorSuspect`: the cross-check doubts a pressure sensor; nothing moves (no baseline
    /// sample, no filter step, no new threshold), so a drifting sensor never reads as
    /// fouling, nor as its recovery.
    public mutating func update(pressureDrop: Pressure?, flow: Flow?, regulating: Bool, now: Instant,
                                sensorSuspect: Bool = false) {
        defer { lastUpdate = now }
        guard regulating else {
            regulatingSince = nil
            return
        }
        if regulatingSince == nil { regulatingSince = now }
        guard !sensorSuspect, let dp = pressureDrop, let q = flow, q >= configuration.minimumFlow,
              let since = regulatingSince else { return }
        let r = dp.mmHg / q.litersPerMinute
        // Baseline.
        if baselineResistance == nil {
            if let until = lateUntil {
                accumulate(r, q, now)
                if now >= until {
                    if baseCount > 0 { arm(now: now, source: .afterClose) }
                    lateUntil = nil
                }
            } else if !baselineForced {
                let t = now - since
                if t >= configuration.baselineDelay {
                    if !inWindow {
                        // The default window opens: the settling samples before it are dropped.
                        inWindow = true
                        resetSums()
                    }
                    if t < configuration.baselineDelay + configuration.baselineWindow {
                        accumulate(r, q, now)
                    } else if baseCount > 0 {
                        arm(now: now, source: .window)
                    }
                } else if t >= configuration.earlySettle {
                    accumulate(r, q, now)
                }
            }
        }
        // Filter.
        let dt = lastUpdate.map { (now - $0).seconds } ?? 0
        // First-order low-pass (bilinear-free form dt/(τ+dt): no libm in the core).
        let alpha = dt <= 0 ? 1 : dt / (configuration.filterTimeConstant.seconds + dt)
        if let fr = filteredResistance, let fq = filteredFlow {
            filteredResistance = HydraulicResistance(mmHgMinutePerLiter: fr.mmHgMinutePerLiter + (r - fr.mmHgMinutePerLiter) * alpha)
            filteredFlow = Flow(litersPerMinute: fq.litersPerMinute + (q.litersPerMinute - fq.litersPerMinute) * alpha)
        } else {
            filteredResistance = HydraulicResistance(mmHgMinutePerLiter: r)
            filteredFlow = q
        }
        if let rise = resistanceRise {
            if warningAt == nil && rise >= configuration.warningRise { warningAt = now }
            if pauseAt == nil && rise >= max(configuration.pauseRise, pauseRearmRise ?? 0) { pauseAt = now }
        }
    }

    /// Whether an operator may resume after a fouling pause now (`newBaseline`: the
    /// present filtered resistance becomes the baseline, which needs one).
    public func mayResume(newBaseline: Bool) -> Bool {
        pause && (!newBaseline || filteredResistance != nil)
    }

    /// The operator resumes after a fouling pause (acknowledged; checked by the core).
    /// With `newBaseline` the monitor re-arms on the present filtered R and flow (warning
    /// and pause start over); without, the baseline stays and the pause re-arms only at a
    /// further rise of (pause − warning) over the present rise.
    public mutating func resume(newBaseline: Bool, now: Instant) {
        guard pause else { return }
        pauseAt = nil
        if newBaseline, let r = filteredResistance, let q = filteredFlow {
            baselineResistance = r
            baselineFlow = q
            warningAt = nil
            pauseRearmRise = nil
            armedAt = now
            armedBy = .operatorResume
            post(MonitorEvent(.foulingArmed, at: now, resistance: r, flow: q, source: .operatorResume))
        } else {
            let present = resistanceRise ?? configuration.pauseRise
            pauseRearmRise = present + (configuration.pauseRise - configuration.warningRise)
            post(MonitorEvent(.foulingResumed, at: now, resistance: filteredResistance, flow: filteredFlow,
                              source: armedBy ?? .window))
        }
    }

    /// Hands out the events since the last call (at most two per tick can arise).
    public mutating func takeEvent() -> MonitorEvent? {
        guard let e = pending else { return nil }
        pending = pendingSecond
        pendingSecond = nil
        return e
    }

    private mutating func post(_ e: MonitorEvent) {
        if pending == nil { pending = e } else { pendingSecond = e }
    }

    private mutating func accumulate(_ r: Double, _ q: Flow, _ now: Instant) {
        baseSumR += r
        baseSumQ += q.litersPerMinute
        baseCount += 1
        if baseFirst == nil { baseFirst = now }
        baseLast = now
    }

    private mutating func resetSums() {
        baseSumR = 0; baseSumQ = 0; baseCount = 0
        baseFirst = nil; baseLast = nil
    }

    private mutating func arm(now: Instant, source: MonitorEvent.BaselineSource) {
        let r = HydraulicResistance(mmHgMinutePerLiter: baseSumR / Double(baseCount))
        let q = Flow(litersPerMinute: baseSumQ / Double(baseCount))
        baselineResistance = r
        baselineFlow = q
        armedAt = now
        armedBy = source
        post(MonitorEvent(.foulingArmed, at: now, resistance: r, flow: q, source: source))
    }
}
