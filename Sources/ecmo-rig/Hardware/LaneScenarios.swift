import ArgumentParser
import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMORuntime
import ECMOAssembly
import ECMOScenario
#if os(Linux)
import ECMOLinux
#endif

/// `ecmo-rig hil scenario FILE…`: scenario files on the virtual board (inside the QEMU
/// guest): the firmware on the real Linux backend, the bridge playing the circuit and
/// making each fault at the kernel devices, the expectations checked on the run's own
/// record (the drill runner's checker), one `LANE-RESULT` line per file.
struct LaneScenarioCommand: ParsableCommand {
    enum Mode: String, ExpressibleByArgument {
        case lane, drill
    }

    static let configuration = CommandConfiguration(
        commandName: "scenario",
        abstract: "Run scenario files on the virtual board (in the QEMU guest): faults made at the kernel devices, verdicts on the run's record.")

    @Argument(help: "Scenario files.")
    var files: [String]
    @Option(help: "The virtual board file.")
    var board: String = "/board.yaml"
    @Option(help: "gpio-sim chip directory in sysfs.")
    var gpioSim: String
    @Option(help: "Directory for the run folders.")
    var out: String = "/tmp/runs"
    @Option(help: "lane: every fault made by the devices on time; drill: as `ecmo-rig drill` on a rig, the faults a person makes become prompts that the bridge answers after --person-delay.")
    var mode: Mode = .lane
    @Option(help: "drill mode: how long the scripted person takes to answer.")
    var personDelay: DurationArgument = DurationArgument(argument: "1.5s")!
    @Flag(help: "drill mode: the person never answers (the refusal path).")
    var personSilent = false
    @Option(help: "drill mode: how long a prompt waits before the drill aborts.")
    var promptTimeout: DurationArgument = DurationArgument(argument: "10s")!

    func run() throws {
        #if os(Linux)
        let config: BoardConfiguration
        do {
            config = try BoardLoader.load(path: board)
        } catch {
            print("FAIL hil scenario: \(error)")
            throw ExitCode(ExitCodes.boardInvalid)
        }
        var failed = false
        for file in files {
            let r = runOne(file, config)
            if r.skipped == nil && (r.outcome == nil || r.expectations == nil) { failed = true }
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            if let data = try? encoder.encode(r), let text = String(data: data, encoding: .utf8) {
                print(LaneResult.marker + text)
            }
        }
        if failed { throw ExitCode.failure }
        #else
        print("FAIL hil scenario: Linux only")
        throw ExitCode.failure
        #endif
    }

    #if os(Linux)
    func runOne(_ file: String, _ config: BoardConfiguration) -> LaneResult {
        let name = URL(fileURLWithPath: file).lastPathComponent
        var result = LaneResult(file: name, scenario: name, mode: mode.rawValue)
        let scenario: Scenario
        do {
            scenario = try ScenarioLoader.load(path: file)
        } catch {
            result.skipped = ["cannot load: \(error)"]
            return result
        }
        result.scenario = scenario.name
        let plan = DrillPlan(scenario, place: mode == .lane ? .virtualBoard(config) : .rig)
        guard plan.refusals.isEmpty else {
            result.skipped = plan.refusals.map { $0.replacingOccurrences(of: "\(file):", with: "line ") }
            print("SKIP \(scenario.name): \(result.skipped?.joined(separator: "; ") ?? "")")
            return result
        }
        result.mechanisms = scenario.events.compactMap { e in
            guard case .fault(let f) = e.action else { return nil }
            switch VirtualBoardSteps.mechanism(of: e.action, board: config) {
            case .device(let how): return "\(f.fileName): \(how)"
            case .operatorCommand, .impossible: return nil
            }
        }
        print("SCENARIO \(scenario.name) (\(name), \(mode.rawValue)): \(Int(scenario.duration.seconds)) s; \(result.mechanisms?.joined(separator: "; ") ?? "")")
        let started = Date()
        let bridge = CircuitBridge(board: config, gpioSim: gpioSim, circuit: plan.circuit)
        do {
            try bridge.start()
        } catch {
            result.skipped = ["the bridge could not open the devices: \(error)"]
            return result
        }
        let plant = Thread { while bridge.step() {} }
        plant.start()
        defer { bridge.stop() }
        do {
            let (settings, setup) = try plan.settings(board: config)
            let hw = try LinuxHardware(board: config)
            let rig = try RigAssembly.assemble(board: config, hardware: hw, settings: settings, protocolSetup: setup,
                                               pacing: .realtime(hw.clock), evidence: .operatorStart)
            defer { HardwareSelection.close(hw) }
            let person = BridgePerson(bridge: bridge, delay: mode == .lane ? .zero : personDelay.duration,
                                      answers: !personSilent)
            let dir = URL(fileURLWithPath: out).appendingPathComponent(Run.runName(board: config.name) + "-\(mode.rawValue)")
            let runner = try DrillRunner(plan: plan, rig: rig, person: person, promptTimeout: promptTimeout.duration, runDirectory: dir)
            runner.plantTruth = { bridge.truth() }
            runner.onSay = { print("  \($0)") }
            runner.onCountdown = { p, left in if left % 5 == 0 { print("  \(p.words): \(left) s left") } }
            let r = try runner.run()
            // Before the lines are released: what the devices hold now.
            var held: [String: Bool] = [:]
            for role in [ActuatorRole.pumpEnable, .clamp] { held[role.rawValue] = bridge.output(role) }
            // The PWM at rest: disabled, or at the duty the board maps to 0 rpm.
            let pwm = bridge.pwm()
            held["pump_speed_zero"] = !pwm.enabled || config.pump.speed(for: pwm.duty).rpm <= 0
            result.outputsAtEnd = held
            result.outcome = r.outcome
            result.abortReason = r.abortReason
            result.prompts = r.prompts.count
            result.ticks = r.ticks
            result.skippedPeriods = runner.skippedPeriods
            result.expectations = r.verdicts.map {
                .init(name: $0.name, line: $0.line, passed: $0.passed, skipped: $0.skipped, detail: $0.detail)
            }
            print(r.table)
        } catch {
            print("FAIL scenario \(scenario.name): \(error)")
        }
        result.wallSeconds = (Date().timeIntervalSince(started) * 10).rounded() / 10
        return result
    }
    #endif
}

