import Testing
import Foundation
import ECMOCore
import ECMOBoard
import ECMOScenario
import ECMOSim
import ECMODataFile

/// The drill runner on the simulated board, in lockstep, with a scripted person who does
/// what a person at the rig would (presses the E-stop, clamps the line) when asked: the
/// runner does not know the hardware is simulated, so this is the drill a bench runs.
@Suite struct DrillTests {
    func load(_ name: String) throws -> Scenario {
        try ScenarioLoader.load(path: scenarioFolder.appendingPathComponent(name).path)
    }

    func simBoard() throws -> BoardConfiguration {
        try BoardLoader.load(path: repositoryRoot.appendingPathComponent("Board/sim.yaml").path)
    }

    func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("drill-test-\(UUID().uuidString)")
    }

    /// Drill with a scripted person answering after `delay`, and the pure simulation of
    /// the same file: verdict by verdict.
    func compare(_ file: String, delay: Duration) throws -> (drill: DrillResult, sim: ScenarioResult) {
        let scenario = try load(file)
        let plan = DrillPlan(scenario)
        #expect(plan.refusals.isEmpty)
        let rig = try plan.simulatedRig(board: try simBoard())
        let person = ScriptedPerson(sim: rig.hardware, delay: delay)
        let drill = try DrillRunner(plan: plan, rig: rig, person: person, runDirectory: nil).run()
        let sim = try ScenarioRunner(scenario: scenario, outputDirectory: nil).run()
        return (drill, sim)
    }

    func expectSameVerdicts(_ d: DrillResult, _ s: ScenarioResult) {
        #expect(d.abortReason == nil)
        #expect(d.verdicts.count == s.verdicts.count)
        for (a, b) in zip(d.verdicts, s.verdicts) {
            if a.skipped { continue }
            #expect(a.passed == b.passed, "\(a.name): drill \(a.passed) (\(a.detail)), simulation \(b.passed) (\(b.detail))")
        }
        #expect(s.passed)
        #expect(d.passed)
    }

    @Test func anEStopDrillAnsweredLateGivesTheSimulationsVerdictsRelativeToTheConfirmation() throws {
        let (d, s) = try compare("fault-emergency-stop.yaml", delay: .milliseconds(2500))
        expectSameVerdicts(d, s)
        // Press and release, each confirmed 2.5 s after it was shown.
        #expect(d.prompts.map(\.words) == ["press E-stop", "release E-stop"])
        #expect(d.prompts.allSatisfy { $0.wait == .milliseconds(2500) })
        #expect(d.prompts[0].shownAt == .seconds(30))
        // The release came 5 s of scenario time after the press: 5 + 2.5 (the press's wait) later in loop time.
        #expect(d.prompts[1].shownAt == .seconds(37.5))
        #expect(d.outcome == "fault")
        // The run went on 5 s of wall time longer than the scenario (two waits).
        #expect(d.ticks == 50_000)
    }

    @Test func aHandClampDrillGivesTheSimulationsVerdicts() throws {
        let (d, s) = try compare("drill-hand-clamp.yaml", delay: .seconds(4))
        expectSameVerdicts(d, s)
        #expect(d.prompts.map(\.words) == ["clamp the return line by hand now", "release the hand clamp on the return line"])
    }

    @Test func anAirDrillSendsTheOperatorsClearAndActivateOnTheShiftedClock() throws {
        let (d, s) = try compare("fault-air-in-line.yaml", delay: .seconds(3))
        expectSameVerdicts(d, s)
        #expect(d.refusals.isEmpty)
    }

    @Test func aDrillAnsweredAtOnceIsTheSimulationVerdictForVerdict() throws {
        let (d, s) = try compare("fault-emergency-stop.yaml", delay: .zero)
        expectSameVerdicts(d, s)
        #expect(d.ticks == s.ticks)
    }

    @Test func aPromptNobodyAnswersAbortsWithEveryOutputSafeAndTheRecordKept() throws {
        let scenario = try load("fault-emergency-stop.yaml")
        let plan = DrillPlan(scenario)
        let rig = try plan.simulatedRig(board: try simBoard())
        let person = ScriptedPerson(sim: rig.hardware, answers: false)
        let dir = temporaryFolder().appendingPathComponent("drill")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let runner = try DrillRunner(plan: plan, rig: rig, person: person, promptTimeout: .seconds(5), runDirectory: dir)
        let r = try runner.run()
        #expect(r.outcome == "aborted")
        #expect(r.abortReason == "no answer to 'press E-stop' within 5 s")
        #expect(!r.passed)
        // Nothing after the press was seen; what closed before it (flow held 20–30 s) is still judged.
        #expect(r.verdicts.filter(\.passed).map(\.name) == ["flow held before the fault"])
        #expect(r.verdicts.filter { !$0.passed }.allSatisfy { $0.detail.hasPrefix("not checked: aborted: no answer to 'press E-stop'") })
        // The loop was running the circuit when the prompt timed out: now every output is safe.
        let sim = rig.hardware
        #expect(!sim.pumpEnableLevel)
        #expect(sim.clampLevel)
        #expect(sim.commandedPumpSpeed == .zero)
        #expect(r.ticks == 34_999)   // aborted before the tick at 35 s
        // The record: telemetry up to the abort, the outputs-safe event, the summary.
        let csv = try String(contentsOf: dir.appendingPathComponent("telemetry.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count > 300)
        let events = try String(contentsOf: dir.appendingPathComponent("events.jsonl"), encoding: .utf8)
        #expect(events.contains("outputs_safe"))
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("summary.json"))) as? [String: Any]
        #expect(summary?["kind"] as? String == "drill")
        #expect(summary?["outcome"] as? String == "aborted")
        #expect((summary?["abort_reason"] as? String)?.contains("press E-stop") == true)
        let prompts = summary?["prompts"] as? [[String: Any]]
        #expect(prompts?.count == 1)
        #expect(prompts?.first?["answered_at_s"] is NSNull)
    }

    @Test func theRecordOfAnAnsweredDrillHasThePromptsWithTheirAnswerTimes() throws {
        let scenario = try load("fault-emergency-stop.yaml")
        let plan = DrillPlan(scenario)
        let rig = try plan.simulatedRig(board: try simBoard())
        let dir = temporaryFolder().appendingPathComponent("drill")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let r = try DrillRunner(plan: plan, rig: rig, person: ScriptedPerson(sim: rig.hardware, delay: .seconds(1)), runDirectory: dir).run()
        #expect(r.passed)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("summary.json"))) as? [String: Any]
        let prompts = summary?["prompts"] as? [[String: Any]]
        #expect(prompts?.map { $0["words"] as? String } == ["press E-stop", "release E-stop"])
        #expect(prompts?.first?["answered_at_s"] as? Double == 31)
        #expect(prompts?.first?["wait_s"] as? Double == 1)
        #expect((summary?["expectations"] as? [Any])?.count == scenario.expectations.count)
    }

    @Test func expectationsOnThePlantsTruthAreSkippedNeverPassed() throws {
        let scenario = try load("fault-sensor-disconnect.yaml")
        let truth = scenario.expectations.indices.filter {
            if case .metric(let m, _, _, _, _) = scenario.expectations[$0].kind { return m.rawValue.hasPrefix("true_") }
            return false
        }
        let plan = DrillPlan(scenario)
        #expect(Set(plan.skipped.keys) == Set(truth))
        let drill = try ScenarioLoader.parse(yaml: minimal.replacingOccurrences(
            of: "expectations:\n", with: "expectations:\n  - {name: \"true flow\", metric: true_flow_lpm, from: 1s, to: 4s, at_least: 3}\n"), file: "t.yaml")
        let p = DrillPlan(drill)
        #expect(p.skipped[0]?.contains("needs the simulator") == true)
        let rig = try p.simulatedRig(board: try simBoard())
        let r = try DrillRunner(plan: p, rig: rig, person: ScriptedPerson(sim: rig.hardware, delay: .zero), runDirectory: nil).run()
        #expect(r.verdicts[0].skipped && !r.verdicts[0].passed)
        #expect(r.verdicts[0].detail.hasPrefix("skipped: needs the simulator"))
        #expect(r.table.contains("SKIP true flow"))
    }

    @Test func aScenarioWithAFaultNoOneCanMakeOnARigIsRefusedNamingItsLine() throws {
        let scenario = try load("fault-sensor-drift.yaml")
        let plan = DrillPlan(scenario)
        #expect(!plan.refusals.isEmpty)
        #expect(plan.refusals[0].contains("fault-sensor-drift.yaml:"))
        #expect(plan.refusals[0].contains("fault sensor_drift cannot be made on a rig"))
        let rig = try plan.simulatedRig(board: try simBoard())
        #expect(throws: ScenarioError.self) {
            _ = try DrillRunner(plan: plan, rig: rig, person: ScriptedPerson(sim: rig.hardware), runDirectory: nil)
        }
    }

    @Test func promptWordingComesFromTheFileAndOnlyForWhatAPersonDoes() throws {
        let worded = minimal.replacingOccurrences(of: "fault: emergency_stop}",
                                                  with: "fault: emergency_stop, prompt: \"press the red button\", release: \"pull it up\"}")
        let s = try ScenarioLoader.parse(yaml: worded, file: "t.yaml")
        #expect(DrillStep.words(for: s.events[0], start: true) == "press the red button")
        #expect(DrillStep.words(for: s.events[0], start: false) == "pull it up")
        let onDrift = minimal.replacingOccurrences(of: "fault: emergency_stop}",
                                                   with: "fault: sensor_drift, sensor: P_pre, per_minute: 5, prompt: \"drift it\"}")
        do {
            _ = try ScenarioLoader.parse(yaml: onDrift, file: "bad.yaml")
            Issue.record("a prompt on sensor_drift was accepted")
        } catch {
            #expect(error.description.contains("bad.yaml:9:"))
            #expect(error.description.contains("'prompt' is only for what a person does in a drill"))
        }
        let releaseWithoutEnd = minimal.replacingOccurrences(of: "{at: 5s, for: 1s, fault: emergency_stop}",
                                                             with: "{at: 5s, fault: emergency_stop, release: \"pull it up\"}")
        #expect(throws: DataFileErrors.self) { _ = try ScenarioLoader.parse(yaml: releaseWithoutEnd, file: "bad.yaml") }
    }

    @Test func scenarioTimeStandsStillWhileAPromptWaits() throws {
        // A 2 s wait at 30 s: an event during the wait counts at 30 s; after it, 2 s earlier.
        let (d, _) = try compare("fault-emergency-stop.yaml", delay: .seconds(2))
        let p = d.prompts[0]
        #expect(p.scenarioTime == .seconds(30) && p.answeredAt == .seconds(32))
        let faultAt = d.verdicts.first { $0.name == "fault raised in the tick of the press" }
        #expect(faultAt?.passed == true)
        #expect(faultAt?.value == 30)
    }
}
