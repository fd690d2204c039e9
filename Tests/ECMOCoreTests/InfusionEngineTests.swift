import Testing
import ECMOCore

/// A 50 mL syringe, 2 mm lead, 3200 microsteps/rev, 5 kHz: 0.34706 µL per step.
private func channel(fill: Volume = .mL(20)) -> SyringeChannelSpecification {
    SyringeChannelSpecification(syringe: SyringePreset.bdPlastipak50mL.specification,
                                drive: SyringeDrive(stepsPerRevolution: 200, microsteps: 16, leadMillimeters: 2, maximumStepRate: 5000),
                                fillVolume: fill)
}

private func plan(heparin: Bool = false, onRestart: RestartPolicy = .resume) throws -> InfusionPlan {
    let c = channel()
    let dose = try DosePlanner.volumeDose(.mL(1), pace: .duration(.seconds(10)), channel: c, available: c.usableVolume)
    var h: HeparinProgramme?
    if heparin {
        // 100 U/mL; 70 kg; bolus 75 U/kg = 5250 U = 52.5 mL would not fit: use 5 U/kg = 350 U = 3.5 mL.
        let conc = HeparinConcentration(unitsPerMilliliter: 100)
        let bolus = c.steps(for: conc.volume(holding: HeparinDose(unitsPerKilogram: 5).units(for: .kg(70))))
        h = HeparinProgramme(bolusSteps: bolus, bolusStepRate: 1000, infusionStepRate: 0,
                             infusionSteps: c.steps(for: .mL(10)), bolus: HeparinDose(unitsPerKilogram: 5),
                             infusion: HeparinRate(unitsPerKilogramPerHour: 10), concentration: conc, weight: .kg(70))
    }
    return InfusionPlan(channels: [c, heparin ? c : nil], items: [
        PlanItem(kind: .dose(index: 0), duration: dose.duration, steps: dose.steps, stepRate: c.stepRate(for: dose.rate), dose: dose),
        PlanItem(kind: .observation, duration: .seconds(5)),
    ], heparin: h, onRestart: onRestart)
}

private struct Driver {
    var engine: InfusionEngine
    var now = Instant.origin
    var events: [InfusionEvent] = []
    var issued: (Int64, Int64) = (0, 0)
    var input = InfusionInputs(circuitRunning: true)
    /// Grants every reservation at once (a journal that is never slow) unless `journal` is false.
    var journal = true

    init(_ plan: InfusionPlan, resume: InfusionEngine.Resume? = nil) {
        engine = InfusionEngine(plan: plan, loopPeriod: .milliseconds(1), pumpRamp: .rpm(1000), pumpMaximum: .rpm(4500), resume: resume)
    }

    mutating func run(_ d: Duration) {
        let end = now + d
        while now < end {
            now = now + .milliseconds(1)
            var sink: [InfusionEvent] = []
            let out = engine.update(input, now: now) { sink.append($0) }
            events += sink
            issued.0 += Int64(out.cellSteps)
            issued.1 += Int64(out.heparinSteps)
            if journal {
                let s = engine.journalSnapshot
                engine.grant(cells: s.reserved.0, heparin: s.reserved.1)
            }
        }
    }
}

@Suite struct InfusionEngineTests {
    @Test func noStepIsIssuedBeyondWhatTheJournalAuthorized() throws {
        var d = Driver(try plan())
        d.journal = false
        d.run(.seconds(3))
        #expect(d.issued.0 == 0, "nothing authorized, nothing issued")
        d.engine.grant(cells: 17, heparin: 0)
        d.run(.seconds(3))
        #expect(d.issued.0 == 17, "exactly the authorized steps")
        d.journal = true
        d.run(.seconds(15))
        #expect(d.issued.0 == d.engine.plan.prescribedSteps(.cells))
    }

    @Test func reservationsNeverExceedThePrescribedTotal() throws {
        var d = Driver(try plan())
        var maxReserved: Int64 = 0
        for _ in 0..<20 {
            d.run(.seconds(1))
            maxReserved = max(maxReserved, d.engine.journalSnapshot.reserved.0)
        }
        #expect(maxReserved == d.engine.plan.prescribedSteps(.cells))
        // A grant beyond the prescription is clamped.
        d.engine.grant(cells: 1_000_000, heparin: 0)
        #expect(d.engine.cells.authorized == d.engine.plan.prescribedSteps(.cells))
    }

    @Test func theEmptySwitchHaltsTheCellSyringeUntilTheOperatorResumes() throws {
        var d = Driver(try plan())
        d.run(.seconds(3))
        let before = d.issued.0
        d.input.cellsEmptySwitch = true
        d.run(.seconds(2))
        #expect(d.engine.cells.halt == .empty)
        #expect(d.issued.0 <= before + 5, "stopped in the tick the switch closed")
        #expect(d.engine.conditions.empty)
        #expect(!d.engine.resume(.cells, input: d.input, now: d.now) { _ in }, "refused while the switch is closed")
        d.input.cellsEmptySwitch = false
        d.run(.seconds(1))
        #expect(d.engine.cells.halt == .empty, "latched: no automatic restart")
        #expect(d.engine.resume(.cells, input: d.input, now: d.now) { _ in })
        d.run(.seconds(15))
        #expect(d.issued.0 == d.engine.plan.prescribedSteps(.cells))
    }

