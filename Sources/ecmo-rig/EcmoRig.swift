import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMORuntime
import ECMOPosix
import ECMOConsoleLink
import ECMORecord
import ECMOSim
import ECMOScenario
import ECMODataFile
import ECMOProtocol
import ECMOAssembly
#if os(Linux)
import ECMOLinux
#endif
#if ECMO_RUN_STORE
import ECMORunStore
#endif

@main
struct EcmoRig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecmo-rig",
        abstract: "Firmware of the bench ECMO rig: runs the circuit, watches it, records it.",
        subcommands: [Run.self, Simulate.self, DrillCommand.self, SweepCommand.self, CommandCommand.self, RunsCommand.self, ReportCommand.self, BoardCommand.self, ProtocolCommand.self, HILCommand.self, RTCheck.self],
        defaultSubcommand: Run.self)
}

/// Exit codes a script can rely on (shared with the Pi image).
typealias ExitCodes = RigExitCode

/// A duration on the command line: `600`, `90s`, `10m`, `1.5h`, `250ms`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    let duration: Duration
    let text: String
    init?(argument: String) {
        let s = argument.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var factor = 1.0
        var number = Substring(s)
        for (suffix, f) in units where s.hasSuffix(suffix) {
            factor = f
            number = s.dropLast(suffix.count)
            break
        }
        // At least 1 ms: a subnormal such as 1e-320s is not zero, but is no run either.
        guard let v = Double(number), v.isFinite, v * factor >= 0.001, v * factor <= RunLimits.longestRun.seconds else { return nil }
        duration = .seconds(v * factor)
        text = argument
    }
    static var defaultCompletionKind: CompletionKind { .default }
}

enum Pace: String, ExpressibleByArgument, CaseIterable {
    case fast
    case realtime
}

/// `run --pace`: `fast` (lockstep, as fast as the CPU allows), `realtime`, or `Nx`, lockstep
/// no faster than N times real time, so a day of loop time can feed a console in an hour
/// (the soak) while the loop and its watchdog stay on loop time.
enum RunPace: ExpressibleByArgument, Equatable, Sendable {
    case fast
    case realtime
    case limited(Double)

    static let limitRange = 0.01...100_000.0

    init?(argument: String) {
        let s = argument.trimmingCharacters(in: .whitespaces).lowercased()
        switch s {
        case "fast": self = .fast
        case "realtime": self = .realtime
        default:
            guard s.hasSuffix("x"), let v = Double(s.dropLast()), v.isFinite, Self.limitRange.contains(v) else { return nil }
            self = .limited(v)
        }
    }

    var text: String {
        switch self {
        case .fast: "fast"
        case .realtime: "realtime"
        case .limited(let x): "lockstep at most \(x)x real time"
        }
    }

    static var allValueStrings: [String] { ["fast", "realtime", "<N>x"] }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the rig: configure, check sensors, spin up, unclamp, hold the set-point, record.")

    @Option(help: "Board file (Board/sim.yaml: looked for here, then beside the program).")
    var board: String = DefaultFiles.boardOption

    @Option(help: "How long to run, e.g. 600, 90s, 10m, 1.5h (loop time). Default 10m, or the protocol's length plus a minute.")
    var duration: DurationArgument?

    @Option(name: .customLong("protocol"), help: "Experiment protocol (YAML, see docs/protocols.md): doses, schedule, clamp, agitation, heparin.")
    var protocolFile: String?

    @Option(help: "Delivery journal of the protocol (default: <out>/journals/<protocol>-<board>.journal). An unfinished journal is resumed per the protocol's on_restart.")
    var journal: String?

    @Flag(help: "Move an existing journal aside (…-<time>.journal) and start the protocol afresh.")
    var freshJournal = false

    @Option(help: .hidden)
    var plantState: String?

    @Option(help: "fast: lockstep simulation as fast as the CPU allows; realtime: keep the loop period on the real clock; Nx (e.g. 24x, 0.01...100000): lockstep, but no faster than N times real time.")
    var pace: RunPace = .fast

