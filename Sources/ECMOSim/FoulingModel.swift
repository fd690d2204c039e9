import RealModule
import ECMOCore
import ECMOProtocol

/// The hollow-fibre material of the membrane oxygenator.
/// Raw values are the names scenario files use.
public enum MembraneMaterial: String, Sendable, Equatable, CaseIterable {
    /// Polymethylpentene: today's long-term ECMO fibre; MSCs adhere strongly to it.
    case pmp = "pmp"
    /// Microporous polypropylene: CPB-style fibre, assumed less adhesive for MSCs.
    case pp = "pp"
}

/// Cells infused into the circuit deposit on the oxygenator fibres and raise its
/// resistance, the effect Millar et al. (Thorax 2019) saw in an ex vivo ECMO loop.
///
/// Particles live in three places, each a well-mixed compartment:
/// - `approaching`: infused at a pre-pump or pre-oxygenator port, on the way to the
///   oxygenator (volume `Parameters.preOxygenatorVolume`, so a stopped pump keeps them there);
/// - `circulating`: in the reservoir or the patient's blood (`Parameters.poolVolume`),
///   reaching the drainage cannula at a rate Q / V_pool;
/// - `deposited`: stuck in the fibre bundle. `cleared` counts what the patient removed.
///
/// Each particle that passes the oxygenator sticks with probability p = p₀·g(ACT)·m·s
/// (g: anticoagulation, m: material, s: size); of those that pass, a fraction
/// `returnFraction` comes back to the pool (1 for a closed ex vivo loop; small for a
/// patient whose lungs retain most intravenous MSCs on their first pass).
///
/// Deposits block the bundle in two ways:
/// - cells themselves cover a fraction φ_c = N_dep / `cellsToOcclude` of the blood path;
/// - deposited MSCs carry tissue factor and seed thrombus (IBMIR) that grows into the open
///   bundle: dφ_t/dt = k_T · g(ACT) · m · φ_c · (1 − φ) · Q / Q_ref — proportional to the
///   seeding deposit (so it grows with dose), to the open fraction it can spread into, and
///   to the flow that brings platelets and fibrinogen.
/// Open fraction s = 1 − φ_c − φ_t; the blocked channels carry no flow (parallel paths), so
/// the oxygenator resistance rises as `resistanceFactor` = 1 / s.
///
/// All deterministic; `step` uses exact exponentials per step, so results do not depend on
/// the step size (1 ms … 10 s), and allocates nothing.
public struct FoulingModel: Sendable, Equatable {
    public struct Parameters: Sendable, Equatable {
        /// Volume of the well-mixed pool that feeds the drainage cannula: reservoir plus
        /// circuit priming for an ex vivo loop, the blood volume for a patient.
        public var poolVolume: Volume
        /// Volume between a pre-pump/pre-oxygenator port and the oxygenator.
        public var preOxygenatorVolume: Volume
        /// Of the particles leaving the oxygenator, the fraction that reaches the drainage
        /// cannula again (the rest is cleared: lung first-pass retention in a patient).
        public var returnFraction: Double
        /// Probability that an MSC sticks on one pass through a clean PMP oxygenator at a
        /// normal ACT. Calibrated (0.15): with it nearly all cells in a 1 L loop are on the
        /// fibres within 30 min, as Millar's immunohistochemistry suggests.
        public var captureProbability: Double
        /// Deposited MSCs that would cover the whole blood path by themselves (calibrated).
        public var cellsToOcclude: Double
        /// Thrombus growth rate per unit cell-covered fraction at the reference flow (1/s).
        public var thrombusGrowthRate: Double
        /// Flow at which `thrombusGrowthRate` applies (supply of platelets/fibrinogen ∝ Q).
        public var referenceFlow: Flow
        /// ACT at which adhesion and thrombus growth are halved, and the width of the
        /// logistic fall-off: g(ACT) = 1 / (1 + exp((ACT − mid) / width)).
        public var anticoagulationMidpoint: Duration
        public var anticoagulationWidth: Duration
        /// Multiplier for polypropylene relative to PMP (assumption: 0.3), applied to the
        /// sticking probability and to the thrombus growth on the (less firmly spread) cells.
        public var polypropyleneAdhesion: Double
        /// Vesicle sticking probability and blocked area, each relative to an MSC.
        /// (30–100 nm vs 10–30 µm: area ratio ≈ (0.065/20)² ≈ 1e-5.)
        public var vesicleCaptureRatio: Double
        public var vesicleAreaRatio: Double
        /// Smallest open fraction: plasma still finds a path (caps the factor at 1000).
        public var minimumOpenFraction: Double

