import Testing
import Foundation
import ECMOCore
import ECMOBoard
import ECMOScenario
import ECMODataFile

/// The virtual board's side of "one scenario file, three places": which faults the QEMU
/// lane's kernel devices can make (and how), which they cannot (and why), the allowed
/// differences a scenario file lists, and the host's comparison of the lane's verdicts
/// with pure simulation.
@Suite struct VirtualBoardLaneTests {
    func virtualBoard() throws -> BoardConfiguration {
        try BoardLoader.load(path: repositoryRoot.appendingPathComponent("HIL/virtual/board.yaml").path)
    }

    func load(_ name: String) throws -> Scenario {
        try ScenarioLoader.load(path: scenarioFolder.appendingPathComponent(name).path)
    }

    func mechanism(_ f: Fault, _ board: BoardConfiguration) -> VirtualBoardSteps.Mechanism {
        VirtualBoardSteps.mechanism(of: .fault(f), board: board)
    }

    @Test func faultsTheKernelDevicesCanMakeNameTheirMechanismFromTheBoard() throws {
        let board = try virtualBoard()
        guard case .device(let estop) = mechanism(.emergencyStop, board) else { Issue.record("E-stop refused"); return }
        #expect(estop.contains("line \(board.inputs[.emergencyStop]?.line ?? -1)"))
        guard case .device(let nak) = mechanism(.sensorDisconnect(.preOxygenatorPressure), board) else { Issue.record("P_pre refused"); return }
        #expect(nak.contains("nak_mask") && nak.contains("0x38"))
        guard case .device(let rail) = mechanism(.sensorDisconnect(.flow), board) else { Issue.record("flow refused"); return }
        #expect(rail.contains("rail"))
        guard case .device = mechanism(.deviceReset(.flow), board) else { Issue.record("ADS1115 reset refused"); return }
        guard case .device = mechanism(.tachometerLoss, board) else { Issue.record("tach refused"); return }
    }

    @Test func faultsNoKernelDeviceCanMakeAreRefusedWithTheReason() throws {
        let board = try virtualBoard()
        // The ADS1115 sits on i2c-stub, which cannot stop acknowledging a chip it was loaded with.
        guard case .impossible(let why) = mechanism(.i2cNAKBurst(.flow), board) else { Issue.record("NAK on i2c-stub accepted"); return }
        #expect(why.contains("i2c-stub"))
        // The same fault on an ABP2 is the stub adapter's.
        guard case .device = mechanism(.i2cNAKBurst(.drainPressure), board) else { Issue.record("ABP2 NAK refused"); return }
        for f: Fault in [.outputWriteFailure(.clamp), .outputStuck(.pumpSpeed, level: 0.95), .loopOverrun(delay: .milliseconds(2)), .powerLoss, .journalStall] {
            guard case .impossible = mechanism(f, board) else { Issue.record("\(f.fileName) accepted"); continue }
        }
        // A reset of a device without settings to lose is not faked.
        guard case .impossible = mechanism(.deviceReset(.preOxygenatorPressure), board) else { Issue.record("ABP2 reset accepted"); return }
    }

    @Test func aScenarioWithAFaultTheDevicesCannotMakeIsRefusedForTheVirtualBoardNamingItsLine() throws {
        let board = try virtualBoard()
        let scenario = try load("fault-clamp-output-lost.yaml")
        let plan = DrillPlan(scenario, place: .virtualBoard(board))
        #expect(plan.refusals.count == 1)
        let line = scenario.events.first?.line ?? -1
        #expect(plan.refusals.first?.contains(":\(line): fault output_write_failure cannot be made on the virtual board") == true)
    }

    @Test func thePlantsTruthIsCheckedOnTheVirtualBoardButSkippedOnARig() throws {
        let board = try virtualBoard()
        let scenario = try load("fault-pump-stall.yaml")
        let truthIndices = scenario.expectations.indices.filter { i in
            if case .metric(let m, _, _, _, _) = scenario.expectations[i].kind { return m.rawValue.hasPrefix("true_") }
            return false
        }
        #expect(!truthIndices.isEmpty)
        let rig = DrillPlan(scenario)
        let lane = DrillPlan(scenario, place: .virtualBoard(board))
        for i in truthIndices {
            #expect(rig.skipped[i] != nil)
            #expect(lane.skipped[i] == nil)
        }
        #expect(lane.refusals.isEmpty)
    }

