import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODataFile
import ECMOSim
import ECMORuntime
import ECMOProtocol
import ECMOAssembly
import ECMORecord
import ECMOTranscript

/// The verdict on one expectation.
public struct Verdict: Sendable {
    public var name: String
    public var line: Int
    public var passed: Bool
    /// What was measured, in words ("mean 0.61 L/min", "fault at 60.001 s").
    public var detail: String
    /// What was measured, as a number where there is one: a metric's statistic (or its
    /// change), a count, the loop time in seconds of the alarm or event found; nil when
    /// nothing was measured (no samples, the alarm never raised). Sweeps read it.
    public var value: Double? = nil
    /// A drill on a rig could not check it (it needs the simulator's truth): never passed.
    public var skipped: Bool = false
}

/// What one scenario run produced.
public struct ScenarioResult: Sendable {
    public var scenario: String
    public var file: String
    public var verdicts: [Verdict]
    public var outcome: String
    public var figures: [String: Double]
    public var runDirectory: String?
    public var wallSeconds: Double
    public var ticks: UInt64
    /// Operator commands of the scenario the rig refused, in words (the rig validates a
    /// scenario's commands exactly as a console's).
    public var refusals: [String] = []
    public var passed: Bool { verdicts.allSatisfy(\.passed) }
}

public struct ScenarioError: Error, CustomStringConvertible {
    public var description: String
}

/// Runs a scenario on the simulated board in lockstep: the rig `RigAssembly` builds for
/// `ecmo-rig run`, booted by the program's own sequence, with the scenario's faults applied
/// to the plant and its operator actions sent as operator commands (validated like a
/// console's), expectations evaluated on every tick, and the run record written.
public final class ScenarioRunner {
    public let scenario: Scenario
    public let board: BoardConfiguration
    public private(set) var rig: Rig<SimulatedBoard>
    public var sim: SimulatedBoard { rig.hardware }
    public var loop: RigLoop<SimulatedBoard> { rig.loop }
    public let clock: ManualClock
    private let settings: RunSettings
    private let recorder: RunRecorder?
    private var evaluators: [ExpectationEvaluator]
    private var events: [ObservedEvent] = []
    private var eventIndex = 0
    private var activeOverrun: Duration?
    private var starvedUntil: Duration?
    private var powerCut = false
    private var crashPending = false
    private var activated = false
    private let needsTruth: Bool
    private var protocolSetup: ProtocolSetup?
    private var journalStalled = false
    private let needsInputs: Bool
    private let needsSyringeLines: Bool
    private var refusals: [String] = []
    /// Records the firmware's HAL transcript (`halTranscript: true`).
    public let transcript: TranscriptRecorder?

    /// `outputDirectory`: where the run directory is created (nil: no files).
    /// `halTranscript`: record every HAL call and loop call (`transcript`), for a replay
    /// against another build of the firmware (the Pi image).
    public init(scenario: Scenario, outputDirectory: URL?, halTranscript: Bool = false) throws {
        self.scenario = scenario
        let boardPath = try Self.resolve(board: scenario.board, scenarioFile: scenario.file)
        do {
            board = try BoardLoader.load(path: boardPath)
        } catch {
            throw ScenarioError(description: "\(scenario.file): board \(scenario.board): \(error)")
        }
        guard board.kind == .simulated else {
            throw ScenarioError(description: "\(scenario.file): board \(boardPath) is not a simulated board")
        }
        let (settings, setup) = try Self.settings(for: scenario, board: board)
        protocolSetup = setup
        self.settings = settings
        let tape = halTranscript
            ? TranscriptRecorder(board: board.name, scenario: scenario.name, settings: settings, useWatchdog: true, initNow: .origin)
            : nil
        if protocolSetup != nil { tape?.refuse("it runs a protocol (the replay has no delivery journal)") }
        transcript = tape
        do {
            rig = try RigAssembly.simulated(board: board, settings: settings, protocolSetup: protocolSetup, seed: scenario.seed,
                                            circuit: PlantSetup.circuit(for: scenario.circuit), halTap: tape)
        } catch {
            throw ScenarioError(description: "\(scenario.file): \(error)")
        }
        rig.loop.tap = tape
        guard case .lockstep(let manual) = rig.runner.pacing else {
            throw ScenarioError(description: "\(scenario.file): the scenario harness needs a lockstep rig")
        }
        clock = manual
        evaluators = scenario.expectations.map { ExpectationEvaluator($0) }
        needsTruth = scenario.expectations.contains {
            if case .metric(let m, _, _, _, _) = $0.kind { return m.rawValue.hasPrefix("true_") }
            return false
        }
        needsInputs = scenario.expectations.contains { if case .input = $0.kind { return true } else { return false } }
        needsSyringeLines = scenario.expectations.contains {
            guard case .output(let o, _, _) = $0.kind else { return false }
            return o == .heparinEnable || o == .syringeDirection || o == .heparinDirection
        }
        if let outputDirectory {
            let dir = outputDirectory.appendingPathComponent(scenario.name)
            if FileManager.default.fileExists(atPath: dir.path) { try FileManager.default.removeItem(at: dir) }
            recorder = try RunRecorder(directory: dir, telemetry: rig.loop.telemetry, events: rig.loop.events)
        } else {
            recorder = nil
        }
    }

