import Testing
import ECMOCore
import ECMOHAL
import ECMORuntime
import RigTestSupport
import ECMOSim
import ECMORecord

@Suite struct SafetyInterlockTests {
    /// Ticks until `condition` holds on the loop's last frame; returns how many ran.
    func tickUntil(_ rig: SimRig, max: Int = 20_000, _ condition: (TelemetryFrame) -> Bool) -> Int? {
        var now = rig.clock.now()
        for i in 1...max {
            now = now + rig.board.loopPeriod
            rig.clock.advance(to: now)
            rig.loop.tick(now: now)
            if condition(rig.loop.lastTelemetry) { return i }
            if i % 1000 == 0 { rig.drain() }
        }
        return nil
    }

    @Test func suctionLowersTheSpeedCeilingInTheTickOfDetection() throws {
        let rig = try SimRig(mode: .constantSpeed(.rpm(3000)))
        rig.startAndRun(for: .seconds(10))
        rig.drain()
        let limit = rig.loop.safety.limits.drainPressureLow
        rig.sim.circuit.drainageOcclusion = 0.7
        // The first tick whose validated P_drain is below the limit must already carry the
        // interlock's ceiling and a lower command.
        var previousCommand = rig.loop.lastTelemetry.commandedSpeed
        var detected = false
        var now = rig.clock.now()
        for _ in 0..<2000 {
            now = now + rig.board.loopPeriod
            rig.clock.advance(to: now)
            rig.loop.tick(now: now)
            let f = rig.loop.lastTelemetry
            if f.invalidMask & 1 == 0 && f.drainPressure < limit {
                #expect(f.speedCeiling > .zero, "ceiling in force in the tick of detection")
                #expect(f.commandedSpeed < previousCommand, "command lowered in the tick of detection")
                detected = true
                break
            }
            previousCommand = f.commandedSpeed
        }
        #expect(detected)
        rig.advance(.seconds(5))
        #expect(rig.loop.lastTelemetry.commandedSpeed >= rig.board.pump.limits.minimumSpeed, "never below the safe floor")
        let raised = rig.events().compactMap { $0.alarmEntry }
            .contains { $0.0 == .drainPressureLow && $0.1 == .raised }
        #expect(raised, "P_DRAIN_LOW raised (non-latching: it clears once the interlock relieves the suction)")
        #expect(rig.loop.lastTelemetry.drainPressure > limit, "suction relieved to inside the alarm tier")
    }

    @Test func overPressureLowersTheCommandInTheTickOfDetection() throws {
        // 4400 rpm: a full return kink's shut-off head passes the 500 mmHg alarm tier.
        let rig = try SimRig(mode: .constantSpeed(.rpm(4400)))
        // Long enough to reach 4400 rpm: the warning tier would hold a ramp where it is.
        rig.startAndRun(for: .seconds(25))
        rig.drain()
        let limit = rig.loop.safety.limits.prePressureHigh
        rig.sim.circuit.returnOcclusion = 1
        var previous = rig.loop.lastTelemetry.commandedSpeed
        var ticks = 0
        let found = tickUntil(rig) { f in
            defer { previous = f.commandedSpeed }
            ticks += 1
            // P_pre or P_post (both lie before a return kink) over the alarm tier.
            let pre = f.invalidMask & 2 == 0 && f.preOxygenatorPressure > limit
            let post = f.invalidMask & 4 == 0 && f.postOxygenatorPressure > rig.loop.safety.limits.postPressureHigh
            guard pre || post else { return false }
            #expect(f.commandedSpeed < previous, "tick \(ticks): command not lowered at detection")
            return true
        }
        #expect(found != nil, "P_pre never above \(limit.mmHg) mmHg valid: last \(rig.loop.lastTelemetry.preOxygenatorPressure.mmHg), speed \(rig.loop.lastTelemetry.commandedSpeed.rpm), mask \(rig.loop.lastTelemetry.invalidMask)")
    }

    @Test func faultKeepsTheBuzzerSoundingWhileProcessOutputsAreSafe() throws {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(5))
        rig.sim.setEmergencyStop(true)
        rig.advance(.milliseconds(1))
        #expect(rig.sim.mock.outputLine("pump_enable").level == false)
        #expect(rig.sim.mock.outputLine("buzzer").level == true, "first pulse of the high-priority burst")
        #expect(rig.sim.mock.outputLine("led_red").level == true)
        #expect(rig.loop.safety.alarms.isActive(.emergencyStop))
    }

    @Test func acknowledgeAndAudioPauseAreLoggedAndSilenceTheBuzzer() throws {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(5))
        rig.drain()
        rig.sim.setAirDetected(true)
        rig.advance(.milliseconds(10))
        rig.command(.pauseAudio)
        rig.advance(.seconds(10))
        #expect(rig.sim.mock.outputLine("buzzer").level == false, "paused")
        #expect(rig.sim.mock.outputLine("led_red").level || true)
        rig.sim.setAirDetected(false)
        rig.advance(.milliseconds(10))
        #expect(rig.loop.safety.alarms.isActive(.airInLine), "latched after the air is gone")
        #expect(rig.command(.acknowledge(.airInLine)).accepted)
        rig.advance(.milliseconds(10))
        #expect(rig.loop.safety.alarms.isActive(.airInLine), "the fault is still latched: the alarm stays")
        #expect(rig.command(.clearFault).accepted)
        rig.advance(.milliseconds(10))
        #expect(!rig.loop.safety.alarms.isActive(.airInLine), "acknowledged and condition gone: cleared")
        let log = rig.events().compactMap { $0.alarmEntry }
        #expect(log.contains { $0.0 == .airInLine && $0.1 == .raised && $0.3 == .system })
        #expect(log.contains { $0.0 == nil && $0.1 == .audioPaused && $0.3 == .operatorPanel })
        #expect(log.contains { $0.0 == .airInLine && $0.1 == .acknowledged && $0.3 == .operatorPanel })
        #expect(log.contains { $0.0 == .airInLine && $0.1 == .cleared })
    }

    @Test func nominalRunRaisesNoAlarm() throws {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(60))
        #expect(rig.loop.safety.alarms.activeCount == 0)
        #expect(rig.sim.mock.outputLine("led_green").level == true)
        #expect(rig.sim.mock.outputLine("buzzer").level == false)
    }
}

@Suite struct AlarmLimitSettingsTests {
    @Test func loopRefusesAlarmLimitsBeyondTheirHardBounds() throws {
        var limits = AlarmLimits()
        limits.prePressureHigh = .mmHg(900)
        let error = #expect(throws: RunSettingsError.self) {
            _ = try SimRig(settings: RunSettings(mode: .constantFlow(.lpm(4)), alarmLimits: limits))
        }
        #expect(error?.description.contains("p_pre_high_mmhg") == true, "names the limit: \(String(describing: error))")
    }
}
