import Testing
import ECMOCore
import ECMOSim
import ECMOMockBoard
import RigTestSupport

/// The sensor-level board (`Board/sim-fast.yaml`): the firmware reads the same devices
/// through the same drivers, the plant is asked for a value only when a conversion
/// finishes, and the faults still reach the firmware through its drivers.
@Suite struct SensorLevelBoardTests {
    @Test func theFastBoardDrawsOneValuePerFinishedConversionNotOnePerTick() throws {
        let r = try SimRig(board: "sim-fast.yaml")
        r.startAndRun(for: .seconds(5))
        var conversions = 0
        for (id, dev) in r.board.devices {
            switch r.sim.deviceModel(id) {
            case let abp as ABP2Model: conversions += abp.measurementsCompleted
            case let adc as ADS1115Model: conversions += adc.conversionsCompleted
            default: Issue.record("device \(id) (\(dev.driver)) has no model")
            }
        }
        let ticks = 5200
        #expect(r.sim.fidelity == .sensor)
        #expect(conversions > 1000, "the drivers keep converting")
        #expect(r.sim.inputsDrawn == UInt64(conversions), "one plant value (and one noise draw) per finished conversion")
        // The register board publishes four noisy channels every tick.
        #expect(r.sim.inputsDrawn < UInt64(4 * ticks))
    }

    @Test func onTheFastBoardTheFirmwareReadsThePlantsPressuresAndFlow() throws {
        let r = try SimRig(board: "sim-fast.yaml")
        r.startAndRun(for: .seconds(6))
        let f = r.loop.lastTelemetry
        let truth = r.sim.truePressures
        #expect(f.phase == .regulating)
        #expect(abs(f.preOxygenatorPressure.mmHg - truth.preOxygenator.mmHg) < 2)
        #expect(abs(f.postOxygenatorPressure.mmHg - truth.postOxygenator.mmHg) < 2)
        #expect(abs(f.drainPressure.mmHg - truth.drain.mmHg) < 2)
        #expect(abs(f.flow.litersPerMinute - r.sim.circuit.flow.litersPerMinute) < 0.05)
        #expect(f.invalidMask == 0)
    }

    @Test func aDisconnectedPressureSensorNAKsAndTheFirmwareSeesItInvalid() throws {
        let r = try SimRig(board: "sim-fast.yaml")
        r.startAndRun(for: .seconds(4))
        #expect(r.loop.lastTelemetry.invalidMask == 0)
        let errorsBefore = r.loop.lastTelemetry.sensorErrors
        r.sim.setSensorDisconnected(.preOxygenatorPressure, true)
        r.advance(.milliseconds(100))
        #expect(r.loop.lastTelemetry.invalidMask != 0, "P_pre is invalid while its device does not answer")
        #expect(r.loop.lastTelemetry.sensorErrors > errorsBefore)
        r.sim.setSensorDisconnected(.preOxygenatorPressure, false)
        r.advance(.seconds(2))
        #expect(r.loop.lastTelemetry.invalidMask == 0, "and valid again once it answers")
    }

    @Test func aDisconnectedFlowMeterFloatsToTheRailOnTheFastBoard() throws {
        let r = try SimRig(board: "sim-fast.yaml")
        r.startAndRun(for: .seconds(4))
        r.sim.setSensorDisconnected(.flow, true)
        r.advance(.milliseconds(50))
        // 3.3 V at 2.5 L/min per volt: 8.25 L/min, outside anything the validator believes.
        #expect(r.loop.lastTelemetry.invalidMask != 0)
    }
}
