import Testing
import Foundation
import ECMOCore
import ECMOBoard
import ECMODataFile
import ECMOProtocol

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let protocolFolder = repositoryRoot.appendingPathComponent("Protocols")
let simBoardPath = repositoryRoot.appendingPathComponent("Board/sim.yaml").path

func yamlFiles(in folder: URL) -> [String] {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return files.filter { $0.hasSuffix(".yaml") }.sorted().map { folder.appendingPathComponent($0).path }
}

func simBoard() throws -> BoardConfiguration { try BoardLoader.load(path: simBoardPath) }

/// Every error of loading and planning `yaml`, one per line ("no error" if it plans).
func problems(_ yaml: String, board: BoardConfiguration? = nil) -> String {
    do {
        let p = try ProtocolLoader.parse(yaml: yaml, file: "t.yaml")
        let b = try board ?? simBoard()
        _ = try ProtocolPlanner.plan(p, board: b)
        return "no error"
    } catch {
        return "\(error)"
    }
}

func plan(_ yaml: String) throws -> ResolvedProtocol {
    try ProtocolPlanner.plan(try ProtocolLoader.parse(yaml: yaml, file: "t.yaml"), board: try simBoard())
}

/// A valid protocol to mutate (line numbers matter to the tests below).
let minimal = """
protocol:
  name: t
  description: "test"
patient:
  weight_kg: 70
circuit:
  flow_lpm: 4.0
syringes:
  cells: {preset: bd_plastipak_50ml, fill_ml: 30, prime_ml: 0.5}
product:
  kind: msc
  concentration_per_ml: 5.0e6
  port: pre_oxygenator
phases:
  - prime: {rate_ml_per_h: 60}
  - baseline: {duration: 30m}
  - infusion:
      dose_cells_per_kg: 2.0e6
      rate_ml_per_h: 60
      agitation: {every: 5m, volume_ul: 100, strokes: 2, rate_ml_per_h: 120}
  - observation: {duration: 4h}
"""

@Suite struct ShippedProtocolTests {
    @Test func everyShippedExampleLoadsAndPlansOnTheSimulatedBoard() throws {
        let files = yamlFiles(in: protocolFolder)
        #expect(files.count >= 7)
        let board = try simBoard()
        for f in files {
            do {
                let r = try ProtocolPlanner.plan(try ProtocolLoader.load(path: f), board: board)
                #expect(!r.plan.items.isEmpty, "\(f)")
                #expect(r.warnings.isEmpty, "\(f): \(r.warnings)")
                #expect(!PlanTable.render(r).isEmpty)
            } catch {
                Issue.record("\(f): \(error)")
            }
        }
    }

    @Test func everyShippedExamplePlansOnTheRaspberryPiBoardsToo() throws {
        for boardFile in ["Board/rpi4-bench.yaml", "Board/rpi5-bench.yaml"] {
            let board = try BoardLoader.load(path: repositoryRoot.appendingPathComponent(boardFile).path)
            for f in yamlFiles(in: protocolFolder) {
                do {
                    let r = try ProtocolPlanner.plan(try ProtocolLoader.load(path: f), board: board)
                    #expect(r.circuitPreset == nil, "a rig board runs no simulator")
                } catch {
                    Issue.record("\(f) on \(boardFile): \(error)")
                }
            }
        }
    }

    @Test func theMillarLikeProtocolDeliversTheParticleCountOfTheMillarScenario() throws {
        // HIL/scenarios/millar-like.yaml infuses 7e7 MSCs at the pre-pump port at constant speed
        // 1893 rpm on millar_ex_vivo: 1e6 cells/kg × 70 kg = 7e7 cells, ÷ 5e6/mL = 14 mL
        // (BD 20 mL: 14 000 µL ÷ 0.17963867 µL = 77 934.2 → 77 934 steps = 13 999.96 µL → 6.99998e7 cells).
        let r = try ProtocolPlanner.plan(try ProtocolLoader.load(path: protocolFolder.appendingPathComponent("millar-like.yaml").path), board: try simBoard())
        #expect(r.circuitPreset?.rawValue == "millar_ex_vivo")
        #expect(r.pumpMode == .constantSpeed(.rpm(1893)))
        #expect(r.product?.kind.rawValue == "msc")
        #expect(r.product?.port.rawValue == "pre_pump")
        #expect(r.doses.count == 1)
        #expect(abs(r.totalCells - 7e7) < 1e7 * 0.001)
        #expect(r.totalDoseSteps == 77_934)
    }

