import ArgumentParser
import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMORuntime
import ECMOSim
import ECMOScenario
import ECMOAssembly
import ECMOConsoleLink
import ECMOLink
import Logging
#if os(Linux)
import ECMOLinux
#endif

/// Who answers a drill's prompts.
enum DrillPersonKind: String, ExpressibleByArgument, CaseIterable {
    /// A person at the rig: reads the prompt, does it, presses Enter.
    case terminal
    /// A script that makes the fault on the simulated board (simulated boards only).
    case script
    /// A program that does it (`--person-command`): the virtual board's bridge, a bench
    /// fixture. It confirms by exiting 0.
    case command
}

/// `ecmo-rig drill FILE --board B`: a scenario run as a guided drill on a rig, at real
/// time. Why a command of its own: on real hardware nothing can clamp a line or press the
/// E-stop but a person, so the drill asks for those and times everything after them from
/// the person's confirmation, while sending the operator commands on time and checking
/// the scenario's expectations on the rig's own record (HIL/README.md, "Drills").
struct DrillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Run a scenario as a guided drill on a rig: operator actions on time, prompts for what a person must do, the verdict table on the rig's record.")

    @Argument(help: "Scenario file (HIL/scenarios/*.yaml).")
    var file: String

    @Option(help: "Board file of the rig (Board/rpi4-bench.yaml), or a simulated board to rehearse (Board/sim.yaml).")
    var board: String

    @Option(help: "Directory under which the run folder is created.")
    var out: String = "runs"

    @Option(help: "How long a prompt waits for its confirmation before the drill aborts with every output safe, e.g. 30s.")
    var promptTimeout: DurationArgument = DurationArgument(argument: "30s")!

    @Option(help: "Who answers the prompts: terminal (a person presses Enter when done) or script (simulated boards: the fault is made on the board after --script-delay).")
    var person: DrillPersonKind = .terminal

    @Option(help: "The scripted person's delay before it answers a prompt.")
    var scriptDelay: DurationArgument = DurationArgument(argument: "1.5s")!

    @Flag(help: "With --person script: never answer (shows the refusal path: the drill aborts when a prompt times out).")
    var scriptSilent = false

    @Option(help: "With --person command: a shell command run for each prompt, with DRILL_PROMPT (the words), DRILL_FAULT (hand_clamp, emergency_stop, …, infuse_particles), DRILL_PHASE (start or end), DRILL_SENSOR (when the fault names one) and DRILL_LINE in its environment; exit 0 confirms.")
    var personCommand: String?

    func validate() throws {
        if (person == .command) != (personCommand != nil) {
            throw ValidationError("--person command and --person-command go together")
        }
    }

    @Option(help: "Simulated boards only: realtime (default, as on a rig) or fast (lockstep, as fast as the CPU allows).")
    var pace: Pace = .realtime

    /// `--console-socket`: the operator console watches the drill as it watches a run, and
    /// every prompt, its countdown, each confirmation and the verdict appear there too.
    @OptionGroup var console: ConsoleLinkOptions

    func run() throws {
        let scenario: Scenario
        do {
            scenario = try ScenarioLoader.load(path: file)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        let plan = DrillPlan(scenario)
        guard plan.refusals.isEmpty else {
            FileHandle.standardError.write(Data((["\(file): this scenario cannot be a drill on a rig (it runs in `ecmo-rig simulate` and on the virtual board):"] + plan.refusals).joined(separator: "\n  ").utf8 + Data("\n".utf8)))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        let boardPath = DefaultFiles.resolve(board)
        let config: BoardConfiguration
        do {
            config = try BoardLoader.load(path: boardPath)
        } catch {
            FileHandle.standardError.write(Data("\(DefaultFiles.hint(for: boardPath) ?? error.description)\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        if person == .script && config.kind != .simulated {
            FileHandle.standardError.write(Data("--person script makes faults on a simulated board; \(config.name) is a rig: a person answers there (--person terminal)\n".utf8))
            throw ExitCode.validationFailure
        }
        let marker: SessionMarker
        do {
            marker = try SessionMarker(directory: out, board: config.name)
        } catch {
            FileHandle.standardError.write(Data("cannot write the session marker in \(out): \(error)\n".utf8))
            throw ExitCode(ExitCodes.recordFailed)
        }
        let evidence = BootEvidence(uncleanStop: marker.foundUnclean, operatorStart: true)
        let runDirectory = URL(fileURLWithPath: out).appendingPathComponent(Run.runName(board: config.name) + "-drill")

        let result: DrillResult
        switch config.kind {
        case .simulated:
            let rig: Rig<SimulatedBoard>
            do {
                rig = try plan.simulatedRig(board: config, pace: pace == .fast ? .lockstep : .realtime, evidence: evidence,
                                            link: console.makeLink(loopPeriod: config.loopPeriod))
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(ExitCodes.hardware)
            }
            let sim = rig.hardware
            // Rehearsing on the simulator: the fault happens on the board when the person confirms.
            let perform: (DrillPrompt) -> Void = { p in
                switch p.event.action {
                case .fault(let f): ScenarioSteps.perform(f, on: sim, start: p.start)
                default: break
                }
            }
            let answerer: DrillPerson = switch person {
            case .script: ScriptedPerson(sim: sim, delay: scriptDelay.duration, answers: !scriptSilent)
            case .terminal: TerminalPerson(perform: perform)
            case .command: CommandPerson(command: personCommand ?? "false", perform: perform)
            }
            result = try drill(plan: plan, rig: rig, person: answerer, runDirectory: runDirectory)
        case .rig:
            let hardware: any HardwareProvider
            let pacing: Pacing
            do {
                (hardware, pacing) = try HardwareSelection.rig(config)
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(ExitCodes.hardware)
            }
            func assemble<H: HardwareProvider>(_ hw: H) throws -> DrillResult {
                let rig: Rig<H>
                do {
                    let (settings, setup) = try plan.settings(board: config)
                    rig = try RigAssembly.assemble(board: config, hardware: hw, settings: settings, protocolSetup: setup,
                                                   pacing: pacing, evidence: evidence,
                                                   link: console.makeLink(loopPeriod: config.loopPeriod))
                    try HardwareSelection.attachCoProcessor(rig.loop, board: config)
                } catch {
                    FileHandle.standardError.write(Data("\(error)\n".utf8))
                    throw ExitCode(ExitCodes.hardware)
                }
                defer { HardwareSelection.close(rig.hardware) }
                let answerer: DrillPerson = person == .command ? CommandPerson(command: personCommand ?? "false", perform: nil) : TerminalPerson(perform: nil)
                return try drill(plan: plan, rig: rig, person: answerer, runDirectory: runDirectory)
            }
            #if os(Linux)
            if let linux = hardware as? LinuxHardware {
                result = try assemble(linux)
            } else {
                result = try assemble(hardware)
            }
            #else
            result = try assemble(hardware)
            #endif
        }
        // The drill ended on purpose (an abort puts every output safe first): the next start is clean.
        try? marker.closeCleanly()
        print(result.table)
        print("run record: \(runDirectory.path)")
        RunStoreCLI.indexFinishedRun(runDirectory, runsDirectory: URL(fileURLWithPath: out))
        if result.abortReason != nil { throw ExitCode(ExitCodes.drillAborted) }
        if !result.passed { throw ExitCode(1) }
    }

    func drill<H: HardwareProvider>(plan: DrillPlan, rig: Rig<H>, person: DrillPerson, runDirectory: URL) throws -> DrillResult {
        let runner: DrillRunner<H>
        do {
            runner = try DrillRunner(plan: plan, rig: rig, person: person, promptTimeout: promptTimeout.duration, runDirectory: runDirectory)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.recordFailed)
        }
        // The console, when asked for: the drill's loop and record as a run's, and its words.
        let server: ConsoleLinkServer?
        do {
            server = try runner.recorder.flatMap { recorder in
                try console.start(loop: rig.loop, recorder: recorder, board: rig.board, mode: plan.scenario.control,
                                  alarmLimits: rig.loop.safety.limits, protocolName: plan.scenario.protocolFile,
                                  timeOrigin: rig.clock.now(), logger: Logger(label: "ecmo-rig.drill"))
            }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.console)
        }
        defer { server?.stop() }
        let origin = rig.clock.now()
        let clock = rig.clock
        func notify(_ text: String, _ values: [String: LinkValue] = [:]) {
            var v = values
            v["scenario"] = .string(plan.scenario.name)
            server?.offer(notice: LinkEvent(t: (clock.now() - origin).seconds, code: "drill", values: v, text: "DRILL: " + text))
        }
        let intro = "drill \(plan.scenario.name) on \(rig.board.name) (\(rig.board.kind.rawValue)): \(plan.promptCount) prompt(s) for a person, operator actions on time; \(plan.skipped.count) expectation(s) need the simulator and are skipped"
        print(intro)
        print("each prompt waits \(promptTimeout.text) for Enter, then the drill aborts with every output safe; Ctrl-C aborts the same way")
        notify(intro)
        let interactive = isatty(STDOUT_FILENO) != 0
        runner.onSay = { line in
            if interactive { print("\r\u{1B}[K", terminator: "") }
            print(line)
            notify(line)
        }
        runner.onCountdown = { p, left in
            if left % 5 == 0 { notify("\(p.words): \(left) s left (confirm at the rig's terminal)", ["words": .string(p.words), "seconds_left": .number(Double(left))]) }
            guard interactive || left % 10 == 0 else { return }
            if interactive {
                // Unbuffered, on the same line (the tty's line buffering would hold it back).
                FileHandle.standardOutput.write(Data("\r\u{1B}[K  \(p.words): \(left) s left, Enter when done ".utf8))
            } else {
                print("  \(p.words): \(left) s left")
            }
        }
        let stop = StopFlag()
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.set() }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }
        runner.stopRequested = { stop.isSet }
        do {
            let result = try runner.run()
            let checked = result.verdicts.filter { !$0.skipped }
            notify(result.abortReason.map { "ABORTED: \($0); every output safe" }
                   ?? "\(result.outcome): \(checked.filter(\.passed).count)/\(checked.count) checked expectations held")
            // The last notices reach the consoles before the link closes.
            Thread.sleep(forTimeInterval: server == nil ? 0 : 0.3)
            return result
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.recordFailed)
        }
    }
}

