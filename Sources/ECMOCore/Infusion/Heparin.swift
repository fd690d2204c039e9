/// Heparin: ELSO band checks and the ACT advisory. Advice only: a suggestion is logged
/// for the operator; the rate changes only by an operator's command.

/// Where an entered ACT stands against its target band, and what the advisory suggests.
public struct HeparinAdvice: Sendable, Equatable {
    public enum Direction: Int8, Sendable {
        case decrease = -1
        case keep = 0
        case increase = 1
    }
    public var activatedClottingTime: Duration
    public var direction: Direction
    public var currentRate: HeparinRate
    public var suggestedRate: HeparinRate
}

public enum HeparinAdvisor {
    /// A simple proportional nomogram: ACT below the band → raise the infusion by
    /// `step` (10 %), above it → lower it by `step`, twice the step when the ACT is more
    /// than 50 s outside. In-band: keep. Never below zero.
    public static func advise(act: Duration, target: ClosedRange<Double>, current: HeparinRate, step: Double) -> HeparinAdvice {
        let s = act.seconds
        var k = 0.0
        var dir = HeparinAdvice.Direction.keep
        if s < target.lowerBound {
            dir = .increase
            k = s < target.lowerBound - 50 ? 2 * step : step
        } else if s > target.upperBound {
            dir = .decrease
            k = -(s > target.upperBound + 50 ? 2 * step : step)
        }
        let suggested = HeparinRate(unitsPerKilogramPerHour: max(current.unitsPerKilogramPerHour * (1 + k), 0))
        return HeparinAdvice(activatedClottingTime: act, direction: dir, currentRate: current, suggestedRate: suggested)
    }

    /// Warnings for a heparin programme outside ELSO's bands (not refusals: in-vitro work
    /// deliberately runs above them).
    public static func warnings(bolus: HeparinDose?, infusion: HeparinRate?, limits: DoseLimits) -> [String] {
        var w: [String] = []
        if let b = bolus, !limits.heparinBolus.contains(b.unitsPerKilogram) {
            w.append("heparin bolus \(fmt(b.unitsPerKilogram)) U/kg is outside the ELSO band \(fmt(limits.heparinBolus.lowerBound))–\(fmt(limits.heparinBolus.upperBound)) U/kg")
        }
        if let r = infusion, !limits.heparinInfusion.contains(r.unitsPerKilogramPerHour) {
            w.append("heparin infusion \(fmt(r.unitsPerKilogramPerHour)) U/kg/h is outside the ELSO band \(fmt(limits.heparinInfusion.lowerBound))–\(fmt(limits.heparinInfusion.upperBound)) U/kg/h")
        }
        return w
    }
}
