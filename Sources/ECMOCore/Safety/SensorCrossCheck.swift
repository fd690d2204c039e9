/// Something the oxygenator monitors did that belongs in the run's log: the fouling
/// monitor armed (its baseline, when and from what), could not arm yet, was resumed by the
/// operator; or the sensor cross-check suspects a pressure sensor of drifting. Plain values
/// (no strings), so it travels through the event ring like any `RigEvent`.
public struct MonitorEvent: Sendable, BitwiseCopyable, Equatable {
    public enum Kind: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
        case foulingArmed = 1
        case foulingNotArmed = 2
        case foulingResumed = 3
        case sensorDrift = 4
        public var description: String {
            switch self {
            case .foulingArmed: "fouling_armed"
            case .foulingNotArmed: "fouling_not_armed"
            case .foulingResumed: "fouling_resumed"
            case .sensorDrift: "sensor_drift"
            }
        }
    }
    /// Where a fouling baseline came from.
    public enum BaselineSource: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
        /// The default window (`baselineDelay` … + `baselineWindow` into regulation).
        case window = 1
        /// The protocol closed the baseline before the window: the settled samples so far.
        case early = 2
        /// Closed before any usable sample: collected over `lateWindow` after the close.
        case afterClose = 3
        /// The operator resumed a fouling pause with a new baseline.
        case operatorResume = 4
        public var description: String {
            switch self {
            case .window: "window"
            case .early: "early"
            case .afterClose: "after_close"
            case .operatorResume: "operator_resume"
            }
        }
    }
    /// Why the fouling monitor did not arm when asked to.
    public enum NotArmedReason: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
        case none = 0
        /// The protocol closed the baseline before the circuit had settled long enough.
        case closedBeforeSettled = 1
        public var description: String {
            switch self {
            case .none: "none"
            case .closedBeforeSettled: "closed_before_settled"
            }
        }
    }
    /// What the cross-check found wrong.
    public enum DriftCheck: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
        case none = 0
        /// P_post moved without the flow that would move it.
        case postVersusFlow = 1
        /// The pump head (P_pre − P_drain) left the pump curve at the measured speed and flow.
        case headVersusPumpCurve = 2
        /// P_pre and P_post differ with nothing flowing.
        case zeroFlowDifference = 3
        public var description: String {
            switch self {
            case .none: "none"
            case .postVersusFlow: "post_vs_flow"
            case .headVersusPumpCurve: "head_vs_pump_curve"
            case .zeroFlowDifference: "zero_flow_difference"
            }
        }
    }

    public var kind: Kind
    public var time: Instant
    public var resistance: HydraulicResistance?
    public var flow: Flow?
    public var source: BaselineSource?
    public var reason: NotArmedReason
    /// The sensor suspected of drifting, and by how much its reading is off the cross-check.
    public var role: SensorRole?
    public var error: Pressure?
    public var check: DriftCheck

    public init(_ kind: Kind, at time: Instant, resistance: HydraulicResistance? = nil, flow: Flow? = nil,
                source: BaselineSource? = nil, reason: NotArmedReason = .none, role: SensorRole? = nil,
                error: Pressure? = nil, check: DriftCheck = .none) {
        self.kind = kind
        self.time = time
        self.resistance = resistance
        self.flow = flow
        self.source = source
        self.reason = reason
        self.role = role
        self.error = error
        self.check = check
    }
}

