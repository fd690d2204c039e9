import Testing
import Foundation
import ECMODataFile
import ECMOScenario

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let scenarioFolder = repositoryRoot.appendingPathComponent("HIL/scenarios")

func shippedScenarios() -> [String] {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: scenarioFolder.path)) ?? []
    return files.filter { $0.hasSuffix(".yaml") }.sorted().map { scenarioFolder.appendingPathComponent($0).path }
}

/// A valid minimal scenario to mutate in the bad-input tests.
let minimal = """
scenario:
  name: t
  description: "test"
  seed: 1
  board: Board/sim.yaml
  duration: 10s
  control: {mode: constant_flow, flow_lpm: 4.0}
events:
  - {at: 5s, for: 1s, fault: emergency_stop}
expectations:
  - {name: "x", state: fault, at: 6s}
"""

@Suite struct ScenarioLoaderTests {
    @Test func everyShippedScenarioLoads() throws {
        let files = shippedScenarios()
        #expect(files.count >= 10)
        for f in files {
            do { _ = try ScenarioLoader.load(path: f) } catch { Issue.record("\(f): \(error)") }
        }
    }

    @Test func minimalScenarioParses() throws {
        let s = try ScenarioLoader.parse(yaml: minimal, file: "t.yaml")
        #expect(s.events.count == 1)
        #expect(s.events[0].at == .seconds(5) && s.events[0].until == .seconds(6))
        #expect(s.duration == .seconds(10))
    }

    func error(_ yaml: String) -> String {
        do {
            _ = try ScenarioLoader.parse(yaml: yaml, file: "bad.yaml")
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func unknownFaultNameIsAnErrorWithLineKeyAndSuggestion() {
        let e = error(minimal.replacingOccurrences(of: "fault: emergency_stop", with: "fault: emergency_stp"))
        #expect(e.hasPrefix("bad.yaml:9:"))
        #expect(e.contains("events.0.fault: unknown fault 'emergency_stp' (did you mean 'emergency_stop'?"))
    }

    @Test func unknownKeyInAnEventIsAnError() {
        let e = error(minimal.replacingOccurrences(of: "{at: 5s, for: 1s,", with: "{at: 5s, fro: 1s,"))
        #expect(e.contains("bad.yaml:9:"))
        #expect(e.contains("events.0.fro: unknown key 'fro'"))
    }

    @Test func durationWithoutUnitOrBeyondTheRunIsAnError() {
        #expect(error(minimal.replacingOccurrences(of: "duration: 10s", with: "duration: 10")).contains("scenario.duration: expected a duration with a unit"))
        #expect(error(minimal.replacingOccurrences(of: "at: 6s", with: "at: 11s")).contains("expectations.0.at: 11s is out of range"))
    }

    @Test func unknownSensorAndUnknownStateAreErrors() {
        let yaml = minimal.replacingOccurrences(of: "fault: emergency_stop}", with: "fault: sensor_stuck, sensor: P_art}")
            .replacingOccurrences(of: "state: fault", with: "state: running")
        let e = error(yaml)
        #expect(e.contains("events.0.sensor: unknown sensor 'P_art'"))
        #expect(e.contains("expectations.0.state: unknown state 'running'"))
        #expect(e.split(separator: "\n").count == 2, "both errors reported in one pass")
    }

    @Test func unknownAlarmIdentifierIsAnErrorWithASuggestion() {
        #expect(error(minimal.replacingOccurrences(of: "state: fault, at: 6s", with: "alarm: E_STOP")) == "no error")
        let e = error(minimal.replacingOccurrences(of: "state: fault, at: 6s", with: "alarm: E_STPO"))
        #expect(e.contains("expectations.0.alarm: unknown alarm 'E_STPO' (did you mean 'E_STOP'?"))
    }

    @Test func missingFileAndYAMLSyntaxErrorsNameTheFile() {
        do {
            _ = try ScenarioLoader.load(path: "/nonexistent/s.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent/s.yaml:1:1: cannot read scenario file: no such file")
        }
        #expect(error("scenario: [unclosed").hasPrefix("bad.yaml:"))
    }
}

@Suite struct ScenarioRunnerTests {
    /// The fast scenarios (≤ 3 min of loop time) run here; the long ones in CI.
    @Test(arguments: shippedScenarios())
    func shippedFastScenarioPasses(_ path: String) throws {
        let s = try ScenarioLoader.load(path: path)
        guard s.duration <= .seconds(180) else { return }
        let r = try ScenarioRunner(scenario: s, outputDirectory: nil).run()
        for v in r.verdicts where !v.passed {
            Issue.record("\(s.name): \(v.name): \(v.detail)")
        }
        #expect(r.verdicts.count == s.expectations.count)
    }

    @Test func expectationsCanFail() throws {
        // The same scenario with a wrong expectation must fail, naming what was measured.
        let yaml = minimal.replacingOccurrences(of: "state: fault, at: 6s", with: "state: active, at: 6s")
        let s = try ScenarioLoader.parse(yaml: yaml, file: scenarioFolder.appendingPathComponent("t.yaml").path)
        let r = try ScenarioRunner(scenario: s, outputDirectory: nil).run()
        #expect(!r.passed)
        #expect(r.verdicts[0].detail.contains("not active"))
    }

    @Test func sameSeedGivesByteIdenticalRecords() throws {
        let s = try ScenarioLoader.load(path: scenarioFolder.appendingPathComponent("fault-sensor-noise-burst.yaml").path)
        func run(_ dir: URL) throws -> [Data] {
            _ = try ScenarioRunner(scenario: s, outputDirectory: dir).run()
            let d = dir.appendingPathComponent(s.name)
            return try ["telemetry.csv", "events.jsonl", "summary.json"].map { try Data(contentsOf: d.appendingPathComponent($0)) }
        }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-det-\(UUID().uuidString)")
        let a = try run(tmp.appendingPathComponent("a"))
        let b = try run(tmp.appendingPathComponent("b"))
        #expect(a[0].count > 1000)
        #expect(a == b)
    }
}
