import RealModule
import ECMOCore
import ECMOProtocol

/// A lumped, calibrated model of the bench circuit:
/// venous pool → cannula-site compartment (P_res) → drainage line (P_drain) → centrifugal
/// pump → pre-oxygenator (P_pre) → oxygenator → post-oxygenator (P_post) → return line
/// (clamp) → venous pool. Derivation, parameter sources and calibration:
/// `docs/simulator-model.md`.
///
/// States: circuit flow Q (one inertial flow: the tubing is rigid), the volume of the
/// compartment at the drainage cannula tip, rotor speed, fluid temperature, and the
/// oxygenator fouling (`fouling`). Units inside: Q in L/min, ω in krpm, P in mmHg, V in mL.
/// - pump head       H(ω, Q) = a·ω² + b·ω·Q − c·Q·|Q|
/// - each resistance ΔP(Q)   = r₁·Q + r₂·Q·|Q|   (laminar + inertial/turbulent terms)
/// - flow            L·dQ/dt = P_res + H − ΔP_drain − ΔP_oxy − ΔP_return − P_pool
/// - compartment     dV/dt   = Q_vr − Q,  Q_vr = s_v·(P_pool − max(P_res, 0)) / R_vr
///   (Guyton's venous return: it plateaus once the vessel at the cannula collapses),
///   P_res = V/C above 0 mmHg, V/C_collapse below (a collapsed vein is stiff), so when
///   the pump asks for more than the venous return, P_res and P_drain fall steeply.
/// - motor           τ·dω/dt = ω_cmd − ω  (coasting, or braking when the rotor is stalled)
///
/// The (Q, V) step is backward Euler linearised about the present state (one Newton step
/// of a 2×2 system), so a closed clamp or a kinked line (resistances 10⁴× larger) stays
/// stable at 1 ms and the calibration is the same at 1 ms, 10 ms or 100 ms steps.
/// `step` allocates nothing.
public struct CircuitModel: Sendable {
    public struct Resistance: Sendable, Equatable {
        /// mmHg per (L/min).
        public var linear: Double
        /// mmHg per (L/min)².
        public var quadratic: Double
        public init(linear: Double, quadratic: Double) {
            self.linear = linear
            self.quadratic = quadratic
        }
        public func drop(_ q: Double) -> Double { linear * q + quadratic * q * abs(q) }
        public func slope(_ q: Double) -> Double { linear + 2 * quadratic * abs(q) }
        func scaled(_ k: Double) -> Resistance { Resistance(linear: linear * k, quadratic: quadratic * k) }
    }

    /// Every number of the model. Defaults are the adult preset (`.adultPatient`).
    public struct Parameters: Sendable, Equatable {
        /// Shut-off head coefficient a (mmHg per krpm²): Rotaflow/CentriMag-like, ≈ 270 mmHg
        /// at 3000 rpm and ≈ 740 mmHg at 5000 rpm at zero flow.
        public var pumpHeadCoefficient = 29.6
        /// Speed–flow term b (mmHg per krpm per L/min); 0: the fit needs no hump.
        public var pumpSpeedFlowCoefficient = 0.0
        /// Head lost to flow inside the pump c (mmHg per (L/min)²).
        public var pumpFlowLoss = 2.43
        /// Drainage cannula and line, upstream of the P_drain sensor.
        public var drainage = Resistance(linear: 9.0, quadratic: 1.25)
        /// The clean oxygenator (Quadrox-iD-like: ≈ 21 mmHg at 4.12 L/min).
        public var oxygenator = Resistance(linear: 4.5, quadratic: 0.15)
        /// Return line and cannula, downstream of the P_post sensor.
        public var returnLine = Resistance(linear: 25.0, quadratic: 2.8)
        /// Extra linear resistance of the return line when clamped (mmHg per L/min).
        public var clampResistance = 50_000.0
        /// Time the return clamp takes to travel fully closed or open. A clamp does not cut
        /// flow in an instant: the column of blood (the inertance below) would then need
        /// hundreds of mmHg to stop, a water hammer real tubing compliance and valve travel
        /// prevent. 500 ms: a motorised pinch valve; a solenoid valve is faster and this
        /// lumped model (no arterial-side compliance) would then overstate its transient.
        public var clampTravelTime: Duration = .milliseconds(500)
        /// Fluid inertance L (mmHg·s per (L/min)): ρ·ℓ/A summed over tubing and cannulae.
        public var inertance = 10.0
        /// Pressure of the venous pool the circuit drains from and returns to (mean
        /// systemic filling pressure for a patient, hydrostatic head of a reservoir).
        public var venousPoolPressure = Pressure(mmHg: 10)
        /// Resistance from the pool to the cannula-site compartment (mmHg per L/min).
        /// Venous return plateaus at P_pool / R_vr (here 6 L/min) once P_res reaches 0.
        public var venousReturnResistance = 10.0 / 6.0
        /// Compliance of the compartment at the cannula tip while distended, and once
        /// collapsed (mL per mmHg).
        public var compliance = 20.0
        public var collapsedCompliance = 0.2
        /// Motor time constant while driven, while coasting with the enable off, and while
        /// braked by a locked rotor.
        public var motorTimeConstant: Duration = .milliseconds(300)
        public var coastTimeConstant: Duration = .seconds(1)
        public var stallTimeConstant: Duration = .milliseconds(30)
        /// Heater set point, room temperature, and how fast the fluid follows each.
        public var heaterSetpoint = Temperature(celsius: 37)
        public var ambientTemperature = Temperature(celsius: 22)
        public var heaterTimeConstant: Duration = .seconds(600)
        public var coolingTimeConstant: Duration = .seconds(2400)
        public init() {}
    }