    @Test func aFoulingPauseStopsCellsButNotHeparin() throws {
        var d = Driver(try plan(heparin: true))
        d.run(.seconds(2))
        d.input.infusionPaused = true
        let cells = d.issued.0, heparin = d.issued.1
        d.run(.seconds(3))
        #expect(d.engine.cells.halt == .safetyPause)
        #expect(d.issued.0 == cells, "cells stopped")
        #expect(d.issued.1 > heparin, "anticoagulation goes on")
        #expect(!d.engine.resume(.cells, input: d.input, now: d.now) { _ in }, "refused while the pause holds")
    }

    @Test func theHeparinRateChangesOnlyByTheOperatorAndActAdviceIsNeverApplied() throws {
        var d = Driver(try plan(heparin: true))
        // The bolus (10 084 steps at 1000 steps/s) takes 10.08 s; measure the infusion after it.
        d.run(.seconds(12))
        let rate = d.engine.heparinRate
        // ACT 150 s, below the 180–220 band: advice is to raise by 10 % (10 → 11 U/kg/h).
        let advice = try #require(d.engine.enterACT(.seconds(150), now: d.now) { d.events.append($0) })
        #expect(advice.direction == .increase)
        #expect(abs(advice.suggestedRate.unitsPerKilogramPerHour - 11) < 1e-9)
        #expect(d.engine.heparinRate == rate, "advice is not applied")
        // ACT 300 s, more than 50 s above: lower by 20 %.
        let high = try #require(d.engine.enterACT(.seconds(300), now: d.now) { _ in })
        #expect(high.direction == .decrease && abs(high.suggestedRate.unitsPerKilogramPerHour - 8) < 1e-9)
        let steps = d.issued.1
        d.run(.seconds(60))
        let atTen = d.issued.1 - steps
        #expect(d.engine.setHeparinRate(HeparinRate(unitsPerKilogramPerHour: 20), now: d.now) { _ in })
        let s2 = d.issued.1
        d.run(.seconds(60))
        let atTwenty = d.issued.1 - s2
        // 10 U/kg/h × 70 kg ÷ 100 U/mL = 7 mL/h = 5.6 steps/s → 336 steps/min; double at 20.
        #expect(abs(Double(atTen) - 336) <= 2, "7 mL/h for a minute (got \(atTen))")
        #expect(abs(Double(atTwenty) - 2 * Double(atTen)) <= 3)
    }

    @Test func aRestartWithTheStopPolicyGivesNothingUntilTheOperatorResumes() throws {
        let p = try plan(onRestart: .stop)
        let resume = InfusionEngine.Resume(authorized: [1000, 0], itemIndex: 0, itemStartedAt: .zero, elapsed: .seconds(3))
        var d = Driver(p, resume: resume)
        d.run(.seconds(20))
        #expect(d.issued.0 == 0)
        #expect(d.engine.cells.halt == .restartStopped)
        #expect(d.events.contains { $0.kind == .restarted })
        #expect(d.engine.resume(.cells, input: d.input, now: d.now) { _ in })
        d.run(.seconds(20))
        #expect(d.issued.0 == p.prescribedSteps(.cells) - 1000, "the rest, counting the journal's 1000 as given")
    }

    @Test func theCircuitStoppingHaltsBothChannels() throws {
        var d = Driver(try plan(heparin: true))
        d.run(.seconds(2))
        d.input.circuitRunning = false
        let before = d.issued
        d.run(.seconds(2))
        #expect(d.issued == before, "nothing goes into a stopped circuit")
        #expect(d.engine.cells.halt == .circuitStopped && d.engine.heparin.halt == .circuitStopped)
    }
}

/// Issue 15, item 4: no cells into a circuit that is not flowing.
@Suite struct CirculationPauseTests {
    @Test func theCellSyringePausesInTheTickTheCirculationFailsAndHeparinGoesOn() throws {
        var d = Driver(try plan(heparin: true))
        d.run(.seconds(2))
        let cells = d.issued.0, heparin = d.issued.1
        d.input.circulationPaused = true
        d.run(.milliseconds(1))
        #expect(d.engine.cells.halt == .circulationPause, "halted in the very tick")
        #expect(d.events.contains { $0.kind == .halted && $0.channel == .cells })
        d.run(.seconds(3))
        #expect(d.issued.0 == cells, "not one more cell step")
        #expect(d.issued.1 > heparin, "anticoagulation goes on")
    }

    @Test func byDefaultOnlyTheOperatorResumesAfterTheCirculationRecovers() throws {
        var d = Driver(try plan())
        d.run(.seconds(1))
        d.input.circulationPaused = true
        d.run(.milliseconds(10))
        #expect(!d.engine.resume(.cells, input: d.input, now: d.now) { _ in }, "refused while the circulation fails")
        d.input.circulationPaused = false
        d.run(.seconds(30))
        #expect(d.engine.cells.halt == .circulationPause, "no resume by itself")
        #expect(d.engine.resume(.cells, input: d.input, now: d.now) { _ in })
        let before = d.issued.0
        d.run(.seconds(1))
        #expect(d.issued.0 > before)
    }

