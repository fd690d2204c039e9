import ECMOCore
import ECMORuntime
import ECMORecord

/// What an expectation can see at one tick.
struct Observation {
    var time: Duration
    var state: LifecycleState
    var frame: TelemetryFrame
    var pumpEnable = false
    var clampClosed = true
    var pumpSpeedCommand: PumpSpeed = .zero
    var annunciators = AlarmSignals(buzzer: false, red: false, yellow: false, green: false)
    var truth = CircuitTruth()
    var inputs: [Bool] = []
    var outflowClamp = false
    var syringeEnable = false
    var heparinEnable = false
    var syringeDirection = false
    var heparinDirection = false
    var plantCells = 0.0
    var syringeLine = 0.0

    func value(of m: Expectation.Metric) -> Double? {
        switch m {
        case .flow: frame.flow.litersPerMinute
        case .drainPressure: frame.drainPressure.mmHg
        case .prePressure: frame.preOxygenatorPressure.mmHg
        case .postPressure: frame.postOxygenatorPressure.mmHg
        case .oxygenatorDrop: frame.oxygenatorPressureDrop.mmHg
        case .speed: frame.measuredSpeed.rpm
        case .commandedSpeed: frame.commandedSpeed.rpm
        case .oxygenatorResistance:
            frame.flow.litersPerMinute >= 0.2 ? frame.oxygenatorPressureDrop.mmHg / frame.flow.litersPerMinute : nil
        case .trueFlow: truth.flow
        case .trueDrainPressure: truth.drain
        case .truePrePressure: truth.pre
        case .truePostPressure: truth.post
        case .trueSpeed: truth.speed
        case .cellsDelivered: frame.cellsDelivered.milliliters
        case .heparinDelivered: frame.heparinDelivered.milliliters
        case .protocolItem: Double(frame.infusionItem)
        case .plantCellsDelivered: plantCells
        case .syringeLinePressure: syringeLine
        }
    }

    func value(of o: Expectation.OutputSignal) -> Double {
        switch o {
        case .pumpEnable: pumpEnable ? 1 : 0
        case .clamp: clampClosed ? 1 : 0
        case .pumpSpeedCommand: pumpSpeedCommand.rpm
        case .buzzer: annunciators.buzzer ? 1 : 0
        case .ledRed: annunciators.red ? 1 : 0
        case .ledYellow: annunciators.yellow ? 1 : 0
        case .ledGreen: annunciators.green ? 1 : 0
        case .syringeEnable: syringeEnable ? 1 : 0
        case .outflowClamp: outflowClamp ? 1 : 0
        case .heparinEnable: heparinEnable ? 1 : 0
        case .syringeDirection: syringeDirection ? 1 : 0
        case .heparinDirection: heparinDirection ? 1 : 0
        }
    }
}

/// The plant's state at a tick (for `true_*` metrics).
/// The plant's true state (L/min, mmHg, rpm), for the `true_*` metrics: the simulator's
/// circuit, or the virtual board's bridge playing the same model. A rig has none.
public struct CircuitTruth: Sendable {
    public var flow = 0.0, drain = 0.0, pre = 0.0, post = 0.0, speed = 0.0
    /// The clamp as its jammed mechanism holds the line, whatever its output says; nil:
    /// not jammed (or not known), the output as the hardware holds it is the clamp.
    public var clampClosed: Bool?
    public init(flow: Double = 0, drain: Double = 0, pre: Double = 0, post: Double = 0, speed: Double = 0, clampClosed: Bool? = nil) {
        self.flow = flow; self.drain = drain; self.pre = pre; self.post = post; self.speed = speed
        self.clampClosed = clampClosed
    }
}

/// An event from the run's log, in the scenario's vocabulary.
struct ObservedEvent {
    var kind: Expectation.EventKind?
    var time: Duration
    /// Alarm-log entries: which alarm, what happened, at what priority.
    var alarm: (id: AlarmID?, kind: AlarmEventKind?, priority: AlarmPriority?)?
    /// Reason, target state or sensor names, compared with an expectation's `detail`.
    var details: [String]