/// Set from a signal handler's queue, read by the loop between ticks.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// A person at the terminal: each line on standard input (Enter) confirms the prompt
/// that waits. Lines typed before a prompt was shown do not count. Standard input closed:
/// nobody will answer, so the prompt times out.
final class TerminalPerson: DrillPerson, @unchecked Sendable {
    private let lock = NSLock()
    private var lines = 0
    private var seenAtAsk = 0
    private var asked: DrillPrompt?
    /// On a simulated board the confirmation makes the fault (a rehearsal); nil on a rig.
    private let perform: ((DrillPrompt) -> Void)?

    init(perform: ((DrillPrompt) -> Void)?) {
        self.perform = perform
        let t = Thread { [weak self] in
            while readLine() != nil {
                guard let self else { return }
                self.lock.lock(); self.lines += 1; self.lock.unlock()
            }
        }
        t.start()
    }

    func ask(_ prompt: DrillPrompt, now: Duration) {
        lock.lock(); seenAtAsk = lines; lock.unlock()
        asked = prompt
    }

    func hasConfirmed(now: Duration) -> Bool {
        lock.lock(); let confirmed = lines > seenAtAsk; lock.unlock()
        guard confirmed, let p = asked else { return false }
        perform?(p)
        asked = nil
        return true
    }
}

