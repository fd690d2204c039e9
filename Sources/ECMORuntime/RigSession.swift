import ECMOCore
import ECMOHAL
import ECMOBoard

/// The standard run: configure, read sensors while inactive until every one is valid (or
/// a time-out), activate (spin up, unclamp, regulate), hold until the end, and shut down
/// with every actuator at its safe value. Used by `ecmo-rig run` and the tests.
public struct RigSession {
    public enum Outcome: Equatable, Sendable {
        case completed
        case stopped
        case sensorsNotReady
        case faulted(FaultReason)
    }

    /// How long the rig waits in `inactive` for valid sensors before giving up.
    public var sensorCheckTimeout: Duration = .seconds(2)
    /// Minimum time in `inactive` (lets every device deliver a first sample).
    public var inactiveDwell: Duration = .milliseconds(200)

    public init() {}

    /// Runs `runner` for `duration` of loop time. Returns why it ended.
    public func run(_ runner: LoopRunner, duration: Duration, onTick: ((Instant) -> Void)? = nil) -> Outcome {
        let loop = runner.loop
        let start = runner.clock.now()
        let end = start + duration
        loop.handle(.configure, now: start)

        // Inactive: sensors are read, nothing is commanded.
        runner.run(until: min(start + inactiveDwell, end), beforeTick: onTick)
        var waited = inactiveDwell
        while loop.lastTelemetry.invalidMask & 0x0F != 0, waited < sensorCheckTimeout, !runner.stopRequested.load(ordering: .relaxed) {
            let t = runner.clock.now()
            runner.run(until: min(t + .milliseconds(50), end), beforeTick: onTick)
            waited += .milliseconds(50)
        }
        if loop.lastTelemetry.invalidMask & 0x0F != 0 {
            loop.shutdown(now: runner.clock.now())
            return .sensorsNotReady
        }
        if !runner.stopRequested.load(ordering: .relaxed) {
            loop.handle(.activate, now: runner.clock.now())
            runner.run(until: end, beforeTick: onTick)
        }
        let stopped = runner.stopRequested.load(ordering: .relaxed)
        let outcome: Outcome = loop.state == .fault ? .faulted(loop.controller.lifecycle.faultReason) : (stopped ? .stopped : .completed)
        loop.shutdown(now: runner.clock.now())
        return outcome
    }
}
