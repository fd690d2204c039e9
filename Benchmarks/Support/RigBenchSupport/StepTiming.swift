import ECMOCore
import ECMOSim

/// Step generation at the rates the syringe presets are used at: the cumulative step
/// error (steps issued − steps prescribed, at the end and at every tick against the ideal
/// ⌊N·t/D⌋) and the timing of each step against its ideal instant k·D/N.
///
/// The loop issues the steps due in each tick as a burst at the tick, so a step is late
/// by up to one period by design (0 ≤ lateness < period): what must never happen is a
/// step early, a step lost or gained, or lateness that grows. `tickJitter` adds random
/// lateness to every tick (a loop running late), which must change none of that.
public enum StepTiming {
    public struct Result: Sendable {
        public var preset: SyringePreset
        public var rateMLPerHour: Double
        public var stepsPerSecond: Double
        public var steps: Int64
        /// Issued − prescribed at the end (target 0).
        public var finalError: Int64
        /// Largest |issued − ideal due| seen at any tick (target 0: the generator is exact).
        public var worstTrackingError: Int64
        /// Step lateness against its ideal instant, µs.
        public var meanLatenessMicroseconds: Double
        public var maxLatenessMicroseconds: Double
        /// Steps issued before their ideal instant (target 0).
        public var earlySteps: Int64
    }

    public static let drive = SyringeDrive(stepsPerRevolution: 200, microsteps: 16, leadMillimeters: 2.0, maximumStepRate: 5000)

    /// Runs one dose of `volume` at `rate` on `preset`, ticking every `period` (+ jitter).
    public static func run(_ preset: SyringePreset, rate: InfusionRate, volume: Volume, period: Duration = .milliseconds(1),
                           tickJitter: Duration = .zero, seed: UInt64 = 1) -> Result {
        let spec = SyringeChannelSpecification(syringe: preset.specification, drive: drive, fillVolume: preset.specification.capacity)
        let steps = spec.steps(for: volume)
        let stepRate = spec.stepRate(for: rate)
        let durationNs = Int64((Double(steps) / stepRate * 1e9).rounded())
        var gen = StepGenerator(steps: steps, over: .nanoseconds(durationNs))
        let maxPerTick = Int64(drive.maximumStepRate * period.seconds * 4 + 1)   // catch-up room for late ticks
        var rng = SeededGenerator(seed: seed)
        var t: Int64 = 0
        var issued: Int64 = 0
        var worst: Int64 = 0
        var latenessSum = 0.0
        var latenessMax = 0.0
        var early: Int64 = 0
        let periodNs = period.nanoseconds
        let jitterNs = tickJitter.nanoseconds
        while !gen.isComplete {
            let dt = periodNs + (jitterNs > 0 ? Int64(rng.next() % UInt64(jitterNs + 1)) : 0)
            t += dt
            let n = gen.advance(by: .nanoseconds(dt), maximumPerAdvance: maxPerTick)
            // Step k (1-based) is due at ceil(k·D/N).
            var k = issued + 1
            while k <= issued + n {
                let ideal = (k.multipliedFullWidth(by: durationNs))
                let dueAt = durationNs == 0 ? 0 : (steps.dividingFullWidth(ideal).quotient)
                let late = Double(t - dueAt) / 1000
                if late < 0 { early += 1 }
                latenessSum += late
                latenessMax = max(latenessMax, late)
                k += 1
            }
            issued += n
            // The ideal count by now: ⌊N·min(t, D)/D⌋.
            let e = min(t, durationNs)
            let p = steps.multipliedFullWidth(by: e)
            let idealDue = durationNs.dividingFullWidth((high: p.high, low: p.low)).quotient
            worst = max(worst, abs(issued - idealDue))
        }
        return Result(preset: preset, rateMLPerHour: rate.millilitersPerHour, stepsPerSecond: stepRate, steps: steps,
                      finalError: issued - steps, worstTrackingError: worst,
                      meanLatenessMicroseconds: steps > 0 ? latenessSum / Double(steps) : 0,
                      maxLatenessMicroseconds: latenessMax, earlySteps: early)
    }

    /// The rates a preset is used at: 1 mL/h, 10 mL/h, 60 mL/h (a fast dose) and the
    /// drive's maximum, each clamped to what the drive can do.
    public static func rates(for preset: SyringePreset) -> [InfusionRate] {
        let spec = SyringeChannelSpecification(syringe: preset.specification, drive: drive, fillVolume: preset.specification.capacity)
        let top = spec.maximumRate.millilitersPerHour
        return [1, 10, 60, top].map { InfusionRate(millilitersPerHour: min($0, top)) }
    }
}