    @Test func simonsonLikePlanMatchesTheHandArithmetic() throws {
        // Drive: 2 mm / (200 × 16) = 0.000625 mm/step; BD 50 mL: π × 13.295² = 555.29857 mm² → 0.34706161 µL/step.
        // prime 0.5 mL: 500 ÷ 0.34706161 = 1440.67 → 1440 steps = 499.769 µL; at 60 mL/h: 29.986 s
        // baseline 30 min: 29.986 s … 1829.986 s
        // dose 2e6/kg × 70 kg = 1.4e8 cells ÷ 5e6/mL = 28 mL → 80 677 steps = 27.999889 mL; at 60 mL/h 1679.993 s
        // observation 4 h → the protocol ends at 29.986 + 1800 + 1679.993 + 14 400 = 17 909.979 s (4:58:30)
        let r = try ProtocolPlanner.plan(try ProtocolLoader.load(path: protocolFolder.appendingPathComponent("simonson-like.yaml").path), board: try simBoard())
        let items = r.plan.items
        #expect(items.count == 4)
        #expect(items[0].kind == .prime && items[0].steps == 1440)
        #expect(abs(items[0].duration.seconds - 29.986) < 1e-3)
        #expect(items[1].kind == .baseline && items[1].duration == .seconds(1800))
        #expect(items[2].kind == .dose(index: 0) && items[2].steps == 80_677)
        #expect(abs(items[2].earliestStart.seconds - 1829.986) < 1e-3)
        #expect(abs(items[2].duration.seconds - 1679.993) < 1e-3)
        #expect(abs(items[2].stepRate - 48.0222) < 1e-4)
        #expect(abs(r.totalDuration.seconds - 17_909.979) < 1e-2)
        // agitation: 100 µL ÷ 0.34706161 = 288.13 → 288 steps, twice every 5 min, at 120 mL/h = 96.04 steps/s
        #expect(items[2].agitation == AgitationPlan(interval: .seconds(300), steps: 288, strokes: 2, stepRate: items[2].agitation?.stepRate ?? 0))
        #expect(abs((items[2].agitation?.stepRate ?? 0) - 96.0444) < 1e-3)
        #expect(r.plan.prescribedSteps(.cells) == 1440 + 80_677)
        #expect(r.plan.onRestart == .stop)
        let table = PlanTable.render(r)
        #expect(table.contains("80677"))
        #expect(table.contains("0.347062 µL/step"))
        #expect(table.contains("max 6247.109 mL/h"))
    }

    @Test func repeatedDosesAreScheduledStartToStartOneHalfLifeApart() throws {
        // half_life 4 h → interval = 4 h × log₂(1/0.5) = 4 h, start to start.
        let r = try ProtocolPlanner.plan(try ProtocolLoader.load(path: protocolFolder.appendingPathComponent("repeated-dose.yaml").path), board: try simBoard())
        let doses = r.doses
        #expect(doses.count == 3)
        let first = doses[0].expectedStart
        #expect(abs((doses[1].earliestStart - first).seconds - 14_400) < 1e-3)
        #expect(abs((doses[2].earliestStart - first).seconds - 28_800) < 1e-3)
        #expect(doses.map(\.doseNumber) == [1, 2, 3])
        // 7 mL each: 7000 ÷ 0.34706161 = 20 169.3 → 20 169 steps
        #expect(doses.allSatisfy { $0.item.steps == 20_169 && $0.item.agitation != nil })
    }

    @Test func theOutflowClampWindowWrapsTheBolus() throws {
        // 7 mL bolus on a BD 20 mL channel: 38 967 steps at 5000 steps/s = 7.7934 s;
        // clamp shut 5 s + 7.7934 s + 10 s = 22.7934 s ≤ 30 s.
        let r = try ProtocolPlanner.plan(try ProtocolLoader.load(path: protocolFolder.appendingPathComponent("outflow-clamp.yaml").path), board: try simBoard())
        let dose = try #require(r.doses.first)
        #expect(dose.item.steps == 38_967)
        #expect(dose.item.clamp?.pumpSpeed == .rpm(1500))
        let close = try #require(dose.clampClose), open = try #require(dose.clampOpen)
        #expect(abs((open - close).seconds - 22.7934) < 1e-6)
        #expect(dose.infusionStart == close + .seconds(5))
        #expect(abs((open - dose.infusionEnd).seconds - 10) < 1e-9)
    }

