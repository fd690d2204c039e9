import Testing
import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMOMockBoard
import ECMORuntime
import RigTestSupport
import ECMORecord

@Suite struct RigLoopTests {
    @Test func simulatedRunPrimesAndHoldsTheFlowSetpoint() throws {
        let rig = try SimRig(mode: .constantFlow(.lpm(4)))
        rig.configure()
        rig.advance(.milliseconds(200))
        #expect(rig.loop.state == .inactive)
        #expect(rig.loop.lastTelemetry.invalidMask & 0x0F == 0, "all analog sensors valid before activation")
        rig.drain()
        rig.command(.activate)
        var flows: [Double] = []
        for _ in 0..<60 {
            rig.advance(.seconds(1))
            flows.append(rig.loop.lastTelemetry.flow.litersPerMinute)
            rig.drain()
        }
        #expect(rig.loop.controller.phase == .regulating)
        #expect(rig.loop.lastTelemetry.clampClosed == false)
        let tail = flows.suffix(30)
        #expect(tail.allSatisfy { abs($0 - 4) < 0.1 }, "flow over the last 30 s: \(Array(tail))")
        // The plant really is at 4 L/min (not just the sensor).
        #expect(abs(rig.sim.circuit.flow.litersPerMinute - 4) < 0.05)
        #expect(rig.loop.overruns == 0)
    }

    @Test func constantSpeedModeHoldsTheSpeedAndFlowFollowsTheCircuit() throws {
        let rig = try SimRig(mode: .constantSpeed(.rpm(3000)))
        rig.startAndRun(for: .seconds(10))
        let t = rig.loop.lastTelemetry
        #expect(abs(t.measuredSpeed.rpm - 3000) < 30)
        let expected = rig.sim.circuit.steadyStateFlow(at: .rpm(3000)).litersPerMinute
        #expect(abs(t.flow.litersPerMinute - expected) < 0.1)
    }

    @Test func pumpStaysClampedUntilItTurnsAtMinimumSpeed() throws {
        let rig = try SimRig()
        rig.configure()
        rig.advance(.milliseconds(200))
        rig.command(.activate)
        rig.advance(.milliseconds(300))
        #expect(rig.loop.controller.phase == .spinUp)
        #expect(rig.sim.mock.outputLine("clamp").level == true)
        #expect(rig.sim.mock.outputLine("pump_enable").level == true)
    }

    @Test func inactiveRigReadsSensorsButCommandsNothing() throws {
        let rig = try SimRig()
        rig.configure()
        let writesBefore = rig.sim.mock.trace.totalWrites
        rig.advance(.seconds(1))
        #expect(rig.loop.lastTelemetry.invalidMask & 0x0F == 0)
        // Only I²C traffic (sensor reads) and the alarm lamps were written; every process
        // actuator stayed at its boot value.
        let lamps = Set(["buzzer", "led_red", "led_yellow", "led_green"])
        let actuatorWrites = rig.sim.mock.trace.entries.filter {
            switch $0.target {
            case .i2cWrite, .i2cNAK: return false
            case .line(let id): return $0.time > .origin && !lamps.contains(rig.sim.mock.name(of: id) ?? "")
            default: return $0.time > .origin
            }
        }
        #expect(actuatorWrites.isEmpty, "\(actuatorWrites.count) actuator writes while inactive")
        #expect(rig.sim.mock.trace.totalWrites > writesBefore)
        #expect(rig.sim.mock.outputLine("pump_enable").level == false)
        #expect(rig.sim.mock.outputLine("clamp").level == true)
    }

