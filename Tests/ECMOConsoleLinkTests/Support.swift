import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMORuntime
import ECMOAssembly

// A copy of ECMORuntimeTests' simulated rig (test targets cannot share a file).

/// The repository's Board/ folder, found from this file's path.
func boardFile(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Board").appendingPathComponent(name).path
}

struct SupportError: Error, CustomStringConvertible { var description: String }

/// A simulated rig on a manual clock, ready to tick: built by `RigAssembly`, the program's
/// own composition root, and driven through operator commands like any console.
struct SimRig {
    let rig: Rig<SimulatedBoard>
    var board: BoardConfiguration { rig.board }
    let clock: ManualClock
    var sim: SimulatedBoard { rig.hardware }
    var loop: RigLoop<SimulatedBoard> { rig.loop }
    var runner: LoopRunner<SimulatedBoard> { rig.runner }

    init(mode: PumpMode = .constantFlow(.lpm(4)), seed: UInt64 = 1, recordEvery: Int = 10, settings: RunSettings? = nil,
         protocolSetup: ProtocolSetup? = nil, evidence: BootEvidence = .operatorStart, link: RigLink? = nil) throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        rig = try RigAssembly.simulated(board: board, settings: settings ?? RunSettings(mode: mode, recordEvery: recordEvery),
                                        protocolSetup: protocolSetup, seed: seed, evidence: evidence, link: link)
        guard case .lockstep(let c) = rig.runner.pacing else { throw SupportError(description: "not a lockstep rig") }
        clock = c
    }

    /// Boots (configure: hardware open, outputs safe, sensors read while inactive).
    func configure() { rig.boot() }

    /// An operator command, validated by the rig as a console's would be.
    @discardableResult
    func command(_ c: OperatorCommand) -> CommandResult { rig.apply(c, from: .operatorPanel) }

    /// Configures, waits for sensors, activates and runs until `t` of loop time.
    func startAndRun(for d: Duration) {
        configure()
        runner.run(until: clock.now() + .milliseconds(200))
        command(.activate)
        runner.run(until: clock.now() + d)
    }

    func advance(_ d: Duration) { runner.run(until: clock.now() + d) }

    /// Drains the rings so they never fill during long tests.
    func drain() {
        _ = loop.telemetry.drain { _ in }
        _ = loop.events.drain { _ in }
    }

    func events() -> [RigEvent] {
        var out: [RigEvent] = []
        loop.events.drain { out.append($0) }
        return out
    }
}

/// Test views of typed events.
extension RigEvent {
    var alarm: AlarmEvent? { if case .alarm(let a) = kind { a } else { nil } }
    var infusion: InfusionEvent? { if case .infusion(let i) = kind { i } else { nil } }
    var faultReason: FaultReason? { if case .fault(let r) = kind { r } else { nil } }
    var isOutputsSafe: Bool { if case .outputsSafe = kind { true } else { false } }
    var shedding: Bool? { if case .shedding(let on) = kind { on } else { nil } }
    /// (id, kind, priority, actor) of an alarm-log entry.
    var alarmEntry: (AlarmID?, AlarmEventKind?, AlarmPriority?, AlarmActor?)? {
        alarm.map { ($0.id, $0.kind, $0.priority, $0.actor) }
    }
}

/// A console link for the sim board's loop (1 ms period).
func simLink(telemetryHz: Double = 25) -> RigLink { RigLink(loopPeriod: .milliseconds(1), telemetryHz: telemetryHz) }
