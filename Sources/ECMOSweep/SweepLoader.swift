import Foundation
import Yams
import ECMODataFile

/// Reads sweep files strictly, as the other data files are read: unknown keys, empty
/// ranges or lists, a bad sampling spec and malformed metrics are errors naming file, line,
/// column and key path, all reported in one go. Whether each experiment is a valid scenario
/// (and protocol) is decided later by the normal loaders (`SweepPlan`).
public enum SweepLoader {
    public static func load(path: String) throws(DataFileErrors) -> SweepSpec {
        let text: String
        switch DataFile.readText(path: path, kind: "sweep file") {
        case .success(let t): text = t
        case .failure(let e): throw DataFileErrors([e])
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws(DataFileErrors) -> SweepSpec {
        let root = try DataFile.compose(yaml: yaml, file: file, kind: "sweep file")
        var d = SweepDecoder(reader: YAMLReader(file: file), file: file)
        let s = d.decode(root)
        let errors = d.reader.diagnostics.errors
        guard errors.isEmpty, let s else {
            throw DataFileErrors(errors.isEmpty ? [DataFileError(file: file, line: 1, column: 1, keyPath: "", message: "the sweep could not be built")] : errors)
        }
        return s
    }

    /// Figures of a scenario result a `figure:` metric may name (ScenarioRunner's `figures`).
    public static let figures = [
        "final_flow_lpm", "final_dp_oxy_mmhg", "final_p_drain_mmhg", "final_speed_rpm", "overruns", "watchdog_resets",
        "oxygenator_resistance_factor", "fouling_baseline_resistance", "fouling_resistance_rise_percent",
        "fouling_flow_change_percent", "fouling_warning_at_s", "fouling_pause_at_s", "alarms_raised",
        "cells_delivered_ml", "plant_cells_ml", "protocol_completed",
    ]

    /// Columns every results row has; a metric or parameter must not take their names.
    public static let fixedColumns = ["experiment", "seed", "outcome", "expectations_passed", "expectations_total", "wall_s", "ticks", "run", "error"]

    /// Most experiments one sweep may expand to (a typo such as `steps: 1000` on four
    /// parameters is refused before anything is built).
    public static let maximumExperiments = 100_000
}

struct SweepDecoder {
    var reader: YAMLReader
    let file: String

    static let topKeys = ["sweep", "sampling", "parameters", "metrics"]
    static let headerKeys = ["name", "description", "base", "board", "duration", "protocol", "expectations"]
    static let metricKinds = ["metric", "first_alarm", "first_event", "alarm_raises", "events", "figure"]

    mutating func decode(_ root: Node) -> SweepSpec? {
        guard let top = reader.mapping(root, path: [], at: .start) else { return nil }
        reader.checkKeys(top, allowed: Self.topKeys, required: ["sweep", "parameters", "metrics"])
        guard let hEntry = top.entry("sweep"), let h = reader.mapping(hEntry) else { return nil }
        reader.checkKeys(h, allowed: Self.headerKeys, required: ["name", "base"])
        let name = reader.string(h, "name")
        if let n = name, !Self.isIdentifier(n.value, allowDash: true) {
            reader.error(n.position, n.path, "'\(n.value)' is not a usable sweep name (letters, digits, '-' and '_'; it names the output folder)")
        }
        let description = h.has("description") ? reader.string(h, "description")?.value : nil
        let base = reader.string(h, "base")
        var basePath = ""
        if let base {
            if let p = SweepPaths.resolve(base.value, relativeTo: file) {
                basePath = p
            } else {
                reader.error(base.position, base.path, "base scenario '\(base.value)' not found (looked here, beside the sweep file and from the repository root)")
            }
        }
        func located(_ key: String) -> Located<Node>? {
            guard let e = h.entry(key) else { return nil }
            return Located(value: e.value, position: e.valuePosition, path: e.path)
        }
        if h.has("board") { _ = reader.string(h, "board") }
        if h.has("protocol") { _ = reader.string(h, "protocol") }
        if h.has("duration") { _ = reader.duration(h, "duration", in: .milliseconds(10)...Duration.seconds(30 * 24 * 3600)) }
        var keep = true
        if let e = h.has("expectations") ? reader.string(h, "expectations") : nil {
            switch e.value {
            case "keep": keep = true
            case "none": keep = false
            default: reader.error(e.position, e.path, "unknown value '\(e.value)' (allowed: keep, none)")
            }
        }

        // sampling:
        var sampling = SweepSpec.Sampling.grid
        var samplingEntry: Entry?
        if let e = top.entry("sampling"), let m = reader.mapping(e) {
            samplingEntry = e
            if let method = reader.string(m, "method") {
                switch method.value {
                case "grid", "list":
                    reader.checkKeys(m, allowed: ["method"], required: ["method"])
                    sampling = method.value == "grid" ? .grid : .list
                case "lhs":
                    reader.checkKeys(m, allowed: ["method", "samples", "seed"], required: ["method", "samples"])
                    let n = reader.int(m, "samples", in: 1...LoaderLimits.lhsSamples)
                    let seed = m.has("seed") ? reader.int(m, "seed", in: 0...Int.max) : nil
                    if let n { sampling = .lhs(samples: n.value, seed: UInt64(seed?.value ?? 1)) }
                default:
                    reader.error(method.position, method.path, "unknown sampling method '\(method.value)' (allowed: grid, lhs, list)")
                }
            } else if !m.has("method") {
                reader.checkKeys(m, allowed: ["method", "samples", "seed"], required: ["method"])
            }
        }

        // parameters:
        var parameters: [Parameter] = []
        if let list = reader.sequence(top, "parameters") {
            if list.isEmpty, let e = top.entry("parameters") {
                reader.error(e.valuePosition, e.path, "a sweep needs at least one parameter")
            }
            for item in list {
                if let p = decodeParameter(item.node, path: item.path, at: item.position, sampling: sampling) { parameters.append(p) }
            }
        }
        var seen: [String: Parameter] = [:]
        for p in parameters {
            if let first = seen[p.target.canonical] {
                reader.error(p.position, p.keyPath.split(separator: ".").map(String.init),
                             "key '\(p.key)' is already varied at line \(first.line)")
            }
            seen[p.target.canonical] = p
        }
        if parameters.filter(\.isSeedReplicate).count > 1, let p = parameters.last(where: \.isSeedReplicate) {
            reader.error(p.position, [p.keyPath], "only one parameter may replicate over seeds")
        }
        // Sampling-specific checks.
        let varied = parameters.filter { !$0.isSeedReplicate }
        switch sampling {
        case .list:
            let lengths = Set(varied.map { $0.gridValues.count })
            if lengths.count > 1, let e = samplingEntry {
                let detail = varied.map { "\($0.key): \($0.gridValues.count)" }.joined(separator: ", ")
                reader.error(e.keyPosition, e.path, "method list takes the parameters' values side by side: every list needs the same length (\(detail))")
            }
            for p in varied {
                if case .range(_, _, nil, _, _) = p.values {
                    reader.error(p.position, [p.keyPath], "a range needs 'steps' with method list")
                }
            }
        case .grid:
            for p in varied {
                if case .range(_, _, nil, _, _) = p.values {
                    reader.error(p.position, p.keyPath.split(separator: ".").map(String.init) + ["range", "steps"],
                                 "a range needs 'steps' (the number of points, ends included) in a grid")
                }
            }
        case .lhs:
            break
        }
        var total = 1
        switch sampling {
        case .grid: for p in parameters { total = total.multipliedReportingOverflow(by: max(p.gridValues.count, 1)).overflow ? Int.max : total * max(p.gridValues.count, 1) }
        case .list: total = (varied.first?.gridValues.count ?? 1) * (parameters.first(where: \.isSeedReplicate)?.gridValues.count ?? 1)
        case .lhs(let n, _): total = n * (parameters.first(where: \.isSeedReplicate)?.gridValues.count ?? 1)
        }
        if total > SweepLoader.maximumExperiments, let e = top.entry("parameters") {
            reader.error(e.keyPosition, e.path, "the sweep expands to \(total == Int.max ? "too many" : String(total)) experiments (at most \(SweepLoader.maximumExperiments))")
        }

        // metrics:
        var metrics: [MetricSpec] = []
        if let list = reader.sequence(top, "metrics") {
            if list.isEmpty, let e = top.entry("metrics") {
                reader.error(e.valuePosition, e.path, "a sweep needs at least one metric")
            }
            for item in list {
                if let m = decodeMetric(item.node, path: item.path, at: item.position) { metrics.append(m) }
            }
        }
        var names = Set<String>()
        for m in metrics where !names.insert(m.name).inserted {
            reader.error(m.position, [m.keyPath, "name"], "metric name '\(m.name)' is used twice")
        }
        for p in parameters where names.contains(p.key) {
            reader.error(p.position, [p.keyPath], "'\(p.key)' names both a parameter and a metric")
        }

        guard let name, let base else { return nil }
        return SweepSpec(file: file, name: name.value, description: description, base: base, basePath: basePath,
                         board: located("board"), duration: located("duration"), protocolFile: located("protocol"),
                         keepExpectations: keep, sampling: sampling, parameters: parameters, metrics: metrics)
    }

    static func isIdentifier(_ s: String, allowDash: Bool = false) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || (allowDash && $0 == "-")) }
    }

    mutating func decodeParameter(_ node: Node, path: [String], at position: Position, sampling: SweepSpec.Sampling) -> Parameter? {
        guard let m = reader.mapping(node, path: path, at: position) else { return nil }
        let forms = ["values", "range", "seeds"].filter { m.has($0) }
        reader.checkKeys(m, allowed: ["key", "values", "range", "seeds"], required: ["key"])
        guard let key = reader.string(m, "key") else { return nil }
        let target: KeyPath
        switch KeyPath.parse(key.value) {
        case .success(let t): target = t
        case .failure(let why):
            reader.error(key.position, key.path, why.message)
            return nil
        }
        guard forms.count == 1 else {
            reader.error(m.position, path, forms.isEmpty ? "a parameter needs one of values, range, seeds"
                                                         : "give only one of values / range / seeds (found \(forms.joined(separator: " and ")))")
            return nil
        }
        var p = Parameter(key: key.value, target: target, values: .list([]), position: key.position,
                          keyPath: (path + ["key"]).joined(separator: "."), isSeedReplicate: false)
        switch forms[0] {
        case "values":
            guard let e = m.entry("values") else { return nil }
            guard case .sequence(let seq) = e.value else {
                reader.error(e.valuePosition, e.path, "expected a list of values, got \(YAMLReader.describe(e.value))")
                return nil
            }
            guard !seq.isEmpty else {
                reader.error(e.valuePosition, e.path, "the list of values is empty")
                return nil
            }
            p.values = .list(Array(seq))
        case "seeds":
            guard target.canonical == "scenario.seed" else {
                if let e = m.entry("seeds") { reader.error(e.keyPosition, e.path, "'seeds' replicates the scenario's seed: it needs key: seed") }
                return nil
            }
            guard let n = reader.int(m, "seeds", in: 1...LoaderLimits.seeds) else { return nil }
            // Seeds base + 0 ... base + n-1; the base seed is filled in by SweepPlan.
            p.values = .list((0..<n.value).map { Node(String($0), .implicit, .plain) })
            p.isSeedReplicate = true
        default:
            guard let e = m.entry("range"), let r = reader.mapping(e) else { return nil }
            var lhs = false
            if case .lhs = sampling { lhs = true }
            reader.checkKeys(r, allowed: ["from", "to", "steps", "scale", "integer"], required: lhs ? ["from", "to"] : ["from", "to", "steps"])
            let from = reader.number(r, "from"), to = reader.number(r, "to")
            let steps = r.has("steps") ? reader.int(r, "steps", in: 1...LoaderLimits.steps) : nil
            var log = false
            if let s = r.has("scale") ? reader.string(r, "scale") : nil {
                switch s.value {
                case "linear": log = false
                case "log": log = true
                default: reader.error(s.position, s.path, "unknown scale '\(s.value)' (allowed: linear, log)")
                }
            }
            let integer = r.has("integer") ? reader.bool(r, "integer")?.value ?? false : false
            guard let from, let to else { return nil }
            // Steps missing where a grid or list needs them, or out of range: already reported
            // by `checkKeys` or `int` above, once, at the key; not a second time below.
            if steps == nil && (!lhs || r.has("steps")) { return nil }
            if from.value > to.value {
                reader.error(to.position, to.path, "the range is empty: to (\(format(to.value))) is below from (\(format(from.value)))")
                return nil
            }
            if let steps, steps.value > 1, from.value == to.value {
                reader.error(steps.position, steps.path, "the range is a single point (from = to): \(steps.value) steps would repeat it")
                return nil
            }
            if log && from.value <= 0 {
                reader.error(from.position, from.path, "a log scale needs from > 0 (got \(format(from.value)))")
                return nil
            }
            if let steps, lhs {
                reader.error(steps.position, steps.path, "steps has no meaning in Latin-hypercube sampling (the range is sampled continuously)")
                return nil
            }
            p.values = .range(from: from.value, to: to.value, steps: steps?.value, log: log, integer: integer)
        }
        return p
    }

    mutating func decodeMetric(_ node: Node, path: [String], at position: Position) -> MetricSpec? {
        guard let m = reader.mapping(node, path: path, at: position) else { return nil }
        let present = Self.metricKinds.filter { m.has($0) }
        guard present.count == 1, let kind = present.first else {
            reader.error(m.position, path, "a metric needs exactly one of: \(Self.metricKinds.joined(separator: ", "))")
            return nil
        }
        let window = ["from", "to"]
        let allowed: [String]
        switch kind {
        case "metric": allowed = ["name", "metric", "stat", "change", "baseline"] + window
        case "first_alarm": allowed = ["name", "first_alarm", "priority", "after"]
        case "first_event": allowed = ["name", "first_event", "detail", "after"]
        case "alarm_raises": allowed = ["name", "alarm_raises"] + window
        case "events": allowed = ["name", "events", "detail"] + window
        default: allowed = ["name", "figure"]
        }
        reader.checkKeys(m, allowed: allowed, required: ["name"])
        guard let name = reader.string(m, "name") else { return nil }
        guard SweepDecoder.isIdentifier(name.value) else {
            reader.error(name.position, name.path, "'\(name.value)' is not a column name (letters, digits and '_')")
            return nil
        }
        if SweepLoader.fixedColumns.contains(name.value) {
            reader.error(name.position, name.path, "'\(name.value)' is a fixed column of the results: choose another name")
            return nil
        }
        var spec = MetricSpec(name: name.value, kind: .figure(""), position: m.position, keyPath: path.joined(separator: "."))
        func copy(_ keys: [String]) -> [(Node, Node)] {
            keys.compactMap { k in m.entry(k).map { (Node(k, .implicit, .plain), $0.value) } }
        }
        let nameNode = (Node("name", .implicit, .plain), Node(name.value, .implicit, .doubleQuoted))
        // Never failing: the metric's value is what matters, not a verdict.
        let anyValue = [(Node("between", .implicit, .plain),
                         Node.sequence(Node.Sequence([Node("-1e300", .implicit, .plain), Node("1e300", .implicit, .plain)], .implicit, .flow)))]
        let atLeastZero = [(Node("at_least", .implicit, .plain), Node("0", .implicit, .plain))]
        func rename(_ from: String, _ to: String) -> [(Node, Node)] {
            m.entry(from).map { [(Node(to, .implicit, .plain), $0.value)] } ?? []
        }
        switch kind {
        case "metric":
            spec.kind = .expectation(.mapping(Node.Mapping([nameNode] + copy(["metric", "stat", "change", "baseline", "from", "to"]) + anyValue)))
        case "first_alarm":
            spec.kind = .expectation(.mapping(Node.Mapping([nameNode] + rename("first_alarm", "alarm") + copy(["priority", "after"]))))
        case "first_event":
            spec.kind = .expectation(.mapping(Node.Mapping([nameNode] + rename("first_event", "event") + copy(["detail", "after"]))))
        case "alarm_raises":
            spec.kind = .expectation(.mapping(Node.Mapping([nameNode, (Node("count", .implicit, .plain), Node("alarm_raises", .implicit, .plain))]
                                                             + rename("alarm_raises", "of") + copy(["from", "to"]) + atLeastZero)))
        case "events":
            spec.kind = .expectation(.mapping(Node.Mapping([nameNode, (Node("count", .implicit, .plain), Node("events", .implicit, .plain))]
                                                             + rename("events", "of") + copy(["detail", "from", "to"]) + atLeastZero)))
        default:
            guard let f = reader.string(m, "figure") else { return nil }
            guard SweepLoader.figures.contains(f.value) else {
                let guess = YAMLReader.closest(to: f.value, in: SweepLoader.figures).map { "did you mean '\($0)'? " } ?? ""
                reader.error(f.position, f.path, "unknown figure '\(f.value)' (\(guess)known: \(SweepLoader.figures.joined(separator: ", ")))")
                return nil
            }
            spec.kind = .figure(f.value)
        }
        return spec
    }
}

/// Upper bounds of counts in a sweep file (beyond them a number is a typo, not a plan).
enum LoaderLimits {
    static let lhsSamples = 100_000
    static let seeds = 10_000
    static let steps = 10_000
}

/// Paths as written in data files: as given, then beside the file that names them, then
/// from the repository root above it (the folder holding Package.swift), as scenarios do.
public enum SweepPaths {
    public static func resolve(_ path: String, relativeTo file: String) -> String? {
        let fm = FileManager.default
        if path.hasPrefix("/") { return fm.fileExists(atPath: path) ? path : nil }
        if fm.fileExists(atPath: path) { return path }
        var dir = URL(fileURLWithPath: file).deletingLastPathComponent()
        let beside = dir.appendingPathComponent(path).path
        if fm.fileExists(atPath: beside) { return beside }
        for _ in 0..<6 {
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                let p = dir.appendingPathComponent(path).path
                return fm.fileExists(atPath: p) ? p : nil
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }
}