        public init(poolVolume: Volume = .mL(1000),
                    preOxygenatorVolume: Volume = .mL(50),
                    returnFraction: Double = 1,
                    captureProbability: Double = 0.15,
                    cellsToOcclude: Double = 6e8,
                    thrombusGrowthRate: Double = 0.005,
                    referenceFlow: Flow = .lpm(4),
                    anticoagulationMidpoint: Duration = .seconds(320),
                    anticoagulationWidth: Duration = .seconds(20),
                    polypropyleneAdhesion: Double = 0.3,
                    vesicleCaptureRatio: Double = 0.01,
                    vesicleAreaRatio: Double = 1e-5,
                    minimumOpenFraction: Double = 0.001) {
            self.poolVolume = poolVolume
            self.preOxygenatorVolume = preOxygenatorVolume
            self.returnFraction = returnFraction
            self.captureProbability = captureProbability
            self.cellsToOcclude = cellsToOcclude
            self.thrombusGrowthRate = thrombusGrowthRate
            self.referenceFlow = referenceFlow
            self.anticoagulationMidpoint = anticoagulationMidpoint
            self.anticoagulationWidth = anticoagulationWidth
            self.polypropyleneAdhesion = polypropyleneAdhesion
            self.vesicleCaptureRatio = vesicleCaptureRatio
            self.vesicleAreaRatio = vesicleAreaRatio
            self.minimumOpenFraction = minimumOpenFraction
        }

        /// A closed ex vivo loop (Millar): 1 L of blood, everything recirculates.
        public static let exVivoLoop = Parameters()

        /// An adult on VV ECMO: 5 L blood volume. Of the cells returned to the right atrium,
        /// ~15 % are recirculated straight into the drainage cannula and of the other 85 %
        /// the lungs retain ~90 % on first pass: 0.15 + 0.85 × 0.1 ≈ 0.24, rounded to 0.2.
        public static let adultPatient = Parameters(poolVolume: .mL(5000), returnFraction: 0.2)
    }

    /// Particle counts of one kind in each compartment.
    public struct Inventory: Sendable, Equatable {
        public var approaching = 0.0
        public var circulating = 0.0
        public var deposited = 0.0
        public var cleared = 0.0
        public var total: Double { approaching + circulating + deposited + cleared }
        public init() {}
    }

    public var parameters: Parameters
    /// Activated clotting time; settable at any time (ELSO target 180–220 s).
    public var activatedClottingTime: Duration = .seconds(200)
    public var membrane: MembraneMaterial = .pmp
    public private(set) var cells = Inventory()
    public private(set) var vesicles = Inventory()
    /// Fraction of the bundle blocked by thrombus grown on deposits.
    public private(set) var thrombusFraction = 0.0

    public init(parameters: Parameters = .exVivoLoop, membrane: MembraneMaterial = .pmp,
                activatedClottingTime: Duration = .seconds(200)) {
        self.parameters = parameters
        self.membrane = membrane
        self.activatedClottingTime = activatedClottingTime
    }

    /// Fraction of the blood path covered by deposited particles themselves.
    public var cellCoveredFraction: Double {
        let covered = (cells.deposited + parameters.vesicleAreaRatio * vesicles.deposited)
            / max(parameters.cellsToOcclude, 1)
        return min(covered, 1 - parameters.minimumOpenFraction)
    }

    /// Open fraction of the fibre bundle (1 = clean).
    public var openFraction: Double {
        max(1 - cellCoveredFraction - thrombusFraction, parameters.minimumOpenFraction)
    }

    /// Multiplies the clean oxygenator resistance: 1 = clean, rising with deposits.
    public var resistanceFactor: Double { 1 / openFraction }

    /// g(ACT): 1 at ordinary anticoagulation, → 0 above ~400 s (Takuya: no adhesion).
    public var anticoagulationFactor: Double {
        Self.anticoagulation(act: activatedClottingTime, parameters: parameters)
    }

    static func anticoagulation(act: Duration, parameters: Parameters) -> Double {
        let mid = parameters.anticoagulationMidpoint.seconds
        let width = max(parameters.anticoagulationWidth.seconds, 1e-3)
        return 1 / (1 + Double.exp((act.seconds - mid) / width))
    }

    /// g(ACT) for the ACT and parameters it was computed with: `step` runs every
    /// simulated millisecond, the ACT changes a few times an experiment, and the
    /// logistic's `exp` was a tenth of a simulated tick.
    private var anticoagulationCache = AnticoagulationCache()

