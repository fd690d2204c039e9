import ECMOAssembly
import ECMOBoard
import ECMOCore
import ECMOProtocol
import ECMORuntime
import Foundation
import RigTestSupport
import Testing

/// A protocol with `start: operator` waits, with the circuit running, for the operator's
/// `start_protocol`; one without it starts by itself and refuses the command.
@Suite struct OperatorStartTests {
    func rig(_ name: String) throws -> (SimRig, URL) {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let path = protocolFolder.appendingPathComponent(name).path
        let resolved = try ProtocolPlanner.plan(try ProtocolLoader.load(path: path), board: board)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("operator-start-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let setup = try ProtocolSetup(resolved: resolved, protocolPath: path, board: board,
                                      journalPath: dir.appendingPathComponent("j.journal").path)
        let rig = try SimRig(settings: setup.settings(recordEvery: 100), protocolSetup: setup)
        return (rig, dir)
    }

    @Test func anOperatorStartedPlanWaitsForTheCommandThenStarts() throws {
        let (rig, dir) = try rig("quick-dose-operator.yaml")
        defer { try? FileManager.default.removeItem(at: dir) }
        rig.configure()
        rig.advance(.milliseconds(200))
        // Not yet regulating: refused, and nothing is remembered for later.
        #expect(rig.command(.startProtocol).refusal == .waitingForCircuit)
        rig.command(.activate)
        rig.advance(.seconds(20))
        #expect(rig.loop.core.phase == .regulating)
        #expect(!rig.loop.core.infusion.started, "a plan that waits for the operator must not start by itself")
        #expect(rig.sim.syringe.delivered.milliliters == 0)
        #expect(rig.command(.startProtocol).accepted)
        #expect(rig.command(.startProtocol).refusal == .alreadyRunning)
        rig.advance(.seconds(2))
        #expect(rig.loop.core.infusion.started)
        #expect(rig.events().contains { $0.infusion?.kind == .protocolStarted })
    }

    @Test func aPlanThatStartsWithTheCirculationRefusesTheCommandAndStartsByItself() throws {
        let (rig, dir) = try rig("quick-dose.yaml")
        defer { try? FileManager.default.removeItem(at: dir) }
        rig.startAndRun(for: .seconds(5))
        #expect(rig.loop.core.infusion.started)
        #expect(rig.command(.startProtocol).refusal == .alreadyRunning)
    }

    @Test func theStartKeyIsCheckedStrictly() throws {
        let text = try String(contentsOf: protocolFolder.appendingPathComponent("quick-dose-operator.yaml"), encoding: .utf8)
        let bad = text.replacingOccurrences(of: "start: operator", with: "start: whenever")
        #expect {
            _ = try ProtocolLoader.parse(yaml: bad, file: "bad.yaml")
        } throws: { e in
            "\(e)".contains("start") && "\(e)".contains("whenever")
        }
        #expect(try ProtocolLoader.parse(yaml: text, file: "ok.yaml").start == .operator)
    }
}