    @Test func everyLaneListedScenarioLoadsAndRunsOrIsRefusedWithAReason() throws {
        let board = try virtualBoard()
        let list = try String(contentsOf: repositoryRoot.appendingPathComponent("HIL/virtual/scenarios.txt"), encoding: .utf8)
        let files = list.split(separator: "\n").compactMap { $0.split(separator: "#", omittingEmptySubsequences: false).first?.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(files.count >= 12)
        var runnable = 0
        for f in files {
            let plan = DrillPlan(try load(f), place: .virtualBoard(board))
            if plan.refusals.isEmpty { runnable += 1 } else { #expect(plan.refusals.allSatisfy { $0.contains("cannot be made on the virtual board: ") }) }
        }
        #expect(runnable >= 12)
    }

    // MARK: virtual_board: differences

    let header = """
    scenario: {name: t, description: d, seed: 1, board: Board/sim.yaml, duration: 10s, control: {mode: constant_flow, flow_lpm: 4}}
    expectations:
      - {name: "stays active", state: active, from: 1s, to: 10s}

    """

    @Test func anAllowedDifferenceNamesAnExpectationOfTheFileWithItsReason() throws {
        let s = try ScenarioLoader.parse(yaml: header + """
        virtual_board:
          differences:
            - {expectation: "stays active", reason: "TCG stalls"}
        """, file: "t.yaml")
        #expect(s.virtualBoardDifferences == [VirtualBoardDifference(expectation: "stays active", reason: "TCG stalls", line: 6)])
    }

    @Test func anAllowedDifferenceForAnUnknownExpectationIsAnErrorNamingTheLine() {
        #expect {
            _ = try ScenarioLoader.parse(yaml: header + """
            virtual_board:
              differences:
                - {expectation: "no such", reason: "x"}
            """, file: "t.yaml")
        } throws: { e in
            "\(e)".contains("t.yaml:6") && "\(e)".contains("no expectation named 'no such'")
        }
        #expect(throws: DataFileErrors.self) {
            _ = try ScenarioLoader.parse(yaml: header + """
            virtual_board:
              differences:
                - {expectation: "stays active"}
            """, file: "t.yaml")
        }
        #expect(throws: DataFileErrors.self) {
            _ = try ScenarioLoader.parse(yaml: header + "virtual_board: {differences: [], extra: 1}\n", file: "t.yaml")
        }
    }

    // MARK: The host's report

    func result(_ file: String, mode: String = "lane", _ verdicts: [(String, Bool)], abort: String? = nil,
                held: [String: Bool]? = nil) -> LaneResult {
        var r = LaneResult(file: file, scenario: file, mode: mode)
        r.outcome = abort == nil ? "completed" : "aborted"
        r.abortReason = abort
        r.outputsAtEnd = held
        r.expectations = verdicts.enumerated().map { .init(name: $0.element.0, line: $0.offset + 1, passed: $0.element.1, skipped: false, detail: "d") }
        return r
    }

    func scenario(differences: [VirtualBoardDifference] = []) throws -> Scenario {
        var s = try ScenarioLoader.parse(yaml: header, file: "t.yaml")
        s.virtualBoardDifferences = differences
        return s
    }

    @Test func theReportCountsEqualVerdictsAndFailsOnAnUnlistedDifference() throws {
        let s = try scenario()
        let sim: (String) throws -> (Scenario, [(String, Bool)]) = { _ in (s, [("a", true), ("b", true)]) }
        let same = LaneReport.compare([result("x.yaml", [("a", true), ("b", true)])], simulate: sim)
        #expect(same.equal == 1 && same.different == 0)
        let differs = LaneReport.compare([result("x.yaml", [("a", true), ("b", false)])], simulate: sim)
        #expect(differs.equal == 0 && differs.different == 1)
        #expect(differs.lines.contains { $0.contains("'b' (line 2): held in simulation, failed on the virtual board") })
    }

    @Test func aListedDifferenceIsReportedWithItsReasonAndDoesNotFail() throws {
        let s = try scenario(differences: [VirtualBoardDifference(expectation: "b", reason: "200 Hz here", line: 9)])
        let rep = LaneReport.compare([result("x.yaml", [("a", true), ("b", false)])]) { _ in (s, [("a", true), ("b", true)]) }
        #expect(rep.equal == 1 && rep.different == 0 && rep.allowed == 1)
        #expect(rep.lines.contains { $0.contains("allowed (200 Hz here)") })
    }

    @Test func aSkippedScenarioIsNeverCountedAsPassed() throws {
        var r = LaneResult(file: "y.yaml", scenario: "y", mode: "lane")
        r.skipped = ["line 9: fault output_write_failure cannot be made on the virtual board: …"]
        let s = try scenario()
        let rep = LaneReport.compare([r]) { _ in (s, [("a", true)]) }
        #expect(rep.equal == 0 && rep.skipped == 1)
        // A result without verdicts (the guest failed mid-run) is a failure, not a skip.
        let broken = LaneReport.compare([LaneResult(file: "z.yaml", scenario: "z", mode: "lane")]) { _ in (s, [("a", true)]) }
        #expect(broken.broken == 1)
    }

    @Test func aRefusedDrillCountsOnlyWithEveryOutputSafeOnTheWire() throws {
        let s = try scenario()
        let sim: (String) throws -> (Scenario, [(String, Bool)]) = { _ in (s, [("a", true)]) }
        let safe = LaneReport.compare([result("d.yaml", mode: "drill", [("a", false)], abort: "no answer",
                                              held: ["pump_enable": false, "clamp": true, "pump_speed_zero": true])], simulate: sim)
        #expect(safe.refusalsSafe == 1 && safe.broken == 0)
        let unsafe = LaneReport.compare([result("d.yaml", mode: "drill", [("a", false)], abort: "no answer",
                                                held: ["pump_enable": true, "clamp": true, "pump_speed_zero": true])], simulate: sim)
        #expect(unsafe.refusalsSafe == 0 && unsafe.broken == 1)
        #expect(unsafe.lines.contains { $0.contains("NOT SAFE") })
        let completed = LaneReport.compare([result("d.yaml", mode: "drill", [("a", true)])], simulate: sim)
        #expect(completed.drillsCompleted == 1 && completed.equal == 0)
    }

    @Test func theReportReadsResultLinesFromATimestampedConsoleLog() throws {
        let r = result("x.yaml", [("a", true)])
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let json = String(decoding: try encoder.encode(r), as: UTF8.self)
        let log = "12.3 BRIDGE: noise\n45.6 \(LaneResult.marker)\(json)\n46.0 LANE-RESULT {broken\n"
        let parsed = LaneReport.parse(log)
        #expect(parsed.count == 1)
        #expect(parsed.first?.expectations?.first?.name == "a")
    }
}
