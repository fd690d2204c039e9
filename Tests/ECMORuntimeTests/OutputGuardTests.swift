import Testing
import ECMOCore
import ECMOHAL
import ECMODrivers
import ECMOMockBoard
import ECMORuntime
import ECMOSim

@Suite struct OutputGuardTests {
    func make() -> (OutputGuard<SimulatedBoard>, MockBoard, ManualClock) {
        let clock = ManualClock()
        let board = MockBoard(clock: clock)
        let g = OutputGuard<SimulatedBoard>(lines: [
            .init(.pumpEnable, line: board.outputLine("pump_enable"), safeValue: 0, maxCommandAge: .milliseconds(100)),
            .init(.clamp, line: board.outputLine("clamp"), safeValue: 1, maxCommandAge: .milliseconds(100)),
        ], pump: nil)
        return (g, board, clock)
    }

    @Test func outputsStartAtTheirSafeValues() {
        let (_, board, _) = make()
        #expect(board.outputLine("pump_enable").level == false)
        #expect(board.outputLine("clamp").level == true)
    }

    @Test func commandHoldsWhileFreshAndFallsSafeWhenItAgesOut() {
        let (g, board, clock) = make()
        g.command(.pumpEnable, 1, now: clock.now())
        g.command(.clamp, 0, now: clock.now())
        g.enforce(now: clock.now())
        #expect(board.outputLine("pump_enable").level == true)
        #expect(board.outputLine("clamp").level == false)
        clock.advance(by: .milliseconds(100))
        g.enforce(now: clock.now())
        #expect(board.outputLine("pump_enable").level == true, "exactly at the age limit it still holds")
        clock.advance(by: .milliseconds(1))
        g.enforce(now: clock.now())
        #expect(board.outputLine("pump_enable").level == false)
        #expect(board.outputLine("clamp").level == true)
        #expect(g.channels[ActuatorRole.pumpEnable.index].expiries == 1)
    }

    @Test func forcedSafeIgnoresCommandsUntilReleased() {
        let (g, board, clock) = make()
        g.forceSafe()
        g.command(.pumpEnable, 1, now: clock.now())
        g.enforce(now: clock.now())
        #expect(board.outputLine("pump_enable").level == false)
        g.release()
        g.command(.pumpEnable, 1, now: clock.now())
        g.enforce(now: clock.now())
        #expect(board.outputLine("pump_enable").level == true)
    }

    @Test func failedWriteIsCountedAndRetried() {
        let (g, board, clock) = make()
        board.outputLine("pump_enable").disconnect()
        g.command(.pumpEnable, 1, now: clock.now())
        g.enforce(now: clock.now())
        #expect(g.totalWriteErrors == 1)
        #expect(g.value(of: .pumpEnable)?.isNaN == true)
        board.outputLine("pump_enable").clearFault()
        g.enforce(now: clock.now())
        #expect(board.outputLine("pump_enable").level == true)
        #expect(g.value(of: .pumpEnable) == 1)
    }
}
