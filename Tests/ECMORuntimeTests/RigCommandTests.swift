import Testing
import AllocationCounter
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMORuntime
import RigTestSupport

/// Sends one command through the link's ring, runs a tick, returns the loop's reply.
@discardableResult
func send(_ code: RigCommand.Code, _ a: Double = 0, link: RigLink, tick: () -> Void) -> RigCommandReply? {
    let seq = UInt64(link.commands.totalPushed + 1)
    #expect(link.commands.push(RigCommand(sequence: seq, code: code, a: a)))
    tick()
    let r = link.replies.pop()
    #expect(r?.sequence == seq)
    return r
}

@Suite struct RigCommandTests {
    func rig() throws -> (SimRig, RigLink) {
        let link = simLink()
        let rig = try SimRig(link: link)
        rig.startAndRun(for: .seconds(3))
        rig.drain()
        return (rig, link)
    }

    @Test func setFlowInsideTheAlarmLimitsChangesTheSetpointAndOutsideIsRefusedWithTheLimit() throws {
        let (rig, link) = try rig()
        let tick = { rig.advance(.milliseconds(1)) }
        #expect(send(.setFlow, 3.0, link: link, tick: tick)?.ok == true)
        #expect(rig.loop.controller.mode == .constantFlow(.lpm(3.0)))
        let high = send(.setFlow, 9.0, link: link, tick: tick)
        #expect(high?.reason == .aboveMaximum)
        #expect(high?.limit == rig.loop.safety.limits.flowHigh.litersPerMinute)
        let low = send(.setFlow, 0.2, link: link, tick: tick)
        #expect(low?.reason == .belowMinimum)
        #expect(low?.limit == rig.loop.safety.limits.flowLow.litersPerMinute)
        #expect(send(.setFlow, .nan, link: link, tick: tick)?.ok == false)
        #expect(rig.loop.controller.mode == .constantFlow(.lpm(3.0)), "refusals leave the set-point alone")
    }

    @Test func foulingResumeFromTheLinkIsRefusedWithoutAPauseAndMalformedArgumentsAreRejected() throws {
        let (rig, link) = try rig()
        let tick = { rig.advance(.milliseconds(1)) }
        // No fouling pause stands: nothing to resume (the pause/acknowledge/resume path runs
        // in HIL/scenarios/protocol-fouling-pause-resume.yaml).
        #expect(send(.resumeAfterFouling, 0, link: link, tick: tick)?.reason == .notHalted)
        #expect(send(.resumeAfterFouling, 1, link: link, tick: tick)?.reason == .notHalted)
        #expect(RigCommand(sequence: 1, code: .resumeAfterFouling, a: 1).operatorCommand == .resumeAfterFouling(newBaseline: true))
        #expect(RigCommand(sequence: 1, code: .resumeAfterFouling, a: 0).operatorCommand == .resumeAfterFouling(newBaseline: false))
        for bad in [2.0, -1, .nan, .infinity, 0.5] {
            #expect(RigCommand(sequence: 1, code: .resumeAfterFouling, a: bad).operatorCommand == nil)
        }
    }

    @Test func setSpeedOutsideTheBoardPumpLimitsIsRefused() throws {
        let (rig, link) = try rig()
        let tick = { rig.advance(.milliseconds(1)) }
        let limits = rig.board.pump.limits
        #expect(send(.setSpeed, limits.maximumSpeed.rpm + 1, link: link, tick: tick)?.reason == .aboveMaximum)
        #expect(send(.setSpeed, limits.minimumSpeed.rpm - 1, link: link, tick: tick)?.reason == .belowMinimum)
        #expect(send(.setSpeed, 2500, link: link, tick: tick)?.ok == true)
        #expect(rig.loop.controller.mode == .constantSpeed(.rpm(2500)))
    }

    @Test func acknowledgeOfAnInactiveAlarmIsRefusedAndOfAnActiveOneAccepted() throws {
        let (rig, link) = try rig()
        let tick = { rig.advance(.milliseconds(1)) }
        #expect(send(.acknowledge, Double(AlarmID.flowHigh.rawValue), link: link, tick: tick)?.reason == .alarmNotActive)
        #expect(send(.acknowledge, -1, link: link, tick: tick)?.reason == .alarmNotActive)
        #expect(send(.acknowledge, 99, link: link, tick: tick)?.reason == .unknownAlarm)
        rig.sim.setAirDetected(true)
        rig.advance(.milliseconds(20))
        #expect(rig.loop.safety.alarms.isActive(.airInLine))
        #expect(send(.pauseAudio, link: link, tick: tick)?.ok == true)
        #expect(rig.loop.safety.alarms.isAudioPaused)
        #expect(send(.acknowledge, Double(AlarmID.airInLine.rawValue), link: link, tick: tick)?.ok == true)
        #expect(rig.loop.safety.alarms.isAcknowledged(.airInLine))
    }

    @Test func protocolCommandsWithoutAProtocolAreRefusedWithNoProtocol() throws {
        let (rig, link) = try rig()
        let tick = { rig.advance(.milliseconds(1)) }
        for code in [RigCommand.Code.pauseInfusion, .resumeInfusion, .abortProtocol, .startProtocol, .enterACT, .setHeparinRate] {
            #expect(send(code, code == .enterACT ? 180 : 0, link: link, tick: tick)?.reason == .noProtocol, "\(code)")
        }
    }

