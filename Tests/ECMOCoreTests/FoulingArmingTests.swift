import Testing
import ECMOCore

private func at(_ s: Double) -> Instant { .origin + .seconds(s) }

/// Issue 15 item 7: the fouling monitor never switches itself off silently, its thresholds
/// come from the protocol within hard bounds, and an operator can resume after a pause.
@Suite struct FoulingArmingTests {
    /// Feeds R = `r` at flow `q` every 10 ms from `t` to `end`.
    static func run(_ m: inout FoulingMonitor, from t: inout Double, to end: Double, r: Double, q: Double = 4,
                    suspect: Bool = false) {
        while t < end {
            m.update(pressureDrop: .mmHg(r * q), flow: .lpm(q), regulating: true, now: at(t), sensorSuspect: suspect)
            t += 0.01
        }
    }

    @Test func aBaselineClosedBeforeTheDefaultWindowArmsOnTheSettledSamplesAndLogsIt() {
        var m = FoulingMonitor()          // default window: 120 s … 300 s into regulation
        var t = 0.0
        Self.run(&m, from: &t, to: 44, r: 5)
        #expect(!m.armed)
        m.closeBaseline(now: at(44))      // quick-dose closes its baseline here
        #expect(m.armed)
        #expect(abs((m.baselineResistance?.mmHgMinutePerLiter ?? 0) - 5) < 1e-9)
        let e = m.takeEvent()
        #expect(e?.kind == .foulingArmed)
        #expect(e?.source == .early)
        #expect(e?.time == at(44))
        #expect(abs((e?.resistance?.mmHgMinutePerLiter ?? 0) - 5) < 1e-9)
        // And it works: a 60 % rise pauses.
        Self.run(&m, from: &t, to: 200, r: 8)
        #expect(m.warning && m.pause)
    }

    @Test func aBaselineClosedBeforeAnySettledSampleIsTakenAfterTheCloseAndTheLogSaysWhy() {
        var m = FoulingMonitor()
        var t = 0.0
        Self.run(&m, from: &t, to: 3, r: 5)
        m.closeBaseline(now: at(3))
        #expect(!m.armed)
        let first = m.takeEvent()
        #expect(first?.kind == .foulingNotArmed)
        #expect(first?.reason == .closedBeforeSettled)
        Self.run(&m, from: &t, to: 3 + 29, r: 5)
        #expect(!m.armed)
        Self.run(&m, from: &t, to: 3 + 31, r: 5)
        #expect(m.armed)
        let armed = m.takeEvent()
        #expect(armed?.kind == .foulingArmed && armed?.source == .afterClose)
        Self.run(&m, from: &t, to: 200, r: 8)
        #expect(m.pause)
    }

    @Test func thresholdsFromTheProtocolDecideWarningAndPause() {
        var c = FoulingMonitor.Configuration()
        c.baselineDelay = .seconds(10); c.baselineWindow = .seconds(10); c.filterTimeConstant = .seconds(5)
        c.warningRise = 0.10; c.pauseRise = 0.20
        var m = FoulingMonitor(configuration: c)
        var t = 0.0
        Self.run(&m, from: &t, to: 25, r: 5)
        Self.run(&m, from: &t, to: 60, r: 5.75)    // +15 %: warns at 10 %, would not at the default 30 %
        #expect(m.warning && !m.pause)
        Self.run(&m, from: &t, to: 100, r: 6.25)   // +25 %
        #expect(m.pause)
    }

    @Test(arguments: [(0.05, 0.5), (1.5, 1.8), (0.3, 2.5), (0.3, 0.1), (0.4, 0.4), (Double.nan, 0.5), (0.3, .infinity)])
    func thresholdsOutsideTheHardBoundsAreRefusedWithAReason(_ w: Double, _ p: Double) {
        let why = FoulingMonitor.Configuration.check(warningRise: w, pauseRise: p)
        #expect(why != nil)
        #expect(why?.contains("fouling") == true)
    }

    @Test func theDefaultThresholdsPassTheirOwnCheck() {
        let c = FoulingMonitor.Configuration()
        #expect(FoulingMonitor.Configuration.check(warningRise: c.warningRise, pauseRise: c.pauseRise) == nil)
    }

    static func pausedMonitor() -> (FoulingMonitor, Double) {
        var c = FoulingMonitor.Configuration()
        c.baselineDelay = .seconds(10); c.baselineWindow = .seconds(10); c.filterTimeConstant = .seconds(5)
        var m = FoulingMonitor(configuration: c)
        var t = 0.0
        run(&m, from: &t, to: 25, r: 5)
        run(&m, from: &t, to: 80, r: 8)            // +60 %
        while m.takeEvent() != nil {}
        return (m, t)
    }

    @Test func resumingOnANewBaselineClearsThePauseAndReArmsOnThePresentResistance() {
        var (m, t) = Self.pausedMonitor()
        #expect(m.pause && m.mayResume(newBaseline: true))
        m.resume(newBaseline: true, now: at(t))
        #expect(!m.pause && !m.warning)
        #expect(abs((m.baselineResistance?.mmHgMinutePerLiter ?? 0) - 8) < 0.05)
        let e = m.takeEvent()
        #expect(e?.kind == .foulingArmed && e?.source == .operatorResume)
        Self.run(&m, from: &t, to: t + 30, r: 8)
        #expect(!m.pause, "the same resistance does not pause again")
        Self.run(&m, from: &t, to: t + 60, r: 12.5) // +56 % over the new baseline
        #expect(m.pause)
    }

    @Test func resumingWithoutANewBaselinePausesAgainOnlyAfterAFurtherRise() {
        var (m, t) = Self.pausedMonitor()
        m.resume(newBaseline: false, now: at(t))
        #expect(!m.pause && m.warning, "the warning stands: the oxygenator is still fouled")
        #expect(m.takeEvent()?.kind == .foulingResumed)
        Self.run(&m, from: &t, to: t + 30, r: 8)
        #expect(!m.pause)
        Self.run(&m, from: &t, to: t + 60, r: 9.2)  // +84 %: the rise at resume (60 %) + 20 %
        #expect(m.pause)
    }

    @Test func aSuspectSensorNeitherRaisesNorLowersTheFoulingEstimate() {
        var c = FoulingMonitor.Configuration()
        c.baselineDelay = .seconds(10); c.baselineWindow = .seconds(10); c.filterTimeConstant = .seconds(5)
        var m = FoulingMonitor(configuration: c)
        var t = 0.0
        Self.run(&m, from: &t, to: 40, r: 5)
        let before = m.filteredResistance
        Self.run(&m, from: &t, to: 100, r: 2.5, suspect: true)   // a sensor drifting "recovery"
        #expect(m.filteredResistance == before)
        #expect(m.baselineResistance?.mmHgMinutePerLiter == 5)
        Self.run(&m, from: &t, to: 160, r: 9, suspect: true)     // … or "fouling"
        #expect(!m.warning && !m.pause)
    }
}
