import Testing
import ECMOCore

private func at(_ s: Double) -> Instant { .origin + .seconds(s) }

/// Issue 15 item 8: a drifting pressure sensor is named before the false ΔP_oxy change
/// reaches half of its baseline, and real fouling (at constant flow or at constant speed)
/// is never taken for a drift. The plant here is the simulator's adult circuit in closed
/// form: pump H = 29.6·ω² − 2.43·Q², return line 25·Q + 2.8·Q² into a 10 mmHg pool,
/// oxygenator (4.5·Q + 0.15·Q²)·f (f: fouling), drainage −(9·Q + 1.25·Q²).
@Suite struct SensorCrossCheckTests {
    static let curve = PumpCurve(headCoefficient: 29.6, flowLoss: 2.43)

    struct Reading { var drain, pre, post, q, speed: Double }

    static func plantAtFlow(_ q: Double, fouling f: Double) -> Reading {
        let post = 10 + 25 * q + 2.8 * q * q
        let pre = post + (4.5 * q + 0.15 * q * q) * f
        let drain = -(9 * q + 1.25 * q * q)
        let head = pre - drain
        let w = ((head + 2.43 * q * q) / 29.6).squareRoot()
        return Reading(drain: drain, pre: pre, post: post, q: q, speed: w * 1000)
    }

    /// Constant speed: the flow at which the pump head meets the circuit (bisection).
    static func plantAtSpeed(_ rpm: Double, fouling f: Double) -> Reading {
        var lo = 0.0, hi = 10.0
        for _ in 0..<60 {
            let mid = (lo + hi) / 2
            let r = plantAtFlow(mid, fouling: f)
            if r.speed < rpm { lo = mid } else { hi = mid }
        }
        return plantAtFlow(lo, fouling: f)
    }

    /// Runs the check at 100 Hz; `plant(t)` gives the true reading, `bias(t)` the drift per role.
    /// Returns the first suspicion and when.
    static func run(until end: Double, plant: (Double) -> Reading, bias: (Double) -> (drain: Double, pre: Double, post: Double) = { _ in (0, 0, 0) })
        -> (check: SensorCrossCheck, role: SensorRole?, at: Double?) {
        var c = SensorCrossCheck()
        var t = 0.0
        var first: (SensorRole, Double)?
        while t < end {
            let r = plant(t)
            let b = bias(t)
            c.update(drain: .mmHg(r.drain + b.drain), pre: .mmHg(r.pre + b.pre), post: .mmHg(r.post + b.post),
                     flow: .lpm(r.q), speed: .rpm(r.speed), running: true, pumpStopped: false, curve: curve, now: at(t))
            if first == nil, let s = c.suspect { first = (s, t) }
            t += 0.01
        }
        return (c, first?.0, first?.1)
    }

    static let baselineDrop = 4.5 * 4 + 0.15 * 16   // 20.4 mmHg at 4 L/min

    @Test(arguments: [(SensorRole.postOxygenatorPressure, 6.0), (.postOxygenatorPressure, -10.0),
                      (.preOxygenatorPressure, 5.0), (.preOxygenatorPressure, -20.0), (.preOxygenatorPressure, 2.0),
                      (.drainPressure, -10.0)])
    func aDriftingSensorIsNamedBeforeTheFalseDropChangeReachesHalfItsBaseline(_ role: SensorRole, _ perMinute: Double) {
        let start = 60.0
        let halfAt = start + Self.baselineDrop / 2 / abs(perMinute) * 60
        let result = Self.run(until: halfAt + 30, plant: { _ in Self.plantAtFlow(4, fouling: 1) }, bias: { t in
            let d = t > start ? (t - start) / 60 * perMinute : 0
            switch role {
            case .drainPressure: return (d, 0, 0)
            case .preOxygenatorPressure: return (0, d, 0)
            default: return (0, 0, d)
            }
        })
        #expect(result.role == role)
        let detected = result.at ?? .infinity
        #expect(detected > start && detected < halfAt, "named at \(detected) s, half of the baseline dP at \(halfAt) s")
    }

    @Test func foulingAtConstantFlowIsNotADrift() {
        // R triples over 10 min: the controller raises the speed, P_pre rises, P_post stays.
        let r = Self.run(until: 660, plant: { t in Self.plantAtFlow(4, fouling: 1 + 2 * max(0, t - 60) / 600) })
        #expect(r.role == nil)
    }

    @Test func foulingAtConstantSpeedIsNotADrift() {
        // Millar-like: R ×20, flow falls from about 4 to below 2.5 L/min at a fixed speed.
        let rpm = Self.plantAtFlow(4, fouling: 1).speed
        let r = Self.run(until: 1260, plant: { t in Self.plantAtSpeed(rpm, fouling: 1 + 19 * max(0, t - 60) / 1200) })
        #expect(Self.plantAtSpeed(rpm, fouling: 20).q < 2.5)
        #expect(r.role == nil)
    }

    @Test func aSetPointChangeIsNotADrift() {
        let r = Self.run(until: 200, plant: { t in Self.plantAtFlow(t < 100 ? 4 : 2.5, fouling: 1) })
        #expect(r.role == nil)
    }

    @Test func pressuresThatDifferAtZeroFlowNameTheOneAwayFromTheOthers() {
        var c = SensorCrossCheck()
        var t = 0.0
        while t < 10 {
            c.update(drain: .mmHg(10), pre: .mmHg(24), post: .mmHg(10), flow: .lpm(0), speed: .rpm(0),
                     running: false, pumpStopped: true, curve: Self.curve, now: at(t))
            t += 0.01
        }
        #expect(c.suspect == .preOxygenatorPressure)
        #expect(c.takeEvent()?.check == .zeroFlowDifference)
    }

    @Test func equalPressuresAtZeroFlowRaiseNothing() {
        var c = SensorCrossCheck()
        var t = 0.0
        while t < 10 {
            c.update(drain: .mmHg(10), pre: .mmHg(13), post: .mmHg(10), flow: .lpm(0), speed: .rpm(0),
                     running: false, pumpStopped: true, curve: Self.curve, now: at(t))
            t += 0.01
        }
        #expect(c.suspect == nil)
    }
}
