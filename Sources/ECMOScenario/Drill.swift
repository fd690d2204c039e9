import Foundation
import ECMOCore
import ECMOSim
import ECMOBoard
import ECMORuntime
import ECMOAssembly

/// How a scenario's step happens when the scenario is run as a drill on a rig
/// (`ecmo-rig drill`). Software cannot clamp a line or press a button on real hardware,
/// so each step is one of three things; which, is a property of the step's kind (this
/// table, documented in HIL/README.md), not of the file, so that no scenario can claim a
/// fault is "done by software" on a rig where it cannot be.
public enum DrillStep: Sendable, Equatable {
    /// The drill does it on time, as the harness does: an operator command (set-points,
    /// protocol steps, clear_fault, activate…), validated by the rig like a console's.
    case software
    /// A person does it when asked (hand clamp, E-stop, air at the detector, unplugging a
    /// sensor…): a prompt with a countdown, confirmed on the terminal.
    case needsPerson
    /// Neither the drill nor a person can make it on a rig (why): such a scenario is for
    /// the simulator and the virtual board; `ecmo-rig drill` refuses it before anything moves.
    case impossible(String)

    public var description: String {
        switch self {
        case .software: "done by the drill (an operator command)"
        case .needsPerson: "done by a person"
        case .impossible(let why): "not possible on a rig (\(why))"
        }
    }

    public static func kind(of action: ScenarioAction) -> DrillStep {
        switch action {
        case .fault(let f): f.drillAction
        case .infuseParticles: .needsPerson
        case .setACT: .impossible("the ACT is the blood's: nothing on the rig sets it")
        case .crash: .impossible("killing the drill's own process ends the drill; use `kill -9` on `ecmo-rig run` instead")
        default: ScenarioSteps.operatorCommand(action) != nil ? .software : .impossible("no way to perform it")
        }
    }

    /// The words a person reads for a step (start) or its end (`for:` over).
    public static func words(for e: TimedEvent, start: Bool) -> String {
        if start, let p = e.prompt { return p }
        if !start, let p = e.releasePrompt { return p }
        switch e.action {
        case .fault(let f): return f.personWords(start: start)
        case .infuseParticles(let n, let kind, let port):
            return start ? "inject the bolus: \(Int(n)) \(kind) at the \(port) port" : "bolus done"
        default: return "\(e.action)"
        }
    }
}

extension Fault {
    /// The fault's name in a scenario file.
    public var fileName: String {
        switch self {
        case .sensorDisconnect: "sensor_disconnect"
        case .sensorStuck: "sensor_stuck"
        case .sensorDrift: "sensor_drift"
        case .sensorNoiseBurst: "sensor_noise_burst"
        case .i2cNAKBurst: "i2c_nak_burst"
        case .pumpStall: "pump_stall"
        case .tachometerLoss: "tachometer_loss"
        case .drainageKink: "drainage_kink"
        case .returnKink: "return_kink"
        case .clampStuck: "clamp_stuck"
        case .syringeOcclusion: "syringe_occlusion"
        case .syringeEmpty: "syringe_empty"
        case .handClamp: "hand_clamp"
        case .airInLine: "air_in_line"
        case .emergencyStop: "emergency_stop"
        case .loopOverrun: "loop_overrun"
        case .watchdogStarved: "watchdog_starved"
        case .powerLoss: "power_loss"
        case .deviceReset: "device_reset"
        case .journalStall: "journal_stall"
        case .outputStuck: "output_stuck"
        case .outputWriteFailure: "output_write_failure"
        }
    }

    /// Faults a person can make on a rig, by their file names.
    public static let personNames = ["hand_clamp", "emergency_stop", "air_in_line", "sensor_disconnect", "i2c_nak_burst",
                                     "tachometer_loss", "drainage_kink", "return_kink", "syringe_empty", "syringe_occlusion"]

    /// Who makes this fault in a drill on a rig (`DrillStep`).
    public var drillAction: DrillStep {
        switch self {
        case .handClamp, .emergencyStop, .airInLine, .sensorDisconnect, .i2cNAKBurst, .tachometerLoss,
             .drainageKink, .returnKink, .syringeEmpty, .syringeOcclusion:
            .needsPerson
        case .sensorStuck, .sensorDrift, .sensorNoiseBurst:
            .impossible("a sensor's value cannot be frozen, drifted or made noisy on demand")
        case .pumpStall: .impossible("locking a turning rotor by hand is not safe")
        case .clampStuck: .impossible("a jammed clamp mechanism cannot be made on demand")
        case .deviceReset: .impossible("a device brown-out cannot be made on demand")
        case .outputStuck, .outputWriteFailure: .impossible("an output's hardware failing needs the simulator or the virtual board")
        case .loopOverrun, .watchdogStarved: .impossible("the loop's own timing faults need the simulator (or `kill -STOP` on `ecmo-rig run`)")
        case .journalStall: .impossible("a failing disk cannot be made on demand")
        case .powerLoss: .impossible("cutting the power ends the drill itself")
        }
    }

