import ECMOCore

/// A lumped model of the bench circuit: reservoir → drainage line → centrifugal pump →
/// oxygenator → return line (clamp) → reservoir. One inertial flow state and a
/// first-order motor; pressures follow from the flow through each resistance.
///
/// Equations (Q in L/min, ω in krpm, pressures in mmHg):
/// - pump head        H(ω, Q)   = k·ω² − h·Q·|Q|
/// - each resistance  ΔP(Q)     = r₁·Q + r₂·Q·|Q|   (laminar + turbulent terms)
/// - flow dynamics    L·dQ/dt   = H − ΔP_drain − ΔP_oxy − ΔP_return
/// - motor            τ·dω/dt   = ω_cmd − ω   (coasting with τ_coast when disabled)
/// - P_drain = P_res − ΔP_drain,  P_post = P_res + ΔP_return,  P_pre = P_post + ΔP_oxy
///
/// The flow step is backward Euler linearised about the present flow, so a closed clamp
/// (a resistance thousands of times larger) stays stable at a 1 ms step.
///
/// Default numbers give an adult-like circuit: about 4 L/min at 3000 rpm with
/// P_drain ≈ −43, P_pre ≈ 170, P_post ≈ 150 mmHg and ΔP_oxy ≈ 21 mmHg (the Millar
/// control circuit: 21 ± 4 mmHg at 4.12 L/min); 1.5 L/min at 1500 rpm, 8 L/min at 5000.
/// The simulator issue replaces these with a calibrated, documented parameter set.
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
    }

    public struct Parameters: Sendable, Equatable {
        /// Shut-off head coefficient k (mmHg per krpm²).
        public var pumpHeadCoefficient = 27.7
        /// Head lost to flow inside the pump h (mmHg per (L/min)²).
        public var pumpFlowLoss = 2.0
        public var drainage = Resistance(linear: 8.0, quadratic: 1.0)
        public var oxygenator = Resistance(linear: 4.5, quadratic: 0.2)
        public var returnLine = Resistance(linear: 25.0, quadratic: 3.0)
        /// Extra linear resistance of the return line when clamped (mmHg per L/min).
        public var clampResistance = 50_000.0
        /// Fluid inertance L (mmHg·s per (L/min)).
        public var inertance = 17.0
        /// Reservoir (or venous) pressure at the cannula tips.
        public var reservoirPressure = Pressure(mmHg: 0)
        /// Motor time constant while driven, and while coasting with the enable off.
        public var motorTimeConstant: Duration = .milliseconds(300)
        public var coastTimeConstant: Duration = .seconds(1)
        public init() {}
    }

    public var parameters: Parameters
    /// Present rotor speed.
    public private(set) var speed: PumpSpeed = .zero
    /// Present flow (positive: forward through the oxygenator).
    public private(set) var flow: Flow = .zero
    /// Multiplies the oxygenator resistance (1 = clean). Fouling raises it.
    public var oxygenatorResistanceFactor = 1.0

    public init(parameters: Parameters = Parameters()) { self.parameters = parameters }

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

    public func head(speed: PumpSpeed, flow q: Double) -> Double {
        let w = speed.rpm / 1000
        return parameters.pumpHeadCoefficient * w * w - parameters.pumpFlowLoss * q * abs(q)
    }

    private func oxygenatorResistance() -> Resistance {
        Resistance(linear: parameters.oxygenator.linear * oxygenatorResistanceFactor,
                   quadratic: parameters.oxygenator.quadratic * oxygenatorResistanceFactor)
    }

    private func returnResistance(clamped: Bool) -> Resistance {
        var r = parameters.returnLine
        if clamped { r.linear += parameters.clampResistance }
        return r
    }

    /// Advances the circuit by `dt` under `drive`.
    public mutating func step(_ drive: Drive, dt: Duration) {
        let h = dt.seconds
        guard h > 0 else { return }
        // Motor.
        let target = drive.pumpEnabled ? max(0, drive.commandedSpeed.rpm) : 0
        let tau = (drive.pumpEnabled ? parameters.motorTimeConstant : parameters.coastTimeConstant).seconds
        speed = PumpSpeed(rpm: speed.rpm + (target - speed.rpm) * (1 - exp(-h / tau)))
        // Flow: backward Euler, one Newton step.
        let q = flow.litersPerMinute
        let oxy = oxygenatorResistance()
        let ret = returnResistance(clamped: drive.clampClosed)
        let net = head(speed: speed, flow: q) - parameters.drainage.drop(q) - oxy.drop(q) - ret.drop(q)
        let slope = 2 * parameters.pumpFlowLoss * abs(q) + parameters.drainage.slope(q) + oxy.slope(q) + ret.slope(q)
        let dq = (h / parameters.inertance) * net / (1 + (h / parameters.inertance) * slope)
        flow = Flow(litersPerMinute: q + dq)
    }

    /// Pressures at the sensor sites for the present flow and clamp state.
    public func pressures(clampClosed: Bool) -> Pressures {
        let q = flow.litersPerMinute
        let pRes = parameters.reservoirPressure.mmHg
        let drain = pRes - parameters.drainage.drop(q)
        let post: Double
        if clampClosed {
            // Clamp sits downstream of P_post: the pump head stands against it.
            post = pRes + returnResistance(clamped: true).drop(q)
        } else {
            post = pRes + parameters.returnLine.drop(q)
        }
        let pre = post + oxygenatorResistance().drop(q)
        return Pressures(drain: .mmHg(drain), preOxygenator: .mmHg(pre), postOxygenator: .mmHg(post))
    }

    /// Steady-state flow for a speed (no clamp), by bisection on the head balance.
    public func steadyStateFlow(at speed: PumpSpeed) -> Flow {
        var lo = 0.0, hi = 20.0
        let oxy = oxygenatorResistance()
        for _ in 0..<60 {
            let mid = (lo + hi) / 2
            let net = head(speed: speed, flow: mid) - parameters.drainage.drop(mid) - oxy.drop(mid) - parameters.returnLine.drop(mid)
            if net > 0 { lo = mid } else { hi = mid }
        }
        return Flow(litersPerMinute: (lo + hi) / 2)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif
