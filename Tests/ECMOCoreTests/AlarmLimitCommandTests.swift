import Testing
import ECMOCore

/// Alarm limits changed during a run (the console's limits panel): the core checks them as
/// a configuration file is checked, a refused change leaves every limit as it was, and an
/// accepted one is in force in the supervisor from the next step and is an event.
@Suite struct AlarmLimitCommandTests {
    typealias Bench = RigCoreTests.Bench

    static func limitEvents(_ events: [RigEvent]) -> [(AlarmLimitKey, Double, Double, AlarmActor)] {
        events.compactMap { e in
            if case .alarmLimit(let k, let from, let to, let by) = e.kind { return (k, from, to, by) }
            return nil
        }
    }

    @Test func aLimitOutsideItsHardBoundsIsRefusedNamingTheBoundAndChangesNothing() throws {
        var b = try Bench.regulating()
        let before = b.core.safety.limits
        let r = b.command(.setAlarmLimit(.drainPressureLow, -10))
        #expect(r.refusal == .aboveMaximum)
        #expect(r.limit == AlarmLimitKey.drainPressureLow.hardBounds.upperBound)
        let nan = b.command(.setAlarmLimit(.flowLow, .nan))
        #expect(!nan.accepted)
        #expect(b.core.safety.limits == before)
        #expect(Self.limitEvents(b.events).isEmpty)
    }

    @Test func anAlarmTierMayNotCrossItsWarningTierNorALowItsHigh() throws {
        var b = try Bench.regulating()
        let before = b.core.safety.limits
        // −50 mmHg is within P_drain_low's hard bounds but above the warning tier (−100).
        let drain = b.command(.setAlarmLimit(.drainPressureLow, -50))
        #expect(drain.refusal == .aboveMaximum)
        #expect(drain.limit == before.drainPressureWarning.mmHg)
        // flow_high below flow_low (1 L/min): refused with flow_low as the bound.
        let high = b.command(.setAlarmLimit(.flowHigh, 1))
        #expect(high.refusal == .belowMinimum)
        #expect(high.limit == before.flowLow.litersPerMinute)
        #expect(b.core.safety.limits == before)
    }

    @Test func aTightenedSuctionLimitRaisesTheAlarmAndTakesSpeedAwayAndIsAnEvent() throws {
        var b = try Bench.regulating()
        let held = b.plant.speed
        b.run(500)
        #expect(!b.core.safety.alarms.isActive(.drainPressureLow), "−40 mmHg is no suction at the default −150")
        // The operator tightens both tiers above the circuit's −40 mmHg.
        #expect(b.command(.setAlarmLimit(.drainPressureWarning, -30)).accepted)
        #expect(b.command(.setAlarmLimit(.drainPressureLow, -35)).accepted)
        #expect(b.core.safety.limits.drainPressureLow == .mmHg(-35))
        let events = Self.limitEvents(b.events)
        #expect(events.count == 2)
        #expect(events.last?.0 == .drainPressureLow && events.last?.1 == -150 && events.last?.2 == -35)
        #expect(events.last?.3 == .operatorPanel)
        var ticks = 0
        while !b.core.safety.alarms.isActive(.drainPressureLow) && ticks < 5000 {
            b.step()
            ticks += 1
        }
        #expect(b.core.safety.alarms.isActive(.drainPressureLow), "P_DRAIN_LOW raised under the new limit (after \(ticks) ticks)")
        b.run(2000)
        #expect(b.plant.speed < held, "the suction interlock took speed away")
    }
}