    /// Default words for a person: what to do now, and what to undo when it ends.
    public func personWords(start: Bool) -> String {
        func pct(_ o: Double) -> String { "about \(Int((o * 100).rounded())) % closed" }
        switch self {
        case .handClamp: return start ? "clamp the return line by hand now" : "release the hand clamp on the return line"
        case .emergencyStop: return start ? "press E-stop" : "release E-stop"
        case .airInLine: return start ? "put air at the bubble detector (a bubble past it, or its test button)" : "clear the air from the bubble detector"
        case .sensorDisconnect(let r), .i2cNAKBurst(let r):
            return start ? "unplug the \(r.rawValue) sensor" : "plug the \(r.rawValue) sensor back in"
        case .tachometerLoss: return start ? "unplug the tachometer lead" : "plug the tachometer lead back in"
        case .drainageKink(let o): return start ? "pinch the drainage line (\(pct(o)))" : "release the drainage line"
        case .returnKink(let o): return start ? "pinch the return line (\(pct(o)))" : "release the return line"
        case .syringeEmpty(let c): return start ? "hold the \(c) syringe's empty end stop closed" : "release the \(c) syringe's end stop"
        case .syringeOcclusion(let c): return start ? "clamp the \(c) syringe's line" : "release the \(c) syringe's line"
        default: return fileName
        }
    }
}

/// Where a drill runs, which decides who makes each step: on a rig a person makes the
/// faults; on the virtual board (the QEMU lane) the bridge makes them at the kernel devices
/// and plays the plant, so it also knows the plant's truth.
public enum DrillPlace: Sendable {
    case rig
    case virtualBoard(BoardConfiguration)

    public var name: String {
        switch self {
        case .rig: "a rig"
        case .virtualBoard: "the virtual board"
        }
    }

    /// Who makes a step here. On the virtual board a fault the devices can make is a
    /// "person" step answered at once by the bridge (no shift of the drill's clock).
    public func kind(of action: ScenarioAction) -> DrillStep {
        switch self {
        case .rig: return DrillStep.kind(of: action)
        case .virtualBoard(let board):
            switch VirtualBoardSteps.mechanism(of: action, board: board) {
            case .operatorCommand: return .software
            case .device: return .needsPerson
            case .impossible(let why): return .impossible(why)
            }
        }
    }

    var knowsPlantTruth: Bool {
        if case .virtualBoard = self { return true }
        return false
    }
}

/// A scenario checked for a drill: every step classified, or the reasons it cannot be one.
public struct DrillPlan: Sendable {
    public let scenario: Scenario
    public let place: DrillPlace
    /// `file:line: …` for each step no one can perform at the place (empty: the drill may run).
    public let refusals: [String]
    /// Expectations the place cannot check, by index, with the reason ("needs the simulator").
    public let skipped: [Int: String]

    public init(_ scenario: Scenario, place: DrillPlace = .rig) {
        self.scenario = scenario
        self.place = place
        var refusals: [String] = []
        for e in scenario.events {
            if case .impossible(let why) = place.kind(of: e.action) {
                refusals.append("\(scenario.file):\(e.line): \(Self.name(e.action)) cannot be made on \(place.name): \(why)")
            }
        }
        self.refusals = refusals
        var skipped: [Int: String] = [:]
        for (i, x) in scenario.expectations.enumerated() {
            if let why = Self.needsSimulator(x, plantTruth: place.knowsPlantTruth) { skipped[i] = why }
        }
        self.skipped = skipped
    }

    /// Who makes a step of this drill.
    public func kind(of action: ScenarioAction) -> DrillStep { place.kind(of: action) }

    static func name(_ a: ScenarioAction) -> String {
        switch a {
        case .fault(let f): "fault \(f.fileName)"
        case .setACT: "action set_act"
        case .crash: "action crash"
        default: "action"
        }
    }

    /// How many prompts a person will see (a fault with `for:` asks twice: do, undo).
    public var promptCount: Int {
        scenario.events.reduce(0) { n, e in
            guard case .needsPerson = place.kind(of: e.action) else { return n }
            if case .infuseParticles = e.action { return n + 1 }
            return n + (e.until == nil ? 1 : 2)
        }
    }

