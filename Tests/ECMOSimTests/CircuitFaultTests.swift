import Testing
import ECMOCore
@testable import ECMOSim

@Suite("Circuit dynamics and fault hooks")
struct CircuitFaultTests {
    @Test func closedClampIsStableAt1msAndHoldsTheShutOffHead() {
        var s = Scenario(.adultPatient, speed: .rpm(3000))
        s.run(.seconds(10), dt: .milliseconds(1))
        s.drive.clampClosed = true
        s.run(.seconds(5), dt: .milliseconds(1))
        let p = s.pressures
        #expect(abs(s.flow) < 0.01, "flow \(s.flow)")
        #expect(p.postOxygenator.isFinite && p.preOxygenator.isFinite)
        let shutOff = s.circuit.head(speed: .rpm(3000), flow: 0)
        #expect(abs(p.preOxygenator.mmHg - (p.drain.mmHg + shutOff)) < 5, "P_pre \(p.preOxygenator)")
        s.drive.clampClosed = false
        s.run(.seconds(20), dt: .milliseconds(1))
        #expect(abs(s.flow - 4) < 0.1)
    }

    @Test func kinkedDrainageLineSucksPDrainBelowMinus100() {
        var s = Scenario(.adultPatient, speed: .rpm(3000))
        s.run(.seconds(10), dt: .milliseconds(1))
        s.circuit.drainageOcclusion = 1
        s.run(.seconds(5), dt: .milliseconds(1))
        #expect(s.pressures.drain.mmHg < -100, "P_drain \(s.pressures.drain)")
        #expect(s.flow < 0.5)
        // A partial kink already gives suction at this speed.
        s.circuit.drainageOcclusion = 0.7
        s.run(.seconds(5), dt: .milliseconds(1))
        #expect(s.pressures.drain.mmHg < -100, "P_drain at 70 % \(s.pressures.drain)")
        s.circuit.drainageOcclusion = 0
        s.run(.seconds(20), dt: .milliseconds(1))
        #expect(abs(s.flow - 4) < 0.1)
    }

    @Test func kinkedReturnLineRaisesPPreAbove400AtHighSpeed() {
        var s = Scenario(.adultPatient, speed: .rpm(4000))
        s.run(.seconds(10), dt: .milliseconds(1))
        s.circuit.returnOcclusion = 1
        s.run(.seconds(5), dt: .milliseconds(1))
        #expect(s.pressures.preOxygenator.mmHg > 400, "P_pre \(s.pressures.preOxygenator)")
        #expect(s.pressures.postOxygenator.mmHg > 400)
        // At 3000 rpm the pump cannot make more than its shut-off head (≈ 270 mmHg).
        s.drive.commandedSpeed = .rpm(3000)
        s.run(.seconds(5), dt: .milliseconds(1))
        #expect((250.0 ... 300.0).contains(s.pressures.preOxygenator.mmHg), "P_pre \(s.pressures.preOxygenator)")
    }

    @Test func pumpDemandAboveVenousReturnGivesSuction() {
        var s = Scenario(.adultPatient, speed: .rpm(5000))
        s.run(.seconds(30), dt: .milliseconds(1))
        #expect(abs(s.flow - 6) < 0.1, "flow \(s.flow)")
        #expect(s.pressures.drain.mmHg < -100, "P_drain \(s.pressures.drain)")
        #expect(s.circuit.reservoirPressure.mmHg < 0)
    }

    @Test func hypovolaemiaLimitsFlowAndGivesSuctionAtNormalSpeed() {
        var s = Scenario(.adultPatient, speed: .rpm(3000))
        s.run(.seconds(10), dt: .milliseconds(1))
        let before = s.pressures.drain.mmHg
        s.circuit.venousReturnScale = 0.5
        s.run(.seconds(30), dt: .milliseconds(1))
        #expect(abs(s.flow - 3) < 0.1, "flow \(s.flow)")
        #expect(s.pressures.drain.mmHg < before - 50, "P_drain \(s.pressures.drain) vs \(before)")
    }

    @Test func stalledRotorStopsWhateverTheCommand() {
        var s = Scenario(.adultPatient, speed: .rpm(3000))
        s.run(.seconds(10), dt: .milliseconds(1))
        s.circuit.pumpStalled = true
        s.run(.milliseconds(300), dt: .milliseconds(1))
        #expect(s.circuit.speed.rpm < 1, "speed \(s.circuit.speed)")
        s.run(.seconds(5), dt: .milliseconds(1))
        #expect(abs(s.flow) < 0.05, "flow \(s.flow)")
        #expect(s.circuit.steadyStateFlow(at: .rpm(3000)) == .zero)
    }

    @Test func disabledPumpCoastsDown() {
        var s = Scenario(.adultPatient, speed: .rpm(3000))
        s.run(.seconds(10), dt: .milliseconds(1))
        s.drive.pumpEnabled = false
        s.run(.seconds(1), dt: .milliseconds(1))
        #expect((900.0 ... 1300.0).contains(s.circuit.speed.rpm), "speed \(s.circuit.speed)")
    }

    @Test func airInLineIsOnlyAFlag() {
        var a = Scenario(.adultPatient, speed: .rpm(3000)), b = a
        b.circuit.airInLine = true
        a.run(.seconds(5)); b.run(.seconds(5))
        #expect(a.flow == b.flow)
        #expect(b.circuit.airInLine)
    }

    @Test func oxygenatorFaultFactorMultipliesTheDrop() {
        var s = Scenario(.adultPatient, speed: .rpm(3000))
        s.run(.seconds(30), dt: .milliseconds(10))
        let clean = s.circuit.oxygenatorResistance.mmHgMinutePerLiter
        s.circuit.oxygenatorResistanceFactor = 2
        s.run(.seconds(30), dt: .milliseconds(10))
        let r = s.circuit.oxygenatorResistance.mmHgMinutePerLiter
        #expect(r > 1.8 * clean && r < 2.1 * clean, "R \(r) vs \(clean)")
    }

    @Test func fluidCoolsWithTheHeaterOffAndRewarms() {
        var s = Scenario(.millarExVivo)
        s.circuit.heaterOn = false
        s.run(.seconds(1800), dt: .seconds(1))
        let t = s.circuit.temperature.celsius
        #expect(t < 36 && t > 22, "temperature \(t)")
        s.circuit.heaterOn = true
        s.run(.seconds(3600), dt: .seconds(1))
        #expect(abs(s.circuit.temperature.celsius - 37) < 0.5)
    }
}
