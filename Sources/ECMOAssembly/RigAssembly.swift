import Foundation
import ECMOCore
import ECMOHAL
import ECMOPosix
import ECMOBoard
import ECMORuntime
import ECMORecord
import ECMOSim

/// An assembled rig: board, hardware, the loop and its runner, the protocol's journal,
/// and the boot sequence. What `ecmo-rig run`, the scenario harness, the tests and the
/// benchmarks all run — built by `RigAssembly`, nowhere else.
public final class Rig<Hardware: HardwareProvider> {
    public let board: BoardConfiguration
    public let hardware: Hardware
    public let loop: RigLoop<Hardware>
    public let runner: LoopRunner<Hardware>
    public let protocolSetup: ProtocolSetup?
    public let infusion: InfusionSetup?
    public let journalWriter: JournalWriter?
    /// The program's boot and run sequence, with what is known about the last stop.
    public var session: RigSession

    init(board: BoardConfiguration, hardware: Hardware, loop: RigLoop<Hardware>, pacing: Pacing,
         protocolSetup: ProtocolSetup?, infusion: InfusionSetup?, evidence: BootEvidence) {
        self.board = board
        self.hardware = hardware
        self.loop = loop
        runner = LoopRunner(loop: loop, pacing: pacing)
        self.protocolSetup = protocolSetup
        self.infusion = infusion
        journalWriter = infusion.map { JournalWriter(link: $0.link, journal: $0.journal) }
        runner.journalWriter = journalWriter
        session = RigSession(evidence: evidence)
    }

    public var clock: any MonotonicClock { runner.clock }

    /// Boots (configure; the watchdog-reset alarm) without running: for harnesses that
    /// tick the loop themselves.
    public func boot() { session.boot(loop, now: runner.clock.now()) }

    /// Boots and runs for `duration` of loop time (`RigSession.run`).
    public func run(for duration: Duration, onTick: ((Instant) -> Void)? = nil) -> RigSession.Outcome {
        session.run(runner, duration: duration, onTick: onTick)
    }

    /// An operator command, through the one validation every source shares.
    @discardableResult
    public func apply(_ command: OperatorCommand, from source: AlarmActor = .operatorPanel) -> CommandResult {
        loop.apply(command, from: source, now: runner.clock.now())
    }
}

/// An infusion engine with its delivery journal: what a rig needs to infuse. A protocol
/// file gives one (`ProtocolSetup.infusion`); tests may build one from a plan by hand.
public struct InfusionSetup {
    public var engine: InfusionEngine
    public var link: JournalLink
    public var journal: DeliveryJournal
    /// What the journal held when it was opened (nil: a new journal).
    public var recovered: DeliveryJournal.Recovered?
    public init(engine: InfusionEngine, link: JournalLink, journal: DeliveryJournal, recovered: DeliveryJournal.Recovered?) {
        self.engine = engine
        self.link = link
        self.journal = journal
        self.recovered = recovered
    }
}

/// Errors assembling a rig, naming what.
public struct RigAssemblyError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The one composition root: board file + run settings + optional protocol → a rig.
///
/// Everything that builds a rig comes through here, so a rule held by the program (the
/// boot sequence, the validation of commands and set-points, outputs safe before anything
/// else) is the rule the scenarios, tests and benchmarks prove.
public enum RigAssembly {
    /// How a simulated rig keeps time.
    public enum SimulatedPace: Sendable {
        /// A manual clock, as fast as the CPU allows, deterministic.
        case lockstep
        /// The real monotonic clock, at the board's period.
        case realtime
    }

    /// A rig on hardware that is already open (the Linux backend, or a simulated board).
    /// `rings`: keep writing into these (a firmware reboot inside one simulated run).
    public static func assemble<H: HardwareProvider>(board: BoardConfiguration, hardware: H, settings: RunSettings,
                                                     protocolSetup: ProtocolSetup? = nil, infusion: InfusionSetup? = nil,
                                                     pacing: Pacing, evidence: BootEvidence = .operatorStart,
                                                     useWatchdog: Bool = true, rings: RigRings? = nil,
                                                     link: RigLink? = nil) throws -> Rig<H> {
        var evidence = evidence
        let infusion = infusion ?? protocolSetup?.infusion
        // A journal left without its clean-close mark: the last run was killed or lost power.
        if let r = infusion?.recovered, !r.closedCleanly, !r.completed { evidence.uncleanStop = true }
        let loop: RigLoop<H>
        do {
            loop = try RigLoop(board: board, hardware: hardware, settings: settings, useWatchdog: useWatchdog,
                               infusion: infusion?.engine, journal: infusion?.link, rings: rings, link: link)
        } catch {
            // The cause itself, so callers tell refused settings (exit 2) from hardware.
            switch error {
            case .settings(let e): throw e
            case .hardware(let e): throw e
            }
        }
        // The watchdog is open now: the Linux backend knows its boot status only from here.
        if hardware.bootedAfterWatchdogReset { evidence.watchdogReset = true }
        return Rig(board: board, hardware: hardware, loop: loop, pacing: pacing, protocolSetup: protocolSetup,
                   infusion: infusion, evidence: evidence)
    }

