import Yams
import ECMOCore
import ECMODataFile
import ECMOSim
import ECMOProtocol

/// Reads scenario files strictly: unknown keys, fault names, event kinds and out-of-range
/// times are errors naming file, line and key (exit code 2 in the CLI).
public enum ScenarioLoader {
    public static func load(path: String) throws(DataFileErrors) -> Scenario {
        let text: String
        switch DataFile.readText(path: path, kind: "scenario file") {
        case .success(let t): text = t
        case .failure(let e): throw DataFileErrors([e])
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws(DataFileErrors) -> Scenario {
        let root = try DataFile.compose(yaml: yaml, file: file, kind: "scenario file")
        var d = ScenarioDecoder(reader: YAMLReader(file: file), file: file)
        let s = d.decode(root)
        let errors = d.reader.diagnostics.errors
        guard errors.isEmpty, let s else {
            throw DataFileErrors(errors.isEmpty ? [DataFileError(file: file, line: 1, column: 1, keyPath: "", message: "the scenario could not be built")] : errors)
        }
        return s
    }
}

struct ScenarioDecoder {
    var reader: YAMLReader
    let file: String
    var duration: Duration = .zero

    static let topKeys = ["scenario", "events", "expectations", "virtual_board"]
    static let headerKeys = ["name", "description", "seed", "board", "duration", "circuit", "control", "record_hz", "protocol"]

    mutating func decode(_ root: Node) -> Scenario? {
        guard let top = reader.mapping(root, path: [], at: .start) else { return nil }
        reader.checkKeys(top, allowed: Self.topKeys, required: ["scenario", "expectations"])
        guard let hEntry = top.entry("scenario"), let h = reader.mapping(hEntry) else { return nil }
        reader.checkKeys(h, allowed: Self.headerKeys, required: ["name", "description", "seed", "board", "duration", "control"])
        let name = reader.string(h, "name")
        let description = reader.string(h, "description")
        let seed = reader.int(h, "seed", in: 0...Int.max)
        let board = reader.string(h, "board")
        let dur = reader.duration(h, "duration", in: .milliseconds(10)...RunLimits.longestRun)
        duration = dur?.value ?? .zero
        let recordHz = h.has("record_hz") ? reader.number(h, "record_hz", in: 0.01...1000, unit: " Hz") : nil
        let protocolFile = h.has("protocol") ? reader.string(h, "protocol") : nil

        var circuit = CircuitSpec(preset: .adultPatient, actSeconds: nil, membrane: nil)
        if let c = h.entry("circuit").flatMap({ reader.mapping($0) }) {
            reader.checkKeys(c, allowed: ["preset", "act_s", "membrane"], required: ["preset"])
            if let p = reader.choice(c, "preset", CircuitPreset.self) { circuit.preset = p.value }
            if c.has("act_s") { circuit.actSeconds = reader.number(c, "act_s", in: 60...1500, unit: " s")?.value }
            if c.has("membrane") { circuit.membrane = reader.choice(c, "membrane", MembraneMaterial.self)?.value }
        }
        var control: PumpMode?
        if let c = h.entry("control").flatMap({ reader.mapping($0) }) {
            control = decodeControl(c)
        }
        var events: [TimedEvent] = []
        if let list = top.has("events") ? reader.sequence(top, "events") : [] {
            for item in list {
                if let e = decodeEvent(item.node, path: item.path, at: item.position) { events.append(e) }
            }
        }
        var expectations: [Expectation] = []
        if let list = reader.sequence(top, "expectations") {
            if list.isEmpty, let e = top.entry("expectations") {
                reader.error(e.keyPosition, ["expectations"], "a scenario needs at least one expectation")
            }
            for item in list {
                if let e = decodeExpectation(item.node, path: item.path, at: item.position) { expectations.append(e) }
            }
        }
        let differences = decodeVirtualBoard(top, expectations: expectations)
        guard let name, let description, let seed, let board, let dur, let control else { return nil }
        var scenario = Scenario(file: file, name: name.value, description: description.value, seed: UInt64(seed.value),
                        board: board.value, duration: dur.value, circuit: circuit, control: control,
                        recordInterval: .seconds(1 / (recordHz?.value ?? 10)),
                        events: events.sorted { $0.at < $1.at }, protocolFile: protocolFile?.value, expectations: expectations)
        scenario.virtualBoardDifferences = differences
        return scenario
    }

    /// `virtual_board: {differences: [{expectation: NAME, reason: TEXT}, …]}`: each names
    /// an expectation of this file, with a reason that is not empty.
    mutating func decodeVirtualBoard(_ top: MappingView, expectations: [Expectation]) -> [VirtualBoardDifference] {
        guard let entry = top.entry("virtual_board"), let v = reader.mapping(entry) else { return [] }
        reader.checkKeys(v, allowed: ["differences"], required: ["differences"])
        var out: [VirtualBoardDifference] = []
        for item in reader.sequence(v, "differences") ?? [] {
            guard let m = reader.mapping(item.node, path: item.path, at: item.position) else { continue }
            reader.checkKeys(m, allowed: ["expectation", "reason"], required: ["expectation", "reason"])
            guard let name = reader.string(m, "expectation"), let reason = reader.string(m, "reason") else { continue }
            if !expectations.contains(where: { $0.name == name.value }) {
                reader.error(name.position, name.path, "no expectation named '\(name.value)' in this file")
            } else if out.contains(where: { $0.expectation == name.value }) {
                reader.error(name.position, name.path, "'\(name.value)' is listed twice")
            }
            out.append(VirtualBoardDifference(expectation: name.value, reason: reason.value, line: item.position.line))
        }
        return out
    }

    /// A speed is spelled `speed_rpm`, as in protocol files; `rpm`, the older spelling, is
    /// still read so existing scenario files load unchanged.
    func speedKey(_ m: MappingView) -> String { m.has("rpm") && !m.has("speed_rpm") ? "rpm" : "speed_rpm" }

    mutating func decodeControl(_ c: MappingView) -> PumpMode? {
        guard let mode = reader.string(c, "mode") else {
            reader.checkKeys(c, allowed: ["mode", "flow_lpm", "speed_rpm", "rpm"], required: ["mode"])
            return nil
        }
        switch mode.value {
        case "constant_flow":
            reader.checkKeys(c, allowed: ["mode", "flow_lpm"], required: ["flow_lpm"])
            return reader.number(c, "flow_lpm", in: SetpointLimits.flowLitersPerMinute, unit: " L/min").map { .constantFlow(.lpm($0.value)) }
        case "constant_speed":
            let key = speedKey(c)
            reader.checkKeys(c, allowed: ["mode", key], required: [key])
            return reader.number(c, key, in: SetpointLimits.speedRPM, unit: " rpm").map { .constantSpeed(.rpm($0.value)) }
        default:
            reader.error(mode.position, mode.path, "unknown value '\(mode.value)' (allowed: constant_flow, constant_speed)")
            return nil
        }
    }

    // MARK: Events

    static let eventCommonKeys = ["at", "for", "prompt", "release"]
    static let actions = ["infuse_particles", "set_flow", "set_speed", "set_act", "clear_fault", "activate", "acknowledge_alarm", "audio_pause",
                          "resume_infusion", "pause_infusion", "abort_protocol", "enter_act", "set_heparin_rate",
                          "resume_after_fouling", "crash"]

    mutating func time(_ m: MappingView, _ key: String) -> Located<Duration>? {
        reader.duration(m, key, in: .zero...max(duration, .zero))
    }

    mutating func decodeEvent(_ node: Node, path: [String], at position: Position) -> TimedEvent? {
        guard let m = reader.mapping(node, path: path, at: position) else { return nil }
        let at = time(m, "at")
        if !m.has("at") { reader.error(m.position, path + ["at"], "missing required key 'at'") }
        let length = m.has("for") ? reader.duration(m, "for", in: .milliseconds(1)...Duration.seconds(30 * 24 * 3600)) : nil
        let isFault = m.has("fault"), isAction = m.has("action")
        guard isFault != isAction else {
            reader.error(m.position, path, "an event needs exactly one of 'fault' or 'action'")
            return nil
        }
        let action: ScenarioAction?
        if isFault {
            action = decodeFault(m, path: path).map { .fault($0) }
        } else {
            action = decodeAction(m, path: path)
        }
        guard let at, let action else { return nil }
        let until = length.map { at.value + $0.value }
        // A drill's wording for the person: only on what a person does on a real rig.
        var words: [String: String] = [:]
        for key in ["prompt", "release"] where m.has(key) {
            guard let w = reader.string(m, key) else { continue }
            if case .needsPerson = DrillStep.kind(of: action) {
                if w.value.allSatisfy({ $0 == " " || $0 == "\t" }) {
                    reader.error(w.position, w.path, "'\(key)' is empty: give the words the person reads, or leave the key out")
                } else if key == "release" && length == nil {
                    reader.error(w.position, w.path, "'release' needs 'for': the fault must end for the person to undo it")
                } else {
                    words[key] = w.value
                }
            } else {
                reader.error(w.position, w.path, "'\(key)' is only for what a person does in a drill (faults \(Fault.personNames.joined(separator: ", ")) and infuse_particles); this step is \(DrillStep.kind(of: action).description)")
            }
        }
        if case .fault(.powerLoss) = action, length != nil, let l = length {
            reader.error(l.position, l.path, "power_loss ends the run: it has no duration")
        }
        return TimedEvent(at: at.value, until: until, action: action, line: m.position.line,
                          prompt: words["prompt"], releasePrompt: words["release"])
    }

    mutating func sensor(_ m: MappingView) -> SensorRole? {
        let allowed: [SensorRole] = [.drainPressure, .preOxygenatorPressure, .postOxygenatorPressure, .flow]
        guard let s = reader.string(m, "sensor") else {
            if !m.has("sensor") { reader.error(m.position, m.path + ["sensor"], "missing required key 'sensor'") }
            return nil
        }
        guard let r = SensorRole(rawValue: s.value), allowed.contains(r) else {
            reader.error(s.position, s.path, "unknown sensor '\(s.value)' (allowed: \(allowed.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        return r
    }

    mutating func decodeFault(_ m: MappingView, path: [String]) -> Fault? {
        guard let name = reader.string(m, "fault") else { return nil }
        func keys(_ extra: [String], required: [String] = []) {
            reader.checkKeys(m, allowed: Self.eventCommonKeys + ["fault"] + extra, required: required)
        }
        switch name.value {
        case "sensor_disconnect": keys(["sensor"]); return sensor(m).map { .sensorDisconnect($0) }
        case "sensor_stuck": keys(["sensor"]); return sensor(m).map { .sensorStuck($0) }
        case "sensor_drift":
            keys(["sensor", "per_minute"], required: ["per_minute"])
            guard let s = sensor(m), let r = reader.number(m, "per_minute", in: -1000...1000) else { return nil }
            return .sensorDrift(s, perMinute: r.value)
        case "sensor_noise_burst":
            keys(["sensor", "sd"], required: ["sd"])
            guard let s = sensor(m), let sd = reader.number(m, "sd", in: 0...1000) else { return nil }
            return .sensorNoiseBurst(s, standardDeviation: sd.value)
        case "i2c_nak_burst": keys(["sensor"]); return sensor(m).map { .i2cNAKBurst($0) }
        case "pump_stall": keys([]); return .pumpStall
        case "tachometer_loss": keys([]); return .tachometerLoss
        case "drainage_kink", "return_kink":
            keys(["occlusion"], required: ["occlusion"])
            guard let o = reader.number(m, "occlusion", in: 0...1) else { return nil }
            return name.value == "drainage_kink" ? .drainageKink(occlusion: o.value) : .returnKink(occlusion: o.value)
        case "clamp_stuck":
            keys(["position"], required: ["position"])
            guard let p = reader.string(m, "position") else { return nil }
            guard p.value == "open" || p.value == "closed" else {
                reader.error(p.position, p.path, "unknown value '\(p.value)' (allowed: open, closed)")
                return nil
            }
            return .clampStuck(closed: p.value == "closed")
        case "syringe_occlusion", "syringe_empty":
            keys(["channel"])
            var channel = InfusionChannel.cells
            if let c = m.has("channel") ? reader.string(m, "channel") : nil {
                guard let v = InfusionChannel.allCases.first(where: { $0.description == c.value }) else {
                    reader.error(c.position, c.path, "unknown channel '\(c.value)' (allowed: cells, heparin)")
                    return nil
                }
                channel = v
            }
            return name.value == "syringe_empty" ? .syringeEmpty(channel) : .syringeOcclusion(channel)
        case "hand_clamp": keys([]); return .handClamp
        case "air_in_line": keys([]); return .airInLine
        case "emergency_stop": keys([]); return .emergencyStop
        case "loop_overrun":
            keys(["delay"], required: ["delay"])
            return reader.duration(m, "delay", in: .microseconds(1)...Duration.seconds(10)).map { .loopOverrun(delay: $0.value) }
        case "watchdog_starved": keys([]); return .watchdogStarved
        case "power_loss": keys([]); return .powerLoss
        case "device_reset": keys(["sensor"]); return sensor(m).map { .deviceReset($0) }
        case "journal_stall": keys([]); return .journalStall
        case "output_stuck", "output_write_failure":
            let stuck = name.value == "output_stuck"
            keys(stuck ? ["output", "level"] : ["output"], required: stuck ? ["output", "level"] : ["output"])
            guard let o = reader.choice(m, "output", ActuatorRole.self) else { return nil }
            guard stuck else { return .outputWriteFailure(o.value) }
            // pump_speed: a duty cycle 0...1; a line: on (1) or off (0).
            guard let l = reader.number(m, "level", in: 0...1) else { return nil }
            return .outputStuck(o.value, level: l.value)
        default:
            let guess = YAMLReader.closest(to: name.value, in: Fault.names).map { "did you mean '\($0)'? " } ?? ""
            reader.error(name.position, name.path, "unknown fault '\(name.value)' (\(guess)catalogue: \(Fault.names.joined(separator: ", ")))")
            return nil
        }
    }

    mutating func decodeAction(_ m: MappingView, path: [String]) -> ScenarioAction? {
        guard let name = reader.string(m, "action") else { return nil }
        func keys(_ extra: [String], required: [String] = []) {
            reader.checkKeys(m, allowed: Self.eventCommonKeys + ["action"] + extra, required: required)
        }
        if m.has("for") && name.value != "" {
            if let f = m.entry("for") { reader.error(f.keyPosition, f.path, "'for' applies to faults only") }
        }
        switch name.value {
        case "infuse_particles":
            keys(["count", "particle", "port"], required: ["count", "particle", "port"])
            guard let n = reader.number(m, "count", in: 1...1e12),
                  let k = reader.choice(m, "particle", ParticleKind.self),
                  let p = reader.choice(m, "port", InfusionPort.self) else { return nil }
            return .infuseParticles(count: n.value, kind: k.value, port: p.value)
        case "set_flow":
            keys(["flow_lpm"], required: ["flow_lpm"])
            return reader.number(m, "flow_lpm", in: SetpointLimits.flowLitersPerMinute, unit: " L/min").map { .setFlow(.lpm($0.value)) }
        case "set_speed":
            let key = speedKey(m)
            keys([key], required: [key])
            return reader.number(m, key, in: SetpointLimits.speedRPM, unit: " rpm").map { .setSpeed(.rpm($0.value)) }
        case "set_act":
            keys(["act_s"], required: ["act_s"])
            return reader.number(m, "act_s", in: 60...1500, unit: " s").map { .setACT(seconds: $0.value) }
        case "resume_infusion", "pause_infusion":
            keys(["channel"])
            var channel = InfusionChannel.cells
            if m.has("channel"), let c = reader.string(m, "channel") {
                guard let ch = InfusionChannel.allCases.first(where: { $0.description == c.value }) else {
                    reader.error(c.position, c.path, "unknown channel '\(c.value)' (allowed: cells, heparin)")
                    return nil
                }
                channel = ch
            }
            return name.value == "resume_infusion" ? .resumeInfusion(channel) : .pauseInfusion(channel)
        case "abort_protocol": keys([]); return .abortProtocol
        case "resume_after_fouling":
            keys(["new_baseline"])
            if m.has("new_baseline") { return reader.bool(m, "new_baseline").map { .resumeAfterFouling(newBaseline: $0.value) } }
            return .resumeAfterFouling(newBaseline: false)
        case "enter_act":
            keys(["act_s"], required: ["act_s"])
            return reader.number(m, "act_s", in: 30...1500, unit: " s").map { .enterACT(seconds: $0.value) }
        case "set_heparin_rate":
            keys(["u_per_kg_per_h"], required: ["u_per_kg_per_h"])
            return reader.number(m, "u_per_kg_per_h", in: 0...100, unit: " U/kg/h").map { .setHeparinRate($0.value) }
        case "clear_fault": keys([]); return .clearFault
        case "activate": keys([]); return .activate
        case "crash": keys([]); return .crash
        case "audio_pause": keys([]); return .audioPause
        case "acknowledge_alarm":
            keys(["alarm"], required: ["alarm"])
            guard let a = reader.string(m, "alarm") else { return nil }
            if a.value == "all" { return .acknowledgeAlarm(nil) }
            return alarmID(a).map { .acknowledgeAlarm($0) }
        default:
            reader.error(name.position, name.path, "unknown action '\(name.value)' (allowed: \(Self.actions.joined(separator: ", ")))")
            return nil
        }
    }

    mutating func alarmID(_ a: Located<String>) -> AlarmID? {
        if let id = AlarmID(identifier: a.value) { return id }
        let all = AlarmID.allCases.map(\.identifier)
        let guess = YAMLReader.closest(to: a.value, in: all).map { "did you mean '\($0)'? " } ?? ""
        reader.error(a.position, a.path, "unknown alarm '\(a.value)' (\(guess)known: \(all.joined(separator: ", ")))")
        return nil
    }

    // MARK: Expectations

    static let expectationKinds = ["metric", "state", "output", "input", "event", "no_event", "alarm", "no_alarm", "count", "first"]

    /// `{alarm: ID|any}`, `{event: KIND, detail: …}` or `{metric: M, below: x}` / `{metric: M, above: x}`.
    mutating func occurrence(_ m: MappingView) -> Expectation.Occurrence? {
        let present = ["alarm", "event", "metric"].filter { m.has($0) }
        guard present.count == 1 else {
            reader.error(m.position, m.path, "needs exactly one of: alarm, event, metric")
            return nil
        }
        switch present[0] {
        case "alarm":
            reader.checkKeys(m, allowed: ["alarm"], required: [])
            guard let a = reader.string(m, "alarm") else { return nil }
            if a.value == "any" { return .alarm(nil) }
            return alarmID(a).map { .alarm($0) }
        case "event":
            reader.checkKeys(m, allowed: ["event", "detail"], required: [])
            guard let k = reader.choice(m, "event", Expectation.EventKind.self) else { return nil }
            return .event(k.value, detail: m.has("detail") ? reader.string(m, "detail")?.value : nil)
        default:
            reader.checkKeys(m, allowed: ["metric", "below", "above"], required: [])
            guard let metric = reader.choice(m, "metric", Expectation.Metric.self) else { return nil }
            let below = m.has("below") ? reader.number(m, "below")?.value : nil
            let above = m.has("above") ? reader.number(m, "above")?.value : nil
            guard (below == nil) != (above == nil) else {
                reader.error(m.position, m.path, "a crossing needs exactly one of: below, above")
                return nil
            }
            return .crosses(metric.value, below: below, above: above)
        }
    }

    mutating func window(_ m: MappingView, allowAt: Bool) -> ClosedRange<Duration>? {
        if allowAt, m.has("at") {
            if m.has("from") || m.has("to"), let e = m.entry("at") {
                reader.error(e.keyPosition, e.path, "give either 'at' or 'from'/'to', not both")
                return nil
            }
            return time(m, "at").map { $0.value...$0.value }
        }
        let from = m.has("from") ? time(m, "from")?.value : .zero
        let to = m.has("to") ? time(m, "to")?.value : duration
        guard let from, let to else { return nil }
        guard from <= to else {
            reader.error(m.position, m.path + ["from"], "the window starts after it ends")
            return nil
        }
        return from...to
    }

    mutating func bound(_ m: MappingView) -> Expectation.Bound? {
        var b = Expectation.Bound()
        if m.has("between") {
            guard let v = reader.numbers(m, "between", count: 2) else { return nil }
            guard v.value[0] <= v.value[1] else {
                reader.error(v.position, v.path, "the lower bound is above the upper bound")
                return nil
            }
            b.atLeast = v.value[0]
            b.atMost = v.value[1]
        }
        if m.has("at_least") { b.atLeast = reader.number(m, "at_least")?.value }
        if m.has("at_most") { b.atMost = reader.number(m, "at_most")?.value }
        if b.atLeast == nil && b.atMost == nil {
            reader.error(m.position, m.path, "needs a bound: at_least, at_most or between")
            return nil
        }
        return b
    }

    mutating func decodeExpectation(_ node: Node, path: [String], at position: Position) -> Expectation? {
        guard let m = reader.mapping(node, path: path, at: position) else { return nil }
        let present = Self.expectationKinds.filter { m.has($0) }
        guard present.count == 1, let kind = present.first else {
            reader.error(m.position, path, "an expectation needs exactly one of: \(Self.expectationKinds.joined(separator: ", "))")
            return nil
        }
        let name = m.has("name") ? reader.string(m, "name")?.value : nil
        let line = m.position.line
        switch kind {
        case "metric":
            reader.checkKeys(m, allowed: ["name", "metric", "stat", "from", "to", "change", "baseline", "at_least", "at_most", "between"], required: [])
            guard let metric = reader.choice(m, "metric", Expectation.Metric.self) else { return nil }
            let stat = m.has("stat") ? reader.choice(m, "stat", Expectation.Statistic.self)?.value : .mean
            let w = window(m, allowAt: false)
            var change: Expectation.Change?
            if m.has("change") {
                let c = reader.string(m, "change")
                guard let be = m.entry("baseline"), let bm = reader.mapping(be) else {
                    reader.error(m.position, path + ["baseline"], "'change' needs a 'baseline' window {from, to}")
                    return nil
                }
                reader.checkKeys(bm, allowed: ["from", "to"], required: ["from", "to"])
                guard let bw = window(bm, allowAt: false), let c else { return nil }
                switch c.value {
                case "percent": change = .percent(baseline: bw)
                case "absolute": change = .absolute(baseline: bw)
                default:
                    reader.error(c.position, c.path, "unknown value '\(c.value)' (allowed: percent, absolute)")
                    return nil
                }
            } else if let b = m.entry("baseline") {
                reader.error(b.keyPosition, b.path, "'baseline' needs 'change: percent' or 'change: absolute'")
            }
            let b = bound(m)
            guard let stat, let w, let b else { return nil }
            return Expectation(name: name ?? "\(metric.value.rawValue) \(stat.rawValue) \(b.description)",
                               kind: .metric(metric.value, statistic: stat, window: w, change: change, bound: b), line: line)
        case "state":
            reader.checkKeys(m, allowed: ["name", "state", "at", "from", "to"], required: [])
            guard let s = reader.string(m, "state") else { return nil }
            let states: [LifecycleState] = [.unconfigured, .inactive, .active, .fault]
            guard let st = states.first(where: { $0.description == s.value }) else {
                reader.error(s.position, s.path, "unknown state '\(s.value)' (allowed: unconfigured, inactive, active, fault)")
                return nil
            }
            guard let w = window(m, allowAt: true) else { return nil }
            return Expectation(name: name ?? "state \(s.value)", kind: .state(st, window: w), line: line)
        case "output":
            reader.checkKeys(m, allowed: ["name", "output", "at", "from", "to", "equals", "at_least", "at_most", "between"], required: [])
            let onOff: Set<Expectation.OutputSignal> = [.pumpEnable, .buzzer, .ledRed, .ledYellow, .ledGreen, .syringeEnable, .heparinEnable]
            guard let o = reader.choice(m, "output", Expectation.OutputSignal.self) else { return nil }
            var b: Expectation.Bound?
            if m.has("equals") {
                guard let e = reader.string(m, "equals") else { return nil }
                let truth: [String: Double] = ["on": 1, "off": 0, "closed": 1, "open": 0, "withdraw": 1, "infuse": 0]
                guard o.value != .pumpSpeedCommand, let v = truth[e.value] else {
                    reader.error(e.position, e.path, o.value == .pumpSpeedCommand
                                 ? "pump_speed_cmd_rpm takes at_least/at_most/between"
                                 : "unknown value '\(e.value)' (allowed: \(onOff.contains(o.value) ? "on, off" : "closed, open"))")
                    return nil
                }
                b = Expectation.Bound(atLeast: v, atMost: v)
            } else {
                b = bound(m)
            }
            guard let b, let w = window(m, allowAt: true) else { return nil }
            return Expectation(name: name ?? "\(o.value.rawValue) \(b.description)", kind: .output(o.value, bound: b, window: w), line: line)
        case "input":
            reader.checkKeys(m, allowed: ["name", "input", "equals", "at", "from", "to"], required: ["equals"])
            guard let i = reader.choice(m, "input", Expectation.InputSignal.self), let e = reader.string(m, "equals") else { return nil }
            guard e.value == "asserted" || e.value == "released" else {
                reader.error(e.position, e.path, "unknown value '\(e.value)' (allowed: asserted, released)")
                return nil
            }
            guard let w = window(m, allowAt: true) else { return nil }
            return Expectation(name: name ?? "\(i.value.rawValue) \(e.value)", kind: .input(i.value, asserted: e.value == "asserted", window: w), line: line)
        case "event", "no_event":
            reader.checkKeys(m, allowed: ["name", kind, "detail", "after", "within", "from", "to"], required: [])
            guard let k = reader.choice(m, kind, Expectation.EventKind.self) else { return nil }
            let detail = m.has("detail") ? reader.string(m, "detail")?.value : nil
            if kind == "event" {
                let after = m.has("after") ? time(m, "after")?.value : .zero
                let within = m.has("within") ? reader.duration(m, "within", in: .zero...Duration.seconds(30 * 24 * 3600))?.value : duration
                guard let after, let within else { return nil }
                return Expectation(name: name ?? "event \(k.value.rawValue)\(detail.map { " \($0)" } ?? "")",
                                   kind: .event(k.value, detail: detail, after: after, within: within), line: line)
            }
            guard let w = window(m, allowAt: false) else { return nil }
            return Expectation(name: name ?? "no event \(k.value.rawValue)\(detail.map { " \($0)" } ?? "")",
                               kind: .noEvent(k.value, detail: detail, window: w), line: line)
        case "alarm":
            reader.checkKeys(m, allowed: ["name", "alarm", "priority", "after", "within"], required: [])
            guard let a = reader.string(m, "alarm") else { return nil }
            var id: AlarmID?
            if a.value != "any" {
                guard let v = alarmID(a) else { return nil }
                id = v
            }
            var priority: AlarmPriority?
            if let p = m.has("priority") ? reader.string(m, "priority") : nil {
                let names: [String: AlarmPriority] = ["low": .low, "medium": .medium, "high": .high]
                guard let v = names[p.value] else {
                    reader.error(p.position, p.path, "unknown priority '\(p.value)' (allowed: high, medium, low)")
                    return nil
                }
                priority = v
            }
            let after = m.has("after") ? time(m, "after")?.value : .zero
            let within = m.has("within") ? reader.duration(m, "within", in: .zero...Duration.seconds(30 * 24 * 3600))?.value : duration
            guard let after, let within else { return nil }
            return Expectation(name: name ?? "alarm \(a.value)", kind: .alarm(id, priority: priority, after: after, within: within), line: line)
        case "count":
            // {count: alarm_raises, of: ID|any} or {count: events, of: KIND, detail: …};
            // shorthands: overruns, watchdog_resets.
            reader.checkKeys(m, allowed: ["name", "count", "of", "detail", "from", "to", "equals", "at_least", "at_most", "between"], required: [])
            guard let what = reader.string(m, "count") else { return nil }
            var subject: Expectation.CountSubject
            switch what.value {
            case "alarm_raises":
                guard let a = reader.string(m, "of") else {
                    reader.error(m.position, path + ["of"], "count: alarm_raises needs 'of' (an alarm identifier or any)")
                    return nil
                }
                if a.value == "any" { subject = .alarmRaises(nil) } else {
                    guard let v = alarmID(a) else { return nil }
                    subject = .alarmRaises(v)
                }
            case "events":
                guard let k = reader.choice(m, "of", Expectation.EventKind.self) else { return nil }
                subject = .events(k.value, detail: m.has("detail") ? reader.string(m, "detail")?.value : nil)
            case "overruns": subject = .events(.overrun, detail: nil)
            case "watchdog_resets": subject = .events(.watchdogReset, detail: nil)
            default:
                reader.error(what.position, what.path, "unknown count '\(what.value)' (allowed: alarm_raises, events, overruns, watchdog_resets)")
                return nil
            }
            var b: Expectation.Bound?
            if m.has("equals") {
                guard let v = reader.number(m, "equals") else { return nil }
                b = Expectation.Bound(atLeast: v.value, atMost: v.value)
            } else {
                b = bound(m)
            }
            guard let b, let w = window(m, allowAt: false) else { return nil }
            return Expectation(name: name ?? "count \(what.value) \(b.description)", kind: .count(subject, window: w, bound: b), line: line)
        case "first":
            // {first: {alarm: A}, then: {metric: M, below: x}, within: 2s}
            reader.checkKeys(m, allowed: ["name", "first", "then", "within", "after"], required: ["then"])
            guard let fe = m.entry("first"), let fm = reader.mapping(fe), let te = m.entry("then"), let tm = reader.mapping(te) else { return nil }
            guard let first = occurrence(fm), let then = occurrence(tm) else { return nil }
            let within = m.has("within") ? reader.duration(m, "within", in: .zero...Duration.seconds(30 * 24 * 3600))?.value : nil
            if m.has("within") && within == nil { return nil }
            let after = m.has("after") ? reader.duration(m, "after", in: .zero...duration)?.value : .zero
            guard let after else { return nil }
            return Expectation(name: name ?? "\(first.description) then \(then.description)",
                               kind: .order(first: first, then: then, within: within, after: after), line: line)
        default: // no_alarm
            reader.checkKeys(m, allowed: ["name", "no_alarm", "from", "to"], required: [])
            guard let a = reader.string(m, "no_alarm") else { return nil }
            var id: AlarmID?
            if a.value != "any" {
                guard let v = alarmID(a) else { return nil }
                id = v
            }
            guard let w = window(m, allowAt: false) else { return nil }
            return Expectation(name: name ?? "no alarm \(a.value)", kind: .noAlarm(id, window: w), line: line)
        }
    }
}
