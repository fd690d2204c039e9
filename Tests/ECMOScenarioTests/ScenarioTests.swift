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

    @Test func expectationsCanFail() throws {
        // The same scenario with a wrong expectation must fail, naming what was measured.
        let yaml = minimal.replacingOccurrences(of: "state: fault, at: 6s", with: "state: active, at: 6s")
        let s = try ScenarioLoader.parse(yaml: yaml, file: scenarioFolder.appendingPathComponent("t.yaml").path)
        let r = try ScenarioRunner(scenario: s, outputDirectory: nil).run()
        #expect(!r.passed)
        #expect(r.verdicts[0].detail.contains("not active"))
    }

    @Test(arguments: ["Board/sim.yaml", "Board/sim-fast.yaml"])
    func sameSeedGivesByteIdenticalRecords(board: String) throws {
        var s = try ScenarioLoader.load(path: scenarioFolder.appendingPathComponent("fault-sensor-noise-burst.yaml").path)
        s.board = repositoryRoot.appendingPathComponent(board).path
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

/// Issue 15: the scenario language says ordering, counts, rates, `alarm: any`, per-channel
/// syringe faults and the syringe lines; each can fail, and bad input names its line.
@Suite struct ScenarioLanguageTests {
    static func run(_ expectations: String, events: String = "  - {at: 5s, for: 1s, fault: emergency_stop}") throws -> [Verdict] {
        let yaml = minimal.replacingOccurrences(of: "  - {at: 5s, for: 1s, fault: emergency_stop}", with: events)
            .replacingOccurrences(of: "  - {name: \"x\", state: fault, at: 6s}", with: expectations)
        let s = try ScenarioLoader.parse(yaml: yaml, file: scenarioFolder.appendingPathComponent("t.yaml").path)
        return try ScenarioRunner(scenario: s, outputDirectory: nil).run().verdicts
    }

    @Test func orderingCountsAndAnyAlarmHoldWhenTrueAndFailWhenNot() throws {
        let v = try Self.run("""
          - {name: "ok order", first: {event: fault}, then: {alarm: E_STOP}, within: 5ms}
          - {name: "wrong order", first: {alarm: E_STOP}, then: {event: lifecycle, detail: active}}
          - {name: "ok count", count: alarm_raises, of: E_STOP, equals: 1}
          - {name: "wrong count", count: alarm_raises, of: any, from: 0s, to: 4s, at_least: 1}
          - {name: "ok any", alarm: any, after: 5s, within: 10ms}
          - {name: "wrong any", alarm: any, after: 1s, within: 2s}
          - {name: "ok events", count: events, of: fault, equals: 1}
        """)
        let byName = Dictionary(uniqueKeysWithValues: v.map { ($0.name, $0) })
        #expect(byName["ok order"]?.passed == true, "\(byName["ok order"]?.detail ?? "")")
        #expect(byName["wrong order"]?.passed == false, "activation at 0.2 s came before the E-stop")
        #expect(byName["ok count"]?.passed == true)
        #expect(byName["wrong count"]?.passed == false)
        #expect(byName["wrong count"]?.detail.hasPrefix("0 —") == true, "\(byName["wrong count"]?.detail ?? "")")
        #expect(byName["ok any"]?.passed == true)
        #expect(byName["wrong any"]?.passed == false)
        #expect(byName["ok events"]?.passed == true)
    }

    @Test func aRateIsTheChangePerSecondAcrossItsWindowAndACrossingIsAChange() throws {
        let v = try Self.run("""
          - {name: "spin-up rate", metric: speed_cmd_rpm, stat: rate, from: 0.3s, to: 1.3s, between: [900, 1100]}
          - {name: "flat", metric: speed_cmd_rpm, stat: rate, from: 3s, to: 4.9s, between: [900, 1100]}
          - {name: "crossing", first: {metric: flow_lpm, above: 1.0}, then: {alarm: E_STOP}}
          - {name: "never crosses", first: {metric: flow_lpm, above: 50}, then: {alarm: E_STOP}}
        """)
        #expect(v[0].passed, "the pump ramps at 1000 rpm/s: \(v[0].detail)")
        #expect(!v[1].passed, "regulating, not ramping: \(v[1].detail)")
        #expect(v[2].passed, "\(v[2].detail)")
        #expect(!v[3].passed && v[3].detail.contains("never happened"))
    }

    @Test func badNewExpectationsAndFaultsNameTheirLine() {
        func error(_ e: String, events: String = "  - {at: 5s, for: 1s, fault: emergency_stop}") -> String {
            let yaml = minimal.replacingOccurrences(of: "  - {at: 5s, for: 1s, fault: emergency_stop}", with: events)
                .replacingOccurrences(of: "  - {name: \"x\", state: fault, at: 6s}", with: e)
            do { _ = try ScenarioLoader.parse(yaml: yaml, file: "bad.yaml"); return "no error" } catch { return error.description }
        }
        #expect(error("  - {count: alarms, of: E_STOP, equals: 1}").contains("unknown count 'alarms'"))
        #expect(error("  - {count: alarm_raises, equals: 1}").contains("needs 'of'"))
        #expect(error("  - {first: {metric: flow_lpm}, then: {alarm: E_STOP}}").contains("exactly one of: below, above"))
        #expect(error("  - {first: {alarm: E_STOP}, then: {alarm: NOPE}}").hasPrefix("bad.yaml:11:44: expectations.0.then.alarm: unknown alarm 'NOPE'"))
        #expect(error("  - {metric: flow_lpm, stat: slope, at_most: 1}").contains("slope"))
        #expect(error("  - {name: x, state: active, at: 1s}", events: "  - {at: 5s, fault: syringe_empty, channel: saline}")
            .contains("unknown channel 'saline' (allowed: cells, heparin)"))
    }
}

/// Issue 15, item 9: the run summary counts raises per alarm.
@Suite struct AlarmRaiseSummaryTests {
    @Test func theSummaryCountsEachAlarmsRaisesAsTheAlarmLogHasThem() throws {
        // Two E-stop presses, acknowledged and cleared in between: E_STOP raised twice.
        let yaml = minimal
            .replacingOccurrences(of: "  duration: 10s", with: "  duration: 20s")
            .replacingOccurrences(of: "  - {at: 5s, for: 1s, fault: emergency_stop}", with: """
              - {at: 5s, for: 1s, fault: emergency_stop}
              - {at: 7s, action: acknowledge_alarm, alarm: all}
              - {at: 8s, action: clear_fault}
              - {at: 12s, for: 1s, fault: emergency_stop}
            """)
        let s = try ScenarioLoader.parse(yaml: yaml, file: scenarioFolder.appendingPathComponent("t.yaml").path)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-raises-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try ScenarioRunner(scenario: s, outputDirectory: dir).run()
        let run = dir.appendingPathComponent(s.name)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("summary.json"))) as? [String: Any]
        let raises = try #require(summary?["alarm_raises"] as? [String: Int], "summary.json has alarm_raises")
        #expect(raises["E_STOP"] == 2, "\(raises)")
        // Every count equals the raised lines of the alarm log.
        let events = try String(contentsOf: run.appendingPathComponent("events.jsonl"), encoding: .utf8).split(separator: "\n")
        for (id, n) in raises {
            let logged = events.filter { $0.contains("\"action\":\"raised\"") && $0.contains("\"alarm\":\"\(id)\"") }.count
            #expect(logged == n, "\(id): summary \(n), log \(logged)")
        }
    }
}