    init(_ e: RigEvent) {
        time = e.time - .origin
        switch e.kind {
        case .lifecycle(_, let to):
            kind = .lifecycle
            details = [to.description]
        case .phase(_, let to):
            kind = .phase
            details = [to.description]
        case .fault(let r):
            kind = .fault
            let reason = r.description
            details = [reason, reason.replacingSpaces()]
        case .sensorInvalid(let mask):
            kind = .sensorInvalid
            details = RunRecorder.sensorNames(mask: mask)
        case .sensorRecovered(let mask):
            kind = .sensorRecovered
            details = RunRecorder.sensorNames(mask: mask)
        case .sensorPinned(let mask, _):
            kind = .sensorPinned
            details = RunRecorder.sensorNames(mask: mask)
        case .overrun: kind = .overrun; details = []
        case .outputsSafe: kind = .outputsSafe; details = []
        case .watchdogReset: kind = .watchdogReset; details = []
        case .shedding(let on):
            kind = .shedding
            details = [on ? "on" : "off"]
        case .infusion(let i):
            kind = .infusion
            details = [i.kind.name]
            if i.kind == .halted, let reason = InfusionHalt(rawValue: UInt8(clamping: Int(i.value))) { details.append(reason.description) }
        case .monitor(let m):
            switch m.kind {
            case .foulingArmed: kind = .foulingArmed
            case .foulingNotArmed: kind = .foulingNotArmed
            case .foulingResumed: kind = .foulingResumed
            case .sensorDrift: kind = .sensorDrift
            }
            details = [m.source?.description, m.reason == .none ? nil : m.reason.description, m.role?.rawValue,
                       m.check == .none ? nil : m.check.description].compactMap { $0 }
        case .alarm(let a):
            kind = nil
            alarm = (a.id, a.kind, a.priority)
            details = []
        default: kind = nil; details = []
        }
    }

    func matches(_ k: Expectation.EventKind, _ detail: String?) -> Bool {
        kind == k && (detail.map { details.contains($0) } ?? true)
    }
}

extension String {
    func replacingSpaces() -> String { String(map { $0 == " " ? "_" : $0 }) }
}

/// Accumulates one expectation over the run and gives its verdict at the end.
struct ExpectationEvaluator {
    let expectation: Expectation
    private var sum = 0.0, count = 0, minimum = Double.infinity, maximum = -Double.infinity, last = Double.nan
    private var baseSum = 0.0, baseCount = 0
    private var violations = 0
    private var firstViolation: (Duration, Double)?
    private var samples = 0
    private var firstSample: (Duration, Double)?
    private var lastSampleTime = Duration.zero
    /// When each side of an ordering expectation's metric crossing first happened.
    private var crossedFirst: Duration?
    private var crossedThen: Duration?
    /// Whether each side's level condition held at the previous sample (a crossing is a
    /// change from false to true: a metric that starts below a level has not crossed it).
    private var firstHeld: Bool?
    private var thenHeld: Bool?

    init(_ e: Expectation) { expectation = e }

    private static func beyond(_ occ: Expectation.Occurrence, _ o: Observation) -> Bool? {
        guard case .crosses(let m, let below, let above) = occ, let v = o.value(of: m), v.isFinite else { return nil }
        if let below { return v < below }
        if let above { return v > above }
        return nil
    }

    /// The first time `occ` happened (a metric crossing from the observed ticks).
    private func time(of occ: Expectation.Occurrence, crossing: Duration?, events: [ObservedEvent], after: Duration) -> Duration? {
        switch occ {
        case .alarm(let id):
            events.first { e in
                guard e.time >= after, let a = e.alarm, a.kind == .raised else { return false }
                return id.map { a.id == $0 } ?? (a.id != nil)
            }?.time
        case .event(let k, let detail): events.first { $0.time >= after && $0.matches(k, detail) }?.time
        case .crosses: crossing
        }
    }

