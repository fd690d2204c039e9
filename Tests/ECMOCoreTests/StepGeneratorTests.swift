import Testing
import ECMOCore

@Suite struct StepGeneratorTests {
    @Test func stepsDueFollowTheFloorOfStepsTimesElapsedOverDuration() {
        // 7 steps over 3 s, 1 s ticks: ⌊7·1/3⌋ = 2, ⌊7·2/3⌋ = 4, ⌊7·3/3⌋ = 7 → 2, 2, 3 per tick
        var g = StepGenerator(steps: 7, over: .seconds(3))
        #expect(g.advance(by: .seconds(1), maximumPerAdvance: 100) == 2)
        #expect(g.advance(by: .seconds(1), maximumPerAdvance: 100) == 2)
        #expect(g.advance(by: .seconds(1), maximumPerAdvance: 100) == 3)
        #expect(g.isComplete)
        #expect(g.advance(by: .seconds(1), maximumPerAdvance: 100) == 0)
    }

    @Test func aLateLoopCatchesUpNoFasterThanTheCap() {
        // 100 steps over 1 s, but the first tick comes after 2 s: all 100 are due, 30 per advance.
        var g = StepGenerator(steps: 100, over: .seconds(1))
        #expect(g.advance(by: .seconds(2), maximumPerAdvance: 30) == 30)
        #expect(g.advance(by: .milliseconds(1), maximumPerAdvance: 30) == 30)
        #expect(g.take(maximumPerAdvance: 30) == 30)
        #expect(g.take(maximumPerAdvance: 30) == 10)
        #expect(g.isComplete)
    }

    @Test func aRateTurnedToZeroHoldsTheRemainingStepsInsteadOfGivingThemAtOnce() {
        // Regression: retime(stepsPerSecond: 0) used to make a zero-length segment, so every
        // remaining step fell due at once (a bolus at the cap) instead of a pause.
        for rate in [0.0, -5, .nan] {
            var g = StepGenerator(steps: 1000, over: .seconds(10))
            #expect(g.advance(by: .seconds(5), maximumPerAdvance: 10_000) == 500)
            g.retime(stepsPerSecond: rate)
            #expect(g.isHeld)
            #expect(g.advance(by: .seconds(3600), maximumPerAdvance: 10_000) == 0, "rate \(rate)")
            #expect(g.remaining == 500)
            // Resuming at 100 steps/s gives the rest over 5 s.
            g.retime(stepsPerSecond: 100)
            #expect(!g.isHeld)
            #expect(g.advance(by: .seconds(1), maximumPerAdvance: 10_000) == 100)
            #expect(g.advance(by: .seconds(4), maximumPerAdvance: 10_000) == 400)
            #expect(g.isComplete)
        }
    }

    @Test func aHeldSegmentStillReleasesStepsAlreadyDue() {
        // 200 steps over 2 s, cap 10: after 1 s 100 are due but only 10 issued; a hold
        // keeps the 90 already due (they were due before the rate changed), nothing more.
        var g = StepGenerator(steps: 200, over: .seconds(2))
        #expect(g.advance(by: .seconds(1), maximumPerAdvance: 10) == 10)
        g.retime(stepsPerSecond: 0)
        var n: Int64 = 0
        for _ in 0..<100 { n += g.advance(by: .seconds(1), maximumPerAdvance: 10) }
        #expect(n == 90)
        #expect(g.remaining == 100)
    }

