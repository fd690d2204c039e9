import Testing
import ECMOCore
import ECMOHAL
import ECMORuntime
import ECMOSim
import RigTestSupport

/// A wall clock for the test: sleeping moves it to the deadline, plus a stall now and then
/// (the host descheduling the process), and every sleep is logged.
final class StallingWallClock: MonotonicClock, @unchecked Sendable {
    var current = Instant(nanosecondsSinceOrigin: 5_000_000_000)
    var sleeps = 0
    let stallEvery: Int
    let stall: Duration
    init(stallEvery: Int = 0, stall: Duration = .zero) {
        self.stallEvery = stallEvery
        self.stall = stall
    }
    func now() -> Instant { current }
    func sleep(until deadline: Instant) {
        sleeps += 1
        if deadline > current { current = deadline }
        if stallEvery > 0 && sleeps % stallEvery == 0 { current = current + stall }
    }
}

@Suite struct SpeedLimitTests {
    @Test func aLockstepRunWithASpeedLimitTakesLoopTimeOverTheFactorOfWallTime() throws {
        let r = try SimRig()
        let wall = StallingWallClock()
        let start = wall.now()
        r.runner.speedLimit = LockstepSpeedLimit(wall: wall, factor: 20)
        r.startAndRun(for: .seconds(4))
        let loopTime = r.clock.now() - .origin
        let wallTime = wall.now() - start
        // 4.2 s of loop time (the 200 ms start included) at 20x: 210 ms of wall, less at most
        // each run call's last 16 periods unchecked (two calls: 1.6 ms of wall).
        let expected = loopTime.seconds / 20
        #expect(wallTime.seconds <= expected + 1e-9, "never faster than the limit allows the other way round")
        #expect(wallTime.seconds >= expected - 2 * 0.016 / 20 - 1e-9, "wall \(wallTime.seconds) s for \(loopTime.seconds) s of loop time")
        #expect(wall.sleeps >= 200, "the limit sleeps in small steps, not once at the end")
    }

    @Test func aHostStallUnderASpeedLimitChangesNoTickOfTheRun() throws {
        // Reference: the same seed, no limit.
        let free = try SimRig(seed: 7)
        free.startAndRun(for: .seconds(10))
        free.drain()
        // Limited, with a 300 ms stall of the host every 50 sleeps (far past the board's
        // watchdog in wall time): lockstep keeps the watchdog and the plant on loop time.
        let limited = try SimRig(seed: 7)
        let wall = StallingWallClock(stallEvery: 50, stall: .milliseconds(300))
        limited.runner.speedLimit = LockstepSpeedLimit(wall: wall, factor: 8)
        limited.startAndRun(for: .seconds(10))
        limited.drain()
        #expect(wall.sleeps > 50, "the stalls happened")
        #expect(limited.loop.tickCount == free.loop.tickCount)
        #expect(limited.loop.overruns == 0)
        #expect(limited.sim.watchdogResets == 0)
        let a = free.loop.lastTelemetry, b = limited.loop.lastTelemetry
        #expect(a.flow == b.flow && a.measuredSpeed == b.measuredSpeed && a.drainPressure == b.drainPressure)
        #expect(b.state == a.state && b.flow.litersPerMinute > 3.5, "the run regulated as without the limit")
    }

    @Test(arguments: [0.0, -3.0, Double.nan, Double.infinity])
    func aSpeedLimitThatIsNotAPositiveFactorIsRefused(factor: Double) {
        #expect(LockstepSpeedLimit(wall: StallingWallClock(), factor: factor) == nil)
    }
}