    public var parameters: Parameters
    /// Oxygenator deposits (cells, thrombus); advanced by `step` with the circuit flow.
    public var fouling: FoulingModel
    /// Present rotor speed.
    public private(set) var speed: PumpSpeed = .zero
    /// Present flow (positive: forward through the oxygenator).
    public private(set) var flow: Flow = .zero
    /// Return clamp position, 0 open … 1 closed; it follows the drive at `clampTravelTime`.
    /// Starts closed (the safe state at boot).
    public private(set) var clampPosition = 1.0
    /// Volume of the cannula-site compartment above its zero-pressure volume (negative:
    /// the vessel or reservoir bag is collapsing).
    public private(set) var compartmentVolume: Volume
    public private(set) var temperature: Temperature

    /// An extra factor on the oxygenator resistance on top of fouling (1 = none): a fault
    /// hook for a clotted or kinked oxygenator independent of infused cells.
    public var oxygenatorResistanceFactor = 1.0

    // MARK: Fault hooks (applied in `step`, read by the fault catalogue)

    /// 0 = open … 1 = fully kinked drainage line. The open area falls as 1 − o and the
    /// resistance rises as 1/(1 − o)² (capped at o = 0.998): the pump sucks, P_drain
    /// falls toward P_res − shut-off head.
    public var drainageOcclusion = 0.0
    /// 0 = open … 1 = fully kinked return line (downstream of P_post): P_post and P_pre rise
    /// toward the shut-off head.
    public var returnOcclusion = 0.0
    /// Rotor locked (thrombus in the pump, bearing failure): speed falls to 0 within
    /// `stallTimeConstant` whatever the command.
    public var pumpStalled = false
    /// Air in front of the bubble detector: a flag for the board, no physics.
    public var airInLine = false
    /// Scales venous return (1 = normal; 0.5 = hypovolaemia or a malpositioned cannula:
    /// half the venous return, so suction starts at half the flow).
    public var venousReturnScale = 1.0
    /// Heater on: the fluid relaxes to `heaterSetpoint`; off: it drifts to room temperature.
    public var heaterOn = true

    public init(parameters: Parameters = Parameters(), fouling: FoulingModel = FoulingModel(parameters: .adultPatient)) {
        self.parameters = parameters
        self.fouling = fouling
        compartmentVolume = .mL(parameters.venousPoolPressure.mmHg * parameters.compliance)
        temperature = parameters.heaterSetpoint
    }

    /// Inputs from the actuators.
    public struct Drive: Sendable, Equatable {
        public var commandedSpeed: PumpSpeed
        public var pumpEnabled: Bool
        public var clampClosed: Bool
        public init(commandedSpeed: PumpSpeed, pumpEnabled: Bool, clampClosed: Bool) {
            self.commandedSpeed = commandedSpeed
            self.pumpEnabled = pumpEnabled
            self.clampClosed = clampClosed
        }
    }

