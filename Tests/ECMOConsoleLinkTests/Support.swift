import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMORuntime

// A copy of ECMORuntimeTests' simulated rig (test targets cannot share a file).

/// The repository's Board/ folder, found from this file's path.
func boardFile(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Board").appendingPathComponent(name).path
}

/// A simulated rig on a manual clock, ready to tick.
struct SimRig {
    let board: BoardConfiguration
    let clock: ManualClock
    let sim: SimulatedBoard
    let loop: RigLoop
    let runner: LoopRunner

    init(mode: PumpMode = .constantFlow(.lpm(4)), seed: UInt64 = 1, recordEvery: Int = 10) throws {
        board = try BoardLoader.load(path: boardFile("sim.yaml"))
        clock = ManualClock()
        sim = try SimulatedBoard(board: board, clock: clock, seed: seed)
        loop = try RigLoop(board: board, hardware: sim, settings: RunSettings(mode: mode, recordEvery: recordEvery))
        runner = LoopRunner(loop: loop, pacing: .lockstep(clock))
    }

    /// Configures, waits for sensors, activates and runs until `t` of loop time.
    func startAndRun(for d: Duration) {
        loop.handle(.configure, now: clock.now())
        runner.run(until: clock.now() + .milliseconds(200))
        loop.handle(.activate, now: clock.now())
        runner.run(until: clock.now() + d)
    }

    /// Drains the rings so they never fill during long tests.
    func drain() {
        _ = loop.telemetry.drain { _ in }
        _ = loop.events.drain { _ in }
    }
}
