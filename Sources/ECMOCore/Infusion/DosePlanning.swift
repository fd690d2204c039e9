/// Dose arithmetic: cells/kg × body weight ÷ concentration = volume; volume ÷ volume per
/// step = steps; and the checks that refuse a plan the channel cannot deliver safely.

/// The syringe channels of the rig. Raw values index per-channel tables and journal slots.
public enum InfusionChannel: Int, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    case cells = 0
    case heparin = 1
    public static let count = 2
    public var description: String { self == .cells ? "cells" : "heparin" }
}

/// How fast a dose goes in.
public enum DosePace: Sendable, Equatable {
    /// At a stated rate (mL/h).
    case rate(InfusionRate)
    /// Spread evenly over a stated time.
    case duration(Duration)
    /// As fast as the channel may go (its maximum rate).
    case bolus
}

/// Safe ranges a plan is checked against. Defaults from the seed review (Cao et al. 2024:
/// MSC doses studied from 1×10⁶ to 400×10⁶ cells/kg) and ELSO's heparin bands; every one
/// is configurable per protocol, because the bench studies doses clinics do not use.
public struct DoseLimits: Sendable, Equatable {
    /// Accepted cell (or particle) dose per kg; outside it the plan is refused.
    public var cellDose: ClosedRange<Double>
    /// ELSO heparin bolus band (U/kg): outside it the plan warns.
    public var heparinBolus: ClosedRange<Double>
    /// ELSO heparin infusion band (U/kg/h): outside it the plan warns.
    public var heparinInfusion: ClosedRange<Double>
    public init(cellDose: ClosedRange<Double> = 1e6...400e6, heparinBolus: ClosedRange<Double> = 50...100,
                heparinInfusion: ClosedRange<Double> = 7.5...20) {
        self.cellDose = cellDose
        self.heparinBolus = heparinBolus
        self.heparinInfusion = heparinInfusion
    }
}

/// Why a dose cannot be planned: each case says which number and why.
public enum DosePlanError: Error, Equatable, Sendable, CustomStringConvertible {
    case doseOutOfRange(cellsPerKilogram: Double, range: ClosedRange<Double>)
    case volumeExceedsSyringe(volume: Volume, usable: Volume)
    case rateExceedsChannel(rate: InfusionRate, maximum: InfusionRate)
    case notPositive(what: String, value: Double)
    case lessThanOneStep(volume: Volume, volumePerStep: Volume)

    public var description: String {
        switch self {
        case .doseOutOfRange(let d, let r):
            "dose \(sci(d)) cells/kg is outside the accepted range \(sci(r.lowerBound))…\(sci(r.upperBound)) cells/kg"
        case .volumeExceedsSyringe(let v, let u):
            "dose volume \(fmt(v.milliliters)) mL exceeds the syringe's usable \(fmt(u.milliliters)) mL (fill − dead volume − prime − earlier doses)"
        case .rateExceedsChannel(let r, let m):
            "rate \(fmt(r.millilitersPerHour)) mL/h exceeds the channel's maximum \(fmt(m.millilitersPerHour)) mL/h (maximum step rate × volume per step)"
        case .notPositive(let what, let v):
            "\(what) must be greater than zero (got \(fmt(v)))"
        case .lessThanOneStep(let v, let s):
            "dose volume \(fmt(v.microliters)) µL is less than one microstep (\(fmt(s.microliters)) µL)"
        }
    }
}

/// A dose turned into what the channel does.
public struct PlannedDose: Sendable, Equatable {
    /// Cells (or particles) the dose holds; 0 for a plain volume (heparin).
    public var cells: Double
    /// Volume asked for, before rounding to steps.
    public var requestedVolume: Volume
    /// Whole microsteps, rounded down.
    public var steps: Int64
    /// Volume those steps displace (≤ requested, by less than one step).
    public var volume: Volume
    public var rate: InfusionRate
    public var duration: Duration
    public init(cells: Double, requestedVolume: Volume, steps: Int64, volume: Volume, rate: InfusionRate, duration: Duration) {
        self.cells = cells
        self.requestedVolume = requestedVolume
        self.steps = steps
        self.volume = volume
        self.rate = rate
        self.duration = duration
    }
}

public enum DosePlanner {
    /// Volume of a cell dose: cells/kg × kg ÷ cells/mL.
    public static func volume(dose: CellDose, weight: BodyWeight, concentration: CellConcentration) -> Volume {
        concentration.volume(holding: dose.cells(for: weight))
    }

