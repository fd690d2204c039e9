import Testing
import ECMOCore
@testable import ECMOSim
import ECMOProtocol

/// The plant alone at constant pump speed (no firmware), as in the calibration.
struct Scenario {
    var circuit: CircuitModel
    var drive: CircuitModel.Drive

    init(_ preset: CircuitPreset, speed: PumpSpeed? = nil, membrane: MembraneMaterial = .pmp,
         act: Duration = .seconds(200)) {
        circuit = preset.makeCircuit(membrane: membrane, activatedClottingTime: act)
        drive = .init(commandedSpeed: speed ?? preset.referenceSpeed, pumpEnabled: true, clampClosed: false)
    }

    mutating func run(_ duration: Duration, dt: Duration = .milliseconds(100)) {
        circuit.run(drive, for: duration, dt: dt)
    }

    /// Infuses `dose` particles spread evenly over `over` while running.
    mutating func infuse(_ dose: Double, kind: ParticleKind = .msc, port: InfusionPort = .prePump,
                         over: Duration = .seconds(60), dt: Duration = .milliseconds(100)) {
        let steps = Int((over.seconds / dt.seconds).rounded())
        for _ in 0..<steps {
            circuit.infuse(cells: dose / Double(steps), kind: kind, port: port)
            circuit.step(drive, dt: dt)
        }
    }

    var flow: Double { circuit.flow.litersPerMinute }
    var pressures: CircuitModel.Pressures { circuit.pressures() }
    var oxygenatorDrop: Double { pressures.oxygenatorDrop.mmHg }
}

/// Millar's dose assumption: 1×10⁶ cells/kg × 70 kg.
let millarDose = 70e6

/// Result of a 4-hour Millar-like run: baseline, minute of the 25 % drop, values at 240 min.
struct MillarRun {
    var baselineFlow = 0.0
    var baselineDrop = 0.0
    var minuteOf25PercentDrop: Int?
    var flowAt240 = 0.0
    var dropAt240 = 0.0
    var flowDropFraction: Double { 1 - flowAt240 / baselineFlow }
}

func millarRun(dose: Double = millarDose, kind: ParticleKind = .msc, port: InfusionPort = .prePump,
               act: Duration = .seconds(200), membrane: MembraneMaterial = .pmp,
               preset: CircuitPreset = .millarExVivo) -> MillarRun {
    var s = Scenario(preset, membrane: membrane, act: act)
    s.run(.seconds(120))   // reach the steady state
    var r = MillarRun()
    r.baselineFlow = s.flow
    r.baselineDrop = s.oxygenatorDrop
    s.infuse(dose, kind: kind, port: port)
    for minute in 2...240 {
        s.run(.seconds(60))
        if r.minuteOf25PercentDrop == nil, s.flow < 0.75 * r.baselineFlow { r.minuteOf25PercentDrop = minute }
    }
    r.flowAt240 = s.flow
    r.dropAt240 = s.oxygenatorDrop
    return r
}

@Suite("Circuit calibration (plant alone, constant speed)")
struct CircuitCalibrationTests {
    @Test func adultPresetGivesFourLitresAt3000rpmWithTypicalPressures() {
        var s = Scenario(.adultPatient, speed: .rpm(3000))
        s.run(.seconds(60), dt: .milliseconds(10))
        let p = s.pressures
        #expect(abs(s.flow - 4.0) < 0.1, "flow \(s.flow)")
        #expect((-60.0 ... -40.0).contains(p.drain.mmHg), "P_drain \(p.drain)")
        #expect((150.0 ... 200.0).contains(p.preOxygenator.mmHg), "P_pre \(p.preOxygenator)")
        #expect((17.0 ... 24.0).contains(p.oxygenatorDrop.mmHg), "ΔP_oxy \(p.oxygenatorDrop)")
        #expect(abs(s.flow - s.circuit.steadyStateFlow(at: .rpm(3000)).litersPerMinute) < 0.02)
    }

    @Test func adultPumpCurveSpansOneToSixLitresOver1500To5000rpm() {
        let circuit = CircuitModel.adultPatient()
        var last = 0.0
        for rpm in stride(from: 1500.0, through: 5000, by: 500) {
            let q = circuit.steadyStateFlow(at: .rpm(rpm)).litersPerMinute
            #expect(q >= last, "flow falls at \(rpm) rpm")
            last = q
        }
        let low = circuit.steadyStateFlow(at: .rpm(1500)).litersPerMinute
        let high = circuit.steadyStateFlow(at: .rpm(5000)).litersPerMinute
        #expect((1.0 ... 1.6).contains(low), "1500 rpm: \(low)")
        #expect((5.5 ... 6.2).contains(high), "5000 rpm: \(high)")
    }

    @Test func dynamicRunSettlesOnTheSteadyStateFlowAtEverySpeed() {
        for rpm in [1500.0, 2500, 3500] {
            var s = Scenario(.adultPatient, speed: .rpm(rpm))
            s.run(.seconds(60), dt: .milliseconds(10))
            let expected = s.circuit.steadyStateFlow(at: .rpm(rpm)).litersPerMinute
            #expect(abs(s.flow - expected) < 0.02, "\(rpm) rpm: \(s.flow) vs \(expected)")
        }
    }

    @Test func millarControlCircuitRuns4_12LitresWith21mmHgAtItsReferenceSpeed() {
        let q = CircuitModel.millarExVivo().steadyStateFlow(at: CircuitPreset.millarExVivo.referenceSpeed).litersPerMinute
        #expect(abs(q - 4.12) < 0.03, "steady flow \(q)")
        var s = Scenario(.millarExVivo)
        s.run(.seconds(120))
        #expect(abs(s.flow - 4.12) < 0.03, "flow \(s.flow)")
        #expect(abs(s.oxygenatorDrop - 21) < 2, "ΔP_oxy \(s.oxygenatorDrop)")
    }

