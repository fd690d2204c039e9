import Testing
import Foundation
import ECMODataFile
import ECMOScenario
@testable import ECMOSweep

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
func repo(_ p: String) -> String { repositoryRoot.appendingPathComponent(p).path }

/// A scratch directory per test, removed at the end.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func write(_ name: String, _ text: String) throws -> String {
        let p = url.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
}

/// A short base scenario running the quick-dose protocol (absolute paths: it lives in a scratch dir).
func baseScenario(duration: String = "20s", protocolFile: Bool = true) -> String {
    """
    scenario:
      name: base
      description: "base of a sweep"
      seed: 7
      board: \(repo("Board/sim.yaml"))
      duration: \(duration)
      circuit: {preset: adult_patient, act_s: 200}
      control: {mode: constant_flow, flow_lpm: 4.0}
    \(protocolFile ? "  protocol: \(repo("Protocols/quick-dose.yaml"))\n" : "")events:
      - {at: 1s, action: infuse_particles, count: 1e7, particle: msc, port: pre_pump}
    expectations:
      - {name: "no fault", no_event: fault}
    """
}

func sweep(_ body: String, base: String = "base.yaml") -> String {
    """
    sweep:
      name: t
      base: \(base)
    \(body)
    """
}

@Suite struct SweepFileTests {
    func load(_ scratch: Scratch, _ body: String, base: String = baseScenario()) throws -> SweepSpec {
        _ = try scratch.write("base.yaml", base)
        let p = try scratch.write("s.yaml", sweep(body))
        return try SweepLoader.load(path: p)
    }

    func errors(_ scratch: Scratch, _ body: String, base: String = baseScenario()) -> [DataFileError] {
        do { _ = try load(scratch, body, base: base); return [] } catch let e as DataFileErrors { return e.errors } catch { return [DataFileError(file: "?", line: 0, column: 0, keyPath: "", message: "\(error)")] }
    }

    @Test func anUnknownParameterKeyFailsNamingFileLineAndKey() throws {
        let s = try Scratch()
        let e = errors(s, """
        parameters:
          - {key: circuit.act_s, values: [200, 300]}
          - {key: plant.fouling_rate, values: [1, 2]}
        metrics:
          - {name: flow, metric: flow_lpm, stat: last}
        """)
        #expect(e.count == 1)
        #expect(e.first?.file.hasSuffix("s.yaml") == true)
        #expect(e.first?.line == 6)
        #expect(e.first?.keyPath == "parameters.1.key")
        #expect(e.first?.message.contains("unknown parameter key 'plant.fouling_rate'") == true)
    }

    @Test func aKeyTheScenarioDoesNotAllowFailsAtTheParameterLineBeforeAnythingRuns() throws {
        let s = try Scratch()
        let spec = try load(s, """
        parameters:
          - {key: circuit.act_s, values: [200, 300]}
          - {key: circuit.act_ss, values: [1]}
        metrics:
          - {name: flow, metric: flow_lpm, stat: last}
        """)
        let errors = try SweepPlan(spec: spec).validate()
        #expect(errors.count == 1)
        let e = try #require(errors.first)
        #expect(e.line == 6 && e.keyPath == "parameters.1.key")
        #expect(e.message.contains("unknown key 'act_ss'") && e.message.contains("did you mean 'act_s'"))
        #expect(e.message.contains("the same in 2 experiments"))
    }

    @Test func anEmptyRangeOrListFails() throws {
        let s = try Scratch()
        let e = errors(s, """
        parameters:
          - {key: circuit.act_s, range: {from: 400, to: 200, steps: 3}}
          - {key: control.flow_lpm, values: []}
        metrics:
          - {name: flow, metric: flow_lpm}
        """)
        #expect(e.map(\.line) == [5, 6])
        #expect(e[0].keyPath == "parameters.0.range.to" && e[0].message.contains("the range is empty"))
        #expect(e[1].keyPath == "parameters.1.values" && e[1].message.contains("empty"))
    }

    @Test func aBadSamplingSpecFails() throws {
        let s = try Scratch()
        let unknown = errors(s, """
        sampling: {method: random}
        parameters:
          - {key: circuit.act_s, values: [200, 300]}
        metrics:
          - {name: flow, metric: flow_lpm}
        """)
        #expect(unknown.first?.line == 4 && unknown.first?.keyPath == "sampling.method")
        let noSamples = errors(s, """
        sampling: {method: lhs}
        parameters:
          - {key: circuit.act_s, range: {from: 200, to: 300}}
        metrics:
          - {name: flow, metric: flow_lpm}
        """)
        #expect(noSamples.first?.keyPath == "sampling.samples")
        let ragged = errors(s, """
        sampling: {method: list}
        parameters:
          - {key: circuit.act_s, values: [200, 300]}
          - {key: control.flow_lpm, values: [3, 4, 5]}
        metrics:
          - {name: flow, metric: flow_lpm}
        """)
        #expect(ragged.first?.keyPath == "sampling" && ragged.first?.message.contains("same length") == true)
    }

