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
import ECMOPosix

/// A 50 mL BD syringe on the sim board's drive (2 mm lead, 200 × 16 microsteps, 5 kHz).
func cellChannel(fill: Volume = .mL(10)) -> SyringeChannelSpecification {
    SyringeChannelSpecification(syringe: SyringePreset.bdPlastipak50mL.specification,
                                drive: SyringeDrive(stepsPerRevolution: 200, microsteps: 16, leadMillimeters: 2, maximumStepRate: 5000),
                                fillVolume: fill)
}

/// baseline 2 s → one dose → observation 2 s.
func testPlan(dose volume: Volume = .mL(0.5), over: Duration = .seconds(20), clamp: OutflowClampPlan? = nil,
              agitation: AgitationPlan? = nil, onRestart: RestartPolicy = .resume) throws -> InfusionPlan {
    let spec = cellChannel()
    let dose = try DosePlanner.volumeDose(volume, pace: .duration(over), channel: spec, available: spec.usableVolume)
    return InfusionPlan(channels: [spec], items: [
        PlanItem(kind: .baseline, duration: .seconds(2)),
        PlanItem(kind: .dose(index: 0), duration: dose.duration, steps: dose.steps, stepRate: spec.stepRate(for: dose.rate),
                 dose: dose, clamp: clamp, agitation: agitation),
        PlanItem(kind: .observation, duration: .seconds(2)),
    ], onRestart: onRestart)
}

func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

/// A simulated rig running an infusion plan with a real, fsync'd journal.
struct InfusionRig {
    let board: BoardConfiguration
    let clock = ManualClock()
    let sim: SimulatedBoard
    let rig: Rig<SimulatedBoard>
    var loop: RigLoop<SimulatedBoard> { rig.loop }
    var runner: LoopRunner<SimulatedBoard> { rig.runner }
    let journal: DeliveryJournal
    let recovered: DeliveryJournal.Recovered?
    let plan: InfusionPlan

    init(plan: InfusionPlan, journalPath: String, plant: (Int64, Int64) = (0, 0), writer: Bool = true,
         mode: PumpMode = .constantFlow(.lpm(4)), consoleLink: RigLink? = nil,
         fileSystem: any RecordFileSystem = PosixFileSystem()) throws {
        self.plan = plan
        board = try BoardLoader.load(path: boardFile("sim.yaml"))
        sim = try SimulatedBoard(board: board, clock: clock, seed: 3)
        if let spec = plan.channel(.cells) { sim.loadSyringe(.cells, spec: spec, volume: spec.fillVolume) }
        sim.restorePlunger(cells: plant.0, heparin: plant.1)
        let (j, r) = try DeliveryJournal.open(path: journalPath, planHash: 42,
                                              prescribed: (plan.prescribedSteps(.cells), plan.prescribedSteps(.heparin)),
                                              fileSystem: fileSystem)
        journal = j
        recovered = r
        let resume = r.map { InfusionEngine.Resume(authorized: $0.reserved, itemIndex: $0.itemIndex, itemStartedAt: $0.itemStartedAt,
                                                   elapsed: $0.elapsed, heparinRate: $0.heparinRate) }
        let engine = InfusionEngine(plan: plan, loopPeriod: board.loopPeriod, pumpRamp: board.pump.limits.maximumRampPerSecond,
                                    pumpMaximum: board.pump.limits.maximumSpeed, resume: resume)
        let link = JournalLink(granted: (r?.reserved[0] ?? 0, r?.reserved[1] ?? 0))
        // Restarting on a journal this test wrote stands for an operator's confirmed restart.
        rig = try RigAssembly.assemble(board: board, hardware: sim, settings: RunSettings(mode: mode),
                                       infusion: InfusionSetup(engine: engine, link: link, journal: j, recovered: r),
                                       pacing: .lockstep(clock), evidence: BootEvidence(restartConfirmed: true), link: consoleLink)
        if !writer { rig.runner.journalWriter = nil }
    }

    func start() {
        rig.boot()
        runner.run(until: clock.now() + .milliseconds(200))
        rig.apply(.activate)
    }

    /// Ticks one at a time for `d`, calling `each` after every tick; drains the rings.
    func run(_ d: Duration, each: ((TelemetryFrame) -> Void)? = nil) -> [RigEvent] {
        var events: [RigEvent] = []
        let end = clock.now() + d
        var now = clock.now()
        while now < end {
            now = now + board.loopPeriod
            clock.advance(to: now)
            loop.tick(now: now)
            runner.journalWriter?.serviceOnce()
            each?(loop.lastTelemetry)
            loop.events.drain { events.append($0) }
            _ = loop.telemetry.drain { _ in }
        }
        return events
    }
}

func alarms(_ events: [RigEvent], raised id: AlarmID) -> Bool {
    events.compactMap { $0.alarmEntry }.contains { $0.0 == id && $0.1 == .raised }
}

func infusionEvents(_ events: [RigEvent], _ kind: InfusionEvent.Kind) -> [RigEvent] {
    events.filter { $0.infusion?.kind == kind }
}

