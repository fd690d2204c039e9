import Testing
import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMORuntime
import RigTestSupport
import ECMOAssembly
import ECMORecord

/// The program's own boot path — `RigAssembly` and `Rig.run` (`RigSession`), exactly what
/// `ecmo-rig run` executes — after the ways a run can end uncleanly. Not the scenario harness.
@Suite struct BootPathTests {
    /// The outputs a stopped circuit must hold: pump off at its safe speed, return line clamped,
    /// both syringes disabled.
    static func expectSafeOutputs(_ sim: SimulatedBoard, _ where_: String) {
        #expect(sim.mock.outputLine(ActuatorRole.pumpEnable.rawValue).level == false, "pump disabled \(where_)")
        #expect(sim.clampLevel, "return line clamped \(where_)")
        #expect(sim.commandedPumpSpeed == .zero || !sim.pumpEnableLevel, "no speed driven \(where_)")
        #expect(sim.mock.outputLine(ActuatorRole.syringeEnable.rawValue).level == false, "cell syringe disabled \(where_)")
    }

    @Test func afterAWatchdogResetTheProgramComesUpInactiveAndWaitsForAnOperator() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let settings = RunSettings(mode: .constantFlow(.lpm(4)))
        let first = try RigAssembly.simulated(board: board, settings: settings)
        let sim = first.hardware
        guard case .lockstep(let clock) = first.runner.pacing else { Issue.record("lockstep expected"); return }
        first.boot()
        first.runner.run(until: clock.now() + .milliseconds(200))
        #expect(first.apply(.activate).accepted)
        first.runner.run(until: clock.now() + .seconds(5))
        #expect(first.loop.state == .active)
        #expect(sim.circuit.flow > .lpm(2), "the circuit ran")
        // Then the loop hangs: it stops ticking, the board's watchdog bites.
        clock.advance(by: board.watchdog.timeout + .milliseconds(20))
        sim.service(now: clock.now())
        #expect(sim.watchdogResets == 1)

        // The supervisor starts the same command line again: an operator start as far as the
        // command line knows; the hardware says the watchdog reset the board.
        let link = RigLink(loopPeriod: board.loopPeriod)
        let rebooted = try RigAssembly.reboot(first, settings: settings, evidence: .operatorStart, link: link)
        #expect(rebooted.session.evidence.watchdogReset)
        #expect(!rebooted.session.evidence.mayActivate)
        var states: Set<LifecycleState> = []
        var sawSafe = true
        let activateAt = clock.now() + .seconds(4)
        var sent = false
        let outcome = rebooted.run(for: .seconds(8)) { now in
            states.insert(rebooted.loop.state)
            if rebooted.loop.state == .inactive {
                sawSafe = sawSafe && !sim.pumpEnableLevel && sim.clampLevel
            }
            if now >= activateAt && !sent {
                // Waiting: inactive, outputs safe, the watchdog-reset alarm latched.
                Self.expectSafeOutputs(sim, "while waiting after the reset")
                #expect(rebooted.loop.state == .inactive)
                #expect(rebooted.loop.safety.alarms.isActive(.watchdogReset))
                #expect(sim.circuit.flow < .lpm(0.5), "no flow while waiting")
                // The operator looks at the circuit and activates from the console.
                link.commands.push(RigCommand(sequence: 1, code: .activate))
                sent = true
            }
        }
        #expect(sawSafe)
        #expect(states.contains(.inactive) && states.contains(.active), "waited, then the operator's command started it: \(states)")
        #expect(link.replies.pop()?.ok == true)
        #expect(outcome == .completed)