    /// A simulated rig on `board` (which must be `kind: simulated`): the circuit model under
    /// the mock board, the protocol's plant (syringes, preset) when there is one.
    /// `circuit`: the plant to start from (default: the board's).
    public static func simulated(board: BoardConfiguration, settings: RunSettings, protocolSetup: ProtocolSetup? = nil,
                                 seed: UInt64 = 1, circuit: CircuitModel? = nil, pace: SimulatedPace = .lockstep,
                                 evidence: BootEvidence = .operatorStart, link: RigLink? = nil,
                                 halTap: (any HALTap)? = nil) throws -> Rig<SimulatedBoard> {
        guard board.kind == .simulated else {
            throw RigAssemblyError("board \(board.name) (\(board.sourceFile)) is not a simulated board")
        }
        let clock: any MonotonicClock
        let pacing: Pacing
        switch pace {
        case .lockstep:
            let manual = ManualClock()
            clock = manual
            pacing = .lockstep(manual)
        case .realtime:
            let real = SystemMonotonicClock()
            clock = real
            pacing = .realtime(real)
        }
        let sim = try SimulatedBoard(board: board, clock: clock, seed: seed, circuit: circuit ?? CircuitModel())
        if let setup = protocolSetup {
            // The scenario's own circuit (when given) describes the plant; the protocol fills the syringes.
            let plant = sim.circuit
            ProtocolSetup.preparePlant(sim, resolved: setup.resolved)
            if circuit != nil { sim.circuit = plant }
        }
        // Before the loop opens anything: the tap sees every open.
        sim.halTap = halTap
        return try assemble(board: board, hardware: sim, settings: settings, protocolSetup: protocolSetup,
                            pacing: pacing, evidence: evidence, link: link)
    }

    /// A simulated rig from a board file, in lockstep: the shape tests and benchmarks use.
    public static func simulated(boardFile: String, mode: PumpMode = .constantFlow(.lpm(4)), recordEvery: Int = 100,
                                 seed: UInt64 = 1) throws -> Rig<SimulatedBoard> {
        let board = try BoardLoader.load(path: boardFile)
        return try simulated(board: board, settings: RunSettings(mode: mode, recordEvery: recordEvery), seed: seed)
    }

    /// The firmware reboots on the same hardware (a simulated watchdog reset): a new loop
    /// through the same root, with the boot evidence the hardware gives, writing on into
    /// the same record.
    public static func reboot<H: HardwareProvider>(_ rig: Rig<H>, settings: RunSettings, protocolSetup: ProtocolSetup? = nil,
                                                   evidence: BootEvidence, link: RigLink? = nil) throws -> Rig<H> {
        try assemble(board: rig.board, hardware: rig.hardware, settings: settings, protocolSetup: protocolSetup,
                     pacing: rig.runner.pacing, evidence: evidence, rings: rig.loop.rings, link: link)
    }
}

/// A marker that a run of a rig is in progress, kept beside its run records: present at
/// boot means the previous run did not end cleanly (a crash, a kill, a power loss, a
/// watchdog reset), so the circuit must not restart by itself.
public struct SessionMarker {
    public let path: String
    /// The marker existed when this run started.
    public let foundUnclean: Bool

    /// Checks for a previous marker at `directory/.ecmo-rig-<board>.running`, then writes
    /// this run's (with the process id, for a person reading it).
    public init(directory: String, board: String) throws {
        let dir = URL(fileURLWithPath: directory)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        path = dir.appendingPathComponent(".ecmo-rig-\(board).running").path
        foundUnclean = FileManager.default.fileExists(atPath: path)
        let text = "pid \(ProcessInfo.processInfo.processIdentifier)\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The run ended on purpose (completed, stopped, or a fault it handled): the next start
    /// is a clean one.
    public func closeCleanly() throws {
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    }
}
