import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMORuntime
import ECMOAssembly
import ECMORecord

/// What a drill produced: the verdict table, the prompts with their answer times, and
/// where the record went.
public struct DrillResult: Sendable {
    public var scenario: String
    public var file: String
    public var verdicts: [Verdict]
    /// `completed`, `fault` (ended in fault, as many fault drills do), or `aborted`.
    public var outcome: String
    /// Why the drill was aborted ("no answer to 'press E-stop' within 30 s"), or nil.
    public var abortReason: String?
    public var prompts: [DrillPrompt]
    public var refusals: [String]
    public var runDirectory: String?
    public var ticks: UInt64
    /// Every expectation the rig could check held, and nothing was aborted. Skipped ones
    /// (needing the simulator) are not counted as passed: they are listed as skipped.
    public var passed: Bool { abortReason == nil && verdicts.allSatisfy { $0.passed || $0.skipped } }
}

/// Runs a scenario as a drill on any rig, at the rig's pace: the scenario's operator
/// actions are sent on time (as the harness sends them, `ScenarioSteps`), the faults only
/// a person can make on real hardware become prompts for a `DrillPerson`, and the
/// expectations are checked on the rig's own record (the loop's telemetry and events, and
/// the outputs as the output guard wrote them and reads them back) instead of the
/// simulator's truth.
///
/// Scenario time stands still while a prompt waits: the drill's clock is the scenario's,
/// shifted by every wait, so an expectation "E-stop fault within 1 ms of 30 s" means
/// "within 1 ms of the person's confirmation". What happens while a prompt waits (the
/// person pressing the button before confirming) is counted at the prompt's time; ticks
/// observed while it waits are not fed to the expectations (the fault may or may not be
/// there yet). Nothing here knows whether the hardware is real: the tests run it on the
/// simulated board in lockstep with a `ScriptedPerson`.
public final class DrillRunner<H: HardwareProvider> {
    public let plan: DrillPlan
    public var scenario: Scenario { plan.scenario }
    public let rig: Rig<H>
    public let person: DrillPerson
    public let promptTimeout: Duration
    /// Lines for the operator ("prompt: press E-stop", "confirmed after 1.5 s").
    public var onSay: ((String) -> Void)?
    /// Whole seconds left on the waiting prompt, each time it changes.
    public var onCountdown: ((DrillPrompt, Int) -> Void)?
    /// Polled between ticks: an operator's stop (SIGINT) aborts the drill, outputs safe.
    public var stopRequested: (() -> Bool)?
    /// The plant's truth after each tick, where someone plays the plant (the virtual
    /// board's bridge): then the `true_*` metrics are checked instead of skipped.
    public var plantTruth: (() -> CircuitTruth)?

    /// The drill's run record (nil: no files); the console link fans its events out.
    public let recorder: RunRecorder?
    private var evaluators: [Int: ExpectationEvaluator] = [:]
    private var events: [ObservedEvent] = []
    private var refusals: [String] = []
    private var prompts: [DrillPrompt] = []
    /// Loop-time intervals during which a prompt waited (the last may still be open).
    private var waits: [(start: Duration, end: Duration?)] = []
    private var origin = Instant.origin
    /// The last ticks' `now` and their deadlines (loop time): an event is stamped with its
    /// tick's `now`, which at real time is late by the tick's lateness; the expectations
    /// count in ticks, so an event belongs to its tick's deadline, however late it ran.
    private var stamps = [(now: Instant, t: Duration)](repeating: (.origin, .zero), count: 1024)
    private var stampCount = 0
    /// Real time only: periods skipped to catch up after a stall.
    public private(set) var skippedPeriods: Int64 = 0

    /// `outputDirectory`: the run folder to create (nil: no files).
    public init(plan: DrillPlan, rig: Rig<H>, person: DrillPerson, promptTimeout: Duration = .seconds(30),
                runDirectory: URL?) throws {
        guard plan.refusals.isEmpty else {
            throw ScenarioError(description: (["\(plan.scenario.file): this scenario cannot be a drill on a rig:"] + plan.refusals).joined(separator: "\n  "))
        }
        self.plan = plan
        self.rig = rig
        self.person = person
        self.promptTimeout = promptTimeout
        for (i, x) in plan.scenario.expectations.enumerated() where plan.skipped[i] == nil {
            evaluators[i] = ExpectationEvaluator(x)
        }
        recorder = try runDirectory.map { try RunRecorder(directory: $0, telemetry: rig.loop.telemetry, events: rig.loop.events, timeOrigin: rig.clock.now()) }
    }

    /// Scenario time of a loop time: minus every finished wait before it; inside a wait,
    /// the wait's start.
    func scenarioTime(_ t: Duration) -> Duration {
        var shift = Duration.zero
        for w in waits {
            if t <= w.start { break }
            guard let end = w.end, t >= end else { return w.start - shift }
            shift += end - w.start
        }
        return t - shift
    }

