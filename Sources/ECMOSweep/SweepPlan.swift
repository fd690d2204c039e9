import Foundation
import Yams
import ECMODataFile
import ECMOBoard
import ECMOProtocol
import ECMOScenario

/// One experiment of a sweep, ready to run: the scenario the normal loader built from the
/// edited base tree (with the sweep's metrics appended as expectations), and the edited
/// protocol text when a parameter changed the protocol.
public struct Experiment: Sendable {
    public var index: Int
    /// Each parameter's value, as YAML text (`300`, `4.64e7`, `{mode: constant_flow, flow_lpm: 4}`).
    public var values: [String]
    public var seed: UInt64
    public var scenario: Scenario
    /// How many of `scenario.expectations` are the base scenario's own (the rest are metrics).
    public var ownExpectations: Int
}

/// The expansion of a sweep into experiments, and the building and validation of each.
/// Experiment `i` is the same in every process that expands the same files, so shards
/// (local workers, Slurm array tasks) agree on what index `i` means.
public final class SweepPlan: @unchecked Sendable {
    public let spec: SweepSpec
    public let count: Int
    /// Identifies the sweep's inputs (sweep, base scenario and protocol bytes): results of
    /// another version of the sweep are never mixed into these.
    public let fingerprint: String
    private let baseTree: Node
    private let baseSeed: UInt64
    private let seedCount: Int
    private let varied: [Int]          // indices of non-replicate parameters
    private let seedParameter: Int?
    private var lhsPoints: [[Node]] = []   // [sample][varied parameter]
    private var gridRadix: [Int] = []
    private var boards: [String: Result<BoardConfiguration, DataFileErrors>] = [:]
    private var protocolTrees: [String: Result<(Node, String), DataFileErrors>] = [:]
    private var plannedProtocols: [String: [DataFileError]] = [:]
    private let lock = NSLock()

    public init(spec: SweepSpec, sweepText: String? = nil) throws(DataFileErrors) {
        self.spec = spec
        let baseText: String
        switch DataFile.readText(path: spec.basePath, kind: "scenario file") {
        case .success(let t): baseText = t
        case .failure(let e): throw DataFileErrors([DataFileError(file: spec.file, line: spec.base.position.line, column: spec.base.position.column,
                                                                  keyPath: spec.base.dotted, message: e.description)])
        }
        baseTree = try DataFile.compose(yaml: baseText, file: spec.basePath, kind: "scenario file")
        if let s = TreeEdit.get(baseTree, [.key("scenario"), .key("seed")][...])?.scalar.flatMap({ UInt64($0.string) }) { baseSeed = s } else { baseSeed = 0 }
        varied = spec.parameters.indices.filter { !spec.parameters[$0].isSeedReplicate }
        seedParameter = spec.parameters.firstIndex(where: \.isSeedReplicate)
        seedCount = seedParameter.map { spec.parameters[$0].gridValues.count } ?? 1
        switch spec.sampling {
        case .grid:
            gridRadix = varied.map { spec.parameters[$0].gridValues.count }
            count = gridRadix.reduce(1, *) * seedCount
        case .list:
            count = (varied.first.map { spec.parameters[$0].gridValues.count } ?? 1) * seedCount
        case .lhs(let n, let seed):
            lhsPoints = Self.latinHypercube(samples: n, parameters: varied.map { spec.parameters[$0] }, seed: seed)
            count = n * seedCount
        }
        var h = FNV1a()
        h.add(sweepText ?? (try? String(contentsOfFile: spec.file, encoding: .utf8)) ?? spec.file)
        h.add(baseText)
        fingerprint = h.hex
    }

    /// The value nodes of experiment `index`, one per parameter (the seed as the seed itself).
    public func values(_ index: Int) -> [Node] {
        let sample = index / seedCount, seedIndex = index % seedCount
        var out = [Node](repeating: Node("", .implicit, .plain), count: spec.parameters.count)
        switch spec.sampling {
        case .grid:
            var rest = sample
            for (k, p) in varied.enumerated().reversed() {
                let r = gridRadix[k]
                out[p] = spec.parameters[p].gridValues[rest % r]
                rest /= r
            }
        case .list:
            for p in varied { out[p] = spec.parameters[p].gridValues[sample] }
        case .lhs:
            for (k, p) in varied.enumerated() { out[p] = lhsPoints[sample][k] }
        }
        if let s = seedParameter {
            let offset = UInt64(spec.parameters[s].gridValues[seedIndex].scalar?.string ?? "0") ?? 0
            out[s] = Node(String(baseSeed &+ offset), .implicit, .plain)
        }
        return out
    }