/// Tells a drifting pressure sensor from oxygenator fouling. Each pressure sensor alone
/// stays in range while it drifts, and ΔP_oxy = P_pre − P_post moves exactly as fouling (or
/// its recovery) would. But the circuit ties the sensors together:
/// - P_post sits downstream of the oxygenator: it is the return line's drop at the present
///   flow, so it moves only with flow (same direction, at most twice its mean slope
///   P_post/Q for a drop a·Q + b·Q²); fouling leaves it alone at a constant flow.
/// - the pump head P_pre − P_drain is the pump curve's at the measured speed and flow;
///   fouling moves speed or flow with it, a drifting P_pre (or P_drain) does not.
/// - with nothing flowing, P_pre and P_post read the same pressure.
/// Each check compares changes from a reference taken once regulation has settled, so an
/// offset in the board's pump curve does not matter, and names the sensor it suspects.
/// Pure, no allocation: filtered values and timers only.
public struct SensorCrossCheck: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Regulating this long before the reference is taken (filters settled).
        public var settle: Duration = .seconds(30)
        /// Low-pass on every signal: noise out, a drift's lag small (τ × rate).
        public var filterTimeConstant: Duration = .seconds(5)
        /// A reading this far off what the others say is suspect: the larger of
        /// `minimumTolerance` and `dropFraction` of the reference ΔP_oxy (so a drift is named
        /// well before it has moved ΔP by half of its baseline).
        public var minimumTolerance = Pressure(mmHg: 4)
        public var dropFraction = 0.25
        /// Extra tolerance on the head check per mmHg the curve's head moved from the
        /// reference (the board's curve is a fit, not the pump).
        public var curveFraction = 0.1
        /// The mismatch must hold this long.
        public var persistence: Duration = .seconds(5)
        /// Zero-flow check: below this flow with the pump stopped, P_pre and P_post agree to
        /// `zeroFlowTolerance`.
        public var zeroFlow: Flow = .lpm(0.2)
        public var zeroFlowTolerance = Pressure(mmHg: 10)
        public init() {}
    }

    public var configuration: Configuration
    /// The sensor suspected now (nil: none), the check that found it and its error.
    public private(set) var suspect: SensorRole?
    public private(set) var suspectCheck: MonitorEvent.DriftCheck = .none
    public private(set) var suspectError: Pressure?
    /// When the last suspicion was raised.
    public private(set) var suspectedAt: Instant?
    public private(set) var referenced = false
    private var fDrain = 0.0, fPre = 0.0, fPost = 0.0, fQ = 0.0, fSpeed = 0.0
    private var filtered = false
    private var refPost = 0.0, refQ = 0.0, refDrop = 0.0, refResidual = 0.0, refCurveHead = 0.0
    private var runningSince: Instant?
    private var mismatchSince: Instant?
    private var candidate: SensorRole?
    private var candidateCheck: MonitorEvent.DriftCheck = .none
    private var candidateError = 0.0
    private var lastUpdate: Instant?
    private var pending: MonitorEvent?

    public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

    /// One tick. `running`: regulating with nothing standing the checks down (the outflow
    /// clamp procedure, a pressure or flow alarm: a kink moves P_post without a drift).
    /// `pumpStopped`: the pump is off or below 100 rpm (the zero-flow check).
    public mutating func update(drain: Pressure?, pre: Pressure?, post: Pressure?, flow: Flow?, speed: PumpSpeed?,
                                running: Bool, pumpStopped: Bool, curve: PumpCurve?, now: Instant) {
        let dt = lastUpdate.map { (now - $0).seconds } ?? 0
        lastUpdate = now
        guard let d = drain, let a = pre, let b = post, let q = flow else {
            // A missing sample is SENSOR_INVALID's business; the checks wait.
            mismatchSince = nil
            runningSince = nil
            return
        }
        let s = speed?.rpm ?? 0
        let alpha = !filtered || dt <= 0 ? 1 : dt / (configuration.filterTimeConstant.seconds + dt)
        fDrain += (d.mmHg - fDrain) * alpha
        fPre += (a.mmHg - fPre) * alpha
        fPost += (b.mmHg - fPost) * alpha
        fQ += (q.litersPerMinute - fQ) * alpha
        fSpeed += (s - fSpeed) * alpha
        filtered = true

        var found: SensorRole?
        var check = MonitorEvent.DriftCheck.none
        var error = 0.0
        if pumpStopped && q < configuration.zeroFlow && !running {
            runningSince = nil
            let diff = fPre - fPost
            if abs(diff) > configuration.zeroFlowTolerance.mmHg {
                // The one further from P_drain (which reads the same resting pressure) is off.
                found = abs(fPre - fDrain) >= abs(fPost - fDrain) ? .preOxygenatorPressure : .postOxygenatorPressure
                check = .zeroFlowDifference
                error = found == .preOxygenatorPressure ? diff : -diff
            }
        } else if running {
            if runningSince == nil { runningSince = now }
            if !referenced, let since = runningSince, now - since >= configuration.settle {
                refPost = fPost
                refQ = fQ
                refDrop = fPre - fPost
                refCurveHead = curveHead(curve)
                refResidual = (fPre - fDrain) - refCurveHead
                referenced = true
            }
            if referenced {
                let tol = max(configuration.minimumTolerance.mmHg, configuration.dropFraction * abs(refDrop))
                // P_post against flow.
                let slope = 2 * max(refPost, 0) / max(refQ, 0.3)
                let dQ = fQ - refQ
                let lo = min(0, slope * dQ), hi = max(0, slope * dQ)
                let dPost = fPost - refPost
                let postOff = dPost > hi ? dPost - hi : (dPost < lo ? dPost - lo : 0)
                // Pump head against the curve.
                let head = curveHead(curve)
                let headOff = curve == nil ? 0 : ((fPre - fDrain) - head) - refResidual
                let headTol = tol + configuration.curveFraction * abs(head - refCurveHead)
                let held = suspect != nil ? 0.8 : 1.0   // a little hysteresis once suspected
                if abs(postOff) > tol * held {
                    found = .postOxygenatorPressure
                    check = .postVersusFlow
                    error = postOff
                } else if abs(headOff) > headTol * held {
                    // P_pre if ΔP_oxy moved with the head error, else P_drain (ΔP unaffected).
                    let dDrop = (fPre - fPost) - refDrop
                    let preMoved = abs(dDrop - headOff) < abs(headOff) / 2
                    found = preMoved ? .preOxygenatorPressure : .drainPressure
                    check = .headVersusPumpCurve
                    error = found == .drainPressure ? -headOff : headOff
                }
            }
        } else {
            // Standing down (clamp procedure, alarm, not regulating): keep the reference.
            runningSince = referenced ? runningSince : nil
        }

        if let f = found {
            if candidate != f { candidate = f; mismatchSince = now }
            candidateCheck = check
            candidateError = error
            if suspect != f, let since = mismatchSince, now - since >= configuration.persistence {
                suspect = f
                suspectCheck = check
                suspectError = Pressure(mmHg: error)
                suspectedAt = now
                pending = MonitorEvent(.sensorDrift, at: now, role: f, error: Pressure(mmHg: error), check: check)
            } else if suspect == f {
                suspectError = Pressure(mmHg: error)
            }
        } else {
            candidate = nil
            mismatchSince = nil
            if suspect != nil && running { suspect = nil; suspectCheck = .none; suspectError = nil }
        }
    }

    /// Hands out the suspicion just raised, once.
    public mutating func takeEvent() -> MonitorEvent? {
        defer { pending = nil }
        return pending
    }

    private func curveHead(_ curve: PumpCurve?) -> Double {
        guard let c = curve else { return 0 }
        let w = fSpeed / 1000
        return c.headCoefficient * w * w - c.flowLoss * fQ * abs(fQ)
    }
}