    private func note(_ e: RigEvent) {
        var o = ObservedEvent(e)
        o.time = scenarioTime(tickTime(of: e.time))
        events.append(o)
    }

    /// Loop time of the tick that stamped an event with `now`: its deadline; events from
    /// outside a tick (boot, shutdown), or older than the stamps kept, fall back to the
    /// period grid.
    func tickTime(of now: Instant) -> Duration {
        var k = stampCount
        let oldest = max(0, stampCount - stamps.count)
        while k > oldest {
            k -= 1
            let s = stamps[k % stamps.count]
            if s.now == now { return s.t }
            if s.now < now { break }
        }
        return nominal(now - origin)
    }

    /// The tick's nominal time for a time inside it: at real time a tick starts a little
    /// after its deadline and stamps its events with that `now`; the expectations, like
    /// the harness's, count in ticks ("in the same tick" is "within 0 s").
    func nominal(_ t: Duration) -> Duration {
        let p = max(1, rig.board.loopPeriod.nanoseconds)
        return .nanoseconds((max(0, t.nanoseconds) / p) * p)
    }

    private func drain() {
        if let recorder {
            recorder.drainOnce()
        } else {
            _ = rig.loop.telemetry.drain { _ in }
            rig.loop.events.drain { note($0) }
        }
    }