@Suite struct InfusionLoopTests {
    @Test func aDoseDeliversExactlyItsStepsIntoTheSimulatedSyringe() throws {
        let plan = try testPlan()
        let rig = try InfusionRig(plan: plan, journalPath: temporaryPath("j"))
        rig.start()
        let events = rig.run(.seconds(40))
        let prescribed = plan.prescribedSteps(.cells)
        #expect(prescribed == 1440, "0.5 mL ÷ 0.347 µL/step = 1440.7 → 1440 steps")
        #expect(rig.sim.plungerSteps.cells == prescribed, "the plant received every step, no more")
        #expect(rig.loop.infusion.cells.delivered == prescribed)
        #expect(infusionEvents(events, .protocolCompleted).count == 1)
        #expect(rig.sim.syringe.delivered.milliliters > 0.499 && rig.sim.syringe.delivered.milliliters <= 0.5)
        #expect(rig.loop.lastTelemetry.flow > .lpm(3.8), "circuit regulated throughout")
        #expect(!alarms(events, raised: .infusionDeviation))
        // The journal holds the total: a restart would give nothing more.
        let (_, r) = try DeliveryJournal.open(path: rig.journal.path, planHash: 42, prescribed: (prescribed, 0))
        #expect(r?.reserved[0] == prescribed)
    }

    @Test func withoutDurableAuthorityTheSyringeNeverSteps() throws {
        let plan = try testPlan()
        let rig = try InfusionRig(plan: plan, journalPath: temporaryPath("j"), writer: false)
        rig.start()
        let events = rig.run(.seconds(20))
        #expect(rig.sim.plungerSteps.cells == 0, "no journal write, no step")
        #expect(alarms(events, raised: .infusionDeviation), "the lagging dose is an alarm, not a silence")
        #expect(rig.loop.lastTelemetry.pumpEnabled, "the circuit keeps running")
    }

    @Test func anOcclusionStopsTheSyringeBacksOffAndKeepsTheCircuitRunning() throws {
        let plan = try testPlan(dose: .mL(2), over: .seconds(60))
        let rig = try InfusionRig(plan: plan, journalPath: temporaryPath("j"))
        rig.start()
        _ = rig.run(.seconds(15))
        let before = rig.sim.plungerSteps.cells
        #expect(before > 0, "dose under way")
        rig.sim.setSyringeOccluded(true)
        var peak = Pressure.zero
        var events = rig.run(.seconds(30)) { _ in peak = max(peak, rig.sim.syringe.linePressure) }
        #expect(alarms(events, raised: .syringeOcclusion), "SYRINGE_OCCLUSION raised")
        #expect(rig.loop.infusion.cells.halt == .occlusion)
        let halted = infusionEvents(events, .halted)
        #expect(halted.contains { $0.infusion.map { InfusionHalt(rawValue: UInt8($0.value)) } == .occlusion })
        #expect(rig.loop.lastTelemetry.pumpEnabled && rig.loop.lastTelemetry.flow > .lpm(3.5), "circuit still running")
        #expect(rig.loop.lastTelemetry.state == .active)
        #expect(rig.sim.syringe.linePressure < plan.monitoring.occlusionPressure, "back-off relieved the line")
        let stopped = rig.sim.plungerSteps.cells
        events = rig.run(.seconds(5))
        #expect(rig.sim.plungerSteps.cells == stopped, "no step while halted")
        // Resume is refused while the occlusion is there? The line is relieved, so the
        // firmware cannot tell; the operator clears it first. After clearing, resume completes the dose.
        rig.sim.setSyringeOccluded(false)
        #expect(rig.rig.apply(.resumeInfusion(.cells)).accepted)
        events = rig.run(.seconds(60))
        #expect(rig.sim.plungerSteps.cells <= plan.prescribedSteps(.cells), "never more than prescribed")
        #expect(rig.loop.infusion.cells.delivered == plan.prescribedSteps(.cells))
        #expect(rig.sim.plungerSteps.cells == plan.prescribedSteps(.cells), "back-off returned before dosing went on")
    }

