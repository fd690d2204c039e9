import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMORuntime
import ECMOAssembly

/// Where the repository is: `ECMO_REPO` if set, else found from this file's path
/// (Benchmarks/Support/RigBenchSupport/SimRig.swift → repository root).
public enum RepositoryPaths {
    public static var root: URL {
        if let r = ProcessInfo.processInfo.environment["ECMO_REPO"], !r.isEmpty { return URL(fileURLWithPath: r) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
    public static func board(_ name: String) -> String {
        root.appendingPathComponent("Board").appendingPathComponent(name).path
    }
}

public struct SimRigError: Error, CustomStringConvertible {
    public let description: String
}

/// A simulated rig on a manual clock, built by `RigAssembly` — the composition root
/// `ecmo-rig run --pace fast`, the scenarios and the tests use: `Board/sim.yaml`, the
/// simulated board, the generic loop specialised for it, lockstep pacing. `recordEvery: 100`
/// = a 10 Hz record at 1 kHz.
public final class SimRig {
    public let rig: Rig<SimulatedBoard>
    public let board: BoardConfiguration
    public let clock: ManualClock
    // Stored, not computed from `rig`: the tick driver below must reach the loop without
    // loading it through another object (a retain per tick).
    public let sim: SimulatedBoard
    public let loop: RigLoop<SimulatedBoard>
    public let runner: LoopRunner<SimulatedBoard>
    /// The loop period in nanoseconds, so the driver below adds no `Duration` math of its own.
    public let periodNanoseconds: UInt64
    public private(set) var now: Instant
    public private(set) var framesDrained = 0
    public private(set) var flowSum = 0.0

    public init(mode: PumpMode = .constantFlow(.lpm(4)), seed: UInt64 = 1, recordEvery: Int = 100,
                boardFile: String = RepositoryPaths.board("sim.yaml")) throws {
        board = try BoardLoader.load(path: boardFile)
        rig = try RigAssembly.simulated(board: board, settings: RunSettings(mode: mode, recordEvery: recordEvery), seed: seed)
        guard case .lockstep(let c) = rig.runner.pacing else { throw SimRigError(description: "not a lockstep rig") }
        clock = c
        sim = rig.hardware
        loop = rig.loop
        runner = rig.runner
        periodNanoseconds = UInt64(board.loopPeriod.nanoseconds)
        now = clock.now()
    }

    /// Configures, dwells 200 ms in `inactive`, activates, and runs `warmUp` of loop time so
    /// the rig is past spin-up and unclamping and holds its set-point (phase `regulating`).
    public func startRegulating(warmUp: Duration = .seconds(3)) throws {
        rig.boot()
        runLockstep(for: .milliseconds(200))
        let activation = rig.apply(.activate)
        guard activation.accepted else {
            throw SimRigError(description: "activate refused: \(activation.refusal)")
        }
        runLockstep(for: warmUp)
        now = clock.now()
        guard loop.controller.phase == .regulating else {
            throw SimRigError(description: "rig not regulating after warm-up: \(loop.state)/\(loop.controller.phase)")
        }
    }

    /// One tick of the loop at the next period, as `LoopRunner` does it in lockstep.
    @inline(__always)
    public func tick() {
        now = Instant(nanosecondsSinceOrigin: now.nanosecondsSinceOrigin &+ periodNanoseconds)
        clock.advance(to: now)
        loop.tick(now: now)
    }

    /// Runs the real `LoopRunner` in lockstep for `d` of loop time, in chunks of `chunk`,
    /// draining both rings after each chunk as the run recorder's thread would (the frames
    /// are read, not written: no file I/O is measured).
    public func runLockstep(for d: Duration, chunk: Duration = .seconds(1)) {
        let end = clock.now() + d
        while clock.now() < end {
            let next = min(end, clock.now() + chunk)
            runner.run(until: next)
            drain()
        }
        now = clock.now()
    }

    /// Drains the telemetry and event rings (what a 10 Hz recorder reads).
    @discardableResult
    public func drain() -> Int {
        var n = 0
        var sum = 0.0
        loop.telemetry.drain { f in
            n += 1
            sum += f.flow.litersPerMinute
        }
        loop.events.drain { _ in }
        framesDrained += n
        flowSum += sum
        return n
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time of the calling thread in nanoseconds (CLOCK_THREAD_CPUTIME_ID): unlike the
/// benchmark package's `cpuTotal` (process ticks, 10 ms resolution on Linux) it resolves a
/// few microseconds, and unlike wall time it does not count time the thread was preempted.
public func threadCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