    /// Why an expectation cannot be checked on a rig's record, or nil.
    static func needsSimulator(_ x: Expectation, plantTruth: Bool = false) -> String? {
        func metric(_ m: Expectation.Metric) -> String? {
            switch m {
            case .trueFlow, .trueDrainPressure, .truePrePressure, .truePostPressure, .trueSpeed:
                plantTruth ? nil : "needs the simulator (\(m.rawValue) is the plant's truth)"
            case .plantCellsDelivered, .syringeLinePressure:
                "needs the simulator (\(m.rawValue) is the simulated syringe's)"
            default: nil
            }
        }
        func occurrence(_ o: Expectation.Occurrence) -> String? {
            if case .crosses(let m, _, _) = o { return metric(m) }
            return nil
        }
        switch x.kind {
        case .metric(let m, _, _, _, _): return metric(m)
        case .order(let a, let b, _, _): return occurrence(a) ?? occurrence(b)
        case .input(.syringeEndFull, _, _): return "needs the simulator (the loop does not read syringe_end_full)"
        default: return nil
        }
    }
}

/// A prompt of a drill: what the person was asked, when, and when they answered.
public struct DrillPrompt: Sendable {
    public var words: String
    /// The scenario time it belongs to (the event's `at`, or its end for a release).
    public var scenarioTime: Duration
    /// Loop time (since the drill's start) it was shown, and answered (nil: never).
    public var shownAt: Duration
    public var answeredAt: Duration?
    /// The scenario line it comes from.
    public var line: Int
    /// The fault (or bolus) it asks for, and whether it starts or ends it.
    public var event: TimedEvent
    public var start: Bool
    /// How late the answer was: the shift applied to everything after it.
    public var wait: Duration? { answeredAt.map { $0 - shownAt } }
}

/// Someone who answers a drill's prompts: a person at the terminal, or a script.
public protocol DrillPerson: AnyObject {
    /// A prompt is shown (`now`: loop time since the drill's start).
    func ask(_ prompt: DrillPrompt, now: Duration)
    /// Polled every tick while a prompt waits: true once the person confirmed it is done.
    /// Called on the loop's thread between ticks: cheap.
    func hasConfirmed(now: Duration) -> Bool
}

/// A scripted person for a simulated board: answers each prompt after `delay` by making
/// the fault on the board (`ScenarioSteps.perform`: the E-stop pressed, the line clamped,
/// the bolus injected), then confirms. `answers: false`: never answers (the refusal path).
public final class ScriptedPerson: DrillPerson {
    public let sim: SimulatedBoard
    public let delay: Duration
    public let answers: Bool
    private var due: Duration?
    private var pending: DrillPrompt?
    /// What it did, in order ("press E-stop at 31.5 s").
    public private(set) var log: [String] = []

    public init(sim: SimulatedBoard, delay: Duration = .milliseconds(1500), answers: Bool = true) {
        self.sim = sim
        self.delay = delay
        self.answers = answers
    }

    public func ask(_ prompt: DrillPrompt, now: Duration) {
        pending = prompt
        due = answers ? now + delay : nil
    }

    public func hasConfirmed(now: Duration) -> Bool {
        guard let p = pending, let due, now >= due else { return false }
        switch p.event.action {
        case .fault(let f): ScenarioSteps.perform(f, on: sim, start: p.start)
        case .infuseParticles(let n, let kind, let port): if p.start { PlantSetup.infuse(sim, count: n, kind: kind, port: port) }
        default: break
        }
        log.append("\(p.words) at \(now.seconds) s")
        pending = nil
        self.due = nil
        return true
    }
}

extension DrillPlan {
    /// The run settings of the drill on `board` (the scenario's control, record interval
    /// and protocol, as the harness derives them).
    public func settings(board: BoardConfiguration) throws -> (RunSettings, ProtocolSetup?) {
        try ScenarioRunner.settings(for: scenario, board: board)
    }

    /// The simulated rig a drill of this scenario runs on when its board is simulated:
    /// the scenario's seed, circuit and protocol, as the harness builds it, so a drill
    /// with a scripted person can be compared with the pure simulation.
    public func simulatedRig(board: BoardConfiguration, pace: RigAssembly.SimulatedPace = .lockstep,
                             evidence: BootEvidence = .operatorStart, link: RigLink? = nil) throws -> Rig<SimulatedBoard> {
        let (settings, setup) = try settings(board: board)
        do {
            return try RigAssembly.simulated(board: board, settings: settings, protocolSetup: setup, seed: scenario.seed,
                                             circuit: PlantSetup.circuit(for: scenario.circuit), pace: pace, evidence: evidence,
                                             link: link)
        } catch {
            throw ScenarioError(description: "\(scenario.file): \(error)")
        }
    }
}

extension DrillPlan {
    /// The circuit the simulator runs this scenario on: the virtual board's bridge plays
    /// the same model, so the lane's plant is the simulation's.
    public var circuit: CircuitModel { PlantSetup.circuit(for: scenario.circuit) }
}