    @Test func shutdownPutsEveryActuatorToItsSafeValue() throws {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(5))
        #expect(rig.sim.mock.outputLine("pump_enable").level == true)
        #expect(rig.sim.mock.outputLine("clamp").level == false)
        rig.loop.shutdown(now: rig.clock.now())
        for (role, c) in rig.board.outputs {
            #expect(rig.sim.mock.outputLine(role.rawValue).level == c.safeValue, "\(role.rawValue)")
        }
        let pwm = rig.sim.mock.pwmChannel("\(rig.board.pump.pwmChip)/\(rig.board.pump.channel)")
        #expect(abs(pwm.dutyCycle - rig.board.pump.duty(for: rig.board.pump.safeSpeed)) < 1e-9)
        #expect(rig.loop.state == .unconfigured)
        #expect(rig.events().contains { $0.isOutputsSafe })
    }

    @Test func stopRequestEndsTheSessionWithSafeOutputs() throws {
        let rig = try SimRig()
        var ticks = 0
        let outcome = RigSession().run(rig.runner, duration: .seconds(60)) { _ in
            ticks += 1
            if ticks == 5000 { rig.runner.requestStop() }
            if ticks % 1000 == 0 { rig.drain() }
        }
        #expect(outcome == .stopped)
        #expect(rig.clock.now() < Instant.origin + .seconds(6))
        #expect(rig.sim.mock.outputLine("pump_enable").level == false)
        #expect(rig.sim.mock.outputLine("clamp").level == true)
    }

    @Test func emergencyStopPutsOutputsSafeInTheSameTickAndLatchesFault() throws {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(5))
        rig.drain()
        rig.sim.setEmergencyStop(true)
        rig.loop.tick(now: rig.clock.now() + .milliseconds(1))
        #expect(rig.loop.state == .fault)
        #expect(rig.loop.controller.lifecycle.faultReason == .emergencyStop)
        #expect(rig.sim.mock.outputLine("pump_enable").level == false)
        #expect(rig.sim.mock.outputLine("clamp").level == true)
        let events = rig.events()
        #expect(events.contains { $0.faultReason == .emergencyStop })
        // Releasing the button does not restart anything.
        rig.sim.setEmergencyStop(false)
        rig.advance(.seconds(1))
        #expect(rig.loop.state == .fault)
        #expect(rig.sim.mock.outputLine("pump_enable").level == false)
        #expect(rig.command(.activate).refusal == .notAllowed, "restart needs the fault cleared first")
    }

    @Test func airInLineStopsThePumpAndClampsInTheSameTick() throws {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(5))
        rig.sim.setAirDetected(true)
        rig.loop.tick(now: rig.clock.now() + .milliseconds(1))
        #expect(rig.loop.controller.lifecycle.faultReason == .airInLine)
        #expect(rig.sim.mock.outputLine("pump_enable").level == false)
        #expect(rig.sim.mock.outputLine("clamp").level == true)
    }

    @Test func hungLoopIsCaughtBySimulatedWatchdogAndOutputsGoSafe() throws {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(5))
        #expect(rig.sim.simulatedWatchdog.kicks > 0)
        // The loop hangs: time passes, nothing ticks, only the board lives on.
        rig.clock.advance(by: rig.board.watchdog.timeout + .milliseconds(10))
        rig.sim.service(now: rig.clock.now())
        #expect(rig.sim.watchdogResets == 1)
        #expect(rig.sim.mock.outputLine("pump_enable").level == false)
        #expect(rig.sim.mock.outputLine("clamp").level == true)
    }

    @Test func sameSeedGivesTheSameTelemetry() throws {
        func run(seed: UInt64) throws -> [String] {
            let rig = try SimRig(seed: seed, recordEvery: 100)
            rig.startAndRun(for: .seconds(3))
            var rows: [String] = []
            rig.loop.telemetry.drain { var f = $0; f.executionTime = .zero; rows.append(RunRecorder.csvRow(f)) }
            return rows
        }
        let a = try run(seed: 7)
        let b = try run(seed: 7)
        let c = try run(seed: 8)
        #expect(a.count > 20)
        #expect(a == b)
        #expect(a != c)
    }
}

@Suite struct OverrunPolicyLoopTests {
    func tick(_ rig: SimRig, lateness: Duration, count: Int) {
        var now = rig.clock.now()
        for _ in 0..<count {
            now = now + rig.board.loopPeriod
            rig.clock.advance(to: now)
            rig.loop.tick(now: now, lateness: lateness)
        }
    }

    @Test func sustainedLatenessRaisesTheAlarmShedsTheRecordAndKeepsTheCircuitRunning() throws {
        let rig = try SimRig(recordEvery: 1)
        rig.startAndRun(for: .seconds(5))
        rig.drain()
        tick(rig, lateness: .milliseconds(2), count: 100)
        #expect(rig.loop.overruns == 100)
        #expect(rig.loop.safety.alarms.isActive(.loopOverrun))
        #expect(rig.loop.lastOverrunStatus.shed)
        let rows = rig.loop.telemetry.count
        #expect(rows <= 11, "one row in ten while shedding (got \(rows) of 100 ticks)")
        #expect(rig.loop.state == .active)
        #expect(rig.sim.mock.outputLine("pump_enable").level, "pump still running")
        let shed = rig.events().contains { $0.shedding == true }
        #expect(shed, "shedding logged")
    }

    @Test func aLoopThatLosesItsSafetyDeadlineGoesToTheSafeState() throws {
        let rig = try SimRig()
        rig.startAndRun(for: .seconds(5))
        tick(rig, lateness: .milliseconds(60), count: 2)
        #expect(rig.loop.state == .active, "two ticks past the deadline: not yet")
        tick(rig, lateness: .milliseconds(60), count: 1)
        #expect(rig.loop.state == .fault)
        #expect(rig.loop.controller.lifecycle.faultReason == .loopOverrun)
        #expect(!rig.sim.mock.outputLine("pump_enable").level, "pump off in the same tick")
        #expect(rig.sim.clampLevel, "return line clamped")
        #expect(rig.loop.safety.alarms.isActive(.loopOverrun))
    }
}