    @Test func theOutflowClampClosesOnlyAtTheSafeSpeedAndReopensAfterTheDose() throws {
        let clamp = OutflowClampPlan(pumpSpeed: .rpm(1500), before: .seconds(3), after: .seconds(5), maximumClamped: .seconds(30))
        let plan = try testPlan(dose: .mL(1), over: .seconds(10), clamp: clamp)
        let rig = try InfusionRig(plan: plan, journalPath: temporaryPath("j"))
        rig.start()
        var firstClosed: TelemetryFrame?
        var lastClosed: TelemetryFrame?
        var stepsWhileClosed: Int64 = 0
        var previousCells = Volume.zero
        let events = rig.run(.seconds(60)) { f in
            if f.outflowClamp && f.phase == .regulating {
                if firstClosed == nil { firstClosed = f }
                lastClosed = f
                #expect(f.clampClosed, "the return clamp output is closed in the window")
                if f.cellsDelivered > previousCells { stepsWhileClosed += 1 }
            } else if firstClosed != nil, f.cellsDelivered > previousCells {
                Issue.record("cells delivered with the outflow clamp open at t=\(f.time)")
            }
            previousCells = f.cellsDelivered
        }
        let first = try #require(firstClosed)
        let last = try #require(lastClosed)
        #expect(abs(first.measuredSpeed.rpm - 1500) <= 150, "clamped only at the safe speed (got \(first.measuredSpeed.rpm))")
        #expect(first.preOxygenatorPressure < .mmHg(300))
        #expect(stepsWhileClosed > 0, "the dose went in while clamped")
        let window = (last.time - first.time).seconds
        #expect(window > 17 && window < 19.5, "3 s before + 10 s dose + 5 s after (got \(window))")
        #expect(rig.sim.plungerSteps.cells == plan.prescribedSteps(.cells))
        #expect(!rig.loop.lastTelemetry.clampClosed, "clamp open again")
        #expect(rig.loop.lastTelemetry.flow > .lpm(3.7), "flow restored after the window")
        #expect(!alarms(events, raised: .flowLow), "the intended low flow is not an alarm")
        #expect(infusionEvents(events, .clampClosed).count == 1 && infusionEvents(events, .clampOpened).count == 1)
    }

    @Test func theOutflowClampOpensAtOnceOnAHighPriorityAlarm() throws {
        let clamp = OutflowClampPlan(pumpSpeed: .rpm(1500), before: .seconds(2), after: .seconds(5), maximumClamped: .seconds(60))
        let plan = try testPlan(dose: .mL(2), over: .seconds(40), clamp: clamp)
        let rig = try InfusionRig(plan: plan, journalPath: temporaryPath("j"))
        rig.start()
        var clampedAt: Instant?
        _ = rig.run(.seconds(30)) { f in if f.outflowClamp && clampedAt == nil { clampedAt = f.time } }
        #expect(clampedAt != nil && rig.loop.lastTelemetry.outflowClamp, "in the clamp window")
        rig.sim.setSensorDisconnected(.postOxygenatorPressure, true)
        var openedWithHigh = false
        var sawHigh = false
        _ = rig.run(.seconds(5)) { f in
            if f.highestAlarm == AlarmPriority.high.rawValue && !sawHigh {
                sawHigh = true
                openedWithHigh = !f.clampClosed && !f.outflowClamp
            }
        }
        #expect(sawHigh, "a high-priority alarm (SENSOR_INVALID) was raised")
        #expect(openedWithHigh, "the clamp opened in the tick the alarm was active")
        #expect(rig.loop.infusion.cells.halt == .circulationPause, "the dose stops (a high-priority circulation alarm), the circuit goes on")
    }

    @Test func agitationWithdrawsFirstAndLeavesZeroNetVolume() throws {
        let spec = cellChannel()
        let agitation = AgitationPlan(interval: .seconds(3), steps: 200, strokes: 2, stepRate: 2000)
        let plan = try testPlan(dose: .mL(0.5), over: .seconds(20), agitation: agitation)
        let rig = try InfusionRig(plan: plan, journalPath: temporaryPath("j"))
        rig.start()
        var maxAhead: Int64 = .min
        var minBehind: Int64 = .max
        let events = rig.run(.seconds(40)) { _ in
            let diff = rig.sim.plungerSteps.cells - rig.loop.infusion.cells.delivered
            maxAhead = max(maxAhead, diff)
            minBehind = min(minBehind, diff)
        }
        #expect(infusionEvents(events, .agitation).count >= 4, "agitated every 3 s")
        #expect(maxAhead <= 0, "the plunger is never ahead of the dose count (withdraw first)")
        #expect(minBehind <= -200, "a full stroke was withdrawn")
        #expect(rig.sim.plungerSteps.cells == plan.prescribedSteps(.cells), "zero net volume from agitation")
        _ = spec
    }

    @Test func aRestartAfterACrashResumesFromTheJournalAndNeverOverDelivers() throws {
        let plan = try testPlan(dose: .mL(1), over: .seconds(20))
        let path = temporaryPath("j")
        var plant: (Int64, Int64) = (0, 0)
        for crashAfter in [6.0, 9.5, 13.25] {
            let rig = try InfusionRig(plan: plan, journalPath: path, plant: plant)
            rig.start()
            _ = rig.run(.seconds(crashAfter))
            // Crash: no clean close; the plant keeps what it received.
            plant = rig.sim.plungerSteps
            let j = rig.loop.infusion.cells
            #expect(plant.0 <= j.authorized, "plant never ahead of the journal")
        }
        let rig = try InfusionRig(plan: plan, journalPath: path, plant: plant)
        #expect(rig.recovered != nil)
        rig.start()
        _ = rig.run(.seconds(40))
        let prescribed = plan.prescribedSteps(.cells)
        let given = rig.sim.plungerSteps.cells
        #expect(given <= prescribed, "never over")
        // Each crash can lose at most one lookahead (100 ms at the dose rate) of steps.
        let lookahead = Int64((plan.items[1].stepRate * 0.1).rounded(.up))
        #expect(prescribed - given <= 3 * lookahead, "short by at most one lookahead per crash (\(prescribed - given) steps)")
    }
}