    @Test func protocolResumeOfAChannelThatIsNotHaltedIsRefusedAndPauseThenResumeWorks() throws {
        let link = simLink()
        let r = try InfusionRig(plan: testPlan(), journalPath: temporaryPath("link.journal"), consoleLink: link)
        let tick = { _ = r.run(.milliseconds(1)) }
        #expect(send(.startProtocol, link: link, tick: tick)?.reason == .waitingForCircuit)
        r.start()
        _ = r.run(.seconds(3))
        #expect(r.loop.infusion.started)
        #expect(send(.startProtocol, link: link, tick: tick)?.reason == .alreadyRunning)
        #expect(send(.resumeInfusion, 0, link: link, tick: tick)?.reason == .notHalted)
        #expect(send(.resumeInfusion, 1, link: link, tick: tick)?.reason == .noProtocol, "the plan has no heparin channel")
        #expect(send(.setHeparinRate, 10, link: link, tick: tick)?.reason == .noProtocol)
        #expect(send(.pauseInfusion, 0, link: link, tick: tick)?.ok == true)
        #expect(r.loop.infusion.cells.halt == .operatorPause)
        #expect(send(.resumeInfusion, 0, link: link, tick: tick)?.ok == true)
        #expect(r.loop.infusion.cells.halt == .none)
        #expect(send(.abortProtocol, link: link, tick: tick)?.ok == true)
        #expect(send(.startProtocol, link: link, tick: tick)?.reason == .protocolFinished)
    }

    @Test func clearFaultAndActivateFromTheConsoleFollowTheLifecycleAndSayWhyNot() throws {
        let (rig, link) = try rig()
        let tick = { rig.advance(.milliseconds(1)) }
        #expect(send(.activate, link: link, tick: tick)?.reason == .alreadyRunning)
        #expect(send(.clearFault, link: link, tick: tick)?.reason == .notAllowed, "no fault to clear")
        rig.sim.setAirDetected(true)
        rig.advance(.milliseconds(5))
        #expect(rig.loop.state == .fault)
        #expect(send(.activate, link: link, tick: tick)?.reason == .notAllowed, "a fault must be cleared first")
        #expect(send(.clearFault, link: link, tick: tick)?.reason == .causePresent, "the air is still there")
        rig.sim.setAirDetected(false)
        rig.advance(.milliseconds(5))
        #expect(send(.clearFault, link: link, tick: tick)?.ok == true)
        #expect(rig.loop.state == .inactive)
        #expect(!rig.sim.pumpEnableLevel && rig.sim.clampLevel, "cleared is not running: outputs stay safe")
        #expect(send(.activate, link: link, tick: tick)?.ok == true)
        rig.advance(.seconds(3))
        #expect(rig.loop.state == .active && rig.loop.controller.phase == .regulating)
    }

    @Test func stopEndsTheRunThroughTheRunnerAndIsRefusedTwice() throws {
        let link = simLink()
        let rig = try SimRig(link: link)
        let stopAt = rig.clock.now() + .seconds(2)
        var pushed = false
        let outcome = RigSession().run(rig.runner, duration: .seconds(10)) { now in
            if !pushed && now >= stopAt {
                pushed = true
                link.commands.push(RigCommand(sequence: 1, code: .stop))
                link.commands.push(RigCommand(sequence: 2, code: .stop))
            }
        }
        #expect(outcome == .stopped)
        #expect(rig.loop.tickCount < 2_100, "stopped right after the command, long before the 10 s end")
        #expect(link.replies.pop()?.ok == true)
        #expect(link.replies.pop()?.reason == .notAllowed)
        #expect(rig.loop.state != .active, "shut down safely")
        #expect(rig.loop.outputs.forcedSafe)
    }

    @Test(.enabled(if: ecmo_alloc_counter_available(), "needs the glibc allocation counter"))
    func aTickDrainingTheCommandRingAllocatesNothing() throws {
        let link = simLink()
        let rig = try SimRig(recordEvery: 1, link: link)
        rig.startAndRun(for: .seconds(3))
        rig.drain()
        var now = rig.clock.now()
        var seq: UInt64 = 0
        func ticks(_ count: Int) -> UInt64 {
            ecmo_alloc_counter_start()
            for i in 0..<count {
                seq &+= 1
                let code: RigCommand.Code = i % 3 == 0 ? .setFlow : (i % 3 == 1 ? .acknowledge : .pauseAudio)
                link.commands.push(RigCommand(sequence: seq, code: code, a: code == .setFlow ? 4.0 : -1))
                now = now + rig.board.loopPeriod
                rig.clock.advance(to: now)
                rig.loop.tick(now: now)
                _ = link.replies.pop()
                _ = link.telemetry.pop()
                _ = rig.loop.telemetry.pop()
                _ = rig.loop.events.pop()
                _ = rig.loop.events.pop()
            }
            return ecmo_alloc_counter_stop()
        }
        // Warm-up: the first audio pause of a run allocates once inside the alarm system
        // (as it does when RigLoop.pauseAudio is called directly, without a link).
        _ = ticks(300)
        let n = ticks(2_000)
        #expect(n == 0, "allocations in 2 000 ticks with a command each: \(n)")
        #expect(link.replies.dropped == 0)
    }
}