    @Option(help: "Constant-flow set-point in L/min (default 4.0 unless --rpm is given).")
    var flow: Double?

    @Option(help: "Constant-speed set-point in rpm (instead of --flow).")
    var rpm: Double?

    @Option(help: "Directory under which the run directory is created.")
    var out: String = "runs"

    @Option(help: "Seed of the simulator's noise (same seed, same run).")
    var seed: UInt64 = 1

    @Option(help: "Telemetry rows per second of loop time in telemetry.csv.")
    var recordHz: Double = 10

    @Flag(help: "Print only the summary (no live status line).")
    var quiet = false

    @Option(name: .customLong("operator"), help: "Who runs the experiment (stored in summary.json and the run index). Default: $USER, else 'unknown'.")
    var operatorName: String?

    @Flag(help: "The previous run of this rig ended uncleanly (watchdog reset, crash, power loss) and you have checked the circuit: let it start. Without this the rig comes up inactive with every output safe and waits for 'activate' from the console.")
    var restartConfirmed = false

    @OptionGroup var realtimeOptions: RealtimeOptions
    @OptionGroup var consoleOptions: ConsoleLinkOptions

    func validate() throws {
        if flow != nil && rpm != nil { throw ValidationError("give either --flow or --rpm, not both") }
        if protocolFile != nil && (flow != nil || rpm != nil) {
            throw ValidationError("--protocol sets the pump mode (circuit.flow_lpm or speed_rpm): drop --flow/--rpm")
        }
        if protocolFile == nil && (journal != nil || freshJournal) {
            throw ValidationError("--journal and --fresh-journal need --protocol")
        }
        // The same range every set-point source is checked against (the rig checks again,
        // against the run's alarm limits and the board's pump limits, when it starts).
        let flowRange = SetpointLimits.flowLitersPerMinute
        if let flow, !(flow.isFinite && flowRange.contains(flow)) {
            throw ValidationError("--flow \(flow): must be a flow in L/min in \(flowRange.lowerBound)...\(flowRange.upperBound)")
        }
        let speedRange = SetpointLimits.speedRPM
        if let rpm, !(rpm.isFinite && speedRange.contains(rpm)) {
            throw ValidationError("--rpm \(rpm): must be a speed in rpm in \(speedRange.lowerBound)...\(speedRange.upperBound)")
        }
        // The lower bound keeps loop rate / record rate a count of ticks (1e-320 Hz would be
        // an infinite number of ticks per row, a trap when converted).
        if !(recordHz.isFinite && recordHz >= 0.001 && recordHz <= 1000) {
            throw ValidationError("--record-hz \(recordHz): must be in 0.001...1000 rows per second")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "ecmo-rig")
        logger.logLevel = .info

        let config: BoardConfiguration
        let boardPath = DefaultFiles.resolve(board)
        do {
            config = try BoardLoader.load(path: boardPath)
        } catch {
            FileHandle.standardError.write(Data("\(DefaultFiles.hint(for: boardPath) ?? error.description)\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        // A protocol, when given, is planned against this board before anything moves.
        var resolved: ResolvedProtocol?
        if let path = protocolFile {
            do {
                resolved = try ProtocolPlanner.plan(try ProtocolLoader.load(path: path), board: config)
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(ExitCodes.boardInvalid)
            }
            for w in resolved?.warnings ?? [] { logger.warning("\(w)") }
        }
        let mode: PumpMode = resolved?.pumpMode ?? rpm.map { .constantSpeed(.rpm($0)) } ?? .constantFlow(.lpm(flow ?? 4.0))
        let runLength: Duration = duration?.duration ?? resolved.map { $0.totalDuration + .seconds(60) } ?? .seconds(600)
        let runLengthText = duration?.text ?? "\(Int(runLength.seconds))s"
        let ticksPerSecond = 1.0 / config.loopPeriod.seconds
        let recordEvery = max(1, Int((ticksPerSecond / recordHz).rounded()))
        var settings = RunSettings(mode: mode, recordEvery: recordEvery)
        var setup: ProtocolSetup?
        if let resolved, let path = protocolFile {
            let journalPath = journal ?? URL(fileURLWithPath: out).appendingPathComponent("journals")
                .appendingPathComponent("\(resolved.experiment.name)-\(config.name).journal").path
            do {
                if freshJournal { try ProtocolRunSupport.moveAside(journalPath) }
                let s = try ProtocolSetup(resolved: resolved, protocolPath: path, board: config, journalPath: journalPath)
                setup = s
                settings = s.settings(recordEvery: recordEvery)
                if let r = s.recovered {
                    logger.notice("journal \(journalPath): resuming an unfinished protocol (cells \(r.reserved[0]) steps, heparin \(r.reserved[1]) steps counted as given; policy \(resolved.plan.onRestart.rawValue)\(r.discardedBytes > 0 ? "; dropped a torn tail of \(r.discardedBytes) bytes" : ""))")
                } else {
                    logger.info("journal \(journalPath): new")
                }
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(ExitCodes.boardInvalid)
            }
        }
        // A run left unfinished (its marker still there) ended uncleanly: the rig must not
        // restart the circuit by itself.
        let marker: SessionMarker
        do {
            marker = try SessionMarker(directory: out, board: config.name)
        } catch {
            logger.error("cannot write the session marker in \(out): \(error)")
            throw ExitCode(ExitCodes.recordFailed)
        }
        let evidence = BootEvidence(uncleanStop: marker.foundUnclean, operatorStart: true, restartConfirmed: restartConfirmed)

        // The backend is chosen by the board file, explicitly: never a silent fallback.
        switch config.kind {
        case .simulated:
            let rig: Rig<SimulatedBoard>
            do {
                rig = try RigAssembly.simulated(board: config, settings: settings, protocolSetup: setup, seed: seed,
                                                pace: pace == .realtime ? .realtime : .lockstep, evidence: evidence,
                                                link: consoleOptions.makeLink(loopPeriod: config.loopPeriod))
                if case .limited(let factor) = pace {
                    rig.runner.speedLimit = LockstepSpeedLimit(wall: SystemMonotonicClock(), factor: factor)
                }
            } catch let e as RunSettingsError {
                FileHandle.standardError.write(Data("\(e)\n".utf8))
                throw ExitCode.validationFailure
            } catch {
                logger.error("\(error)")
                throw ExitCode(ExitCodes.hardware)
            }
            if let p = plantState {
                do {
                    let state = try PlantState(path: p)
                    rig.hardware.restorePlunger(cells: state.cells, heparin: state.heparin)
                    rig.hardware.plantLedger = state.pointer
                    try await execute(rig, marker: marker, mode: mode, runLength: runLength, runLengthText: runLengthText,
                                      resolved: resolved, logger: logger, keepAlive: state, runLoop: { $0.run(for: $1) })
                } catch let e as ExitCode {
                    throw e
                } catch {
                    FileHandle.standardError.write(Data("plant state \(p): \(error)\n".utf8))
                    throw ExitCode(ExitCodes.boardInvalid)
                }
            } else {
                try await execute(rig, marker: marker, mode: mode, runLength: runLength, runLengthText: runLengthText,
                                  resolved: resolved, logger: logger, keepAlive: nil, runLoop: { $0.run(for: $1) })
            }
        case .rig:
            let hardware: any HardwareProvider
            let pacing: Pacing
            do {
                (hardware, pacing) = try HardwareSelection.rig(config)
            } catch {
                logger.error("\(error)")
                throw ExitCode(ExitCodes.hardware)
            }
            func assemble<H: HardwareProvider>(_ hw: H, runLoop: @escaping @Sendable (Rig<H>, Duration) -> RigSession.Outcome) async throws {
                let rig: Rig<H>
                do {
                    rig = try RigAssembly.assemble(board: config, hardware: hw, settings: settings, protocolSetup: setup,
                                                   pacing: pacing, evidence: evidence,
                                                   link: consoleOptions.makeLink(loopPeriod: config.loopPeriod))
                    try HardwareSelection.attachCoProcessor(rig.loop, board: config)
                } catch {
                    logger.error("\(error)")
                    throw ExitCode(ExitCodes.hardware)
                }
                try await execute(rig, marker: marker, mode: mode, runLength: runLength, runLengthText: runLengthText,
                                  resolved: resolved, logger: logger, keepAlive: nil, runLoop: runLoop)
            }
            // The loop closure is written where the hardware's type is concrete, so the
            // compiler specialises the whole tick for it (direct calls, no generic
            // metadata lookups per tick); opened as an existential it would run generic.
            #if os(Linux)
            if let linux = hardware as? LinuxHardware {
                try await assemble(linux, runLoop: { $0.run(for: $1) })
                return
            }
            #endif
            func assembleOpened<H: HardwareProvider>(_ hw: H) async throws { try await assemble(hw, runLoop: { $0.run(for: $1) }) }
            try await assembleOpened(hardware)
        }
    }

    /// Runs an assembled rig: record, console, status line, signals, summary.
    /// `runLoop` runs the rig's loop for a duration: written by the caller where `H` is a
    /// concrete type, so the tick inside it is specialised (see the `.rig` branch).
    func execute<H: HardwareProvider>(_ rig: Rig<H>, marker: SessionMarker, mode: PumpMode, runLength: Duration, runLengthText: String,
                                      resolved: ResolvedProtocol?, logger: Logger, keepAlive: AnyObject?,
                                      runLoop: @escaping @Sendable (Rig<H>, Duration) -> RigSession.Outcome) async throws {
        let config = rig.board
        let loop = rig.loop
        if rig.session.evidence.watchdogReset || rig.session.evidence.uncleanStop {
            let why = rig.session.evidence.watchdogReset ? "the watchdog reset the board" : "the previous run of this rig did not end cleanly (crash, kill or power loss)"
            if rig.session.evidence.mayActivate {
                logger.warning("\(why); restart confirmed by the operator (--restart-confirmed)")
            } else {
                logger.warning("\(why): the rig stays inactive with every output safe until an operator activates it (console 'activate', or run again with --restart-confirmed after checking the circuit)")
            }
        }
        let runDirectory = URL(fileURLWithPath: out).appendingPathComponent(Self.runName(board: config.name))
        let recorder: RunRecorder
        do {
            recorder = try RunRecorder(directory: runDirectory, telemetry: loop.telemetry, events: loop.events,
                                       timeOrigin: rig.clock.now())
        } catch {
            logger.error("cannot create the run record: \(error)")
            throw ExitCode(ExitCodes.recordFailed)
        }
        let eventLogger = logger
        recorder.onEvent = { line in eventLogger.info("event \(line)") }
        let console: ConsoleLinkServer?
        do {
            console = try consoleOptions.start(loop: loop, recorder: recorder, board: config, mode: mode, alarmLimits: loop.safety.limits,
                                               protocolName: resolved?.experiment.name, timeOrigin: rig.clock.now(), logger: logger)
        } catch {
            logger.error("\(error)")
            throw ExitCode(ExitCodes.console)
        }
        defer { console?.stop() }
        let runner = rig.runner
        runner.waitsForConsumer = true   // the recorder thread drains; never drop rows in a lockstep run
        let ticksPerSecond = 1.0 / config.loopPeriod.seconds
        logger.info("board \(config.name) (\(config.kind.rawValue)), loop \(Int(ticksPerSecond)) Hz, \(Self.describe(mode)), \(runLengthText) \(config.kind == .rig ? "realtime" : pace.text); recording to \(runDirectory.path)")

        let loopThreadSetup = LoopThreadSetup(board: config, options: realtimeOptions, pacing: runner.pacing, logger: logger)
        let service = RigService(rig: rig, duration: runLength, recorder: recorder, quiet: quiet, loopThreadSetup: loopThreadSetup,
                                 runLoop: runLoop)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        let started = Date()
        try await group.run()
        if loopThreadSetup.refusal != nil { throw ExitCode(ExitCodes.hardware) }
        let outcome = service.outcome.value ?? .stopped
        let wall = Date().timeIntervalSince(started)
        // A clean stop: the last reservation plus a clean-close mark (a restart then knows
        // the run ended on purpose, not by a crash). A run that waited after an unclean stop
        // and was never activated leaves the evidence as it found it: nobody has checked
        // the circuit yet, so the next start must wait too.
        let nobodyActivated = outcome == .awaitingOperator
        rig.journalWriter?.stop(final: nobodyActivated ? nil : loop.infusion.journalSnapshot)
        withExtendedLifetime(keepAlive) {}

        var summary = Self.summary(config: config, mode: mode, outcome: outcome, loop: loop, runner: runner,
                                   recorder: recorder, wallSeconds: wall, seed: seed)
        if let setup = rig.protocolSetup { summary["protocol"] = ProtocolRunSupport.summary(setup: setup, loop: loop, protocolPath: protocolFile ?? "", board: config) }
        summary["operator"] = .string(operatorName ?? ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown")
        summary["started_at"] = .string(Run.iso(started))
        summary["ended_at"] = .string(Run.iso(started.addingTimeInterval(wall)))
        summary["boot"] = .object([
            "watchdog_reset": .bool(rig.session.evidence.watchdogReset),
            "unclean_previous_stop": .bool(rig.session.evidence.uncleanStop),
            "restart_confirmed": .bool(rig.session.evidence.restartConfirmed),
        ])
        if let console {
            console.stop()
            summary["console"] = ConsoleLinkOptions.summary(console.statistics)
        }
        do {
            try recorder.finish(summary: summary)
        } catch {
            logger.error("\(error)")
            throw ExitCode(ExitCodes.recordFailed)
        }
        // The run ended on purpose and its record is closed: the next start is a clean one
        // (unless nobody activated a rig that was waiting after an unclean stop).
        if !nobodyActivated {
            do { try marker.closeCleanly() } catch { logger.warning("cannot remove the session marker \(marker.path): \(error)") }
        }
        if !quiet { print("") }
        Self.printSummary(summary, directory: runDirectory)
        RunStoreCLI.indexFinishedRun(runDirectory, runsDirectory: URL(fileURLWithPath: out))
        HardwareSelection.close(rig.hardware)
        switch outcome {
        case .completed, .stopped, .awaitingOperator: return
        case .faulted: throw ExitCode(ExitCodes.faulted)
        case .sensorsNotReady: throw ExitCode(ExitCodes.sensorsNotReady)
        }
    }

    static func describe(_ mode: PumpMode) -> String {
        switch mode {
        case .constantFlow(let q): "constant flow \(q.litersPerMinute) L/min"
        case .constantSpeed(let s): "constant speed \(s.rpm) rpm"
        }
    }

    /// UTC ISO 8601, as the run store reads it.
    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: d)
    }

    static func runName(board: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "\(f.string(from: Date()))-\(board)-\(UInt32.random(in: 0...0xFFFF))"
    }

    static func summary<H>(config: BoardConfiguration, mode: PumpMode, outcome: RigSession.Outcome, loop: RigLoop<H>,
                           runner: LoopRunner<H>, recorder: RunRecorder, wallSeconds: Double, seed: UInt64) -> [String: JSONValue] {
        let last = loop.lastTelemetry
        var s: [String: JSONValue] = [
            "board": .string(config.name),
            "board_file": .string(config.sourceFile),
            "outcome": .string("\(outcome)"),
            // A rig board always runs on the real clock, whatever --pace said.
            "pace": .string(runner.pacing.recordName),
            "seed": .int(Int(truncatingIfNeeded: seed)),
            "ticks": .int(Int(loop.tickCount)),
            "loop_time_s": .number(Double(loop.tickCount) * config.loopPeriod.seconds),
            "wall_time_s": .number((wallSeconds * 1000).rounded() / 1000),
            "overruns": .int(Int(loop.overruns)),
            "alarm_raises": loop.safety.alarms.raiseCountsJSON,
            "max_lateness_us": .number((runner.maxLateness.seconds * 1e7).rounded() / 10),
            // Real time only (a lockstep run has no lateness): percentiles, not only the
            // maximum one stray hiccup decides; 1 µs buckets below 1 ms.
            "lateness_us": runner.latenessHistogram.total == 0 ? .null : .object([
                "p50": .number(runner.latenessHistogram.percentileMicroseconds(0.5) ?? 0),
                "p99": .number(runner.latenessHistogram.percentileMicroseconds(0.99) ?? 0),
                "p99_9": .number(runner.latenessHistogram.percentileMicroseconds(0.999) ?? 0),
                "max": .number((runner.maxLateness.seconds * 1e7).rounded() / 10),
                "over_one_period": .int(Int(runner.latenessHistogram.count(over: config.loopPeriod))),
            ]),
            "watchdog_kicks": .int(Int(loop.watchdogKicks)),
            "output_write_errors": .int(Int(loop.outputs.totalWriteErrors)),
            "final": .object([
                "state_before_shutdown": .string(last.state.description),
                "P_drain_mmHg": .number((last.drainPressure.mmHg * 100).rounded() / 100),
                "P_pre_mmHg": .number((last.preOxygenatorPressure.mmHg * 100).rounded() / 100),
                "P_post_mmHg": .number((last.postOxygenatorPressure.mmHg * 100).rounded() / 100),
                "flow_lpm": .number((last.flow.litersPerMinute * 1000).rounded() / 1000),
                "speed_rpm": .number(last.measuredSpeed.rpm.rounded()),
            ]),
        ]
        // A lockstep run held to N times real time (`--pace Nx`) says so.
        if let limit = runner.speedLimit { s["speed_limit_x"] = .number(limit.factor) }
        switch mode {
        case .constantFlow(let q): s["setpoint"] = .object(["mode": .string("constant_flow"), "flow_lpm": .number(q.litersPerMinute)])
        case .constantSpeed(let r): s["setpoint"] = .object(["mode": .string("constant_speed"), "speed_rpm": .number(r.rpm)])
        }
        return s
    }

    static func printSummary(_ s: [String: JSONValue], directory: URL) {
        print("run record: \(directory.path)")
        print(JSONValue.object(s).rendered(pretty: true))
    }
}

/// Runs the loop on its own thread as a service, so SIGINT/SIGTERM shut it down
/// gracefully: the loop stops between ticks and every actuator goes to its safe value.
final class RigService<Hardware: HardwareProvider>: Service, @unchecked Sendable {
    let rig: Rig<Hardware>
    var runner: LoopRunner<Hardware> { rig.runner }
    let duration: Duration
    let recorder: RunRecorder
    let quiet: Bool
    let loopThreadSetup: LoopThreadSetup?
    let outcome = OutcomeBox()
    /// The loop itself, specialised for the concrete hardware by whoever built it.
    let runLoop: @Sendable (Rig<Hardware>, Duration) -> RigSession.Outcome

    final class OutcomeBox: @unchecked Sendable {
        private let lock = NSLock()
        private var _value: RigSession.Outcome?
        var value: RigSession.Outcome? {
            get { lock.lock(); defer { lock.unlock() }; return _value }
            set { lock.lock(); _value = newValue; lock.unlock() }
        }
    }

    init(rig: Rig<Hardware>, duration: Duration, recorder: RunRecorder, quiet: Bool, loopThreadSetup: LoopThreadSetup? = nil,
         runLoop: @escaping @Sendable (Rig<Hardware>, Duration) -> RigSession.Outcome) {
        self.rig = rig
        self.runLoop = runLoop
        self.loopThreadSetup = loopThreadSetup
        self.duration = duration
        self.recorder = recorder
        self.quiet = quiet
    }

    func run() async throws {
        recorder.start()
        let status = quiet ? nil : StatusLine(recorder: recorder, loopPeriod: runner.loop.board.loopPeriod)
        status?.start()
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let t = Thread { [self] in
                    if loopThreadSetup?.enter() ?? true { outcome.value = runLoop(rig, duration) }
                    done.resume()
                }
                t.name = "control-loop"
                t.stackSize = 1 << 20
                t.start()
            }
        } onGracefulShutdown: { [runner] in
            runner.requestStop()
        }
        status?.stop()
    }
}