    /// The run settings a scenario gives on `board` (control, record interval, and with a
    /// protocol its alarm limits, fouling monitor and delivery journal, in a fresh
    /// temporary folder): shared by the harness and a drill of the same file.
    public static func settings(for scenario: Scenario, board: BoardConfiguration) throws -> (RunSettings, ProtocolSetup?) {
        let recordEvery = max(1, Int((scenario.recordInterval.seconds / board.loopPeriod.seconds).rounded()))
        var settings = RunSettings(mode: scenario.control, recordEvery: recordEvery)
        var protocolSetup: ProtocolSetup?
        if let file = scenario.protocolFile {
            // The protocol brings the infusion plan and its alarm limits; the scenario's own
            // circuit and control keys describe the plant and the set-point.
            let path = try Self.resolve(board: file, scenarioFile: scenario.file)
            let resolved: ResolvedProtocol
            do {
                let experiment = try scenario.protocolText.map { text throws(DataFileErrors) in try ProtocolLoader.parse(yaml: text, file: path) }
                resolved = try ProtocolPlanner.plan(try experiment ?? ProtocolLoader.load(path: path), board: board)
            } catch {
                throw ScenarioError(description: "\(scenario.file): protocol \(file): \(error)")
            }
            let journalPath = FileManager.default.temporaryDirectory
                .appendingPathComponent("ecmo-scenario-\(UUID().uuidString)").appendingPathComponent("journal").path
            protocolSetup = try ProtocolSetup(resolved: resolved, protocolPath: path, board: board, journalPath: journalPath)
            settings.alarmLimits = resolved.alarmLimits
            settings.fouling = resolved.fouling
        }
        return (settings, protocolSetup)
    }