    @Test func heparinElsoPlanConvertsUnitsToSteps() throws {
        // bolus 75 U/kg × 70 kg = 5250 U ÷ 1000 U/mL = 5.25 mL → 15 126 steps (BD 50 mL)
        // infusion 10 U/kg/h × 70 kg = 700 U/h = 0.7 mL/h → 0.560259 steps/s
        // left after the bolus: 50 − 0.15 − 5.2498 = 44.6002 mL → 128 508 steps, 63.7 h
        let r = try ProtocolPlanner.plan(try ProtocolLoader.load(path: protocolFolder.appendingPathComponent("heparin-elso.yaml").path), board: try simBoard())
        let h = try #require(r.plan.heparin)
        #expect(h.bolusSteps == 15_126)
        #expect(abs(h.infusionStepRate - 0.560259) < 1e-6)
        #expect(h.infusionSteps == 128_508)
        #expect(h.actTarget == 180...220)
        #expect(r.alarmLimits.prePressureHigh == .mmHg(350))
        #expect(r.warnings.isEmpty)
    }

    @Test func theQuickProtocolRunsInUnderThreeSimulatedMinutes() throws {
        let r = try ProtocolPlanner.plan(try ProtocolLoader.load(path: protocolFolder.appendingPathComponent("quick-dose.yaml").path), board: try simBoard())
        #expect(r.totalDuration <= .seconds(180))
        #expect(r.doses.count == 1)
        #expect(r.doses[0].item.duration == .seconds(60))
    }
}

@Suite struct InvalidProtocolTests {
    /// Each shipped invalid file, with the first error it must give: file:line, key and words of the message.
    static let expected: [(file: String, line: Int, key: String, words: [String])] = [
        ("dose-out-of-range.yaml", 19, "phases.2.infusion.dose_cells_per_kg", ["5e8 cells/kg", "1e6…4e8"]),
        ("volume-over-syringe.yaml", 20, "phases.2.infusion.dose_cells_per_kg", ["dose 3 of 3 needs 9.8 mL but only 4.75 mL remain"]),
        ("unknown-key.yaml", 20, "phases.2.infusion.rate_ml_per_hr", ["unknown key 'rate_ml_per_hr'", "did you mean 'rate_ml_per_h'"]),
        ("rate-over-channel.yaml", 20, "phases.2.infusion.rate_ml_per_h", ["10000 mL/h", "6247.109 mL/h"]),
        ("clamp-too-long.yaml", 21, "phases.2.infusion.clamp", ["75 s", "max_clamped 30 s"]),
        ("several-errors.yaml", 8, "circuit.flow_lpn", ["unknown key 'flow_lpn'"]),
    ]

    @Test func everyShippedInvalidFileIsCovered() {
        let shipped = Set(yamlFiles(in: protocolFolder.appendingPathComponent("invalid")).map { URL(fileURLWithPath: $0).lastPathComponent })
        #expect(shipped == Set(Self.expected.map(\.file)))
    }

    @Test(arguments: 0..<6)
    func eachInvalidProtocolNamesTheLineTheKeyAndTheNumber(case index: Int) throws {
        let e = Self.expected[index]
        let path = protocolFolder.appendingPathComponent("invalid").appendingPathComponent(e.file).path
        do {
            let p = try ProtocolLoader.load(path: path)
            _ = try ProtocolPlanner.plan(p, board: try simBoard())
            Issue.record("\(e.file) was accepted")
        } catch let errors as DataFileErrors {
            let match = errors.errors.first { $0.line == e.line && $0.keyPath == e.key }
            #expect(match != nil, "\(e.file): \(errors)")
            if let match {
                #expect(match.file == path)
                for w in e.words { #expect(match.message.contains(w), "\(match)") }
                #expect(match.description.hasPrefix("\(path):\(e.line):"))
            }
        }
    }

    @Test func everyErrorOfAFileIsReportedAtOnce() throws {
        let path = protocolFolder.appendingPathComponent("invalid/several-errors.yaml").path
        do {
            _ = try ProtocolLoader.load(path: path)
            Issue.record("accepted")
        } catch {
            let keys = error.errors.map(\.keyPath)
            #expect(keys.contains("circuit.flow_lpn"))
            #expect(keys.contains("product.port"))
            #expect(keys.contains("phases.2.infusion.doses"))
            #expect(keys.contains("heparin"))
            #expect(error.errors.count == 5, "\(error)")
        }
    }
}

@Suite struct ProtocolValidationTests {
    @Test func minimalProtocolPlans() throws {
        let r = try plan(minimal)
        #expect(r.doses.count == 1)
        #expect(r.warnings.isEmpty, "\(r.warnings)")
    }

