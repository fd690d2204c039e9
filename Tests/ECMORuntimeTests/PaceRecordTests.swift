import Testing
import ECMOAssembly
import ECMOBoard
import ECMORuntime
import RigTestSupport

/// summary.json's `pace` names what the loop ran on. It used to copy `--pace`, whose default
/// is `fast`, so every run on a rig board (always on the real clock) was recorded as `fast`.
@Suite struct PaceRecordTests {
    @Test func aRigOnTheRealClockIsRecordedAsRealtimeAndALockstepOneAsFast() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let settings = RunSettings(mode: .constantFlow(.lpm(4)), recordEvery: 100)
        let realtime = try RigAssembly.simulated(board: board, settings: settings, pace: .realtime)
        #expect(realtime.runner.pacing.recordName == "realtime")
        let lockstep = try RigAssembly.simulated(board: board, settings: settings, pace: .lockstep)
        #expect(lockstep.runner.pacing.recordName == "fast")
    }
}