    @Test func aProtocolMayLetTheSyringeResumeOnceTheCirculationHasBeenSoundLongEnough() throws {
        var p = try plan()
        p.monitoring.circulationResumeAfter = .seconds(2)
        var d = Driver(p)
        d.run(.seconds(1))
        d.input.circulationPaused = true
        d.run(.seconds(1))
        // Sound for less than the delay, then failing again: the delay starts over.
        d.input.circulationPaused = false
        d.run(.milliseconds(1500))
        d.input.circulationPaused = true
        d.run(.milliseconds(10))
        d.input.circulationPaused = false
        d.run(.milliseconds(1900))
        #expect(d.engine.cells.halt == .circulationPause)
        d.run(.milliseconds(200))
        #expect(d.engine.cells.halt == .none, "resumed 2 s after the circulation became sound")
        #expect(d.events.contains { $0.kind == .resumed && $0.channel == .cells })
    }
}

/// Issue 15, items 11 and 12(d): what the engine counts is what the plunger did.
@Suite struct StepAccountingTests {
    /// Net plunger position as the driver moved it (forward − backward).
    struct Plunger {
        var position: Int64 = 0
        mutating func apply(_ steps: Int32, issued: Int64) { position += steps >= 0 ? issued : -issued }
    }

    @Test func aResumeBeforeTheOcclusionBackOffEndsNeverPushesThePlungerPastTheJournal() throws {
        var d = Driver(try plan())
        var plunger = Plunger()
        func tick(force: Double? = nil) {
            d.input.cellsForce = force
            d.now = d.now + .milliseconds(1)
            var sink: [InfusionEvent] = []
            let out = d.engine.update(d.input, now: d.now) { sink.append($0) }
            d.events += sink
            plunger.apply(out.cellSteps, issued: Int64(out.cellSteps.magnitude))
            let s = d.engine.journalSnapshot
            d.engine.grant(cells: s.reserved.0, heparin: s.reserved.1)
        }
        for _ in 0..<3000 { tick(force: 0) }
        // An occlusion: the force far above the limit for longer than its delay.
        for _ in 0..<600 { tick(force: 500) }
        #expect(d.engine.cells.halt == .occlusion)
        // A few back-off steps out, then the line clears and the operator resumes at once.
        for _ in 0..<3 { tick(force: 0) }
        #expect(d.engine.resume(.cells, input: d.input, now: d.now) { _ in })
        for _ in 0..<20_000 { tick(force: 0) }
        let authorized = d.engine.journalSnapshot.reserved.0
        #expect(plunger.position <= authorized, "plunger \(plunger.position) beyond the journal's \(authorized)")
        #expect(plunger.position <= d.engine.plan.prescribedSteps(.cells))
    }

    @Test func stepsTheRuntimeCouldNotIssueAreTakenBackOutOfTheCount() throws {
        var d = Driver(try plan())
        d.run(.seconds(2))
        let before = d.engine.cells.delivered
        d.now = d.now + .milliseconds(1)
        let out = d.engine.update(d.input, now: d.now) { _ in }
        #expect(out.cellSteps > 0)
        // The driver was held safe: none of them went out.
        d.engine.confirmIssued(cells: 0, heparin: Int64(out.heparinSteps.magnitude))
        #expect(d.engine.cells.delivered == before, "not delivered, not counted")
    }

    @Test func aSyringeRunningEmptyMidDoseIsADeviationAtThatMomentExactToTheStep() throws {
        var d = Driver(try plan())
        d.run(.seconds(4))
        let given = d.issued.0
        d.input.cellsEmptySwitch = true
        d.run(.milliseconds(1))
        let dev = try #require(d.events.first { $0.kind == .deviation }, "a deviation event in the tick it ran empty")
        #expect(dev.time == d.now)
        #expect(Int64(dev.value) == given, "delivered: \(dev.value) vs issued \(given)")
        #expect(Int64(dev.extra) == d.engine.plan.items[0].steps)
        #expect(abs(dev.scale - channel().volumePerStep.milliliters) < 1e-15)
        #expect(d.engine.conditions.deviation, "INFUSION_DEVIATION's condition holds at once, not after its delay")
    }

    @Test func afterARestartWhatTheOldJournalReservedIsShownApartAsUnconfirmed() throws {
        let p = try plan()
        let e = InfusionEngine(plan: p, loopPeriod: .milliseconds(1), pumpRamp: .rpm(1000), pumpMaximum: .rpm(4500),
                               resume: InfusionEngine.Resume(authorized: [1234, 0], itemIndex: 0, itemStartedAt: .zero, elapsed: .seconds(3)))
        #expect(e.unconfirmedAtRestart.cells == 1234)
        #expect(e.cells.delivered == 1234, "counted as given, never dosed again")
    }
}