/// A program that answers each prompt (the virtual board's bridge making the fault through
/// gpio-sim, a bench fixture): started when the prompt is shown, it confirms by exiting 0.
/// One that fails never confirms, so the prompt times out and the drill aborts safe.
final class CommandPerson: DrillPerson {
    let command: String
    private let perform: ((DrillPrompt) -> Void)?
    private var running: (Process, DrillPrompt)?

    init(command: String, perform: ((DrillPrompt) -> Void)?) {
        self.command = command
        self.perform = perform
    }

    func ask(_ prompt: DrillPrompt, now: Duration) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        var env = ProcessInfo.processInfo.environment
        env["DRILL_PROMPT"] = prompt.words
        env["DRILL_PHASE"] = prompt.start ? "start" : "end"
        env["DRILL_LINE"] = "\(prompt.line)"
        switch prompt.event.action {
        case .fault(let f):
            env["DRILL_FAULT"] = f.fileName
            switch f {
            case .sensorDisconnect(let r), .i2cNAKBurst(let r): env["DRILL_SENSOR"] = r.rawValue
            default: break
            }
        case .infuseParticles: env["DRILL_FAULT"] = "infuse_particles"
        default: break
        }
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        do {
            try p.run()
            running = (p, prompt)
        } catch {
            FileHandle.standardError.write(Data("person command '\(command)' did not start (\(error)): the prompt stays unanswered\n".utf8))
        }
    }

    func hasConfirmed(now: Duration) -> Bool {
        guard let (p, prompt) = running, !p.isRunning else { return false }
        running = nil
        guard p.terminationStatus == 0 else {
            FileHandle.standardError.write(Data("person command exited \(p.terminationStatus) for '\(prompt.words)': the prompt stays unanswered\n".utf8))
            return false
        }
        perform?(prompt)
        return true
    }
}