    /// The property: for random doses, durations, jittered ticks, stalls, caps, allowances
    /// and rate changes mid-segment, the steps issued add up to exactly the prescription,
    /// never run ahead of the steps due, and never exceed the per-advance cap or the
    /// allowance. (Checks are gathered per case and asserted once, to keep 600 cases fast.)
    @Test(arguments: [UInt64(1), 2, 3, 0xC0FFEE, 2024, 70])
    func issuedStepsEqualThePrescriptionExactlyWhateverTheTicksRateChangesAndCaps(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var retimes = 0, limitedTicks = 0
        for _ in 0..<100 {
            let small = Bool.random(using: &rng)
            let steps = small ? Int64.random(in: 0...50, using: &rng) : Int64.random(in: 1...3_000_000, using: &rng)
            let durationNs = Int64.random(in: 1_000_000...36_000_000_000_000, using: &rng) // 1 ms … 10 h
            // The cap is the driver's top rate × the loop period; keep catch-up within a few thousand ticks.
            let cap = Int64.random(in: (steps / 2000 + 1)...(steps / 2000 + 20_000), using: &rng)
            var g = StepGenerator(steps: steps, over: .nanoseconds(durationNs))
            var tick = max(durationNs / Int64.random(in: 20...400, using: &rng), 1)
            var issued: Int64 = 0
            var iterations = 0
            var overCap = false, overAllowance = false, ahead = false, conserved = true
            while !g.isComplete && iterations < 100_000 {
                iterations += 1
                // Jitter each tick ±50 %, and now and then stall for 10 ticks.
                var dt = Int64(Double(tick) * Double.random(in: 0.5...1.5, using: &rng))
                if Int.random(in: 0..<50, using: &rng) == 0 { dt *= 10 }
                // Sometimes the journal has made only a few steps durable.
                let limited = Int.random(in: 0..<8, using: &rng) == 0
                if limited { limitedTicks += 1 }
                let allowance: Int64 = limited ? Int64.random(in: 0...3, using: &rng) : .max
                let n = g.advance(by: .nanoseconds(max(dt, 0)), maximumPerAdvance: cap, allowance: allowance)
                overCap = overCap || n > cap || n < 0
                overAllowance = overAllowance || n > allowance
                ahead = ahead || g.issued > g.due
                issued += n
                conserved = conserved && issued + g.remaining == steps
                // Now and then the rate changes mid-segment to a random new (non-zero) rate.
                if Int.random(in: 0..<40, using: &rng) == 0 && g.remaining > 0 {
                    retimes += 1
                    let newDurationNs = Int64.random(in: 1_000_000...7_200_000_000_000, using: &rng)
                    g.retime(stepsPerSecond: max(Double(g.remaining) / (Double(newDurationNs) / 1e9), 1e-3))
                    tick = max(newDurationNs / Int64.random(in: 20...400, using: &rng), 1)
                    conserved = conserved && issued + g.remaining == steps
                }
            }
            #expect(iterations < 100_000, "never completed: \(steps) steps, cap \(cap)")
            #expect(issued == steps, "issued \(issued) of \(steps)")
            #expect(!overCap, "an advance exceeded the cap \(cap)")
            #expect(!overAllowance, "an advance exceeded the allowance")
            #expect(!ahead, "issued ran ahead of the steps due")
            #expect(conserved, "steps were created or lost (issued + remaining ≠ prescribed)")
            #expect(g.take(maximumPerAdvance: .max) == 0)
        }
        // The generator really was exercised with rate changes and allowance limits.
        #expect(retimes > 50)
        #expect(limitedTicks > 100)
    }

    @Test func anAllowanceHoldsStepsBackAndTheyAreCaughtUpWhenItIsRaised() {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<300 {
            let steps = Int64.random(in: 1...100_000, using: &rng)
            var g = StepGenerator(steps: steps, over: .seconds(Double.random(in: 0.01...100, using: &rng)))
            let allowance = Int64.random(in: 0...steps, using: &rng)
            // The whole segment elapses while the journal allows only `allowance` steps.
            let first = g.advance(by: .seconds(1000), maximumPerAdvance: .max, allowance: allowance)
            #expect(first == allowance)
            #expect(g.advance(by: .seconds(1), maximumPerAdvance: .max, allowance: 0) == 0)
            // Raised: exactly the rest comes, in cap-sized pieces.
            let cap = Int64.random(in: 1...10_000, using: &rng)
            var rest: Int64 = 0
            var guardCount = 0
            while !g.isComplete && guardCount < 1_000_000 {
                let n = g.take(maximumPerAdvance: cap)
                #expect(n <= cap)
                rest += n
                guardCount += 1
            }
            #expect(first + rest == steps)
        }
    }
}
