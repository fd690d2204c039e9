import Testing
import ECMOCore

private func at(_ s: Double) -> Instant { .origin + .seconds(s) }

@Suite struct FoulingMonitorTests {
    var config: FoulingMonitor.Configuration {
        var c = FoulingMonitor.Configuration()
        c.baselineDelay = .seconds(10)
        c.baselineWindow = .seconds(10)
        c.filterTimeConstant = .seconds(5)
        return c
    }

    @Test func baselineThenWarningThenPauseAsResistanceRises() {
        var m = FoulingMonitor(configuration: config)
        var t = 0.0
        func run(until end: Double, r: Double, q: Double = 4) {
            while t < end {
                m.update(pressureDrop: .mmHg(r * q), flow: .lpm(q), regulating: true, now: at(t))
                t += 0.01
            }
        }
        run(until: 25, r: 5)
        #expect(abs((m.baselineResistance?.mmHgMinutePerLiter ?? 0) - 5) < 1e-9)
        #expect(!m.warning)
        run(until: 60, r: 6.75)          // +35 %
        #expect(m.warning && !m.pause)
        run(until: 100, r: 8)            // +60 %
        #expect(m.pause)
        #expect((m.warningAt ?? at(999)) < (m.pauseAt ?? at(0)))
    }

    @Test func setPointChangeAloneDoesNotLookLikeFouling() {
        var m = FoulingMonitor(configuration: config)
        var t = 0.0
        // R of a clean oxygenator, 4.5 + 0.2·Q: barely depends on flow.
        while t < 200 {
            let q = t < 100 ? 4.0 : 2.5
            m.update(pressureDrop: .mmHg((4.5 + 0.2 * q) * q), flow: .lpm(q), regulating: true, now: at(t))
            t += 0.01
        }
        #expect(!m.warning)
        #expect(abs(m.resistanceRise ?? 1) < 0.1)
    }

    @Test func closingTheBaselineEarlyUsesWhatWasCollected() {
        var m = FoulingMonitor(configuration: config)
        var t = 0.0
        while t < 12 {
            m.update(pressureDrop: .mmHg(20), flow: .lpm(4), regulating: true, now: at(t))
            t += 0.01
        }
        m.closeBaseline(now: at(t))
        #expect(abs((m.baselineResistance?.mmHgMinutePerLiter ?? 0) - 5) < 1e-9)
    }
}

@Suite struct SensorValidatorTests {
    func frame(_ pDrain: Double, at t: Instant) -> SensorFrame {
        var f = SensorFrame(at: t)
        f.drainPressure = .init(value: .mmHg(pDrain), timestamp: t, source: .drainPressure)
        f.preOxygenatorPressure = .init(value: .mmHg(170), timestamp: t, source: .preOxygenatorPressure)
        f.postOxygenatorPressure = .init(value: .mmHg(150), timestamp: t, source: .postOxygenatorPressure)
        f.flow = .init(value: .lpm(4), timestamp: t, source: .flow)
        return f
    }

    @Test func outOfRangeAndImplausibleJumpsAreInvalidated() {
        var v = SensorValidator()
        var f = frame(-2000, at: at(0))
        v.validate(&f, now: at(0))
        #expect(f.drainPressure.status == .deviceFault)
        #expect(v.finding(0) == .outOfRange)
        var g = frame(-50, at: at(1))
        v.validate(&g, now: at(1))
        #expect(g.drainPressure.isValid)
        var h = frame(700, at: at(1.001))     // 750 mmHg in 1 ms
        v.validate(&h, now: at(1.001))
        #expect(v.finding(0) == .rateOfChange)
        #expect(!h.drainPressure.isValid)
    }

    @Test func aFrozenChannelIsStuckAfterItsWindowAndALiveOneIsNot() {
        var v = SensorValidator(stuckWindow: .seconds(2))
        var t = 0.0
        var last = frame(-50, at: at(0))
        var k = 0
        while t < 5 {
            // P_drain frozen; the others vary a little.
            var f = frame(-50, at: at(t))
            f.flow.value = .lpm(4 + Double(k % 3) * 0.001)
            f.preOxygenatorPressure.value = .mmHg(170 + Double(k % 5) * 0.01)
            f.postOxygenatorPressure.value = .mmHg(150 + Double(k % 7) * 0.01)
            v.validate(&f, now: at(t))
            last = f
            t += 0.005
            k += 1
        }
        #expect(v.finding(0) == .stuck)
        #expect(!last.drainPressure.isValid)
        #expect(last.flow.isValid && last.preOxygenatorPressure.isValid)
    }
}

@Suite struct PumpCurveTests {
    @Test func predictedFlowInvertsTheCurve() {
        let c = PumpCurve(headCoefficient: 29.6, flowLoss: 2.43)
        let q = c.predictedFlow(speed: .rpm(3000), head: .mmHg(29.6 * 9 - 2.43 * 16))
        #expect(abs((q?.litersPerMinute ?? 0) - 4) < 1e-9)
        #expect(c.predictedFlow(speed: .rpm(1000), head: .mmHg(500))?.litersPerMinute == 0)
    }
}
