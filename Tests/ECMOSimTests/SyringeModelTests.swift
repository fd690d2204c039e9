import Testing
import ECMOCore
@testable import ECMOSim

@Suite("Syringe pump mechanism")
struct SyringeModelTests {
    @Test func fiftyMillilitreSyringeDisplacesAbout0_174MicrolitresPerMicrostep() {
        let p = SyringeModel.Parameters.syringe50mL
        // π·13.3² = 555.7 mm²; 1 mm lead / (200·16) = 0.3125 µm per microstep.
        #expect(abs(p.plungerAreaSquareMillimetres - 555.72) < 0.05)
        #expect(abs(p.volumePerStep.microliters - 0.17366) < 0.0005, "\(p.volumePerStep.microliters) µL")
        #expect(p.capacity.milliliters >= 50)
    }

    @Test func stepsDeliverTheirVolume() {
        var s = SyringeModel(initialVolume: .mL(50))
        let steps = Int((1000 / s.parameters.volumePerStep.microliters).rounded())
        let moved = s.step(count: steps, forward: true)
        #expect(moved == steps)
        #expect(abs(s.delivered.milliliters - 1) < 0.001)
        #expect(abs(s.remaining.milliliters - 49) < 0.001)
        s.step(count: steps, forward: false)
        #expect(abs(s.delivered.milliliters) < 1e-9)
    }

    @Test func plungerStopsAtTheEmptyStopAndFurtherStepsStall() {
        var s = SyringeModel(initialVolume: .mL(0.1))
        #expect(!s.endEmpty)
        let moved = s.step(count: 10_000, forward: true)
        #expect(s.endEmpty)
        #expect(moved < 10_000)
        #expect(s.stalledSteps == 10_000 - moved)
        #expect(abs(s.delivered.milliliters - 0.1) < 0.001)
        let movedAgain = s.step(forward: true)
        #expect(!movedAgain)
        #expect(abs(s.delivered.milliliters - 0.1) < 0.001)
    }

    @Test func plungerStopsAtTheFullStopWhenWithdrawing() {
        var s = SyringeModel(initialVolume: .mL(49.99))
        s.step(count: 1_000_000, forward: false)
        #expect(s.endFull)
        let movedPastFull = s.step(forward: false)
        #expect(!movedPastFull)
        #expect(s.stalledSteps > 0)
    }

    @Test func occlusionRaisesForceStepByStepAndReleasesABolus() {
        var s = SyringeModel()
        s.step(count: 100, forward: true)
        let free = s.forceNewtons
        #expect(abs(free - s.parameters.frictionNewtons) < 1e-9)
        s.occluded = true
        s.step(count: 1000, forward: true)
        let f1 = s.forceNewtons
        s.step(count: 1000, forward: true)
        let f2 = s.forceNewtons
        // Linear in the steps since the occlusion: ΔP = ΔV / C.
        #expect(abs((f2 - free) - 2 * (f1 - free)) < 1e-6)
        let expectedP = 2000 * s.parameters.volumePerStep.microliters / s.parameters.lineComplianceMicrolitresPerMmHg
        #expect(abs(s.linePressure.mmHg - expectedP) < 1e-6)
        let deliveredBefore = s.delivered
        #expect(s.compressed > .zero)
        s.occluded = false
        #expect(abs((s.delivered - deliveredBefore).microliters - 2000 * s.parameters.volumePerStep.microliters) < 1e-6)
        #expect(s.linePressure == .zero)
    }

    @Test func occludedMotorStallsAtItsForceLimit() {
        var s = SyringeModel()
        s.occluded = true
        s.step(count: 100_000, forward: true)
        #expect(s.stalledSteps > 0)
        // Stalled: the stopper is static, so the sensor reads the pressure force alone,
        // one step short of the motor's limit less sliding friction.
        let limit = s.parameters.stallForceNewtons - s.parameters.frictionNewtons
        #expect(s.forceNewtons <= limit)
        #expect(s.forceNewtons > limit - 0.1, "\(s.forceNewtons) N")
        #expect(s.linePressure.mmHg > 1500)
    }

    @Test func backPressureAddsToTheForce() {
        var s = SyringeModel()
        s.backPressure = .mmHg(175)
        s.step(forward: true)
        let expected = Pressure.mmHg(175).pascals * s.parameters.plungerAreaSquareMillimetres * 1e-6 + s.parameters.frictionNewtons
        #expect(abs(s.forceNewtons - expected) < 1e-9)
        s.stop()
        #expect(abs(s.forceNewtons - (expected - s.parameters.frictionNewtons)) < 1e-9)
    }
}