    /// Pressures at the three sensor sites.
    public struct Pressures: Sendable, Equatable {
        public var drain: Pressure
        public var preOxygenator: Pressure
        public var postOxygenator: Pressure
        public var oxygenatorDrop: Pressure { preOxygenator - postOxygenator }
    }

    // MARK: Derived quantities

    /// Pump head at `speed` and flow `q` (L/min), mmHg.
    public func head(speed: PumpSpeed, flow q: Double) -> Double {
        let w = speed.rpm / 1000
        return parameters.pumpHeadCoefficient * w * w + parameters.pumpSpeedFlowCoefficient * w * q
            - parameters.pumpFlowLoss * q * abs(q)
    }

    /// Total multiplier on the clean oxygenator resistance (fouling × fault factor).
    public var effectiveOxygenatorResistanceFactor: Double {
        fouling.resistanceFactor * max(oxygenatorResistanceFactor, 0)
    }

    /// Pressure in the compartment at the drainage cannula tip.
    public var reservoirPressure: Pressure { .mmHg(compartmentPressure(compartmentVolume.milliliters)) }

    /// Present oxygenator resistance ΔP_oxy / Q at the present flow (fouling included):
    /// the fouling indicator the firmware estimates from its sensors.
    public var oxygenatorResistance: HydraulicResistance {
        let q = max(abs(flow.litersPerMinute), 0.01)
        return HydraulicResistance(mmHgMinutePerLiter: oxygenatorDrop().drop(q) / q)
    }

    /// Resistance multiplier of a line with occlusion `o`: open area 1 − o, orifice-like 1/A².
    static func occlusionFactor(_ o: Double) -> Double {
        let open = 1 - min(max(o, 0), 0.998)
        return 1 / (open * open)
    }

    private func oxygenatorDrop() -> Resistance { parameters.oxygenator.scaled(effectiveOxygenatorResistanceFactor) }
    private func drainageDrop() -> Resistance { parameters.drainage.scaled(Self.occlusionFactor(drainageOcclusion)) }
    private func returnDrop(clamped: Bool) -> Resistance { returnDrop(position: clamped ? 1 : 0) }
    private func returnDrop(position: Double) -> Resistance {
        var r = parameters.returnLine.scaled(Self.occlusionFactor(returnOcclusion))
        // A pinch valve's conductance falls with its travel: linearly, from the line's own
        // (open) to the clamp's leak (closed), so flow tapers over the travel time.
        if position > 0 {
            let open = r.linear + r.quadratic * 4   // the line's resistance near 4 L/min
            let g = (1 - position) / open + position / parameters.clampResistance
            r.linear += max(1 / g - open, 0)
        }
        return r
    }

    private func compartmentPressure(_ v: Double) -> Double {
        v >= 0 ? v / parameters.compliance : v / parameters.collapsedCompliance
    }

    private var venousConductance: Double { max(venousReturnScale, 0) / parameters.venousReturnResistance }

    // MARK: Dynamics