    /// Latin hypercube: for each parameter, the strata 0..<n in a seeded random order, and a
    /// seeded point inside each stratum (a list parameter takes the item the stratum falls on).
    static func latinHypercube(samples n: Int, parameters: [Parameter], seed: UInt64) -> [[Node]] {
        var rng = SplitMix64(seed: seed)
        var columns: [[Node]] = []
        for p in parameters {
            var strata = Array(0..<n)
            for i in stride(from: n - 1, to: 0, by: -1) { strata.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            columns.append(strata.map { s in
                switch p.values {
                case .list(let nodes): return nodes[min(nodes.count - 1, s * nodes.count / n)]
                case .range(let from, let to, _, let log, let integer):
                    let u = Double(rng.next() >> 11) / Double(1 << 53)
                    return Parameter.scalar(Parameter.point(from: from, to: to, fraction: (Double(s) + u) / Double(n), log: log), integer: integer)
                }
            })
        }
        return (0..<n).map { i in columns.map { $0[i] } }
    }

    /// YAML text of a value (flow style for a mapping or a list), for results and messages.
    public static func text(_ node: Node) -> String {
        if case .scalar(let s) = node { return s.string }
        let t = (try? Yams.serialize(node: node, width: -1, mappingStyle: .flow)) ?? "?"
        return t.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func name(of index: Int) -> String {
        let digits = max(4, String(max(count - 1, 0)).count)
        let n = String(index)
        return "\(spec.name)-e\(String(repeating: "0", count: max(0, digits - n.count)))\(n)"
    }

    // MARK: building

    /// Builds experiment `index` through the normal loaders; a refusal is returned as
    /// errors located in the sweep file (the parameter, metric or header key to blame).
    public func build(_ index: Int) -> Result<Experiment, DataFileErrors> {
        let values = values(index)
        let texts = values.map(Self.text)
        let context = "experiment \(index) (" + zip(spec.parameters, texts).map { "\($0.key) = \($1)" }.joined(separator: ", ") + ")"
        var errors: [DataFileError] = []
        func blame(_ line: Int, _ column: Int, _ keyPath: String, _ message: String) {
            errors.append(DataFileError(file: spec.file, line: line, column: column, keyPath: keyPath, message: "\(context): \(message)"))
        }
        func blame<V>(_ l: Located<V>, _ message: String) { blame(l.position.line, l.position.column, l.dotted, message) }

        // The scenario tree: header overrides, expectations, metrics, name, parameters.
        var tree = baseTree
        func edit(_ path: [KeyPath.Component], _ value: Node) -> Bool {
            switch TreeEdit.set(tree, path[...], to: value) {
            case .success(let t): tree = t; return true
            case .failure: return false
            }
        }
        let header: [(String, Located<Node>?)] = [("board", spec.board), ("duration", spec.duration), ("protocol", spec.protocolFile)]
        for (key, v) in header { if let v { _ = edit([.key("scenario"), .key(key)], v.value) } }
        var expectations: [Node] = []
        if spec.keepExpectations, case .sequence(let s)? = TreeEdit.get(tree, [.key("expectations")][...]) { expectations = Array(s) }
        if !spec.keepExpectations {
            expectations = [.mapping(Node.Mapping([(Node("name", .implicit, .plain), Node("no fault", .implicit, .doubleQuoted)),
                                                   (Node("no_event", .implicit, .plain), Node("fault", .implicit, .plain))]))]
        }
        let own = expectations.count
        var metricOfExpectation: [Int: Int] = [:]
        for (j, m) in spec.metrics.enumerated() {
            if case .expectation(let node) = m.kind {
                metricOfExpectation[expectations.count] = j
                expectations.append(node)
            }
        }
        _ = edit([.key("expectations")], .sequence(Node.Sequence(expectations)))
        _ = edit([.key("scenario"), .key("name")], Node(name(of: index), .implicit, .doubleQuoted))
        var protocolEdits: [(Int, KeyPath)] = []
        for (i, p) in spec.parameters.enumerated() {
            if p.target.file == .protocol { protocolEdits.append((i, p.target)); continue }
            if case .failure(let why) = TreeEdit.set(tree, p.target.components[...], to: values[i]) {
                blame(p.line, p.column, p.keyPath, "\(spec.base.value): \(why.message)")
            } else if case .success(let t) = TreeEdit.set(tree, p.target.components[...], to: values[i]) {
                tree = t
            }
        }
        guard errors.isEmpty else { return .failure(DataFileErrors(errors)) }

        // The normal scenario loader decides whether the combination is a scenario.
        let yaml: String
        do { yaml = try Yams.serialize(node: tree, width: -1) } catch {
            blame(spec.base, "cannot write the edited scenario as YAML: \(error)")
            return .failure(DataFileErrors(errors))
        }
        var scenario: Scenario
        do {
            scenario = try ScenarioLoader.parse(yaml: yaml, file: spec.basePath)
        } catch {
            for e in error.errors { blameLoader(e, fileLabel: spec.base.value, metricOfExpectation: metricOfExpectation, blame: blame) }
            return .failure(DataFileErrors(errors))
        }

        // The board, once per path: it must load and be simulated.
        let boardPath = SweepPaths.resolve(scenario.board, relativeTo: spec.basePath) ?? scenario.board
        switch board(boardPath) {
        case .failure(let e):
            let at = spec.board.map { ($0.position, $0.dotted) } ?? (spec.base.position, spec.base.dotted)
            for x in e.errors { blame(at.0.line, at.0.column, at.1, "board \(scenario.board): \(x)") }
            return .failure(DataFileErrors(errors))
        case .success(let b) where b.kind != .simulated:
            let at = spec.board.map { ($0.position, $0.dotted) } ?? (spec.base.position, spec.base.dotted)
            blame(at.0.line, at.0.column, at.1, "board \(boardPath) is not a simulated board")
            return .failure(DataFileErrors(errors))
        case .success(let boardConfig):
            // The protocol: edited by the parameters, or as its file stands; either way
            // loaded and planned against the board by the normal loader and planner.
            if let file = scenario.protocolFile {
                let protocolBlame: (Int, Int, String) = spec.protocolFile.map { ($0.position.line, $0.position.column, $0.dotted) }
                    ?? (spec.base.position.line, spec.base.position.column, spec.base.dotted)
                guard let path = SweepPaths.resolve(file, relativeTo: spec.basePath) else {
                    blame(protocolBlame.0, protocolBlame.1, protocolBlame.2, "protocol file '\(file)' not found")
                    return .failure(DataFileErrors(errors))
                }
                if protocolEdits.isEmpty {
                    for e in plannedProtocol(path: path, board: boardConfig, boardPath: boardPath) {
                        blame(protocolBlame.0, protocolBlame.1, protocolBlame.2, "protocol \(file): \(e)")
                    }
                } else {
                    switch protocolTree(path) {
                    case .failure(let e):
                        for x in e.errors { blame(protocolBlame.0, protocolBlame.1, protocolBlame.2, "protocol \(file): \(x)") }
                    case .success(let (ptree, _)):
                        var t = ptree
                        for (i, k) in protocolEdits {
                            let p = spec.parameters[i]
                            switch TreeEdit.set(t, k.components[...], to: values[i]) {
                            case .success(let x): t = x
                            case .failure(let why): blame(p.line, p.column, p.keyPath, "\(file): \(why.message)")
                            }
                        }
                        guard errors.isEmpty else { return .failure(DataFileErrors(errors)) }
                        do {
                            let text = try Yams.serialize(node: t, width: -1)
                            do {
                                _ = try ProtocolPlanner.plan(try ProtocolLoader.parse(yaml: text, file: path), board: boardConfig)
                                scenario.protocolText = text
                            } catch {
                                for e in error.errors {
                                    let hit = protocolEdits.first { Self.covers($0.1.dotted, e.keyPath) }
                                    if let (i, _) = hit {
                                        let p = spec.parameters[i]
                                        blame(p.line, p.column, p.keyPath, "\(file): \(e.keyPath.isEmpty ? "" : e.keyPath + ": ")\(e.message)")
                                    } else {
                                        // Not one key's fault (a dose too large for the syringe left, say): the combination's.
                                        let p = spec.parameters[protocolEdits[0].0]
                                        blame(p.line, p.column, p.keyPath, "\(file): \(e.keyPath.isEmpty ? "" : e.keyPath + ": ")\(e.message)")
                                    }
                                }
                            }
                        } catch {
                            blame(protocolBlame.0, protocolBlame.1, protocolBlame.2, "cannot write the edited protocol as YAML: \(error)")
                        }
                    }
                }
            } else if let (i, _) = protocolEdits.first {
                let p = spec.parameters[i]
                blame(p.line, p.column, p.keyPath, "'\(p.key)' is a protocol key, but the scenario names no protocol (give sweep.protocol or use a base scenario with one)")
            }
        }
        guard errors.isEmpty else { return .failure(DataFileErrors(errors)) }
        return .success(Experiment(index: index, values: texts, seed: scenario.seed, scenario: scenario, ownExpectations: own))
    }

    /// Whether a loader's error at `errorPath` concerns the key at `keyPath` (the key
    /// itself, something inside it, or the mapping holding it).
    static func covers(_ keyPath: String, _ errorPath: String) -> Bool {
        guard !errorPath.isEmpty else { return false }
        return errorPath == keyPath || errorPath.hasPrefix(keyPath + ".") || keyPath.hasPrefix(errorPath + ".")
    }

    /// Points a scenario loader error at the sweep line responsible for it.
    private func blameLoader(_ e: DataFileError, fileLabel: String, metricOfExpectation: [Int: Int],
                             blame: (Int, Int, String, String) -> Void) {
        let what = "\(fileLabel): \(e.keyPath.isEmpty ? "" : e.keyPath + ": ")\(e.message)"
        // A metric (appended as an expectation).
        let parts = e.keyPath.split(separator: ".")
        if parts.count >= 2, parts[0] == "expectations", let n = Int(parts[1]), let j = metricOfExpectation[n] {
            let m = spec.metrics[j]
            let inner = parts.dropFirst(2).joined(separator: ".")
            blame(m.line, m.column, m.keyPath, "metric \(m.name): \(inner.isEmpty ? "" : inner + ": ")\(e.message)")
            return
        }
        // A parameter.
        for p in spec.parameters where p.target.file == .scenario && Self.covers(p.target.dotted, e.keyPath) {
            blame(p.line, p.column, p.keyPath, what)
            return
        }
        // A header override.
        for (key, v) in [("board", spec.board), ("duration", spec.duration), ("protocol", spec.protocolFile)] {
            if let v, Self.covers("scenario.\(key)", e.keyPath) { blame(v.position.line, v.position.column, v.dotted, what); return }
        }
        // A window of the base's own expectations beyond an overridden duration.
        if let d = spec.duration, e.keyPath.hasPrefix("expectations.") {
            blame(d.position.line, d.position.column, d.dotted, what + " (the base scenario's expectations do not fit this duration: set sweep.expectations: none)")
            return
        }
        blame(spec.base.position.line, spec.base.position.column, spec.base.dotted, what)
    }

    private func board(_ path: String) -> Result<BoardConfiguration, DataFileErrors> {
        lock.lock(); defer { lock.unlock() }
        if let b = boards[path] { return b }
        let r: Result<BoardConfiguration, DataFileErrors>
        do { r = .success(try BoardLoader.load(path: path)) } catch { r = .failure(error) }
        boards[path] = r
        return r
    }

    private func protocolTree(_ path: String) -> Result<(Node, String), DataFileErrors> {
        lock.lock(); defer { lock.unlock() }
        if let t = protocolTrees[path] { return t }
        let r: Result<(Node, String), DataFileErrors>
        switch DataFile.readText(path: path, kind: "protocol file") {
        case .failure(let e): r = .failure(DataFileErrors([e]))
        case .success(let text):
            do { r = .success((try DataFile.compose(yaml: text, file: path, kind: "protocol file"), text)) } catch { r = .failure(error) }
        }
        protocolTrees[path] = r
        return r
    }

    private func plannedProtocol(path: String, board: BoardConfiguration, boardPath: String) -> [DataFileError] {
        let key = path + "\u{0}" + boardPath
        lock.lock()
        if let e = plannedProtocols[key] { lock.unlock(); return e }
        lock.unlock()
        var errors: [DataFileError] = []
        do { _ = try ProtocolPlanner.plan(try ProtocolLoader.load(path: path), board: board) } catch { errors = error.errors }
        lock.lock(); plannedProtocols[key] = errors; lock.unlock()
        return errors
    }

    /// Builds every experiment in `indices` (all by default) and collects the refusals,
    /// the same refusal in many experiments reported once with their count.
    public func validate(_ indices: [Int]? = nil) -> [DataFileError] {
        var seen: [String: (DataFileError, [Int])] = [:]
        var order: [String] = []
        for i in indices ?? Array(0..<count) {
            guard case .failure(let e) = build(i) else { continue }
            for x in e.errors {
                // Group by place and the validator's words (the message after the experiment's context).
                let inner = x.message.range(of: "): ").map { String(x.message[$0.upperBound...]) } ?? x.message
                let k = "\(x.line):\(x.column):\(x.keyPath):\(inner)"
                if seen[k] == nil { order.append(k); seen[k] = (x, [i]) } else { seen[k]?.1.append(i) }
            }
        }
        return order.compactMap { k in
            guard var (e, list) = seen[k] else { return nil }
            if list.count > 1 {
                let shown = list.prefix(8).map(String.init).joined(separator: ", ") + (list.count > 8 ? ", …" : "")
                e.message += " [the same in \(list.count) experiments: \(shown)]"
            }
            return e
        }.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
    }
}

/// A small, seedable generator (SplitMix64): the same seed gives the same Latin hypercube
/// on every machine and in every shard.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// FNV-1a, 64 bits: a stable fingerprint of the sweep's input files.
struct FNV1a {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ s: String) {
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h = (h ^ 0xff) &* 0x100_0000_01b3
    }
    var hex: String {
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
