import Synchronization
import ECMOCore
import ECMOHAL
import ECMOPosix
import ECMOBoard

/// How the loop is paced.
public enum Pacing: Sendable {
    /// Against a manual clock, as fast as the CPU allows, deterministic. Telemetry applies
    /// back-pressure instead of dropping, since no deadline is real.
    case lockstep(ManualClock)
    /// Against the real monotonic clock with absolute deadlines.
    case realtime(any MonotonicClock)

    /// The pace a run record names (`summary.json`'s `pace`): what the loop actually ran
    /// on, not the command line's `--pace`, which a board with real hardware ignores.
    public var recordName: String {
        switch self {
        case .lockstep: "fast"
        case .realtime: "realtime"
        }
    }
}

/// Runs a `RigLoop` at the board's period until a duration passes or a stop is
/// requested (from a signal handler, another thread, a console's `stop` or a test).
public final class LoopRunner<Hardware: HardwareProvider>: @unchecked Sendable {
    public let loop: RigLoop<Hardware>
    public let pacing: Pacing
    public let stopRequested = Atomic<Bool>(false)
    /// Largest lateness seen (real-time pacing only).
    public private(set) var maxLateness: Duration = .zero
    /// Every tick's lateness (real-time pacing only): the summary's percentiles.
    public let latenessHistogram = LatenessHistogram()
    /// Missed periods skipped to catch up after a long stall.
    public private(set) var skippedPeriods: UInt64 = 0
    /// Lockstep only: when a consumer thread drains the rings (the CLI's recorder), wait
    /// for it when a ring is nearly full instead of dropping rows. Off by default, so a
    /// run without a consumer (a test) never waits for one.
    public var waitsForConsumer = false
    /// Lockstep only: run no faster than this many times the wall clock. A long simulated
    /// run (a 24 h soak) can then feed a console at a pace it can be watched and measured
    /// at, while the loop, its watchdog and the plant stay on loop time, deterministic and
    /// blind to the host's stalls. Nil: as fast as the CPU allows.
    public var speedLimit: LockstepSpeedLimit?
    #if !hasFeature(Embedded)
    /// The delivery journal's writer. In lockstep it is serviced between ticks (so the
    /// simulated infusion is deterministic); in real time it runs on its own thread.
    /// (Hosted only: the Pi image runs without a protocol so far.)
    public var journalWriter: JournalWriter?
    #endif

    /// How long the last tick ran (real-time pacing; zero in lockstep, where no time passes).
    public private(set) var lastExecution: Duration = .zero

    public init(loop: RigLoop<Hardware>, pacing: Pacing) {
        self.loop = loop
        self.pacing = pacing
    }

    public var clock: any MonotonicClock {
        switch pacing {
        case .lockstep(let c): c
        case .realtime(let c): c
        }
    }

    public func requestStop() { stopRequested.store(true, ordering: .releasing) }

    /// A console's `stop` (set by the loop through its link) ends the run like a signal.
    @inline(__always)
    private func stopping() -> Bool {
        if stopRequested.load(ordering: .relaxed) { return true }
        if loop.core.stopRequested {
            requestStop()
            return true
        }
        return false
    }

    /// Runs ticks until `end` (absolute) or a stop request. `beforeTick` runs on the loop
    /// thread between ticks (for scripted operator actions); keep it cheap.
    public func run(until end: Instant?, beforeTick: ((Instant) -> Void)? = nil) {
        let period = loop.board.loopPeriod
        switch pacing {
        case .lockstep(let clock):
            var deadline = clock.now()
            let loopStart = deadline
            let wallStart = speedLimit?.wall.now()
            var sinceThrottle = 0
            while !stopping() {
                deadline = deadline + period
                if let end, deadline > end { break }
                if let limit = speedLimit, let wallStart {
                    // Checked every few ticks: a clock read per tick would cost more than
                    // the precision it buys (16 periods at 1 kHz and 24x: 0.7 ms of wall).
                    sinceThrottle += 1
                    if sinceThrottle >= LockstepSpeedLimit.ticksPerCheck {
                        sinceThrottle = 0
                        limit.wall.sleep(until: limit.wallDeadline(loopElapsed: deadline - loopStart, wallStart: wallStart))
                    }
                }
                clock.advance(to: deadline)
                beforeTick?(deadline)
                loop.tick(now: deadline)
                #if !hasFeature(Embedded)
                if let w = journalWriter, !w.isThreaded { w.serviceOnce() }
                #endif
                // No deadline is real here: wait for the recorder rather than drop data.
                while waitsForConsumer && (loop.telemetry.count > loop.telemetry.capacity * 3 / 4
                    || loop.events.count > loop.events.capacity * 3 / 4) {
                    if stopRequested.load(ordering: .relaxed) { break }
                    Self.yieldBriefly()
                }
            }
        case .realtime(let clock):
            #if !hasFeature(Embedded)
            if let w = journalWriter, !w.isThreaded { w.start() }
            #endif
            var deadline = clock.now() + period
            while !stopping() {
                if let end, deadline > end { break }
                clock.sleep(until: deadline)
                let now = clock.now()
                let lateness = now - deadline
                if lateness > maxLateness { maxLateness = lateness }
                latenessHistogram.record(lateness)
                beforeTick?(now)
                loop.tick(now: now, lateness: lateness, previousExecution: lastExecution)
                lastExecution = clock.now() - now
                deadline = deadline + period
                // After a stall longer than a period, resynchronise instead of bursting.
                let after = clock.now()
                if after - deadline > period {
                    let missed = (after - deadline).nanoseconds / max(1, period.nanoseconds)
                    skippedPeriods &+= UInt64(missed)
                    deadline = deadline + period * Int(missed)
                }
            }
        }
    }

    static func yieldBriefly() {
        #if canImport(Glibc) || canImport(Darwin)
        SystemMonotonicClock().sleep(until: SystemMonotonicClock().now() + .microseconds(200))
        #endif
    }
}

/// A lockstep run's ceiling on speed: loop time at most `factor` times wall time.
public struct LockstepSpeedLimit: Sendable {
    public let wall: any MonotonicClock
    public let factor: Double
    static let ticksPerCheck = 16

    /// Nil unless `factor` is finite and positive.
    public init?(wall: any MonotonicClock, factor: Double) {
        guard factor.isFinite, factor > 0 else { return nil }
        self.wall = wall
        self.factor = factor
    }

    /// The wall instant before which `loopElapsed` of loop time must not have run.
    func wallDeadline(loopElapsed: Duration, wallStart: Instant) -> Instant {
        let ns = Double(loopElapsed.nanoseconds) / factor
        return wallStart + .nanoseconds(Int64(min(ns, 9e18)))
    }
}