    @Test func anUnknownTopLevelKeyIsRefusedWithASuggestion() {
        let e = problems(minimal + "\nmonitorng: {near_empty_ml: 1}\n")
        #expect(e.contains("t.yaml:22:1: monitorng: unknown key 'monitorng' (did you mean 'monitoring'?"), "\(e)")
    }

    @Test func bothFlowAndSpeedIsRefused() {
        let e = problems(minimal.replacingOccurrences(of: "  flow_lpm: 4.0", with: "  flow_lpm: 4.0\n  speed_rpm: 3000"))
        #expect(e.contains("t.yaml:8:3: circuit.speed_rpm: give only one of flow_lpm / speed_rpm"), "\(e)")
    }

    @Test func aSpeedOutsideTheBoardsPumpLimitsIsRefused() {
        // Board/sim.yaml: min_rpm 1500, max_rpm 4500
        let e = problems(minimal.replacingOccurrences(of: "  flow_lpm: 4.0", with: "  speed_rpm: 5000"))
        #expect(e.contains("t.yaml:7:14: circuit.speed_rpm: 5000 rpm is outside the pump limits of board sim (1500...4500 rpm"), "\(e)")
    }

    @Test func aClampSpeedOutsideTheBoardsPumpLimitsIsRefused() {
        let y = minimal.replacingOccurrences(of: "      agitation: {every: 5m, volume_ul: 100, strokes: 2, rate_ml_per_h: 120}",
                                             with: "      clamp: {pump_rpm: 1000}").replacingOccurrences(of: "rate_ml_per_h: 60\n      clamp", with: "bolus: true\n      clamp")
        let e = problems(y)
        #expect(e.contains("clamp.pump_rpm: clamp speed 1000 rpm is outside the pump limits"), "\(e)")
    }

    @Test func aClampMayNeverStayShutLongerThanTheLongestZeroFlowLimit() {
        let y = minimal.replacingOccurrences(of: "      agitation: {every: 5m, volume_ul: 100, strokes: 2, rate_ml_per_h: 120}",
                                             with: "      clamp: {pump_rpm: 1500, max_clamped: 45s}")
        let e = problems(y)
        #expect(e.contains("t.yaml:20:44: phases.2.infusion.clamp.max_clamped: 45s is out of range (allowed 1s...30s)"), "\(e)")
    }

    @Test func aClampWindowNotShorterThanTheZeroFlowLimitIsRefused() {
        let y = minimal.replacingOccurrences(of: "      agitation: {every: 5m, volume_ul: 100, strokes: 2, rate_ml_per_h: 120}",
                                             with: "      clamp: {pump_rpm: 1500, before: 1s, after: 1s}")
            .replacingOccurrences(of: "rate_ml_per_h: 60\n      clamp", with: "bolus: true\n      clamp")
            + "\nalarm_limits: {zero_flow_limit_s: 2}\n"
        let e = problems(y)
        #expect(e.contains("not less than alarm_limits.zero_flow_limit_s 2 s"), "\(e)")
    }

    @Test func anAlarmTierSetAloneGetsAWarningTierInsideItAndThePlanSaysSo() throws {
        let r = try plan(minimal + "\nalarm_limits: {p_pre_high_mmhg: 350}\n")
        #expect(r.alarmLimits.prePressureWarning == .mmHg(250))
        #expect(r.warnings.contains { $0.message.contains("p_pre_warning_mmhg not given; set to 250") })
        let e = problems(minimal + "\nalarm_limits: {p_pre_high_mmhg: 350, p_pre_warning_mmhg: 380}\n")
        #expect(e.contains("p_pre_warning_mmhg = 380.0 must be below p_pre_high_mmhg"), "\(e)")
    }

    @Test func aBoardWithoutASyringeSectionIsRefusedNamingTheBoardFile() throws {
        let text = try String(contentsOfFile: simBoardPath, encoding: .utf8)
        guard let cut = text.range(of: "\nsyringe:") else { Issue.record("Board/sim.yaml has no syringe section"); return }
        let noSyringe = String(text[..<cut.lowerBound]) + "\n"
        let board = try BoardLoader.parse(yaml: noSyringe, file: "nosyringe.yaml")
        #expect(board.syringe == nil)
        let e = problems(minimal, board: board)
        #expect(e.contains("nosyringe.yaml:1:1: syringe: board sim has no syringe section"), "\(e)")
    }

