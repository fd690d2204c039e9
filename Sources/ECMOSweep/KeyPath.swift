import Yams

/// A key of the base scenario file or of the protocol file it names, as a sweep parameter
/// writes it: `circuit.act_s` (a scenario header key: `scenario.` may be left out),
/// `events[0].count` (or `events.0.count`), `seed`, `protocol.phases[2].infusion.dose_cells_per_kg`
/// (a key inside the protocol file; `protocol` alone is the header's protocol path).
public struct KeyPath: Sendable, Equatable {
    public enum File: String, Sendable { case scenario, `protocol` }
    public enum Component: Sendable, Equatable, CustomStringConvertible {
        case key(String)
        case index(Int)
        public var description: String {
            switch self {
            case .key(let k): k
            case .index(let i): String(i)
            }
        }
    }
    public var file: File
    public var components: [Component]

    /// The dotted form the loaders use in their messages (`scenario.circuit.act_s`, `events.0.count`).
    public var dotted: String { components.map(\.description).joined(separator: ".") }
    /// Unique per key, whatever spelling was used.
    public var canonical: String { (file == .protocol ? "protocol:" : "") + dotted }

    public struct Problem: Error, Sendable {
        public var message: String
    }

    static let scenarioTop = ["scenario", "events", "expectations"]
    static let scenarioHeader = ["name", "description", "seed", "board", "duration", "circuit", "control", "record_hz", "protocol"]

    public static func parse(_ text: String) -> Result<KeyPath, Problem> {
        var parts: [Component] = []
        for segment in text.split(separator: ".", omittingEmptySubsequences: false) {
            var s = Substring(segment)
            guard !s.isEmpty else { return .failure(Problem(message: "'\(text)' has an empty key between dots")) }
            // `name[0][1]`: a key followed by indices.
            let nameEnd = s.firstIndex(of: "[") ?? s.endIndex
            let name = s[..<nameEnd]
            s = s[nameEnd...]
            if !name.isEmpty {
                if let i = Int(name), i >= 0, name.allSatisfy(\.isNumber) { parts.append(.index(i)) } else {
                    guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                        return .failure(Problem(message: "'\(text)': '\(name)' is not a key name (letters, digits, '_')"))
                    }
                    parts.append(.key(String(name)))
                }
            }
            while !s.isEmpty {
                guard s.first == "[", let close = s.firstIndex(of: "]") else {
                    return .failure(Problem(message: "'\(text)': expected [index] after '\(name)'"))
                }
                let digits = s[s.index(after: s.startIndex)..<close]
                guard let i = Int(digits), i >= 0, digits.allSatisfy(\.isNumber) else {
                    return .failure(Problem(message: "'\(text)': '[\(digits)]' is not a list index (0, 1, 2, …)"))
                }
                parts.append(.index(i))
                s = s[s.index(after: close)...]
            }
        }
        guard case .key(let first)? = parts.first else {
            return .failure(Problem(message: "'\(text)' must start with a key name"))
        }
        if first == "protocol", parts.count > 1 {
            return .success(KeyPath(file: .protocol, components: Array(parts.dropFirst())))
        }
        if scenarioTop.contains(first) { return .success(KeyPath(file: .scenario, components: parts)) }
        if scenarioHeader.contains(first) { return .success(KeyPath(file: .scenario, components: [.key("scenario")] + parts)) }
        let known = (scenarioHeader + ["events[i]", "expectations[i]", "protocol.<key in the protocol file>"]).joined(separator: ", ")
        let guess = YAMLReaderHints.closest(first, scenarioHeader + scenarioTop).map { "did you mean '\($0)'? " } ?? ""
        return .failure(Problem(message: "unknown parameter key '\(text)' (\(guess)a key starts with one of: \(known))"))
    }
}

import ECMODataFile
enum YAMLReaderHints {
    static func closest(_ key: String, _ candidates: [String]) -> String? { YAMLReader.closest(to: key, in: candidates) }
}

/// Setting a value at a key path of a composed YAML tree. The new value replaces the node
/// there; a missing last key is added to its mapping (the strict loader then decides
/// whether the file allows it); a missing intermediate key or an index past a list's end
/// is an error naming what the tree has instead.
enum TreeEdit {
    static func set(_ root: Node, _ path: ArraySlice<KeyPath.Component>, to value: Node, walked: [String] = []) -> Result<Node, KeyPath.Problem> {
        guard let head = path.first else { return .success(value) }
        let here = walked.isEmpty ? "the file's top level" : "'\(walked.joined(separator: "."))'"
        switch (head, root) {
        case (.key(let k), .mapping(var m)):
            if let i = m.firstIndex(where: { $0.key.scalar?.string == k }) {
                switch set(m[i].value, path.dropFirst(), to: value, walked: walked + [k]) {
                case .success(let v): m[i] = (key: m[i].key, value: v)
                case .failure(let e): return .failure(e)
                }
                return .success(.mapping(m))
            }
            guard path.count == 1 else {
                let keys = m.keys.compactMap { $0.scalar?.string }.joined(separator: ", ")
                return .failure(.init(message: "the base file has no '\(k)' under \(here) (it has: \(keys))"))
            }
            m[Node(k, .implicit, .plain)] = value
            return .success(.mapping(m))
        case (.index(let i), .sequence(var s)):
            guard i < s.count else {
                return .failure(.init(message: "\(here) has \(s.count) item\(s.count == 1 ? "" : "s"): index \(i) is past its end"))
            }
            switch set(s[i], path.dropFirst(), to: value, walked: walked + [String(i)]) {
            case .success(let v): s[i] = v
            case .failure(let e): return .failure(e)
            }
            return .success(.sequence(s))
        case (.key(let k), _):
            return .failure(.init(message: "\(here) is \(YAMLReader.describe(root)), not a mapping: it has no key '\(k)'"))
        case (.index(let i), _):
            return .failure(.init(message: "\(here) is \(YAMLReader.describe(root)), not a list: it has no item \(i)"))
        }
    }

    /// The node at a path, if there is one.
    static func get(_ root: Node, _ path: ArraySlice<KeyPath.Component>) -> Node? {
        guard let head = path.first else { return root }
        switch (head, root) {
        case (.key(let k), .mapping(let m)):
            return m.first(where: { $0.key.scalar?.string == k }).flatMap { get($0.value, path.dropFirst()) }
        case (.index(let i), .sequence(let s)):
            return i < s.count ? get(s[i], path.dropFirst()) : nil
        default: return nil
        }
    }
}