    /// A board path as written in the scenario: as given, then beside the scenario file,
    /// then from the repository root above it (the folder holding Package.swift).
    public static func resolve(board: String, scenarioFile: String) throws -> String {
        let fm = FileManager.default
        if board.hasPrefix("/") || fm.fileExists(atPath: board) { return board }
        var dir = URL(fileURLWithPath: scenarioFile).deletingLastPathComponent()
        let beside = dir.appendingPathComponent(board).path
        if fm.fileExists(atPath: beside) { return beside }
        for _ in 0..<6 {
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                return dir.appendingPathComponent(board).path
            }
            dir = dir.deletingLastPathComponent()
        }
        throw ScenarioError(description: "\(scenarioFile): board file '\(board)' not found")
    }

    /// Runs to the end (or a power cut). `progress` gets the fraction done now and then.
    /// With `pacedBy`, each tick waits for its time on that (real) clock: the same run,
    /// the same record, at the pace of the wall (for watching it, or a virtual board).
    public func run(pacedBy wall: (any MonotonicClock)? = nil, progress: ((Double) -> Void)? = nil) throws -> ScenarioResult {
        let wallStart = wall?.now()
        let started = Date()
        recorder?.onRigEvent = { [weak self] e in self?.note(e) }
        let period = board.loopPeriod
        let end = Instant.origin + scenario.duration
        let activateAt = Instant.origin + .milliseconds(200)
        rig.boot()
        var now = clock.now()
        var lastProgress = 0.0
        var resetsSeen = 0
        while now + period <= end {
            now = now + period
            clock.advance(to: now)
            let t = now - .origin
            if let wall, let wallStart { wall.sleep(until: wallStart + t) }
            applyEvents(upTo: t)
            if powerCut {
                observe(t)
                break
            }
            if !activated && now >= activateAt {
                activated = true
                // The program's own decision (`BootEvidence.mayActivate`), then the operator's
                // start command, refused by the rig if a sensor is not valid yet.
                if rig.session.evidence.mayActivate { command(.activate, at: t) }
            }
            if let until = starvedUntil, t < until {
                // The loop hangs: only the physical world (and its watchdog) goes on.
                sim.service(now: now)
            } else {
                if starvedUntil != nil {
                    starvedUntil = nil
                    // The board was reset by its watchdog: the firmware boots afresh through
                    // the program's own root and boot sequence (no operator at the start).
                    if sim.watchdogResets > 0 { try reboot() }
                }
                if crashPending {
                    // The process dies between two ticks: nothing is shut down or written.
                    // It starts again at once, as its service manager would start it, and
                    // its boot finds the session marker of the run that never ended.
                    crashPending = false
                    try reboot(evidence: BootEvidence(uncleanStop: true, operatorStart: false))
                }
                loop.tick(now: now, lateness: activeOverrun ?? .zero)
                if !journalStalled { rig.journalWriter?.serviceOnce() }
            }
            if sim.watchdogResets > resetsSeen {
                resetsSeen = sim.watchdogResets
                loop.events.push(RigEvent(.watchdogReset, at: now))
                // Reset while the loop ran (it withheld its kicks: `LoopHealth`): the
                // firmware goes down with the board and boots afresh.
                if starvedUntil == nil { try reboot() }
            }
            observe(t)
            if loop.telemetry.count > 4096 || loop.events.count > 256 { drain() }
            if let progress, t.seconds / scenario.duration.seconds - lastProgress >= 0.01 {
                lastProgress = t.seconds / scenario.duration.seconds
                progress(lastProgress)
            }
        }
        if !powerCut { loop.shutdown(now: clock.now()) }
        drain()
        let verdicts = evaluators.map { $0.verdict(events: events) }
        let outcome = powerCut ? "power_loss" : (loop.controller.lifecycle.faultReason != .none ? "fault" : "completed")
        var figures: [String: Double] = [:]
        let last = loop.lastTelemetry
        figures["final_flow_lpm"] = last.flow.litersPerMinute
        figures["final_dp_oxy_mmhg"] = last.oxygenatorPressureDrop.mmHg
        figures["final_p_drain_mmhg"] = last.drainPressure.mmHg
        figures["final_speed_rpm"] = last.measuredSpeed.rpm
        figures["overruns"] = Double(loop.overruns)
        figures["watchdog_resets"] = Double(sim.watchdogResets)
        figures["oxygenator_resistance_factor"] = PlantSetup.resistanceFactor(sim)
        let f = loop.safety.fouling
        if let b = f.baselineResistance { figures["fouling_baseline_resistance"] = b.mmHgMinutePerLiter }
        if let r = f.resistanceRise { figures["fouling_resistance_rise_percent"] = r * 100 }
        if let q = f.flowChange { figures["fouling_flow_change_percent"] = q * 100 }
        if let w = f.warningAt { figures["fouling_warning_at_s"] = (w - .origin).seconds }
        if let p = f.pauseAt { figures["fouling_pause_at_s"] = (p - .origin).seconds }
        figures["alarms_raised"] = Double(events.filter { $0.alarm?.kind == .raised }.count)
        if protocolSetup != nil {
            figures["cells_delivered_ml"] = last.cellsDelivered.milliliters
            figures["plant_cells_ml"] = sim.syringe.delivered.milliliters
            figures["protocol_completed"] = loop.infusion.completed ? 1 : 0
        }
        let wall = Date().timeIntervalSince(started)
        var result = ScenarioResult(scenario: scenario.name, file: scenario.file, verdicts: verdicts, outcome: outcome,
                                    figures: figures, runDirectory: recorder?.directory.path, wallSeconds: wall,
                                    ticks: ticksBeforeReboot + loop.tickCount)
        result.refusals = refusals
        if let recorder {
            var summary = Self.summary(result, scenario: scenario)
            // What the run store indexes: board, set-point and doses. Nothing from the wall
            // clock here: same scenario and seed must still give byte-identical files.
            summary["board"] = .string(board.name)
            summary["board_file"] = .string(board.sourceFile)
            summary["loop_time_s"] = .number(Double(result.ticks) * board.loopPeriod.seconds)
            // Raises per alarm over the whole run, reboots included (from the alarm log).
            var raises: [String: JSONValue] = [:]
            for e in events {
                guard let a = e.alarm, a.kind == .raised, let id = a.id else { continue }
                if case .int(let n)? = raises[id.identifier] { raises[id.identifier] = .int(n + 1) } else { raises[id.identifier] = .int(1) }
            }
            summary["alarm_raises"] = .object(raises)
            if let setup = protocolSetup { summary["protocol"] = protocolSummary(setup) }
            switch scenario.control {
            case .constantFlow(let q): summary["setpoint"] = .object(["mode": .string("constant_flow"), "flow_lpm": .number(q.litersPerMinute)])
            case .constantSpeed(let r): summary["setpoint"] = .object(["mode": .string("constant_speed"), "speed_rpm": .number(r.rpm)])
            }
            try recorder.finish(summary: summary)
            // When it ran, on the wall clock, apart from the deterministic record.
            let clock: [String: JSONValue] = [
                "started_at": .string(Self.iso(started)), "ended_at": .string(Self.iso(started.addingTimeInterval(wall))),
                "wall_time_s": .number((wall * 1000).rounded() / 1000),
            ]
            try Data((JSONValue.object(clock).rendered(pretty: true) + "\n").utf8)
                .write(to: recorder.directory.appendingPathComponent("wallclock.json"))
        }
        return result
    }

    private func drain() {
        if let recorder {
            recorder.drainOnce()
        } else {
            _ = loop.telemetry.drain { _ in }
            loop.events.drain { note($0) }
        }
    }

    private func note(_ e: RigEvent) {
        events.append(ObservedEvent(e))
    }

    /// Per tick: what the expectations look at, from the loop's frame and the plant's outputs.
    private func observe(_ t: Duration) {
        let f = loop.lastTelemetry
        var o = Observation(time: t, state: f.state, frame: f)
        o.pumpEnable = sim.pumpEnableLevel
        o.clampClosed = sim.clampLevel
        o.pumpSpeedCommand = sim.commandedPumpSpeed
        o.annunciators = sim.annunciators
        o.outflowClamp = f.outflowClamp
        o.syringeEnable = sim.level(.syringeEnable)
        if needsSyringeLines {
            o.heparinEnable = sim.level(.heparinEnable)
            o.syringeDirection = sim.level(.syringeDirection)
            o.heparinDirection = sim.level(.heparinDirection)
        }
        o.plantCells = sim.syringe.delivered.milliliters
        o.syringeLine = sim.syringe.linePressure.mmHg
        if needsTruth {
            let p = sim.truePressures
            o.truth = CircuitTruth(flow: sim.circuit.flow.litersPerMinute, drain: p.drain.mmHg, pre: p.preOxygenator.mmHg,
                                   post: p.postOxygenator.mmHg, speed: sim.circuit.speed.rpm)
        }
        if needsInputs { o.inputs = Expectation.InputSignal.allCases.map { sim.inputLevel($0.rawValue) } }
        for i in evaluators.indices { evaluators[i].observe(o) }
    }

    private func applyEvents(upTo t: Duration) {
        while eventIndex < scenario.events.count, scenario.events[eventIndex].at <= t {
            apply(scenario.events[eventIndex], start: true)
            if let until = scenario.events[eventIndex].until {
                pendingEnds.append((until, scenario.events[eventIndex]))
                pendingEnds.sort { $0.0 < $1.0 }
            }
            eventIndex += 1
        }
        while let first = pendingEnds.first, first.0 <= t {
            pendingEnds.removeFirst()
            apply(first.1, start: false)
        }
    }
    private var pendingEnds: [(Duration, TimedEvent)] = []

    private func apply(_ e: TimedEvent, start: Bool) {
        let t = clock.now() - .origin
        switch e.action {
        case .fault(let f):
            // The board's faults (sensors, plant, lines) are made real as a drill's scripted
            // person makes them (`ScenarioSteps.perform`); the loop's and the run's here.
            if ScenarioSteps.perform(f, on: sim, start: start) { return }
            switch f {
            case .loopOverrun(let d): activeOverrun = start ? d : nil
            case .watchdogStarved: if start { starvedUntil = e.until ?? scenario.duration }  // ended by the tick path, which reboots the firmware
            case .journalStall: journalStalled = start
            case .powerLoss:
                if start {
                    sim.cutPower()
                    powerCut = true
                }
            default: break
            }
        case .infuseParticles(let n, let kind, let port):
            if start { PlantSetup.infuse(sim, count: n, kind: kind, port: port) }
        case .setACT(let s): if start { PlantSetup.setACT(sim, seconds: s) }
        case .crash: if start { crashPending = true }
        default:
            if start, let c = ScenarioSteps.operatorCommand(e.action) { command(c, at: t) }
        }
    }

    /// A scenario's operator action, sent as the operator command a person would give.
    private func command(_ c: OperatorCommand, at t: Duration) {
        if let refused = ScenarioSteps.refusal(c, rig.apply(c, from: .operatorPanel), at: t) { refusals.append(refused) }
    }

    /// The watchdog reset the board: the firmware starts again on the same plant.
    private func reboot(evidence: BootEvidence = BootEvidence(operatorStart: false)) throws {
        transcript?.refuse("the firmware rebooted (a transcript holds one firmware lifetime)")
        loop.tap = nil
        sim.halTap = nil
        ticksBeforeReboot += loop.tickCount
        var setup: ProtocolSetup?
        if let old = protocolSetup {
            // What the journal made durable is what the rebooted firmware knows.
            setup = try ProtocolSetup(resolved: old.resolved, protocolPath: scenario.protocolFile.map {
                (try? Self.resolve(board: $0, scenarioFile: scenario.file)) ?? $0 } ?? "", board: board, journalPath: old.journal.path)
            protocolSetup = setup
        }
        rig = try RigAssembly.reboot(rig, settings: settings, protocolSetup: setup, evidence: evidence)
        rig.boot()
    }
    private var ticksBeforeReboot: UInt64 = 0

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: d)
    }

    /// The protocol block of summary.json (same keys as `ecmo-rig run --protocol` writes).
    private func protocolSummary(_ setup: ProtocolSetup) -> JSONValue {
        let e = loop.infusion
        let file = scenario.protocolFile ?? ""
        let path = (try? Self.resolve(board: file, scenarioFile: scenario.file)) ?? file
        let hash = String(ProtocolSetup.planHash(protocolPath: path, board: board), radix: 16)
        return .object([
            "name": .string(setup.resolved.experiment.name), "file": .string(file),
            "hash": .string(String(repeating: "0", count: 16 - hash.count) + hash),
            "completed": .bool(e.completed), "cells": e.summary(of: .cells), "heparin": e.summary(of: .heparin),
        ])
    }

    static func summary(_ r: ScenarioResult, scenario: Scenario) -> [String: JSONValue] {
        [
            "scenario": .string(r.scenario),
            "file": .string(r.file),
            "seed": .int(Int(truncatingIfNeeded: scenario.seed)),
            "outcome": .string(r.outcome),
            "passed": .bool(r.passed),
            "ticks": .int(Int(r.ticks)),
            "figures": .object(r.figures.mapValues { .number(($0 * 1000).rounded() / 1000) }),
            "expectations": .array(r.verdicts.map {
                .object(["name": .string($0.name), "line": .int($0.line), "passed": .bool($0.passed), "measured": .string($0.detail)])
            }),
        ]
    }
}