    mutating func observe(_ o: Observation) {
        switch expectation.kind {
        case .metric(let m, _, let window, let change, _):
            guard let v = o.value(of: m), v.isFinite else { return }
            if window.contains(o.time) {
                sum += v; count += 1
                minimum = min(minimum, v); maximum = max(maximum, v); last = v
                if firstSample == nil { firstSample = (o.time, v) }
                lastSampleTime = o.time
            }
            switch change {
            case .percent(let b)?, .absolute(let b)?:
                if b.contains(o.time) { baseSum += v; baseCount += 1 }
            case nil: break
            }
        case .state(let s, let window):
            guard window.contains(o.time) || (window.lowerBound == window.upperBound && samples == 0 && o.time >= window.lowerBound) else { return }
            samples += 1
            if o.state != s {
                violations += 1
                if firstViolation == nil { firstViolation = (o.time, Double(o.state.rawValue)) }
            }
        case .output(let sig, let bound, let window):
            guard window.contains(o.time) || (window.lowerBound == window.upperBound && samples == 0 && o.time >= window.lowerBound) else { return }
            samples += 1
            let v = o.value(of: sig)
            if !bound.holds(v) {
                violations += 1
                if firstViolation == nil { firstViolation = (o.time, v) }
            }
        case .input(let sig, let asserted, let window):
            guard window.contains(o.time) || (window.lowerBound == window.upperBound && samples == 0 && o.time >= window.lowerBound) else { return }
            samples += 1
            let i = Expectation.InputSignal.allCases.firstIndex(of: sig) ?? 0
            let level = i < o.inputs.count ? o.inputs[i] : false
            if level != asserted {
                violations += 1
                if firstViolation == nil { firstViolation = (o.time, level ? 1 : 0) }
            }
        case .order(let first, let then, _, let after):
            guard o.time >= after else { return }
            if crossedFirst == nil, let b = Self.beyond(first, o) {
                if b && firstHeld == false { crossedFirst = o.time }
                firstHeld = b
            }
            if crossedThen == nil, let b = Self.beyond(then, o) {
                if b && thenHeld == false { crossedThen = o.time }
                thenHeld = b
            }
        case .event, .noEvent, .alarm, .noAlarm, .count:
            break
        }
    }