    /// Runs the drill to the scenario's end (in scenario time), or until a prompt is not
    /// answered in time or the operator stops it: then every output goes safe (the loop's
    /// shutdown) and the record is kept.
    public func run() throws -> DrillResult {
        let started = Date()
        let loop = rig.loop
        let period = rig.board.loopPeriod
        recorder?.onRigEvent = { [weak self] e in self?.note(e) }
        origin = rig.clock.now()
        rig.boot()
        var lockstep: ManualClock?
        if case .lockstep(let manual) = rig.runner.pacing { lockstep = manual } else { rig.journalWriter?.start() }
        let wall = rig.clock
        var steps: [(at: Duration, event: TimedEvent, start: Bool)] = scenario.events.flatMap { e in
            [(e.at, e, true)] + (e.until.map { [($0, e, false)] } ?? [])
        }
        // Stable: a step's start before another's end at the same time, file order otherwise.
        steps = steps.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
        var next = 0
        var waiting: DrillPrompt?
        var lastCountdown = -1
        var activated = false
        var abortReason: String?
        var n: Int64 = 0
        var now = origin
        var lastT = Duration.zero
        let activateAt = Duration.milliseconds(200)

        runLoop: while true {
            n += 1
            let deadline = origin + period * n
            var lateness = Duration.zero
            if let lockstep {
                lockstep.advance(to: deadline)
                now = deadline
            } else {
                wall.sleep(until: deadline)
                now = wall.now()
                lateness = now - deadline
            }
            // Loop time of this tick on the period grid (its deadline): the drill's clock.
            let t = deadline - origin
            lastT = t
            if stopRequested?() == true {
                abortReason = "stopped by the operator at \(fmt(scenarioTime(t).seconds)) s"
                break
            }
            if var p = waiting {
                if person.hasConfirmed(now: t) {
                    p.answeredAt = t
                    waits[waits.count - 1].end = t
                    prompts.append(p)
                    waiting = nil
                    onSay?("confirmed: \(p.words) (after \(fmt(p.wait?.seconds ?? 0)) s; the drill's times shift by it)")
                } else if t - p.shownAt >= promptTimeout {
                    prompts.append(p)
                    abortReason = "no answer to '\(p.words)' within \(Self.seconds(promptTimeout))"
                    break
                } else {
                    let left = Int((promptTimeout - (t - p.shownAt)).seconds.rounded(.up))
                    if left != lastCountdown { lastCountdown = left; onCountdown?(p, left) }
                }
            }
            if waiting == nil {
                let s = scenarioTime(t)
                if s > scenario.duration { break }
                if !activated && s >= activateAt {
                    activated = true
                    if rig.session.evidence.mayActivate {
                        command(.activate, at: s)
                    } else {
                        abortReason = "the rig's boot evidence forbids starting the circuit (watchdog reset or unclean stop): check the circuit first"
                        break
                    }
                }
                while next < steps.count, steps[next].at <= s {
                    let step = steps[next]
                    next += 1
                    switch plan.kind(of: step.event.action) {
                    case .software:
                        if step.start, let c = ScenarioSteps.operatorCommand(step.event.action) {
                            onSay?("at \(fmt(s.seconds)) s: \(c.name)")
                            command(c, at: s)
                        }
                    case .needsPerson:
                        if !step.start, case .infuseParticles = step.event.action { continue }
                        let p = DrillPrompt(words: DrillStep.words(for: step.event, start: step.start), scenarioTime: step.at,
                                            shownAt: t, answeredAt: nil, line: step.event.line, event: step.event, start: step.start)
                        waits.append((t, nil))
                        person.ask(p, now: t)
                        onSay?("at \(fmt(s.seconds)) s: \(p.words.uppercased()), then press Enter (\(Self.seconds(promptTimeout)) to answer)")
                        lastCountdown = -1
                        if person.hasConfirmed(now: t) {
                            var q = p
                            q.answeredAt = t
                            waits[waits.count - 1].end = t
                            prompts.append(q)
                            onSay?("confirmed: \(p.words) (at once)")
                        } else {
                            waiting = p
                            break
                        }
                    case .impossible:
                        break   // refused by `init`
                    }
                    if waiting != nil { break }
                }
            }
            loop.tick(now: now, lateness: lateness)
            stamps[stampCount % stamps.count] = (now, t)
            stampCount += 1
            if lockstep != nil {
                rig.journalWriter?.serviceOnce()
            } else {
                // After a stall longer than a period, resynchronise instead of bursting
                // (as `LoopRunner` does): loop time stays the wall's.
                let behind = wall.now() - (origin + period * (n + 1))
                if behind > period {
                    let missed = behind.nanoseconds / max(1, period.nanoseconds)
                    n += missed
                    skippedPeriods += missed
                }
            }
            if waiting == nil { observe(scenarioTime(t)) }
            if n % 100 == 0 || loop.events.count > 256 { drain() }
            continue runLoop
        }
        // Every output safe, whatever ended the drill; the record is kept either way.
        let abortedAt = scenarioTime(lastT)
        loop.shutdown(now: now)
        if let p = waiting, abortReason == nil { prompts.append(p) }
        rig.journalWriter?.stop(final: loop.infusion.journalSnapshot)
        drain()
        var verdicts: [Verdict] = []
        for (i, x) in scenario.expectations.enumerated() {
            if let why = plan.skipped[i] {
                verdicts.append(Verdict(name: x.name, line: x.line, passed: false, detail: "skipped: \(why)", skipped: true))
            } else if let abortReason, !Self.closed(x, before: abortedAt) {
                // Its window was not over when the drill stopped: nothing to judge it on.
                verdicts.append(Verdict(name: x.name, line: x.line, passed: false, detail: "not checked: aborted: \(abortReason)"))
            } else if let e = evaluators[i] {
                verdicts.append(e.verdict(events: events))
            }
        }
        let outcome = abortReason != nil ? "aborted" : (loop.controller.lifecycle.faultReason != .none ? "fault" : "completed")
        var result = DrillResult(scenario: scenario.name, file: scenario.file, verdicts: verdicts, outcome: outcome,
                                 abortReason: abortReason, prompts: prompts, refusals: refusals,
                                 runDirectory: recorder?.directory.path, ticks: loop.tickCount)
        result.refusals = refusals
        if let recorder {
            let wallSeconds = Date().timeIntervalSince(started)
            var summary = Self.summary(result, scenario: scenario, board: rig.board, loopTime: (now - origin).seconds)
            summary["started_at"] = .string(ScenarioRunner.iso(started))
            summary["ended_at"] = .string(ScenarioRunner.iso(started.addingTimeInterval(wallSeconds)))
            summary["wall_time_s"] = .number((wallSeconds * 1000).rounded() / 1000)
            summary["alarm_raises"] = loop.safety.alarms.raiseCountsJSON
            summary["skipped_periods"] = .int(Int(skippedPeriods))
            try recorder.finish(summary: summary)
        }
        return result
    }

    /// Whether an expectation's window had closed when a drill stopped at scenario time
    /// `stop` (then it is still judged). A span (`from`…`to`) that ends at `stop` has been
    /// seen whole; an instant (`at`) or an event window must end before it, since the tick
    /// at `stop` was the prompt's, not observed. Orderings have no end.
    static func closed(_ x: Expectation, before stop: Duration) -> Bool {
        func span(_ w: ClosedRange<Duration>) -> Bool {
            w.lowerBound < w.upperBound ? w.upperBound <= stop : w.upperBound < stop
        }
        switch x.kind {
        case .metric(_, _, let w, let change, _):
            switch change {
            case .percent(let b)?, .absolute(let b)?: return span(w) && span(b)
            case nil: return span(w)
            }
        case .state(_, let w), .output(_, _, let w), .input(_, _, let w), .count(_, let w, _), .noEvent(_, _, let w), .noAlarm(_, let w):
            return span(w)
        case .event(_, _, let after, let within), .alarm(_, _, let after, let within): return after + within < stop
        case .order: return false
        }
    }

