import Testing
import ECMOCore
import ECMOHAL
import ECMOMockBoard
import ECMORuntime
import ECMOSim
import RigTestSupport

/// Item 13 of issue 15: outputs are checked (write, command age, read-back) and the
/// watchdog is kicked only by a healthy loop. Each test injects the fault on the mock
/// board under the assembled simulated rig and checks alarm, event, outputs and watchdog.
@Suite struct OutputCheckTests {
    /// Ticks the loop one period at a time until `done` holds; the number of ticks taken
    /// (nil if it never held within `limit`).
    @discardableResult
    func ticks(_ rig: SimRig, limit: Int, previousExecution: Duration = .zero, until done: () -> Bool = { false }) -> Int? {
        var now = rig.clock.now()
        for n in 1...limit {
            now = now + rig.board.loopPeriod
            rig.clock.advance(to: now)
            rig.loop.tick(now: now, previousExecution: previousExecution)
            if done() { return n }
        }
        return nil
    }

    func running() throws -> SimRig {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(4))
        #expect(rig.loop.state == .active)
        rig.drain()
        return rig
    }

    func has(_ events: [RigEvent], _ match: (RigEvent.Kind) -> Bool) -> Bool { events.contains { match($0.kind) } }

    @Test func aHungPumpPWMIsSeenByReadBackAndRaisesALatchedHighOutputFaultWithinFourTicks() throws {
        let rig = try running()
        #expect(!rig.loop.safety.alarms.isActive(.outputFault))
        // The PWM controller hangs at 95 % duty while the controller commands about half.
        rig.sim.pumpSpeedChannel.stuck(dutyCycle: 0.95, enabled: true)
        let n = ticks(rig, limit: 50) { rig.loop.safety.alarms.isActive(.outputFault) }
        // Read-back differs in ticks 1, 2, 3 (debounce), the core raises it in tick 4.
        #expect(n == 4)
        #expect(rig.loop.safety.alarms.priority(of: .outputFault) == .high)
        let events = rig.events()
        #expect(has(events) { if case .outputMismatch(.pumpSpeed) = $0 { true } else { false } })
        #expect(events.contains { $0.alarmEntry.map { $0.0 == .outputFault && $0.1 == .raised && $0.2 == .high } ?? false })
        // The hardware recovers; the alarm stays until the operator acknowledges it.
        rig.sim.pumpSpeedChannel.clearFault()
        ticks(rig, limit: 100)
        #expect(rig.loop.safety.alarms.isActive(.outputFault), "latched")
        #expect(rig.command(.acknowledge(.outputFault)).accepted)
        ticks(rig, limit: 2)
        #expect(!rig.loop.safety.alarms.isActive(.outputFault))
    }

    @Test func aOneTickReadBackRaceIsNoAlarm() throws {
        let rig = try running()
        rig.sim.pumpSpeedChannel.stuck(dutyCycle: 0.95, enabled: true)
        ticks(rig, limit: 2)   // two ticks differ: below the 3-tick debounce
        rig.sim.pumpSpeedChannel.clearFault()
        ticks(rig, limit: 50)
        #expect(!rig.loop.safety.alarms.isActive(.outputFault))
        #expect(!has(rig.events()) { if case .outputMismatch = $0 { true } else { false } })
        #expect(rig.loop.outputs.channels[ActuatorRole.pumpSpeed.index].mismatches == 0)
    }

    @Test func aFailedClampWriteRaisesTheOutputFaultInTheNextTickWithItsEvent() throws {
        let rig = try running()
        let clamp = rig.sim.mock.outputLine(ActuatorRole.clamp.rawValue)
        #expect(clamp.level == false, "open while running")
        clamp.disconnect()
        // Make the guard write the clamp: a fault puts it safe (closed).
        rig.sim.setEmergencyStop(true)
        let n = ticks(rig, limit: 10) { rig.loop.safety.alarms.isActive(.outputFault) }
        // Tick 1: the write fails (reported after the write); tick 2: the core raises it.
        #expect(n == 2)
        #expect(rig.loop.safety.alarms.priority(of: .outputFault) == .high)
        let events = rig.events()
        let writeErrors = events.filter { if case .outputWriteError(.clamp) = $0.kind { true } else { false } }
        #expect(writeErrors.count == 1, "one event per episode, not one per retried tick")
        #expect(rig.loop.outputs.channels[ActuatorRole.clamp.index].writeErrors >= 2, "retried every tick")
    }

    @Test func aLostBuzzerLineRaisesTheMediumAuxiliaryAlarmNotTheOutputFault() throws {
        let rig = try running()
        rig.sim.mock.outputLine(ActuatorRole.buzzer.rawValue).disconnect()
        let n = ticks(rig, limit: 20) { rig.loop.safety.alarms.isActive(.auxiliaryOutputFault) }
        // Nothing is written to a quiet buzzer; its read-back fails 3 ticks, then the alarm.
        #expect(n == 4)
        #expect(rig.loop.safety.alarms.priority(of: .auxiliaryOutputFault) == .medium)
        #expect(!rig.loop.safety.alarms.isActive(.outputFault))
        #expect(rig.loop.health.isEmpty, "an annunciator fault does not stop the watchdog")
    }

    @Test func anAgedOutPumpCommandIsAnEventAndAlarmButAStoppedRigsIsNot() throws {
        // A command the core stops giving while it should: the guard's age limit.
        let rig = try running()
        let clock = rig.clock
        let g = rig.loop.outputs
        g.command(.pumpEnable, 1, now: clock.now())
        clock.advance(by: .milliseconds(101))
        g.enforce(now: clock.now())
        let r = g.report(now: clock.now(), into: rig.loop.events)
        #expect(r.expired & OutputReport.bit(.pumpEnable) != 0)
        #expect(r.processFault)
        #expect(has(rig.events()) { if case .outputExpired(.pumpEnable) = $0 { true } else { false } })
        // The rig stopped by the operator: the core commands nothing on purpose.
        #expect(rig.command(.deactivate).accepted)
        rig.drain()
        ticks(rig, limit: 300)
        #expect(rig.sim.pumpEnableLevel == false)
        #expect(!has(rig.events()) { if case .outputExpired = $0 { true } else { false } })
    }

    // MARK: Watchdog: kicked only by a healthy loop

    @Test func aHealthyLoopKeepsTheWatchdogQuiet() throws {
        let rig = try running()
        let kicks = rig.sim.simulatedWatchdog.kicks
        ticks(rig, limit: 1000)
        #expect(rig.sim.simulatedWatchdog.kicks == kicks + 1000)
        #expect(rig.loop.withheldKicks == 0)
        #expect(rig.sim.watchdogResets == 0)
    }

    @Test func aLoopThatCannotSetThePumpStopsKickingAndTheWatchdogResetsTheBoard() throws {
        let rig = try running()
        rig.sim.pumpSpeedChannel.stuck(dutyCycle: 0.95, enabled: true)
        let kicks = rig.sim.simulatedWatchdog.kicks
        var kicksBeforeReset: UInt64 = 0
        var healthBeforeReset: LoopHealth = []
        let n = ticks(rig, limit: 400) {
            if rig.sim.watchdogResets > 0 { return true }
            kicksBeforeReset = rig.sim.simulatedWatchdog.kicks
            healthBeforeReset = rig.loop.health
            return false
        }
        // Withheld from the third mismatched tick; the 250 ms timeout runs from the last kick.
        #expect(n.map { $0 >= 250 && $0 <= 255 } == true, "reset after \(n ?? -1) ticks")
        #expect(kicksBeforeReset == kicks + 2)
        #expect(healthBeforeReset == .outputsUnconfirmed)
        // The board's reset: every output at its boot default (the hung PWM re-initialised).
        #expect(rig.sim.pumpEnableLevel == false)
        #expect(rig.sim.clampLevel == true)
        #expect(has(rig.events()) { if case .watchdogWithheld(let r) = $0 { r == LoopHealth.outputsUnconfirmed.rawValue } else { false } })
    }

    @Test func aLoopThatCannotCloseTheClampStopsKickingAndIsReset() throws {
        let rig = try running()
        rig.sim.mock.outputLine(ActuatorRole.clamp.rawValue).disconnect()
        rig.sim.setEmergencyStop(true)   // the rig must close the clamp and cannot
        let n = ticks(rig, limit: 400) { rig.sim.watchdogResets > 0 }
        #expect(n != nil)
        #expect(rig.loop.state == .fault)
        #expect(rig.sim.pumpEnableLevel == false)
    }

    @Test func aLoopWhoseTicksRunOverBudgetIsReset() throws {
        let rig = try running()
        // Every tick ran 20 periods (over the 10-period budget).
        let n = ticks(rig, limit: 400, previousExecution: rig.board.loopPeriod * 20) { rig.sim.watchdogResets > 0 }
        #expect(n.map { $0 >= 250 && $0 <= 253 } == true, "reset after \(n ?? -1) ticks")
        #expect(rig.loop.health == .slowTick)
    }

    @Test func loopHealthNamesEachReason() {
        let t = Instant.origin + .seconds(1)
        let budget = Duration.milliseconds(10)
        #expect(LoopHealth.judge(previousExecution: .milliseconds(1), budget: budget, now: t, previousTick: t - .milliseconds(1),
                                 outputs: OutputReport()).isEmpty)
        #expect(LoopHealth.judge(previousExecution: .milliseconds(11), budget: budget, now: t, previousTick: nil,
                                 outputs: OutputReport()) == .slowTick)
        #expect(LoopHealth.judge(previousExecution: .zero, budget: budget, now: t, previousTick: t,
                                 outputs: OutputReport()) == .clockStalled)
        var r = OutputReport()
        r.standing = OutputReport.bit(.clamp)
        #expect(LoopHealth.judge(previousExecution: .zero, budget: budget, now: t, previousTick: nil, outputs: r) == .outputsUnconfirmed)
        #expect(LoopHealth([.slowTick, .outputsUnconfirmed]).names == ["slow_tick", "outputs_unconfirmed"])
        r.standing = OutputReport.bit(.buzzer)
        #expect(LoopHealth.judge(previousExecution: .zero, budget: budget, now: t, previousTick: nil, outputs: r).isEmpty)
    }
}
