import ArgumentParser
import Foundation
import Logging
import ECMOBoard
import ECMORuntime
#if os(Linux)
import ECMOLinux
#endif

/// `run`'s real-time options (an option group, so EcmoRig.swift gains one line for them).
struct RealtimeOptions: ParsableArguments {
    @Option(name: .customLong("rt-priority"), help: "SCHED_FIFO priority of the control-loop thread, 1-99, when the loop runs on the real clock.")
    var rtPriority: Int32 = 80

    @Option(help: "Pin the control-loop thread to this CPU (an isolated core on a Pi).")
    var cpu: Int32?

    func validate() throws {
        guard (1...99).contains(rtPriority) else { throw ValidationError("--rt-priority \(rtPriority): must be in 1...99") }
        if let cpu, cpu < 0 { throw ValidationError("--cpu \(cpu): must be a CPU number ≥ 0") }
    }
}

/// Runs once on the control-loop thread, before its first tick: makes that thread real
/// time (`RealtimeSetup`: SCHED_FIFO, mlockall, pre-faulted stack, affinity,
/// `/dev/cpu_dma_latency`). Only the loop thread: the recorder, status line and console
/// stay ordinary threads. A board with `realtime: required` refuses to start when an
/// essential step fails; `optional` warns once and runs. A lockstep simulation has no
/// deadline to keep and is left alone.
final class LoopThreadSetup: @unchecked Sendable {
    let board: BoardConfiguration
    let options: RealtimeOptions
    let realClock: Bool
    let logger: Logger
    /// Set on the loop thread before it signals completion; read after the service ends.
    private(set) var refusal: String?

    init(board: BoardConfiguration, options: RealtimeOptions, pacing: Pacing, logger: Logger) {
        self.board = board
        self.options = options
        if case .realtime = pacing { realClock = true } else { realClock = false }
        self.logger = logger
    }

    /// Call on the loop thread. False: do not run the loop (`refusal` says why).
    func enter() -> Bool {
        guard realClock else { return true }
        #if os(Linux)
        let report = RealtimeSetup().apply(RealtimeRequest(priority: options.rtPriority, cpu: options.cpu))
        if report.failures.isEmpty {
            logger.info("control-loop thread: \(report.outcomes.map(\.detail).joined(separator: ", "))")
            return true
        }
        let lines = report.failures.map(\.line).joined(separator: "\n  ")
        if board.realtime == .required && !report.isRealtime {
            let message = "board \(board.name) requires real time (realtime: required) and the control-loop thread could not get it:\n  \(lines)\n(a dry bench without blood may set 'realtime: optional' in a copy of the board file)"
            refusal = message
            logger.error("\(message)")
            return false
        }
        logger.warning("real-time set-up incomplete, running on (board \(board.name): realtime \(board.realtime.rawValue)):\n  \(lines)")
        return true
        #else
        if board.realtime == .required {
            refusal = "board \(board.name) requires real time: SCHED_FIFO and mlockall are set up on Linux only"
            logger.error("\(refusal ?? "")")
            return false
        }
        logger.warning("no real-time set-up on this OS (Linux only): the loop runs as an ordinary thread")
        return true
        #endif
    }
}