        // Without anyone at the console, the same boot never starts the circuit.
        let again = try RigAssembly.reboot(rebooted, settings: settings, evidence: .operatorStart)
        #expect(again.run(for: .seconds(5)) == .awaitingOperator)
        #expect(again.loop.tickCount > 4000, "it kept reading sensors while it waited")
        Self.expectSafeOutputs(sim, "after a run nobody activated")
    }

    @Test func afterAnUncleanStopMidInfusionTheProgramComesUpInactiveAndDeliversNothing() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let plan = try testPlan(dose: .mL(0.5), over: .seconds(20))
        let journalPath = temporaryPath("boot.journal")
        func infusion() throws -> InfusionSetup {
            let (j, r) = try DeliveryJournal.open(path: journalPath, planHash: 7,
                                                  prescribed: (plan.prescribedSteps(.cells), plan.prescribedSteps(.heparin)))
            let resume = r.map { InfusionEngine.Resume(authorized: $0.reserved, itemIndex: $0.itemIndex, itemStartedAt: $0.itemStartedAt,
                                                       elapsed: $0.elapsed, heparinRate: $0.heparinRate) }
            let engine = InfusionEngine(plan: plan, loopPeriod: board.loopPeriod, pumpRamp: board.pump.limits.maximumRampPerSecond,
                                        pumpMaximum: board.pump.limits.maximumSpeed, resume: resume)
            return InfusionSetup(engine: engine, link: JournalLink(granted: (r?.reserved[0] ?? 0, r?.reserved[1] ?? 0)),
                                 journal: j, recovered: r)
        }
        func simulatedBoard(plunger: Int64) throws -> SimulatedBoard {
            let sim = try SimulatedBoard(board: board, clock: ManualClock(), seed: 5)
            if let spec = plan.channel(.cells) { sim.loadSyringe(.cells, spec: spec, volume: spec.fillVolume) }
            sim.restorePlunger(cells: plunger, heparin: 0)
            return sim
        }
        func assemble(_ sim: SimulatedBoard, _ evidence: BootEvidence) throws -> Rig<SimulatedBoard> {
            guard let clock = sim.clock as? ManualClock else { throw SupportError(description: "manual clock expected") }
            return try RigAssembly.assemble(board: board, hardware: sim, settings: RunSettings(mode: .constantFlow(.lpm(4))),
                                            infusion: try infusion(), pacing: .lockstep(clock), evidence: evidence)
        }

        // A run delivering its dose is killed mid-dose: no clean close reaches the journal.
        let sim1 = try simulatedBoard(plunger: 0)
        let crashed = try assemble(sim1, .operatorStart)
        let clock1 = try #require(sim1.clock as? ManualClock)
        crashed.boot()
        crashed.runner.run(until: clock1.now() + .milliseconds(200))
        #expect(crashed.apply(.activate).accepted)
        crashed.runner.run(until: clock1.now() + .seconds(10))
        let delivered = sim1.plungerSteps.cells
        #expect(delivered > 0 && delivered < plan.prescribedSteps(.cells), "killed mid-dose (\(delivered) steps in)")

        // The program starts again, as typed the first time; the journal says the last run
        // never closed: inactive, outputs safe, nothing delivered, waiting for an operator.
        let sim2 = try simulatedBoard(plunger: delivered)
        let restarted = try assemble(sim2, .operatorStart)
        #expect(restarted.session.evidence.uncleanStop)
        #expect(!restarted.session.evidence.mayActivate)
        var everActive = false
        let outcome = restarted.run(for: .seconds(15)) { _ in
            if restarted.loop.state != .inactive && restarted.loop.state != .unconfigured { everActive = true }
        }
        #expect(outcome == .awaitingOperator)
        #expect(!everActive)
        #expect(sim2.plungerSteps.cells == delivered, "not one step after the unclean stop")
        Self.expectSafeOutputs(sim2, "after the unclean stop")

        // The operator checked the circuit and confirms the restart: the protocol resumes.
        let sim3 = try simulatedBoard(plunger: delivered)
        let confirmed = try assemble(sim3, BootEvidence(operatorStart: true, restartConfirmed: true))
        #expect(confirmed.session.evidence.uncleanStop && confirmed.session.evidence.mayActivate)
        #expect(confirmed.run(for: .seconds(30)) == .completed)
        #expect(sim3.plungerSteps.cells > delivered, "delivery resumed once confirmed")
        #expect(sim3.plungerSteps.cells <= plan.prescribedSteps(.cells), "never more than prescribed")
    }

    @Test func aSessionMarkerLeftBehindMeansTheLastRunEndedUncleanly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-marker-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try SessionMarker(directory: dir, board: "sim")
        #expect(!first.foundUnclean)
        // Killed: the marker stays. The next start finds it.
        let second = try SessionMarker(directory: dir, board: "sim")
        #expect(second.foundUnclean)
        #expect(!BootEvidence(uncleanStop: second.foundUnclean).mayActivate)
        try second.closeCleanly()
        let third = try SessionMarker(directory: dir, board: "sim")
        #expect(!third.foundUnclean, "a clean end leaves no marker")
        #expect(BootEvidence(uncleanStop: third.foundUnclean).mayActivate)
        // Another board's marker is its own.
        #expect(!(try SessionMarker(directory: dir, board: "rpi4-bench")).foundUnclean)
    }
}