    @Test func aDoseTheProtocolValidatorRefusesFailsNamingTheSweepLineAndTheValidatorsMessage() throws {
        let s = try Scratch()
        let spec = try load(s, """
        parameters:
          - {key: "protocol.phases[2].infusion.dose_cells_per_kg", values: [1e6, 9e8]}
          - {key: seed, seeds: 2}
        metrics:
          - {name: cells, figure: cells_delivered_ml}
        """)
        let plan = try SweepPlan(spec: spec)
        #expect(plan.count == 4)
        let errors = plan.validate()
        #expect(errors.count == 1)
        let e = try #require(errors.first)
        #expect(e.file.hasSuffix("s.yaml") && e.line == 5 && e.keyPath == "parameters.0.key")
        #expect(e.message.contains("9e8") || e.message.contains("900000000"))
        #expect(e.message.contains("outside the accepted range"))
        #expect(e.message.contains("the same in 2 experiments"))
    }

    @Test func aMetricTheScenarioLoaderRefusesPointsAtTheMetric() throws {
        let s = try Scratch()
        let spec = try load(s, """
        parameters:
          - {key: circuit.act_s, values: [200]}
        metrics:
          - {name: flow, metric: flow_lpm, from: 0s, to: 10m}
        """)
        let e = try #require(try SweepPlan(spec: spec).validate().first)
        #expect(e.line == 7 && e.keyPath == "metrics.0" && e.message.contains("metric flow") && e.message.contains("out of range"))
    }

    @Test func gridExpansionHasEveryCombinationOnce() throws {
        let s = try Scratch()
        let spec = try load(s, """
        parameters:
          - {key: circuit.act_s, values: [200, 300, 400]}
          - {key: "events[0].count", range: {from: 1e7, to: 1e8, steps: 4, scale: log}}
          - {key: seed, seeds: 2}
        metrics:
          - {name: flow, metric: flow_lpm}
        """)
        let plan = try SweepPlan(spec: spec)
        #expect(plan.count == 24)
        let tuples = (0..<plan.count).map { plan.values($0).map(SweepPlan.text) }
        #expect(Set(tuples.map { $0.joined(separator: "|") }).count == 24)
        #expect(Set(tuples.map { $0[0] }) == ["200", "300", "400"])
        #expect(Set(tuples.map { $0[2] }) == ["7", "8"])
        let counts = Set(tuples.map { Double($0[1]) ?? .nan })
        #expect(counts.count == 4 && counts.contains(1e7) && counts.contains(1e8))
        #expect(counts.contains { abs($0 / 21544346.9 - 1) < 1e-5 })
        #expect(plan.validate().isEmpty)
        let e = try plan.build(5).get()
        #expect(e.scenario.circuit.actSeconds == 200)
        #expect(e.scenario.seed == 8)
    }

    @Test func latinHypercubeHitsEachStratumOfEachParameterExactlyOnce() throws {
        let s = try Scratch()
        let spec = try load(s, """
        sampling: {method: lhs, samples: 20, seed: 3}
        parameters:
          - {key: circuit.act_s, range: {from: 100, to: 500}}
          - {key: "events[0].count", range: {from: 1e6, to: 1e9, scale: log}}
          - {key: seed, seeds: 3}
        metrics:
          - {name: flow, metric: flow_lpm}
        """)
        let plan = try SweepPlan(spec: spec)
        #expect(plan.count == 60)
        let samples = stride(from: 0, to: 60, by: 3).map { plan.values($0).map { Double(SweepPlan.text($0)) ?? .nan } }
        let actStrata = samples.map { Int((($0[0] - 100) / 400 * 20).rounded(.down)) }
        #expect(actStrata.sorted() == Array(0..<20))
        let countStrata = samples.map { Int(((log10($0[1]) - 6) / 3 * 20).rounded(.down)) }
        #expect(countStrata.sorted() == Array(0..<20))
        // The same seed gives the same design; another seed another.
        let again = try SweepPlan(spec: spec)
        #expect((0..<60).allSatisfy { plan.values($0).map(SweepPlan.text) == again.values($0).map(SweepPlan.text) })
    }

    @Test func listSamplingTakesTheValuesSideBySide() throws {
        let s = try Scratch()
        let spec = try load(s, """
        sampling: {method: list}
        parameters:
          - {key: circuit.act_s, values: [200, 300]}
          - {key: control, values: [{mode: constant_flow, flow_lpm: 3}, {mode: constant_speed, speed_rpm: 2500}]}
        metrics:
          - {name: flow, metric: flow_lpm}
        """)
        let plan = try SweepPlan(spec: spec)
        #expect(plan.count == 2)
        let e1 = try plan.build(1).get()
        #expect(e1.scenario.circuit.actSeconds == 300)
        guard case .constantSpeed(let r) = e1.scenario.control else { Issue.record("control not edited"); return }
        #expect(r.rpm == 2500)
    }
}
