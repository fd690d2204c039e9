import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMORuntime
import ECMOAssembly

/// The repository's Board/ folder, found from this file's path.
public func boardFile(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Board").appendingPathComponent(name).path
}

public struct SupportError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// A simulated rig on a manual clock, ready to tick: built by `RigAssembly`, the program's
/// own composition root, and driven through operator commands like any console. Shared by
/// the test targets (a library target: test targets cannot share a file).
public struct SimRig {
    public let rig: Rig<SimulatedBoard>
    public var board: BoardConfiguration { rig.board }
    public let clock: ManualClock
    public var sim: SimulatedBoard { rig.hardware }
    public var loop: RigLoop<SimulatedBoard> { rig.loop }
    public var runner: LoopRunner<SimulatedBoard> { rig.runner }

    public init(mode: PumpMode = .constantFlow(.lpm(4)), seed: UInt64 = 1, recordEvery: Int = 10, settings: RunSettings? = nil,
         protocolSetup: ProtocolSetup? = nil, evidence: BootEvidence = .operatorStart, link: RigLink? = nil,
         board boardName: String = "sim.yaml") throws {
        let board = try BoardLoader.load(path: boardFile(boardName))
        rig = try RigAssembly.simulated(board: board, settings: settings ?? RunSettings(mode: mode, recordEvery: recordEvery),
                                        protocolSetup: protocolSetup, seed: seed, evidence: evidence, link: link)
        guard case .lockstep(let c) = rig.runner.pacing else { throw SupportError(description: "not a lockstep rig") }
        clock = c
    }

    /// Boots (configure: hardware open, outputs safe, sensors read while inactive).
    public func configure() { rig.boot() }

    /// An operator command, validated by the rig as a console's would be.
    @discardableResult
    public func command(_ c: OperatorCommand) -> CommandResult { rig.apply(c, from: .operatorPanel) }

    /// Configures, waits for sensors, activates and runs until `t` of loop time.
    public func startAndRun(for d: Duration) {
        configure()
        runner.run(until: clock.now() + .milliseconds(200))
        command(.activate)
        runner.run(until: clock.now() + d)
    }

    public func advance(_ d: Duration) { runner.run(until: clock.now() + d) }

    /// Drains the rings so they never fill during long tests.
    public func drain() {
        _ = loop.telemetry.drain { _ in }
        _ = loop.events.drain { _ in }
    }

    public func events() -> [RigEvent] {
        var out: [RigEvent] = []
        loop.events.drain { out.append($0) }
        return out
    }
}

/// Test views of typed events.
extension RigEvent {
    public var alarm: AlarmEvent? { if case .alarm(let a) = kind { a } else { nil } }
    public var infusion: InfusionEvent? { if case .infusion(let i) = kind { i } else { nil } }
    public var faultReason: FaultReason? { if case .fault(let r) = kind { r } else { nil } }
    public var isOutputsSafe: Bool { if case .outputsSafe = kind { true } else { false } }
    public var shedding: Bool? { if case .shedding(let on) = kind { on } else { nil } }
    /// (id, kind, priority, actor) of an alarm-log entry.
    public var alarmEntry: (AlarmID?, AlarmEventKind?, AlarmPriority?, AlarmActor?)? {
        alarm.map { ($0.id, $0.kind, $0.priority, $0.actor) }
    }
}

/// A console link for the sim board's loop (1 ms period).
public func simLink(telemetryHz: Double = 25) -> RigLink { RigLink(loopPeriod: .milliseconds(1), telemetryHz: telemetryHz) }