    /// Plans a cell dose on a channel. `available`: volume still free in the syringe for
    /// this dose (usable volume less earlier doses).
    public static func cellDose(_ dose: CellDose, weight: BodyWeight, concentration: CellConcentration,
                                pace: DosePace, channel: SyringeChannelSpecification, available: Volume,
                                limits: DoseLimits) throws(DosePlanError) -> PlannedDose {
        guard weight.kilograms > 0 else { throw .notPositive(what: "body weight (kg)", value: weight.kilograms) }
        guard concentration.cellsPerMilliliter > 0 else {
            throw .notPositive(what: "concentration (cells/mL)", value: concentration.cellsPerMilliliter)
        }
        guard limits.cellDose.contains(dose.cellsPerKilogram) else {
            throw .doseOutOfRange(cellsPerKilogram: dose.cellsPerKilogram, range: limits.cellDose)
        }
        let v = volume(dose: dose, weight: weight, concentration: concentration)
        var planned = try volumeDose(v, pace: pace, channel: channel, available: available)
        planned.cells = concentration.cells(in: planned.volume)
        return planned
    }

    /// Plans a dose given as a volume (heparin bolus, a vehicle control, a prime).
    public static func volumeDose(_ v: Volume, pace: DosePace, channel: SyringeChannelSpecification,
                                  available: Volume) throws(DosePlanError) -> PlannedDose {
        guard v.milliliters > 0 else { throw .notPositive(what: "dose volume (mL)", value: v.milliliters) }
        guard v <= available else { throw .volumeExceedsSyringe(volume: v, usable: available) }
        let steps = channel.steps(for: v)
        guard steps >= 1 else { throw .lessThanOneStep(volume: v, volumePerStep: channel.volumePerStep) }
        let exact = channel.volume(steps: steps)
        let maxRate = channel.maximumRate
        let rate: InfusionRate
        switch pace {
        case .rate(let r):
            guard r.millilitersPerHour > 0 else { throw .notPositive(what: "rate (mL/h)", value: r.millilitersPerHour) }
            rate = r
        case .duration(let d):
            guard d > .zero else { throw .notPositive(what: "duration (s)", value: d.seconds) }
            rate = .mLPerHour(exact.milliliters / d.seconds * 3600)
        case .bolus:
            rate = maxRate
        }
        // A tolerance of one part in 10⁹ lets a bolus at exactly the maximum pass.
        guard rate.millilitersPerHour <= maxRate.millilitersPerHour * (1 + 1e-9) else {
            throw .rateExceedsChannel(rate: rate, maximum: maxRate)
        }
        let duration: Duration
        if case .duration(let d) = pace { duration = d } else { duration = .seconds(exact.milliliters / rate.millilitersPerHour * 3600) }
        return PlannedDose(cells: 0, requestedVolume: v, steps: steps, volume: exact, rate: rate, duration: duration)
    }

    /// Interval between doses so that the previous dose has fallen to `remainingFraction`
    /// of its level, given a half-life: t = t½ × log₂(1 / fraction). One half-life for 0.5.
    public static func interval(halfLife: Duration, remainingFraction: Double = 0.5) -> Duration {
        let f = min(max(remainingFraction, 1e-6), 0.999999)
        return .seconds(halfLife.seconds * log2(1 / f))
    }
}

private func log2(_ x: Double) -> Double {
    // ln via the series of atanh: core stays free of Foundation; precise to ~1e-15 for x in any range.
    guard x > 0 else { return -.infinity }
    var m = x
    var e = 0
    while m >= 2 { m /= 2; e += 1 }
    while m < 1 { m *= 2; e -= 1 }
    let y = (m - 1) / (m + 1)
    let y2 = y * y
    var term = y
    var sum = 0.0
    var k = 1.0
    while abs(term / k) > 1e-17 {
        sum += term / k
        term *= y2
        k += 2
    }
    return Double(e) + 2 * sum / 0.6931471805599453
}

func fmt(_ v: Double) -> String {
    let r = (v * 1000).rounded() / 1000
    if r == r.rounded() && abs(r) < 1e15 { return String(Int64(r)) }
    return String(r)
}

func sci(_ v: Double) -> String {
    guard v != 0 else { return "0" }
    var e = 0
    var m = abs(v)
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    let s = (v < 0 ? "-" : "") + fmt((m * 1000).rounded() / 1000)
    return e == 0 ? s : "\(s)e\(e)"
}