    @Test func heparinOutsideTheElsoBandsIsAWarningNotAnError() throws {
        let y = minimal.replacingOccurrences(of: "  cells: {preset: bd_plastipak_50ml, fill_ml: 30, prime_ml: 0.5}",
                                             with: "  cells: {preset: bd_plastipak_50ml, fill_ml: 30, prime_ml: 0.5}\n  heparin: {preset: bd_plastipak_50ml, fill_ml: 50}")
            + "\nheparin: {concentration_u_per_ml: 1000, bolus_u_per_kg: 120, infusion_u_per_kg_per_h: 5}\n"
        let r = try plan(y)
        let text = r.warnings.map(\.description).joined(separator: "\n")
        #expect(text.contains("heparin.bolus_u_per_kg: warning: heparin bolus 120 U/kg is outside the ELSO band 50–100 U/kg"), "\(text)")
        #expect(text.contains("heparin.infusion_u_per_kg_per_h: warning: heparin infusion 5 U/kg/h is outside the ELSO band 7.5–20 U/kg/h"), "\(text)")
        // 120 U/kg × 70 kg = 8400 U ÷ 1000 U/mL = 8.4 mL → 24 203 steps (8400 ÷ 0.34706161 = 24 203.3)
        #expect(r.plan.heparin?.bolusSteps == 24_203)
    }

    @Test func agitationThatCannotRunDuringAShortDoseIsAWarning() throws {
        // A 60 s dose agitated every 5 min: the agitation never comes.
        let r = try plan(minimal.replacingOccurrences(of: "      rate_ml_per_h: 60\n      agitation", with: "      duration: 60s\n      agitation"))
        #expect(r.warnings.map(\.message).contains { $0.contains("never runs during a dose of 0:01:00") }, "\(r.warnings)")
    }

    @Test func aLongDoseWithoutAgitationIsAWarning() throws {
        let r = try plan(minimal.replacingOccurrences(of: "      agitation: {every: 5m, volume_ul: 100, strokes: 2, rate_ml_per_h: 120}\n", with: ""))
        #expect(r.warnings.map(\.message).contains { $0.contains("without agitation") }, "\(r.warnings)")
    }

    @Test func dosesCloserThanTheirOwnLengthAreRefused() {
        // 28 mL at 60 mL/h lasts 28 min; a 10 min interval cannot fit (and 2 × 28 mL exceeds 29.35 mL too).
        let e = problems(minimal.replacingOccurrences(of: "      rate_ml_per_h: 60\n      agitation", with: "      rate_ml_per_h: 60\n      doses: 2\n      interval: 10m\n      agitation"))
        #expect(e.contains("phases.2.infusion.interval: spacing 0:10:00 (start to start) is shorter than one dose"), "\(e)")
        #expect(e.contains("dose 2 of 2 needs 28 mL but only 1.35 mL remain"), "\(e)")
    }

    @Test func alarmLimitOverridesUseTheAlarmKeysAndTheirHardBounds() throws {
        #expect(try plan(minimal + "\nalarm_limits: {p_pre_high_mmhg: 350, flow_low_lpm: 1.5}\n").alarmLimits.flowLow == .lpm(1.5))
        let e = problems(minimal + "\nalarm_limits: {p_pre_high_mmhg: 700}\n")
        #expect(e.contains("alarm_limits.p_pre_high_mmhg: 700 is out of range (allowed 110...600)"), "\(e)")
        let pair = problems(minimal + "\nalarm_limits: {flow_low_lpm: 4, flow_high_lpm: 3}\n")
        #expect(pair.contains("alarm_limits.flow_low_lpm: alarm limit flow_low_lpm = 4.0 must be below flow_high_lpm = 3.0"), "\(pair)")
    }

    @Test func aVehicleControlIsDosedByVolumeWithoutAProduct() throws {
        let y = minimal.replacingOccurrences(of: "product:\n  kind: msc\n  concentration_per_ml: 5.0e6\n  port: pre_oxygenator\n", with: "")
            .replacingOccurrences(of: "dose_cells_per_kg: 2.0e6", with: "volume_ml: 28")
        let r = try plan(y)
        #expect(r.doses[0].item.steps == 80_677)
        #expect(r.totalCells == 0)
    }

