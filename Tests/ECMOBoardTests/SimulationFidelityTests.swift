import ECMOBoard
import Testing

/// `simulation:` in a board's header picks register- or sensor-level simulation; it is
/// optional, strictly checked, and meaningless (so refused) on a rig board.
@Suite struct SimulationFidelityTests {
    @Test func aBoardWithoutTheKeyIsSimulatedAtRegisterLevel() throws {
        let board = try BoardLoader.parse(yaml: minimalBoard, file: "test.yaml")
        #expect(board.simulation == .register)
    }

    @Test func sensorLevelIsChosenInTheHeader() throws {
        let yaml = try mutated("  realtime: optional\n", "  realtime: optional\n  simulation: sensor\n")
        let board = try BoardLoader.parse(yaml: yaml, file: "test.yaml")
        #expect(board.simulation == .sensor)
    }

    @Test func anUnknownFidelityNamesItsLineAndTheAllowedValues() throws {
        let yaml = try mutated("  realtime: optional\n", "  realtime: optional\n  simulation: bus\n")
        expectError(yaml, keyPath: "board.simulation", line: try line(of: "simulation:", in: yaml),
                    message: "unknown value 'bus' (allowed: register, sensor)")
    }

    @Test func aRigBoardMayNotNameAFidelity() throws {
        // Every hardware name must also be real on a rig board; only the fidelity error matters here.
        let yaml = try mutated("  kind: simulated\n", "  kind: rig\n  simulation: sensor\n")
        let found = errors(of: yaml)
        #expect(found.contains { $0.keyPath == "board.simulation" && $0.message.contains("only a simulated board has a simulation fidelity") })
    }

    @Test func theShippedFastBoardIsTheSimBoardAtSensorLevel() throws {
        let fast = try loadShipped("sim-fast.yaml")
        var sim = try loadShipped("sim.yaml")
        #expect(fast.simulation == .sensor)
        #expect(sim.simulation == .register)
        // Same wiring, devices and timing: only the name, description, source and fidelity differ.
        sim.name = fast.name
        sim.description = fast.description
        sim.sourceFile = fast.sourceFile
        sim.simulation = fast.simulation
        #expect(sim == fast)
    }
}