#if os(Linux)
/// The "person" of a scenario on the virtual board: makes each fault at the devices
/// through the bridge. In lane mode it answers at once (the fault happens at its time);
/// in drill mode after a delay, like a person at the rig, or never (the refusal path).
final class BridgePerson: DrillPerson {
    let bridge: CircuitBridge
    let delay: Duration
    let answers: Bool
    private var pending: DrillPrompt?
    private var due: Duration?

    init(bridge: CircuitBridge, delay: Duration, answers: Bool) {
        self.bridge = bridge
        self.delay = delay
        self.answers = answers
    }

    func ask(_ prompt: DrillPrompt, now: Duration) {
        pending = prompt
        due = answers ? now + delay : nil
    }

    func hasConfirmed(now: Duration) -> Bool {
        guard let p = pending, let due, now >= due else { return false }
        switch p.event.action {
        case .fault(let f): bridge.perform(f, start: p.start)
        case .infuseParticles(let n, let kind, let port): if p.start { bridge.infuse(count: n, kind: kind, port: port) }
        case .setACT(let s): bridge.setACT(seconds: s)
        default: break
        }
        pending = nil
        self.due = nil
        return true
    }
}
#endif

/// `ecmo-rig hil lane-report LOG`: on the host, after the guest ran `hil scenario`: each
/// file's verdicts on the virtual board beside the same file's pure-simulation verdicts
/// (`ecmo-rig simulate`), expectation by expectation. A verdict that differs fails the
/// lane unless the file lists it under `virtual_board: differences` with its reason; a
/// scenario the virtual board could not run is listed as skipped with the reason, never
/// counted as passed.
struct LaneReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lane-report",
        abstract: "Compare the virtual board's scenario verdicts (LANE-RESULT lines of a console log) with pure simulation.")

    @Argument(help: "The guest's console log (HIL/virtual/work/console.log).")
    var log: String
    @Option(help: "Where the scenario files are on the host.")
    var scenarios: String = "HIL/scenarios"
    @Option(help: "Fail unless at least this many scenarios ran with verdicts equal to pure simulation.")
    var minEqual: Int = 0
    @Flag(help: "Fail unless a drill (mode drill) completed with verdicts equal to pure simulation and one aborted on an unanswered prompt with every output safe on the wire.")
    var requireDrill = false

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: log, encoding: .utf8)
        } catch {
            print("FAIL lane report: cannot read \(log): \(error)")
            throw ExitCode.failure
        }
        let results = LaneReport.parse(text)
        let report = LaneReport.compare(results) { file in
            let path = URL(fileURLWithPath: scenarios).appendingPathComponent(file).path
            let scenario = try ScenarioLoader.load(path: path)
            let sim = try ScenarioRunner(scenario: scenario, outputDirectory: nil).run()
            return (scenario, sim.verdicts.map { ($0.name, $0.passed) })
        }
        print(report.lines.joined(separator: "\n"))
        var ok = report.different == 0 && report.broken == 0 && report.equal >= minEqual
        if requireDrill {
            let drillOK = report.drillsCompleted > 0 && report.refusalsSafe > 0
            print("\(drillOK ? "PASS" : "FAIL") drill on the virtual board: \(report.drillsCompleted) completed with the scripted person, \(report.refusalsSafe) refusal(s) aborted with outputs safe")
            ok = ok && drillOK
        }
        print("\(ok ? "PASS" : "FAIL") scenarios on the virtual board: \(report.equal) with verdicts equal to pure simulation (\(report.allowed) allowed difference(s) listed in their files), \(report.different) different, \(report.skipped) skipped, \(report.broken) not run\(minEqual > 0 ? "; at least \(minEqual) required" : "")")
        if !ok { throw ExitCode.failure }
    }

}
