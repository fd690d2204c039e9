/// The rig's reason to exist: watches the oxygenator for cell deposits. It takes a
/// baseline of resistance R = ΔP_oxy / Q and of flow (before the first cell infusion:
/// by default a window early in regulation, or when the protocol says), tracks both with
/// an exponential filter that shrugs off noise and set-point changes (R barely depends on
/// Q), and raises a warning at a first rise of R and pauses cell infusion at a second.
/// Clinical practice reads a 30–50 % rise of ΔP per unit flow as oxygenator thrombosis
/// (Lubnow et al. 2014): the defaults are those two numbers.
public struct FoulingMonitor: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Regulation time before the baseline window opens (lets the circuit settle).
        public var baselineDelay: Duration = .seconds(120)
        public var baselineWindow: Duration = .seconds(180)
        /// Filter time constant for R and Q.
        public var filterTimeConstant: Duration = .seconds(30)
        /// Rise of R over baseline that warns, and that pauses cell infusion.
        public var warningRise: Double = 0.30
        public var pauseRise: Double = 0.50
        /// Flow below which R is not computed (the ratio means nothing).
        public var minimumFlow: Flow = .lpm(0.3)
        public init() {}
    }

    public var configuration: Configuration
    public private(set) var baselineResistance: HydraulicResistance?
    public private(set) var baselineFlow: Flow?
    public private(set) var filteredResistance: HydraulicResistance?
    public private(set) var filteredFlow: Flow?
    public private(set) var warningAt: Instant?
    public private(set) var pauseAt: Instant?
    private var regulatingSince: Instant?
    private var baseSumR = 0.0, baseSumQ = 0.0, baseCount = 0
    private var baselineForced = false
    private var lastUpdate: Instant?

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

    /// Ends the baseline window now (the protocol is about to infuse cells).
    public mutating func closeBaseline(now: Instant) {
        if baselineResistance == nil && baseCount > 0 {
            baselineResistance = HydraulicResistance(mmHgMinutePerLiter: baseSumR / Double(baseCount))
            baselineFlow = Flow(litersPerMinute: baseSumQ / Double(baseCount))
        }
        baselineForced = true
    }

    /// One step with this tick's validated ΔP and flow (nil when not valid), while the
    /// circuit is regulating (`regulating` false resets the settle timer, not the baseline).
    public mutating func update(pressureDrop: Pressure?, flow: Flow?, regulating: Bool, now: Instant) {
        defer { lastUpdate = now }
        guard regulating else {
            regulatingSince = nil
            return
        }
        if regulatingSince == nil { regulatingSince = now }
        guard let dp = pressureDrop, let q = flow, q >= configuration.minimumFlow, let since = regulatingSince else { return }
        let r = dp.mmHg / q.litersPerMinute
        // Baseline.
        if baselineResistance == nil && !baselineForced {
            let t = now - since
            if t >= configuration.baselineDelay {
                if t < configuration.baselineDelay + configuration.baselineWindow {
                    baseSumR += r
                    baseSumQ += q.litersPerMinute
                    baseCount += 1
                } else if baseCount > 0 {
                    baselineResistance = HydraulicResistance(mmHgMinutePerLiter: baseSumR / Double(baseCount))
                    baselineFlow = Flow(litersPerMinute: baseSumQ / Double(baseCount))
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
            if pauseAt == nil && rise >= configuration.pauseRise { pauseAt = now }
        }
    }
}

