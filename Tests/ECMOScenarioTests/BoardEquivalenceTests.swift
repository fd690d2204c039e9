import Testing
import Foundation
import ECMOScenario
import ECMOCore

/// The sensor-level board (`Board/sim-fast.yaml`) may replace the register-level one
/// (`Board/sim.yaml`) for long experiments and sweeps only if every shipped scenario gives
/// the same verdicts on both, and the recorded telemetry agrees within the tolerances
/// below. Each short scenario (≤ 180 s) runs here on both boards; CI runs the long ones on
/// the fast board (scripts/test).
///
/// Tolerances, per recorded column, over the rows both runs have (10 Hz):
/// - median |Δ| ≤ 1 mmHg for pressures, 0.03 L/min for flow, 5 rpm for speed: the two
///   boards draw sensor noise (σ 0.3 mmHg, 0.01 L/min) at different moments, so two honest
///   runs differ by about 1.1 σ at the median; a model error (a wrong transfer function,
///   a stale value, a unit) moves the median by far more.
/// - 95th percentile |Δ| ≤ 3 mmHg, 0.1 L/min, 40 rpm: transients (spin-up, a fault's
///   onset) are allowed to differ by the timing of one conversion or one tachometer edge.
///   Scenarios that inject extra sensor noise or freeze a sensor at a noisy value are
///   exempt from the percentile (their difference is the injected noise itself).
/// These are far inside what any verdict depends on: the narrowest pressure band in a
/// shipped expectation is 8 mmHg wide, the narrowest flow band 0.2 L/min.
@Suite struct BoardEquivalenceTests {
    static let fastBoard = repositoryRoot.appendingPathComponent("Board/sim-fast.yaml").path

    struct Column {
        let name: String
        let median: Double
        let p95: Double
    }
    static let columns = [
        Column(name: "P_drain_mmHg", median: 1, p95: 3), Column(name: "P_pre_mmHg", median: 1, p95: 3),
        Column(name: "P_post_mmHg", median: 1, p95: 3), Column(name: "flow_lpm", median: 0.03, p95: 0.1),
        Column(name: "speed_rpm", median: 5, p95: 40),
    ]
    /// Faults whose telemetry difference is injected noise, not the board.
    static let noisyFaults = ["sensor_noise_burst", "sensor_stuck"]

    static func telemetry(_ dir: URL) throws -> (header: [String], rows: [[String]]) {
        let text = try String(contentsOf: dir.appendingPathComponent("telemetry.csv"), encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { return ([], []) }
        return (header, Array(lines.dropFirst()))
    }

    @Test(arguments: shippedScenarios())
    func aShortScenarioGivesTheSameVerdictsOnBothBoardsAndTelemetryWithinTolerance(_ path: String) throws {
        var s = try ScenarioLoader.load(path: path)
        guard s.duration <= .seconds(180) else { return }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-equiv-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let register = try ScenarioRunner(scenario: s, outputDirectory: tmp.appendingPathComponent("register")).run()
        s.board = Self.fastBoard
        let sensor = try ScenarioRunner(scenario: s, outputDirectory: tmp.appendingPathComponent("sensor")).run()

        #expect(register.verdicts.count == s.expectations.count)
        for v in register.verdicts where !v.passed { Issue.record("\(s.name) on sim.yaml: \(v.name): \(v.detail)") }
        for (a, b) in zip(register.verdicts, sensor.verdicts) where a.passed != b.passed {
            Issue.record("\(s.name): '\(a.name)' \(a.passed ? "passes" : "fails") on sim.yaml (\(a.detail)) but \(b.passed ? "passes" : "fails") on sim-fast.yaml (\(b.detail))")
        }
        #expect(register.outcome == sensor.outcome)

        let a = try Self.telemetry(tmp.appendingPathComponent("register").appendingPathComponent(s.name))
        let b = try Self.telemetry(tmp.appendingPathComponent("sensor").appendingPathComponent(s.name))
        #expect(a.header == b.header)
        #expect(a.rows.count == b.rows.count)
        let exempt = Self.noisyFaults.contains { (try? String(contentsOfFile: path, encoding: .utf8))?.contains("fault: \($0)") ?? false }
        for problem in Self.compare(a, b, percentiles: !exempt) { Issue.record("\(s.name): \(problem)") }
    }

    /// What differs beyond tolerance between two records (empty: equivalent).
    static func compare(_ a: (header: [String], rows: [[String]]), _ b: (header: [String], rows: [[String]]),
                        percentiles: Bool) -> [String] {
        var problems: [String] = []
        for c in columns {
            guard let i = a.header.firstIndex(of: c.name), b.header.firstIndex(of: c.name) == i else {
                problems.append("no column \(c.name)")
                continue
            }
            var d: [Double] = []
            for (ra, rb) in zip(a.rows, b.rows) where i < ra.count && i < rb.count {
                if let x = Double(ra[i]), let y = Double(rb[i]) { d.append(abs(x - y)) }
            }
            d.sort()
            guard !d.isEmpty else { problems.append("no \(c.name) values"); continue }
            let median = d[d.count / 2], p95 = d[Int(Double(d.count) * 0.95)]
            if median > c.median { problems.append("\(c.name) median |Δ| \(median) > \(c.median)") }
            if percentiles && p95 > c.p95 { problems.append("\(c.name) 95th percentile |Δ| \(p95) > \(c.p95)") }
        }
        return problems
    }

    @Test func theComparisonFailsWhenTheCircuitRunsTenPercentOffItsSetPoint() throws {
        // The tolerances must still see a real difference: the same scenario holding 4.4
        // instead of 4 L/min (what a 10 % flow calibration error would do to the circuit)
        // has to fail the comparison, or it would prove nothing.
        var s = try ScenarioLoader.load(path: scenarioFolder.appendingPathComponent("nominal-short.yaml").path)
        s.duration = .seconds(30)
        s.expectations = []
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-equiv-neg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        s.control = .constantFlow(.lpm(4))
        _ = try ScenarioRunner(scenario: s, outputDirectory: tmp.appendingPathComponent("a")).run()
        s.control = .constantFlow(.lpm(4.4))
        s.board = Self.fastBoard
        _ = try ScenarioRunner(scenario: s, outputDirectory: tmp.appendingPathComponent("b")).run()
        let a = try Self.telemetry(tmp.appendingPathComponent("a").appendingPathComponent(s.name))
        let b = try Self.telemetry(tmp.appendingPathComponent("b").appendingPathComponent(s.name))
        let problems = Self.compare(a, b, percentiles: true)
        #expect(problems.contains { $0.hasPrefix("flow_lpm median") })
        #expect(problems.contains { $0.hasPrefix("P_pre_mmHg median") })
    }
}
