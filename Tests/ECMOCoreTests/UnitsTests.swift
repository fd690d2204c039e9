import Testing
import ECMOCore

@Suite struct UnitsTests {
    @Test func pressureConvertsBetweenMmHgPascalsPsiAndCmH2O() {
        let p = Pressure(mmHg: 760)
        #expect(abs(p.kilopascals - 101.325) < 1e-3)
        #expect(abs(Pressure(psi: 1).mmHg - 51.7149) < 1e-3)
        #expect(abs(Pressure(cmH2O: 1.3595).mmHg - 1.0) < 1e-3)
        #expect(abs(Pressure(kilopascals: p.kilopascals).mmHg - 760) < 1e-9)
        #expect(abs(Pressure(millibar: 1013.25).mmHg - 760) < 1e-3)
    }

    @Test func flowVolumeAndRateConvert() {
        #expect(Flow(millilitersPerMinute: 4000).litersPerMinute == 4)
        #expect(abs(Flow.lpm(6).millilitersPerSecond - 100) < 1e-9)
        #expect(Flow.lpm(4).volume(over: .seconds(30)).milliliters == 2000)
        #expect(Volume(microliters: 1500).milliliters == 1.5)
        #expect(Volume(liters: 0.25).milliliters == 250)
        #expect(InfusionRate(millilitersPerMinute: 1).millilitersPerHour == 60)
        #expect(abs(InfusionRate.mLPerHour(36).volume(over: .seconds(100)).milliliters - 1) < 1e-12)
        #expect(abs(InfusionRate(microlitersPerMinute: 500).millilitersPerHour - 30) < 1e-12)
    }

    @Test func pumpSpeedConvertsToHertzAndRadians() {
        #expect(PumpSpeed(hertz: 50).rpm == 3000)
        #expect(abs(PumpSpeed.rpm(60).radiansPerSecond - 2 * Double.pi) < 1e-12)
        #expect(abs(PumpSpeed(radiansPerSecond: PumpSpeed.rpm(3210).radiansPerSecond).rpm - 3210) < 1e-9)
    }

    @Test func resistanceIsPressureDropOverFlowAndUndefinedNearZeroFlow() {
        let r = Pressure.mmHg(21).resistance(at: .lpm(4.2))
        #expect(r.map { abs($0.mmHgMinutePerLiter - 5) < 1e-12 } == true)
        #expect(Pressure.mmHg(21).resistance(at: .lpm(0.05)) == nil)
    }

    @Test func quantitiesCompareAndClamp() {
        #expect(Pressure.mmHg(-100) < .mmHg(-20))
        #expect(PumpSpeed.rpm(6000).clamped(to: .rpm(1500) ... .rpm(4500)) == .rpm(4500))
        #expect((Flow.lpm(3) - .lpm(1)) / Flow.lpm(4) == 0.5)
        #expect((-Pressure.mmHg(5)).mmHg == -5)
    }

    @Test func durationSecondsAndNanoseconds() {
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(Duration.microseconds(1).nanoseconds == 1000)
        #expect(Duration.seconds(0.001).nanoseconds == 1_000_000)
    }

    @Test func instantArithmeticIsSignedAndNeverBeforeOrigin() {
        let t = Instant(nanosecondsSinceOrigin: 5_000)
        #expect((t + .microseconds(5)).nanosecondsSinceOrigin == 10_000)
        #expect((t - .microseconds(10)) == .origin)
        #expect((Instant.origin - t) == .zero - .nanoseconds(5000))
        #expect((t - Instant.origin) == .nanoseconds(5000))
    }

    @Test func sampleIsUsableOnlyWhenValidAndFresh() {
        let s = SensorSample(value: Pressure.mmHg(10), timestamp: Instant(nanosecondsSinceOrigin: 1_000_000), source: .preOxygenatorPressure)
        #expect(s.value(at: Instant(nanosecondsSinceOrigin: 5_000_000), maxAge: .milliseconds(10)) == .mmHg(10))
        #expect(s.value(at: Instant(nanosecondsSinceOrigin: 20_000_000), maxAge: .milliseconds(10)) == nil)
        var bad = s
        bad.status = .readError
        #expect(bad.value(at: Instant(nanosecondsSinceOrigin: 1_000_000), maxAge: .milliseconds(10)) == nil)
    }
}