    @Test func millarMSCInfusionCutsFlowByAQuarterWithinAnHourAndNearlyStopsItBy240Minutes() {
        let r = millarRun()
        #expect(abs(r.baselineFlow - 4.12) < 0.03)
        let minute = r.minuteOf25PercentDrop ?? Int.max
        #expect(minute <= 60, "25 % flow drop at minute \(minute)")
        #expect(abs(r.flowAt240 - 0.6) <= 0.35, "flow at 240 min \(r.flowAt240)")
        #expect(abs(r.dropAt240 - 101) <= 15, "ΔP_oxy at 240 min \(r.dropAt240)")
        #expect(r.dropAt240 > r.baselineDrop + 50)
    }

    @Test func controlCircuitWithoutCellsStaysFlat() {
        let r = millarRun(dose: 0)
        #expect(abs(r.flowDropFraction) < 0.02, "flow change \(r.flowDropFraction)")
        #expect(abs(r.dropAt240 - r.baselineDrop) < 1)
    }

    @Test func takuyaAnticoagulationAbove400sPreventsFouling() {
        let r = millarRun(act: .seconds(450))
        #expect(r.flowDropFraction < 0.05, "flow drop \(r.flowDropFraction)")
    }

    @Test func extracellularVesiclesOfTheSameCountFoulNegligibly() {
        let r = millarRun(kind: .extracellularVesicle)
        #expect(r.flowDropFraction < 0.01, "flow drop \(r.flowDropFraction)")
    }

    @Test func polypropyleneMembraneFoulsLessThanPMPWithin4Hours() {
        let pmp = millarRun()
        let pp = millarRun(membrane: .pp)
        #expect(pp.flowAt240 > pmp.flowAt240 + 0.5, "PP \(pp.flowAt240) vs PMP \(pmp.flowAt240)")
    }

    @Test func foulingGrowsWithDose() {
        let half = millarRun(dose: millarDose / 2)
        let full = millarRun()
        #expect(half.flowAt240 > full.flowAt240)
        #expect((half.minuteOf25PercentDrop ?? Int.max) > (full.minuteOf25PercentDrop ?? 0))
    }

    @Test func postOxygenatorPortDelaysDepositionInTheExVivoLoop() {
        var pre = Scenario(.millarExVivo), post = Scenario(.millarExVivo)
        pre.run(.seconds(60)); post.run(.seconds(60))
        pre.infuse(millarDose, port: .preOxygenator, over: .seconds(1))
        post.infuse(millarDose, port: .postOxygenator, over: .seconds(1))
        pre.run(.seconds(2)); post.run(.seconds(2))
        let depPre = pre.circuit.fouling.cells.deposited, depPost = post.circuit.fouling.cells.deposited
        #expect(depPre > 0.1 * millarDose, "pre \(depPre)")
        #expect(depPost < 0.5 * depPre, "post \(depPost) vs pre \(depPre)")
    }

    @Test func postOxygenatorPortReducesDepositionInAPatient() {
        var pre = Scenario(.adultPatient), post = Scenario(.adultPatient)
        pre.run(.seconds(60)); post.run(.seconds(60))
        pre.infuse(millarDose, port: .preOxygenator); post.infuse(millarDose, port: .postOxygenator)
        pre.run(.seconds(3600)); post.run(.seconds(3600))
        let depPre = pre.circuit.fouling.cells.deposited, depPost = post.circuit.fouling.cells.deposited
        #expect(depPost < 0.3 * depPre, "post \(depPost) vs pre \(depPre)")
        // Particles are conserved across compartments.
        let inv = post.circuit.fouling.cells
        #expect(abs(inv.total - millarDose) < 1e-6 * millarDose)
    }

    @Test func calibrationIsStepSizeRobust() {
        // Hydraulics: 20 s start-up from rest at 3000 rpm, 1 ms vs 10 ms.
        var fine = Scenario(.adultPatient, speed: .rpm(3000)), coarse = fine
        for _ in 0..<20 {
            fine.run(.seconds(1), dt: .milliseconds(1))
            coarse.run(.seconds(1), dt: .milliseconds(10))
            #expect(abs(fine.flow - coarse.flow) < 0.05, "flow \(fine.flow) vs \(coarse.flow)")
        }
        #expect(abs(fine.pressures.drain.mmHg - coarse.pressures.drain.mmHg) < 1)
        // Fouling: 10 min after a Millar infusion, 10 ms vs 100 ms.
        var f = Scenario(.millarExVivo), c = f
        f.run(.seconds(60), dt: .milliseconds(10)); c.run(.seconds(60), dt: .milliseconds(100))
        f.infuse(millarDose, dt: .milliseconds(10)); c.infuse(millarDose, dt: .milliseconds(100))
        f.run(.seconds(600), dt: .milliseconds(10)); c.run(.seconds(600), dt: .milliseconds(100))
        #expect(abs(f.flow - c.flow) / f.flow < 0.005, "flow \(f.flow) vs \(c.flow)")
        let rf = f.circuit.fouling.resistanceFactor, rc = c.circuit.fouling.resistanceFactor
        #expect(abs(rf - rc) / rf < 0.005, "factor \(rf) vs \(rc)")
    }

    @Test func modelIsDeterministic() {
        let a = millarRun(dose: millarDose), b = millarRun(dose: millarDose)
        #expect(a.flowAt240 == b.flowAt240)
        #expect(a.dropAt240 == b.dropAt240)
    }
}