    func verdict(events: [ObservedEvent]) -> Verdict {
        let e = expectation
        func v(_ passed: Bool, _ detail: String, _ value: Double? = nil) -> Verdict {
            Verdict(name: e.name, line: e.line, passed: passed, detail: detail, value: value)
        }
        switch e.kind {
        case .metric(_, let stat, _, let change, let bound):
            guard count > 0 else { return v(false, "no valid samples in the window") }
            var value: Double
            switch stat {
            case .mean: value = sum / Double(count)
            case .min: value = minimum
            case .max: value = maximum
            case .last: value = last
            case .range: value = maximum - minimum
            case .rate:
                guard let (t0, v0) = firstSample, lastSampleTime > t0 else { return v(false, "the window needs two samples for a rate") }
                value = (last - v0) / (lastSampleTime - t0).seconds
            }
            var detail = "\(stat.rawValue) \(fmt(value))"
            switch change {
            case .percent?:
                guard baseCount > 0 else { return v(false, "no valid samples in the baseline window") }
                let base = baseSum / Double(baseCount)
                guard base != 0 else { return v(false, "baseline is 0") }
                value = (value - base) / abs(base) * 100
                detail = "\(fmt(value)) % (baseline \(fmt(base)), \(detail))"
            case .absolute?:
                guard baseCount > 0 else { return v(false, "no valid samples in the baseline window") }
                let base = baseSum / Double(baseCount)
                value -= base
                detail = "\(fmt(value)) (baseline \(fmt(base)), \(detail))"
            case nil: break
            }
            return v(bound.holds(value), detail + " — expected \(bound.description)", value)
        case .state(let s, _):
            guard samples > 0 else { return v(false, "the window had no ticks") }
            if let (t, raw) = firstViolation {
                return v(false, "\(violations) of \(samples) ticks not \(s); first at \(fmt(t.seconds)) s: \(LifecycleState(rawValue: UInt8(raw))?.description ?? "?")")
            }
            return v(true, "\(s) in all \(samples) ticks")
        case .output(let sig, let bound, _):
            guard samples > 0 else { return v(false, "the window had no ticks") }
            if let (t, val) = firstViolation {
                return v(false, "\(violations) of \(samples) ticks outside \(bound.description); first at \(fmt(t.seconds)) s: \(sig.rawValue) = \(fmt(val))")
            }
            return v(true, "\(sig.rawValue) \(bound.description) in all \(samples) ticks")
        case .input(let sig, let asserted, _):
            guard samples > 0 else { return v(false, "the window had no ticks") }
            if let (t, _) = firstViolation {
                return v(false, "\(violations) of \(samples) ticks with \(sig.rawValue) \(asserted ? "not asserted" : "asserted"); first at \(fmt(t.seconds)) s")
            }
            return v(true, "\(sig.rawValue) \(asserted ? "asserted" : "released") in all \(samples) ticks")
        case .event(let k, let detail, let after, let within):
            if let hit = events.first(where: { $0.matches(k, detail) && $0.time >= after && $0.time <= after + within }) {
                return v(true, "at \(fmt(hit.time.seconds)) s (\(fmt((hit.time - after).seconds * 1000)) ms after \(fmt(after.seconds)) s)", hit.time.seconds)
            }
            let any = events.first { $0.matches(k, detail) }
            return v(false, any.map { "only at \(fmt($0.time.seconds)) s" } ?? "never")
        case .alarm(let id, let priority, let after, let within):
            let hits = events.filter {
                guard let a = $0.alarm, a.id != nil, a.kind == .raised || a.kind == .escalated else { return false }
                if let id, a.id != id { return false }
                return priority.map { a.priority == $0 } ?? true
            }
            if let hit = hits.first(where: { $0.time >= after && $0.time <= after + within }) {
                return v(true, "\(hit.alarm?.id?.identifier ?? "?") \(hit.alarm?.priority.map { "\($0)" } ?? "") at \(fmt(hit.time.seconds)) s (\(fmt((hit.time - after).seconds * 1000)) ms after \(fmt(after.seconds)) s)", hit.time.seconds)
            }
            return v(false, hits.first.map { "only at \(fmt($0.time.seconds)) s" } ?? "never raised")
        case .noAlarm(let id, let window):
            if let hit = events.first(where: {
                guard let a = $0.alarm, a.kind == .raised, window.contains($0.time) else { return false }
                return id.map { a.id == $0 } ?? true
            }) {
                return v(false, "\(hit.alarm?.id?.identifier ?? "?") raised at \(fmt(hit.time.seconds)) s")
            }
            return v(true, "none")
        case .count(let subject, let window, let bound):
            let n: Int
            switch subject {
            case .alarmRaises(let id):
                n = events.filter { e in
                    guard let a = e.alarm, a.kind == .raised, a.id != nil, window.contains(e.time) else { return false }
                    return id.map { a.id == $0 } ?? true
                }.count
            case .events(let k, let detail):
                n = events.filter { $0.matches(k, detail) && window.contains($0.time) }.count
            }
            return v(bound.holds(Double(n)), "\(n) — expected \(bound.description)", Double(n))
        case .order(let first, let then, let within, let after):
            guard let t1 = time(of: first, crossing: crossedFirst, events: events, after: after) else {
                return v(false, "\(first.description) never happened")
            }
            let t2 = time(of: then, crossing: crossedThen, events: events, after: after)
            if let within {
                guard let t2 else { return v(false, "\(first.description) at \(fmt(t1.seconds)) s, \(then.description) never") }
                let ok = t2 >= t1 && t2 - t1 <= within
                return v(ok, "\(first.description) at \(fmt(t1.seconds)) s, \(then.description) \(fmt((t2 - t1).seconds * 1000)) ms later — expected within \(fmt(within.seconds * 1000)) ms")
            }
            guard let t2 else { return v(true, "\(first.description) at \(fmt(t1.seconds)) s; \(then.description) never") }
            return v(t2 >= t1, "\(first.description) at \(fmt(t1.seconds)) s, \(then.description) at \(fmt(t2.seconds)) s")
        case .noEvent(let k, let detail, let window):
            if let hit = events.first(where: { $0.matches(k, detail) && window.contains($0.time) }) {
                return v(false, "at \(fmt(hit.time.seconds)) s: \(hit.details.joined(separator: ","))")
            }
            return v(true, "none")
        }
    }
}

func fmt(_ x: Double) -> String { RunRecorder.fixed(x, abs(x) >= 100 ? 1 : 3) }