    private mutating func cachedAnticoagulationFactor() -> Double {
        let c = anticoagulationCache
        if c.valid, c.act == activatedClottingTime, c.midpoint == parameters.anticoagulationMidpoint,
           c.width == parameters.anticoagulationWidth {
            return c.factor
        }
        let f = anticoagulationFactor
        anticoagulationCache = AnticoagulationCache(valid: true, act: activatedClottingTime, midpoint: parameters.anticoagulationMidpoint,
                                                    width: parameters.anticoagulationWidth, factor: f)
        return f
    }

    /// A memo, not state: two models that differ only in what they have memoised are equal.
    struct AnticoagulationCache: Sendable, Equatable {
        var valid = false
        var act: Duration = .zero
        var midpoint: Duration = .zero
        var width: Duration = .zero
        var factor = 1.0
        static func == (a: Self, b: Self) -> Bool { true }
    }

    var materialFactor: Double { membrane == .pmp ? 1 : parameters.polypropyleneAdhesion }

    /// Probability that one particle of `kind` sticks on one pass.
    public func captureProbability(_ kind: ParticleKind) -> Double {
        captureProbability(kind, anticoagulation: anticoagulationFactor)
    }

    func captureProbability(_ kind: ParticleKind, anticoagulation g: Double) -> Double {
        let size = kind == .msc ? 1 : parameters.vesicleCaptureRatio
        return min(1, max(0, parameters.captureProbability * g * materialFactor * size))
    }

    /// Adds `count` particles at `port`. Post-oxygenator particles join the pool only in
    /// the fraction that would come back from the reservoir or patient.
    public mutating func infuse(cells count: Double, kind: ParticleKind, port: InfusionPort) {
        guard count > 0, count.isFinite else { return }
        let r = min(1, max(0, parameters.returnFraction))
        switch (kind, port) {
        case (.msc, .prePump), (.msc, .preOxygenator):
            cells.approaching += count
        case (.msc, .postOxygenator):
            cells.circulating += r * count
            cells.cleared += (1 - r) * count
        case (.extracellularVesicle, .prePump), (.extracellularVesicle, .preOxygenator):
            vesicles.approaching += count
        case (.extracellularVesicle, .postOxygenator):
            vesicles.circulating += r * count
            vesicles.cleared += (1 - r) * count
        }
    }

    /// Advances transport, deposition and thrombus growth by `dt` at circuit flow `flow`.
    public mutating func step(flow: Flow, dt: Duration) {
        let h = dt.seconds
        guard h > 0 else { return }
        // A clean circuit with nothing infused has nothing to move and nothing to grow on.
        let moving = cells.approaching > 0 || cells.circulating > 0 || vesicles.approaching > 0 || vesicles.circulating > 0
        guard moving || cells.deposited > 0 || vesicles.deposited > 0 else { return }
        let q = abs(flow.millilitersPerSecond)
        let g = cachedAnticoagulationFactor()
        Self.transport(&cells, p: captureProbability(.msc, anticoagulation: g), q: q, h: h, parameters: parameters)
        Self.transport(&vesicles, p: captureProbability(.extracellularVesicle, anticoagulation: g), q: q, h: h, parameters: parameters)
        // Thrombus: the open fraction decays exponentially at a rate set by the seeding deposit.
        let phiC = cellCoveredFraction
        let qRef = max(parameters.referenceFlow.millilitersPerSecond, 1e-9)
        let rate = parameters.thrombusGrowthRate * g * materialFactor * phiC * q / qRef
        let open = max(1 - phiC - thrombusFraction, 0) * Double.exp(-rate * h)
        thrombusFraction = max(0, 1 - phiC - open)
    }

    private static func transport(_ inv: inout Inventory, p: Double, q: Double, h: Double, parameters: Parameters) {
        guard inv.approaching > 0 || inv.circulating > 0 else { return }
        let vLine = max(parameters.preOxygenatorVolume.milliliters, 1e-6)
        let vPool = max(parameters.poolVolume.milliliters, 1e-6)
        let fromLine = inv.approaching * (1 - Double.exp(-q / vLine * h))
        let fromPool = inv.circulating * (1 - Double.exp(-q / vPool * h))
        let through = fromLine + fromPool
        let r = min(1, max(0, parameters.returnFraction))
        inv.approaching -= fromLine
        inv.circulating += r * (1 - p) * through - fromPool
        inv.deposited += p * through
        inv.cleared += (1 - r) * (1 - p) * through
    }
}