    /// "30 s", "2.5 s".
    static func seconds(_ d: Duration) -> String {
        let v = d.seconds
        return v == v.rounded() && abs(v) < 1e9 ? "\(Int(v)) s" : "\(fmt(v)) s"
    }

    private func command(_ c: OperatorCommand, at s: Duration) {
        if let refused = ScenarioSteps.refusal(c, rig.apply(c, from: .operatorPanel), at: s) {
            refusals.append(refused)
            onSay?("! \(refused)")
        }
    }

    /// Per observed tick: the loop's frame, its inputs, and the outputs as the output guard
    /// holds them (written and read back every tick; a read-back that differs is its own
    /// OUTPUT_FAULT alarm), not the simulator's truth.
    private func observe(_ s: Duration) {
        let loop = rig.loop
        let f = loop.lastTelemetry
        var o = Observation(time: s, state: f.state, frame: f)
        if let plantTruth { o.truth = plantTruth() }
        let g = loop.outputs
        func on(_ r: ActuatorRole) -> Bool { g.value(of: r).map { !$0.isNaN && $0 != 0 } ?? false }
        o.pumpEnable = on(.pumpEnable)
        o.clampClosed = o.truth.clampClosed ?? on(.clamp)
        o.pumpSpeedCommand = o.pumpEnable ? PumpSpeed(rpm: g.value(of: .pumpSpeed).map { $0.isNaN ? 0 : $0 } ?? 0) : .zero
        o.annunciators = AlarmSignals(buzzer: on(.buzzer), red: on(.ledRed), yellow: on(.ledYellow), green: on(.ledGreen))
        o.outflowClamp = f.outflowClamp
        o.syringeEnable = on(.syringeEnable)
        o.heparinEnable = on(.heparinEnable)
        o.syringeDirection = on(.syringeDirection)
        o.heparinDirection = on(.heparinDirection)
        let i = loop.frame
        // In the order of `Expectation.InputSignal.allCases`; syringe_end_full is not read by the loop (skipped).
        o.inputs = [i.airDetected, i.emergencyStop, i.syringeEmpty, false]
        for k in evaluators.keys { evaluators[k]?.observe(o) }
    }

    /// summary.json of a drill: the scenario's keys plus `kind: drill` and the prompts.
    static func summary(_ r: DrillResult, scenario: Scenario, board: BoardConfiguration, loopTime: Double) -> [String: JSONValue] {
        func ms(_ d: Duration?) -> JSONValue { d.map { .number(($0.seconds * 1000).rounded() / 1000) } ?? .null }
        var s: [String: JSONValue] = [
            "kind": .string("drill"),
            "scenario": .string(r.scenario),
            "file": .string(r.file),
            "seed": .int(Int(truncatingIfNeeded: scenario.seed)),
            "board": .string(board.name),
            "board_file": .string(board.sourceFile),
            "outcome": .string(r.outcome),
            "passed": .bool(r.passed),
            "ticks": .int(Int(r.ticks)),
            "loop_time_s": .number((loopTime * 1000).rounded() / 1000),
            "expectations": .array(r.verdicts.map {
                var v: [String: JSONValue] = ["name": .string($0.name), "line": .int($0.line), "passed": .bool($0.passed), "measured": .string($0.detail)]
                if $0.skipped { v["skipped"] = .bool(true) }
                return .object(v)
            }),
            "prompts": .array(r.prompts.map {
                .object(["words": .string($0.words), "line": .int($0.line), "scenario_time_s": ms($0.scenarioTime),
                         "shown_at_s": ms($0.shownAt), "answered_at_s": ms($0.answeredAt), "wait_s": ms($0.wait)])
            }),
            "refusals": .array(r.refusals.map { .string($0) }),
        ]
        if let a = r.abortReason { s["abort_reason"] = .string(a) }
        switch scenario.control {
        case .constantFlow(let q): s["setpoint"] = .object(["mode": .string("constant_flow"), "flow_lpm": .number(q.litersPerMinute)])
        case .constantSpeed(let v): s["setpoint"] = .object(["mode": .string("constant_speed"), "speed_rpm": .number(v.rpm)])
        }
        return s
    }
}

extension DrillResult {
    /// The verdict table as the terminal shows it.
    public var table: String {
        var lines: [String] = []
        if let a = abortReason { lines.append("ABORTED: \(a) — every output safe, record kept") }
        for v in verdicts {
            let mark = v.skipped ? "SKIP" : (v.passed ? "ok  " : "FAIL")
            lines.append("\(mark) \(v.name) (line \(v.line)): \(v.detail)")
        }
        let checked = verdicts.filter { !$0.skipped }
        lines.append("\(scenario): \(outcome); \(checked.filter(\.passed).count)/\(checked.count) checked expectations held, \(verdicts.count - checked.count) skipped; \(prompts.count) prompt(s)")
        return lines.joined(separator: "\n")
    }
}
