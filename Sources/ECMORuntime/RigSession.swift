import ECMOCore
import Synchronization
import ECMOHAL
import ECMOBoard

/// What the firmware knows, when it starts, about how the previous run ended and who
/// started this one. The boot sequence decides on it whether the circuit may start.
public struct BootEvidence: Sendable, Equatable {
    /// The hardware says its watchdog reset the board (Linux: `WDIOF_CARDRESET`).
    public var watchdogReset: Bool
    /// The previous run of this rig did not end cleanly: a crash, a kill, a power loss
    /// (its session marker is still there, or its delivery journal has no clean close).
    public var uncleanStop: Bool
    /// A person started this run and asked for the circuit to start (`ecmo-rig run` typed
    /// at a terminal). False for a start by a supervisor (systemd restarting the service).
    public var operatorStart: Bool
    /// The operator has checked the circuit after an unclean stop and lets it start
    /// (`--restart-confirmed`).
    public var restartConfirmed: Bool

    public init(watchdogReset: Bool = false, uncleanStop: Bool = false, operatorStart: Bool = true, restartConfirmed: Bool = false) {
        self.watchdogReset = watchdogReset
        self.uncleanStop = uncleanStop
        self.operatorStart = operatorStart
        self.restartConfirmed = restartConfirmed
    }

    /// A clean, deliberate start: the circuit may start once the sensors are valid.
    public static let operatorStart = BootEvidence()

    /// True when the firmware may activate by itself. After a watchdog reset, a crash or a
    /// power loss nobody has looked at the circuit: it stays `inactive`, outputs safe, until
    /// an operator command (`activate` from the console, or a confirmed restart).
    public var mayActivate: Bool {
        if watchdogReset || uncleanStop { return restartConfirmed }
        return operatorStart
    }
}

/// The program's boot and run sequence, the same for `ecmo-rig run`, the scenario harness
/// and the tests: configure (hardware open, outputs safe, sensors read while `inactive`),
/// raise WATCHDOG_RESET if the watchdog reset the board, then either activate once every
/// sensor is valid (a clean operator start) or stay `inactive` and wait for an operator
/// command (after an unclean stop); hold until the end, and shut down with every actuator
/// at its safe value.
public struct RigSession {
    public enum Outcome: Equatable, Sendable {
        case completed
        case stopped
        case sensorsNotReady
        case faulted(FaultReason)
        /// Stayed `inactive` after an unclean stop: nobody activated the circuit.
        case awaitingOperator
    }

    /// How long the rig waits in `inactive` for valid sensors before giving up.
    public var sensorCheckTimeout: Duration = .seconds(2)
    /// Minimum time in `inactive` (lets every device deliver a first sample).
    public var inactiveDwell: Duration = .milliseconds(200)
    public var evidence: BootEvidence

    public init(evidence: BootEvidence = .operatorStart) { self.evidence = evidence }

    /// Boots the loop: `configure`, and the watchdog-reset alarm when the evidence says so.
    public func boot<H>(_ loop: RigLoop<H>, now: Instant) {
        loop.configure(now: now)
        if evidence.watchdogReset { loop.reportBootAfterWatchdogReset() }
    }

    /// Boots and runs `runner` for `duration` of loop time. Returns why it ended.
    public func run<H>(_ runner: LoopRunner<H>, duration: Duration, onTick: ((Instant) -> Void)? = nil) -> Outcome {
        let loop = runner.loop
        let start = runner.clock.now()
        let end = start + duration
        boot(loop, now: start)
        func stopped() -> Bool { runner.stopRequested.load(ordering: .relaxed) }

        // Inactive: sensors are read, nothing is commanded.
        runner.run(until: min(start + inactiveDwell, end), beforeTick: onTick)
        var everActive = false
        if evidence.mayActivate {
            var waited = inactiveDwell
            while loop.lastTelemetry.invalidMask & 0x0F != 0, waited < sensorCheckTimeout, !stopped() {
                let t = runner.clock.now()
                runner.run(until: min(t + .milliseconds(50), end), beforeTick: onTick)
                waited += .milliseconds(50)
            }
            if !stopped() {
                let result = loop.apply(.activate, from: .operatorPanel, now: runner.clock.now())
                if result.refusal == .sensorsNotReady {
                    loop.shutdown(now: runner.clock.now())
                    return .sensorsNotReady
                }
                everActive = result.accepted
            }
        }
        // Hold until the end (or a stop); commands from a console may activate a waiting rig.
        runner.run(until: end) { now in
            onTick?(now)
            if loop.state == .active { everActive = true }
        }
        if loop.state == .active { everActive = true }
        let outcome: Outcome
        if loop.state == .fault {
            outcome = .faulted(loop.core.faultReason)
        } else if stopped() {
            outcome = .stopped
        } else if !everActive && !evidence.mayActivate {
            outcome = .awaitingOperator
        } else {
            outcome = .completed
        }
        loop.shutdown(now: runner.clock.now())
        return outcome
    }
}