    /// Advances the circuit by `dt` under `drive`.
    public mutating func step(_ drive: Drive, dt: Duration) {
        let h = dt.seconds
        guard h > 0 else { return }
        // Motor.
        let target: Double
        let tau: Double
        if pumpStalled {
            target = 0
            tau = parameters.stallTimeConstant.seconds
        } else if drive.pumpEnabled {
            target = max(0, drive.commandedSpeed.rpm)
            tau = parameters.motorTimeConstant.seconds
        } else {
            target = 0
            tau = parameters.coastTimeConstant.seconds
        }
        speed = PumpSpeed(rpm: speed.rpm + (target - speed.rpm) * (1 - Double.exp(-h / max(tau, 1e-6))))

        // Clamp travel.
        let travel = h / max(parameters.clampTravelTime.seconds, 1e-9)
        let clampTarget = drive.clampClosed ? 1.0 : 0.0
        if clampTarget > clampPosition {
            clampPosition = min(clampPosition + travel, clampTarget)
        } else if clampTarget < clampPosition {
            clampPosition = max(clampPosition - travel, clampTarget)
        }

        // Flow and compartment volume: linearised backward Euler on (Q, V).
        let q = flow.litersPerMinute
        let v = compartmentVolume.milliliters
        let drain = drainageDrop(), oxy = oxygenatorDrop(), ret = returnDrop(position: clampPosition)
        let pPool = parameters.venousPoolPressure.mmHg
        let pRes = compartmentPressure(v)
        let dP = v >= 0 ? 1 / parameters.compliance : 1 / parameters.collapsedCompliance
        let inertance = parameters.inertance
        let w = speed.rpm / 1000
        let headSlope = parameters.pumpSpeedFlowCoefficient * w - 2 * parameters.pumpFlowLoss * abs(q)
        let f1 = (head(speed: speed, flow: q) - drain.drop(q) - oxy.drop(q) - ret.drop(q) + pRes - pPool) / inertance
        let g = venousConductance
        let qVenous = g * (pPool - max(pRes, 0))
        let kf = 1000.0 / 60.0   // mL/s per L/min
        let f2 = kf * (qVenous - q)
        let j11 = (headSlope - drain.slope(q) - oxy.slope(q) - ret.slope(q)) / inertance
        let j12 = dP / inertance
        let j21 = -kf
        let j22 = pRes > 0 ? -kf * g * dP : 0
        let a11 = 1 - h * j11, a12 = -h * j12, a21 = -h * j21, a22 = 1 - h * j22
        let det = a11 * a22 - a12 * a21
        guard det.isFinite, abs(det) > 1e-300 else { return }
        let dq = (h * f1 * a22 - a12 * h * f2) / det
        let dv = (a11 * h * f2 - a21 * h * f1) / det
        flow = Flow(litersPerMinute: q + dq)
        compartmentVolume = Volume(milliliters: v + dv)

        fouling.step(flow: flow, dt: dt)

        // Temperature: first-order toward the heater set point or the room.
        let tTarget = heaterOn ? parameters.heaterSetpoint : parameters.ambientTemperature
        let tTau = (heaterOn ? parameters.heaterTimeConstant : parameters.coolingTimeConstant).seconds
        temperature = temperature + (tTarget - temperature) * (1 - Double.exp(-h / max(tTau, 1e-6)))
    }

    /// Pressures at the sensor sites for the present state (the clamp where it has travelled to).
    public func pressures() -> Pressures {
        let q = flow.litersPerMinute
        let drain = compartmentPressure(compartmentVolume.milliliters) - drainageDrop().drop(q)
        // The clamp and any return-line kink sit downstream of P_post.
        let post = parameters.venousPoolPressure.mmHg + returnDrop(position: clampPosition).drop(q)
        let pre = post + oxygenatorDrop().drop(q)
        return Pressures(drain: .mmHg(drain), preOxygenator: .mmHg(pre), postOxygenator: .mmHg(post))
    }

    /// Steady-state flow for a speed with the clamp open, under the present fouling and
    /// faults, by bisection on the head balance; capped by the venous-return plateau.
    public func steadyStateFlow(at speed: PumpSpeed) -> Flow {
        let g = venousConductance
        let drain = drainageDrop(), oxy = oxygenatorDrop(), ret = returnDrop(clamped: false)
        let w = pumpStalled ? 0 : speed.rpm
        let s = PumpSpeed(rpm: w)
        let netAtRest = head(speed: s, flow: 0)
        guard netAtRest > 0 else { return .zero }
        var lo = 0.0, hi = 20.0
        for _ in 0..<80 {
            let mid = (lo + hi) / 2
            let venousDrop = g > 0 ? mid / g : .infinity
            let net = head(speed: s, flow: mid) - drain.drop(mid) - oxy.drop(mid) - ret.drop(mid) - venousDrop
            if net > 0 { lo = mid } else { hi = mid }
        }
        let plateau = g * parameters.venousPoolPressure.mmHg
        return Flow(litersPerMinute: min((lo + hi) / 2, max(plateau, 0)))
    }

    // MARK: Convenience

    /// Infuses particles into the circuit (forwards to `fouling`).
    public mutating func infuse(cells count: Double, kind: ParticleKind, port: InfusionPort) {
        fouling.infuse(cells: count, kind: kind, port: port)
    }

    /// Runs the plant alone at constant drive for `duration` with step `dt`.
    public mutating func run(_ drive: Drive, for duration: Duration, dt: Duration) {
        guard dt > .zero else { return }
        var t = Duration.zero
        while t < duration {
            let h = min(dt, duration - t)
            step(drive, dt: h)
            t += h
        }
    }
}