    @Test func aDoseInCellsPerKgWithoutAProductIsRefused() {
        let y = minimal.replacingOccurrences(of: "product:\n  kind: msc\n  concentration_per_ml: 5.0e6\n  port: pre_oxygenator\n", with: "")
        #expect(problems(y).contains("dose_cells_per_kg: a dose in cells/kg needs the product section"))
    }

    @Test func aPrimeAfterTheFirstDoseIsRefused() {
        let y = minimal.replacingOccurrences(of: "  - prime: {rate_ml_per_h: 60}\n", with: "") + "\n  - prime: {rate_ml_per_h: 60}\n"
        #expect(problems(y).contains("the prime must come before the first infusion"))
    }

    @Test func aPhaseWithTwoKeysIsRefused() {
        let y = minimal.replacingOccurrences(of: "  - baseline: {duration: 30m}", with: "  - baseline: {duration: 30m}\n    observation: {duration: 1m}")
        #expect(problems(y).contains("phases.1: each phase is a mapping with one key"))
    }

    @Test func aFillAboveTheSyringeCapacityIsRefused() {
        let e = problems(minimal.replacingOccurrences(of: "fill_ml: 30", with: "fill_ml: 55"))
        #expect(e.contains("t.yaml:9:47: syringes.cells.fill_ml: fill 55 mL is more than the syringe holds (50 mL)"), "\(e)")
    }

    @Test func aDurationWithoutAUnitIsRefused() {
        let e = problems(minimal.replacingOccurrences(of: "{duration: 30m}", with: "{duration: 30}"))
        #expect(e.contains("phases.1.baseline.duration: expected a duration with a unit"), "\(e)")
    }

    @Test func onRestartResumeIsCarriedIntoThePlan() throws {
        let r = try plan(minimal.replacingOccurrences(of: "  description: \"test\"", with: "  description: \"test\"\n  on_restart: resume"))
        #expect(r.plan.onRestart == .resume)
    }

    @Test func aDoseWithoutABaselineBeforeItIsAWarning() throws {
        let r = try plan(minimal.replacingOccurrences(of: "  - baseline: {duration: 30m}\n", with: ""))
        #expect(r.warnings.map(\.description).contains { $0.hasPrefix("t.yaml:16:5: phases.1.infusion: warning: no baseline phase before the first dose") }, "\(r.warnings)")
    }

    @Test func aSimulatorPresetOnARigBoardIsIgnoredWithAWarning() throws {
        let board = try BoardLoader.load(path: repositoryRoot.appendingPathComponent("Board/rpi4-bench.yaml").path)
        let p = try ProtocolLoader.parse(yaml: minimal.replacingOccurrences(of: "  weight_kg: 70", with: "  weight_kg: 70\n  circuit: millar_ex_vivo"), file: "t.yaml")
        let r = try ProtocolPlanner.plan(p, board: board)
        #expect(r.circuitPreset == nil)
        #expect(r.warnings.contains { $0.location.keyPath == "patient.circuit" })
    }

    @Test func aHeparinProgrammeWithoutAHeparinSyringeIsRefused() {
        let e = problems(minimal + "\nheparin: {concentration_u_per_ml: 1000, bolus_u_per_kg: 75}\n")
        #expect(e.contains("t.yaml:22:1: heparin: a heparin programme needs syringes.heparin"), "\(e)")
    }

    @Test func agitationThatWouldOverfillTheSyringeIsRefused() {
        // 50 mL barrel filled to 50 mL: drawing back 100 µL first has nowhere to go.
        let e = problems(minimal.replacingOccurrences(of: "fill_ml: 30", with: "fill_ml: 50"))
        #expect(e.contains("phases.2.infusion.agitation.volume_ul: agitation draws back 100 µL first, but the syringe is filled to 50 of its 50 mL"), "\(e)")
    }

    @Test func repeatedDosesNeedASpacingAndASingleDoseRefusesOne() {
        let many = problems(minimal.replacingOccurrences(of: "      rate_ml_per_h: 60\n      agitation", with: "      rate_ml_per_h: 60\n      doses: 2\n      agitation"))
        #expect(many.contains("phases.2.infusion.doses: 2 doses need a spacing"), "\(many)")
        let one = problems(minimal.replacingOccurrences(of: "      rate_ml_per_h: 60\n      agitation", with: "      rate_ml_per_h: 60\n      half_life: 4h\n      agitation"))
        #expect(one.contains("phases.2.infusion.half_life: half_life spaces repeated doses"), "\(one)")
    }
}
