import Testing
import ECMOCore

/// A first-order plant: y' = (K·u − y)/τ.
private struct FirstOrderPlant {
    var y = 0.0
    let gain: Double
    let tau: Double
    mutating func step(_ u: Double, dt: Double) -> Double {
        y += (gain * u - y) * (dt / tau)
        return y
    }
}

@Suite struct PIControllerTests {
    @Test func stepResponseSettlesOnTheSetpointWithoutSteadyStateError() {
        var pi = PIController(gains: .init(proportional: 0.5, integral: 2), outputRange: 0...100, maxSlewPerSecond: nil, initialOutput: 0)
        var plant = FirstOrderPlant(gain: 1, tau: 0.5)
        let dt = 0.001
        var y = 0.0
        var peak = 0.0
        for _ in 0..<10_000 {
            let u = pi.update(error: 10 - y, dt: dt)
            y = plant.step(u, dt: dt)
            peak = max(peak, y)
        }
        #expect(abs(y - 10) < 0.01)
        #expect(peak < 12, "overshoot should stay below 20 %")
    }

    @Test func antiWindupLetsTheOutputLeaveSaturationWithoutOvershoot() {
        // A setpoint the plant cannot reach for 20 s, then a reachable one.
        func run(antiWindup: Bool) -> Double {
            var pi = PIController(gains: .init(proportional: 0.5, integral: 2), outputRange: 0...10, maxSlewPerSecond: nil, initialOutput: 0)
            var plant = FirstOrderPlant(gain: 1, tau: 0.5)
            let dt = 0.001
            var y = 0.0
            var naiveIntegrator = 0.0
            for _ in 0..<20_000 {
                let e = 50 - y
                var u = pi.update(error: e, dt: dt)
                if !antiWindup {
                    naiveIntegrator += 2 * e * dt
                    u = min(max(naiveIntegrator + 0.5 * e, 0), 10)
                }
                y = plant.step(u, dt: dt)
            }
            var peak = 0.0
            for _ in 0..<5_000 {
                let e = 5 - y
                var u = pi.update(error: e, dt: dt)
                if !antiWindup {
                    naiveIntegrator += 2 * e * dt
                    u = min(max(naiveIntegrator + 0.5 * e, 0), 10)
                }
                y = plant.step(u, dt: dt)
                peak = max(peak, y)
            }
            return peak
        }
        let withAW = run(antiWindup: true)
        let without = run(antiWindup: false)
        // Without anti-windup the wound-up integrator holds the output at its limit for
        // seconds; with it the plant never goes above where saturation left it (10).
        #expect(withAW <= 10.01)
        #expect(without > withAW)
    }

    @Test func integratorStaysWithinTheOutputRange() {
        var pi = PIController(gains: .init(proportional: 1, integral: 100), outputRange: -5...5, maxSlewPerSecond: nil, initialOutput: 0)
        for _ in 0..<1000 { _ = pi.update(error: 100, dt: 0.01) }
        #expect(pi.integrator <= 5)
        #expect(pi.lastOutput == 5)
        // The first negative error brings the output off the limit at once.
        let u = pi.update(error: -1, dt: 0.01)
        #expect(u < 5)
    }

    @Test func slewLimitBoundsTheChangePerSecond() {
        var pi = PIController(gains: .init(proportional: 1000, integral: 0), outputRange: 0...5000, maxSlewPerSecond: 500, initialOutput: 1000)
        var previous = 1000.0
        for _ in 0..<100 {
            let u = pi.update(error: 10, dt: 0.01)
            #expect(u - previous <= 5 + 1e-9)
            previous = u
        }
        #expect(abs(previous - 1500) < 1e-6)
    }

    @Test func nonFiniteErrorHoldsTheLastOutput() {
        var pi = PIController(gains: .init(proportional: 1, integral: 1), outputRange: 0...10, maxSlewPerSecond: nil, initialOutput: 3)
        #expect(pi.update(error: .nan, dt: 0.01) == 3)
        #expect(pi.update(error: 1, dt: 0) == 3)
    }
}

@Suite struct PumpSpeedControllerTests {
    let limits = PumpLimits(minimumSpeed: .rpm(1500), maximumSpeed: .rpm(4500), maximumRampPerSecond: .rpm(1000))

    @Test func constantSpeedRampsToTheSetpointAtTheBoardRate() {
        var c = PumpSpeedController(mode: .constantSpeed(.rpm(3000)), limits: limits, initialSpeed: .rpm(1500))
        var s = PumpSpeed.zero
        for _ in 0..<1000 { s = c.update(measuredFlow: nil, dt: .milliseconds(1)) }
        #expect(abs(s.rpm - 2500) < 1e-6, "1 s at 1000 rpm/s from 1500")
        for _ in 0..<1000 { s = c.update(measuredFlow: nil, dt: .milliseconds(1)) }
        #expect(s == .rpm(3000))
    }

    @Test func constantSpeedSetpointIsClampedToTheBoardBounds() {
        var c = PumpSpeedController(mode: .constantSpeed(.rpm(9000)), limits: limits, initialSpeed: .rpm(4400))
        var s = PumpSpeed.zero
        for _ in 0..<1000 { s = c.update(measuredFlow: nil, dt: .milliseconds(1)) }
        #expect(s == .rpm(4500))
    }

    @Test func constantFlowRaisesSpeedWhenFlowIsLowAndHoldsOnInvalidFlow() {
        var c = PumpSpeedController(mode: .constantFlow(.lpm(4)), limits: limits, initialSpeed: .rpm(2000))
        let a = c.update(measuredFlow: .lpm(3), dt: .milliseconds(10))
        #expect(a > .rpm(2000))
        let b = c.update(measuredFlow: nil, dt: .milliseconds(10))
        #expect(b == a)
    }

    @Test func constantFlowClosesTheLoopOnAPumpLikePlant() {
        // Flow ≈ 1.5 L/min per 1000 rpm above 500 rpm, with a 0.2 s lag.
        var c = PumpSpeedController(mode: .constantFlow(.lpm(4)), limits: limits, initialSpeed: .rpm(1500))
        var q = 1.5
        for _ in 0..<20_000 {
            let s = c.update(measuredFlow: .lpm(q), dt: .milliseconds(1))
            let target = max(0, (s.rpm - 500) * 1.5 / 1000)
            q += (target - q) * 0.001 / 0.2
        }
        #expect(abs(q - 4) < 0.02)
        #expect(abs(c.command.rpm - (500 + 4 / 1.5 * 1000)) < 20)
    }

    @Test func modeChangeIsBumpless() {
        var c = PumpSpeedController(mode: .constantSpeed(.rpm(3000)), limits: limits, initialSpeed: .rpm(3000))
        _ = c.update(measuredFlow: nil, dt: .milliseconds(1))
        c.setMode(.constantFlow(.lpm(4)))
        let s = c.update(measuredFlow: .lpm(4), dt: .milliseconds(1))
        #expect(s == .rpm(3000))
    }
}