/// The live status line: the latest recorded frame, redrawn in place on a terminal,
/// one line every few seconds otherwise.
final class StatusLine: @unchecked Sendable {
    let recorder: RunRecorder
    let loopPeriod: Duration
    private let lock = NSLock()
    private var running = true
    private let isTTY = isatty(STDOUT_FILENO) != 0

    init(recorder: RunRecorder, loopPeriod: Duration) {
        self.recorder = recorder
        self.loopPeriod = loopPeriod
    }

    func start() {
        let t = Thread { [self] in
            while true {
                lock.lock()
                let r = running
                lock.unlock()
                if !r { break }
                if let f = recorder.latest {
                    let line = Self.format(f)
                    if isTTY {
                        FileHandle.standardOutput.write(Data(("\r\u{1B}[2K" + line).utf8))
                    } else {
                        print(line)
                    }
                }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        t.name = "status-line"
        t.start()
    }

    func stop() {
        lock.lock()
        running = false
        lock.unlock()
        if let f = recorder.latest {
            print((isTTY ? "\r\u{1B}[2K" : "") + Self.format(f))
        }
    }

    static func format(_ f: TelemetryFrame) -> String {
        let fx = RunRecorder.fixed
        let t = f.time.secondsSinceOrigin
        let clock = "\(Int(t) / 60)m\(pad(Int(t) % 60))s"
        var s = "[\(clock)] \(f.state)/\(f.phase)"
        s += "  P_drain \(fx(f.drainPressure.mmHg, 1))  P_pre \(fx(f.preOxygenatorPressure.mmHg, 1))"
        s += "  P_post \(fx(f.postOxygenatorPressure.mmHg, 1))  dP \(fx(f.oxygenatorPressureDrop.mmHg, 1)) mmHg"
        s += "  flow \(fx(f.flow.litersPerMinute, 2)) L/min  \(fx(f.measuredSpeed.rpm, 0)) rpm"
        s += f.clampClosed ? "  CLAMPED" : ""
        if f.state == .fault { s += "  FAULT: \(f.faultReason)" }
        if f.invalidMask != 0 { s += "  INVALID: \(RunRecorder.sensorNames(mask: f.invalidMask).joined(separator: ","))" }
        s += f.overruns > 0 ? "  overruns \(f.overruns)" : ""
        return s
    }

    static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run scenario files on the simulated rig and check their expectations (exit 1 if any fails, 2 if a file is invalid).")

    @Argument(help: "Scenario files (YAML), e.g. HIL/scenarios/*.yaml.")
    var scenarios: [String]

    @Option(help: "Directory for the run records (one folder per scenario).")
    var out: String = "runs/scenarios"

    @Flag(help: "Print only the verdict table.")
    var quiet = false

    @Flag(help: "Pace each scenario to the wall clock instead of running as fast as possible.")
    var realtime = false

    @Option(help: "Run every scenario on this simulated board file instead of the one it names (e.g. Board/sim-fast.yaml, the sensor-level board).")
    var board: String?

    @Option(help: "Also write each scenario's HAL transcript (every HAL and loop call) to DIR/<scenario>.ecmotrn, for `ecmo-pi replay` (docs/embedded.md).")
    var halTranscripts: String?

    func run() async throws {
        // Load everything first: a malformed file stops the batch before anything runs.
        var loaded: [Scenario] = []
        var bad = false
        if let board, !FileManager.default.fileExists(atPath: board) {
            FileHandle.standardError.write(Data("--board: no board file at '\(board)'\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        for path in scenarios {
            do {
                var s = try ScenarioLoader.load(path: path)
                if let board { s.board = board }
                loaded.append(s)
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                bad = true
            }
        }
        if bad { throw ExitCode(ExitCodes.boardInvalid) }
        var names = Set<String>()
        for s in loaded where !names.insert(s.name).inserted {
            FileHandle.standardError.write(Data("\(s.file):1:1: scenario.name: '\(s.name)' is used by another scenario in this batch\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        let outDir = URL(fileURLWithPath: out)
        var results: [ScenarioResult] = []
        for s in loaded {
            let runner: ScenarioRunner
            do {
                runner = try ScenarioRunner(scenario: s, outputDirectory: outDir, halTranscript: halTranscripts != nil)
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(ExitCodes.boardInvalid)
            }
            if !quiet { print("▶ \(s.name) (\(YAMLDuration.format(s.duration)) loop time, seed \(s.seed))") }
            let isTTY = isatty(STDOUT_FILENO) != 0
            let r = try runner.run(pacedBy: realtime ? SystemMonotonicClock() : nil) { fraction in
                if !quiet && isTTY {
                    FileHandle.standardOutput.write(Data("\r  \(Int(fraction * 100)) %".utf8))
                }
            }
            if !quiet {
                if isTTY { FileHandle.standardOutput.write(Data("\r\u{1B}[2K".utf8)) }
                for v in r.verdicts {
                    print("  \(v.passed ? "✔" : "✘") \(v.name): \(v.detail)")
                }
                // The rig validates a scenario's operator actions as it does a console's.
                for refusal in r.refusals { print("  ! \(refusal)") }
                print("  \(r.passed ? "PASS" : "FAIL") in \(RunRecorder.fixed(r.wallSeconds, 2)) s, \(r.ticks) ticks (×\(Int(s.duration.seconds / max(r.wallSeconds, 1e-9))) real time) → \(r.runDirectory ?? "-")")
            }
            results.append(r)
            if let dir = r.runDirectory { RunStoreCLI.indexFinishedRun(URL(fileURLWithPath: dir), runsDirectory: outDir) }
            if let tdir = halTranscripts, let t = runner.transcript {
                if let why = t.unsupported {
                    print("  no HAL transcript: \(why)")
                } else {
                    let url = URL(fileURLWithPath: tdir).appendingPathComponent("\(s.name).ecmotrn")
                    do {
                        try FileManager.default.createDirectory(atPath: tdir, withIntermediateDirectories: true)
                        let bytes = t.finish()
                        try Data(bytes).write(to: url)
                        if !quiet { print("  HAL transcript → \(url.path) (\(bytes.count) bytes)") }
                    } catch {
                        FileHandle.standardError.write(Data("--hal-transcripts: cannot write \(url.path): \(error)\n".utf8))
                        throw ExitCode.failure
                    }
                }
            }
        }
        print("")
        print(Self.table(results))
        if results.contains(where: { !$0.passed }) { throw ExitCode.failure }
    }

    static func table(_ results: [ScenarioResult]) -> String {
        let w = max(8, results.map(\.scenario.count).max() ?? 8)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        var lines = [pad("scenario", w) + "  verdict  expectations  outcome     wall s"]
        for r in results {
            let ok = r.verdicts.filter(\.passed).count
            lines.append(pad(r.scenario, w) + "  " + pad(r.passed ? "PASS" : "FAIL", 7) + "  " + pad("\(ok)/\(r.verdicts.count)", 12)
                         + "  " + pad(r.outcome, 10) + "  " + RunRecorder.fixed(r.wallSeconds, 2))
        }
        let failed = results.filter { !$0.passed }.count
        lines.append("\(results.count - failed) passed, \(failed) failed")
        return lines.joined(separator: "\n")
    }
}

enum YAMLDuration {
    static func format(_ d: Duration) -> String { ECMODataFile.YAMLReader.formatDuration(d) }
}
