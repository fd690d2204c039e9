import Yams

// Strict, position-aware access to a composed YAML tree. Every accessor reports what is
// wrong with file, line, column and key path, and returns nil so that the caller keeps
// going and more errors are found in the same run.
//
// Scalars are interpreted here, not by the YAML resolver: YAML 1.1 reads `yes`, `on`,
// `017` (octal) and `1:30` (base 60) as booleans and numbers, which is exactly the
// kind of surprise a board file must not contain. Numbers and booleans must be plain
// (unquoted) scalars; booleans are `true` or `false`; integers are decimal or `0x` hex.

/// A 1-based position in the file.
public struct Position: Sendable, Equatable, Hashable {
    public var line: Int
    public var column: Int
    public static let start = Position(line: 1, column: 1)
}

extension Node {
    public var position: Position? {
        mark.map { Position(line: $0.line, column: $0.column) }
    }
}

/// A value with where it came from, for errors found later (duplicates, cross-checks).
public struct Located<Value> {
    public var value: Value
    public var position: Position
    public var path: [String]
    public var dotted: String { path.joined(separator: ".") }
    public init(value: Value, position: Position, path: [String]) {
        self.value = value
        self.position = position
        self.path = path
    }
}

/// One `key: value` pair of a mapping.
public struct Entry {
    public var key: String
    public var keyPosition: Position
    public var value: Node
    public var path: [String]
    public var valuePosition: Position { value.position ?? keyPosition }
    public init(key: String, keyPosition: Position, value: Node, path: [String]) {
        self.key = key
        self.keyPosition = keyPosition
        self.value = value
        self.path = path
    }
}

/// A mapping whose keys have been checked to be plain text.
public struct MappingView {
    /// Key path of the mapping itself (`sensors.P_drain`).
    public var path: [String]
    /// Where errors about the mapping as a whole point: the key that names it.
    public var position: Position
    public var entries: [Entry]

    public func entry(_ key: String) -> Entry? { entries.first { $0.key == key } }
    public func has(_ key: String) -> Bool { entry(key) != nil }
    public init(path: [String], position: Position, entries: [Entry]) {
        self.path = path
        self.position = position
        self.entries = entries
    }
}

/// Collects errors for one file.
public struct Diagnostics {
    public let file: String
    public private(set) var errors: [DataFileError] = []

    public init(file: String) { self.file = file }

    public mutating func report(_ position: Position, _ path: [String], _ message: String) {
        errors.append(DataFileError(file: file, line: position.line, column: position.column,
                                     keyPath: path.joined(separator: "."), message: message))
    }
}

/// Typed reads from mappings, reporting into `diagnostics`.
public struct YAMLReader {
    public var diagnostics: Diagnostics

    public init(file: String) { diagnostics = Diagnostics(file: file) }

    public mutating func error(_ position: Position, _ path: [String], _ message: String) {
        diagnostics.report(position, path, message)
    }

    // MARK: Structure

    /// The node as a mapping with text keys, or nil after reporting why not.
    public mutating func mapping(_ node: Node, path: [String], at position: Position) -> MappingView? {
        guard case let .mapping(mapping) = node else {
            error(node.position ?? position, path, "expected a mapping of keys to values, got \(Self.describe(node))")
            return nil
        }
        var entries: [Entry] = []
        for (keyNode, value) in mapping {
            let keyPosition = keyNode.position ?? position
            guard case let .scalar(scalar) = keyNode, !scalar.string.isEmpty else {
                error(keyPosition, path, "keys must be plain names, got \(Self.describe(keyNode))")
                continue
            }
            entries.append(Entry(key: scalar.string, keyPosition: keyPosition, value: value, path: path + [scalar.string]))
        }
        return MappingView(path: path, position: position, entries: entries)
    }

    /// The mapping under `entry`, positioned at its key.
    public mutating func mapping(_ entry: Entry) -> MappingView? {
        mapping(entry.value, path: entry.path, at: entry.keyPosition)
    }

    /// Reports keys that are not allowed here and required keys that are absent.
    ///
    /// - Parameters:
    ///   - allowed: keys accepted here, in the order they are documented (listed in messages).
    ///   - required: keys that must be present.
    ///   - restricted: keys that exist elsewhere in the schema but not here, with the reason.
    public mutating func checkKeys(_ m: MappingView, allowed: [String], required: [String],
                            restricted: [String: String] = [:]) {
        for entry in m.entries where !allowed.contains(entry.key) {
            if let reason = restricted[entry.key] {
                error(entry.keyPosition, entry.path, "key '\(entry.key)' is not allowed here: \(reason)")
            } else {
                let list = allowed.joined(separator: ", ")
                if let guess = Self.closest(to: entry.key, in: allowed) {
                    error(entry.keyPosition, entry.path, "unknown key '\(entry.key)' (did you mean '\(guess)'? allowed: \(list))")
                } else {
                    error(entry.keyPosition, entry.path, "unknown key '\(entry.key)' (allowed: \(list))")
                }
            }
        }
        for key in required where !m.has(key) {
            error(m.position, m.path + [key], "missing required key '\(key)'")
        }
    }

    // MARK: Scalars

    /// Plain text. Quoted or not; a null (empty value, `~`, `null`) or a mapping is an error.
    public mutating func string(_ m: MappingView, _ key: String, nonEmpty: Bool = true) -> Located<String>? {
        guard let entry = m.entry(key) else { return nil }
        return string(entry, nonEmpty: nonEmpty)
    }

    public mutating func string(_ entry: Entry, nonEmpty: Bool = true) -> Located<String>? {
        guard case let .scalar(scalar) = entry.value, !Self.isNull(scalar) else {
            error(entry.valuePosition, entry.path, "expected text, got \(Self.describe(entry.value))")
            return nil
        }
        if nonEmpty && scalar.string.allSatisfy(\.isWhitespace) {
            error(entry.valuePosition, entry.path, "must not be empty")
            return nil
        }
        return Located(value: scalar.string, position: entry.valuePosition, path: entry.path)
    }

    /// An identifier used to refer to hardware from elsewhere in the file.
    public mutating func reference(_ m: MappingView, _ key: String) -> Located<String>? {
        string(m, key)
    }

    public mutating func bool(_ m: MappingView, _ key: String) -> Located<Bool>? {
        guard let entry = m.entry(key) else { return nil }
        guard case let .scalar(scalar) = entry.value, Self.isPlain(scalar) else {
            error(entry.valuePosition, entry.path, "expected true or false, got \(Self.describe(entry.value))")
            return nil
        }
        switch scalar.string {
        case "true": return Located(value: true, position: entry.valuePosition, path: entry.path)
        case "false": return Located(value: false, position: entry.valuePosition, path: entry.path)
        default:
            error(entry.valuePosition, entry.path, "expected true or false, got \(Self.describe(entry.value))")
            return nil
        }
    }

    /// An integer (decimal, or hexadecimal with `0x`), optionally range checked.
    public mutating func int(_ m: MappingView, _ key: String, in range: ClosedRange<Int>? = nil,
                      unit: String = "") -> Located<Int>? {
        guard let entry = m.entry(key) else { return nil }
        guard case let .scalar(scalar) = entry.value, Self.isPlain(scalar) else {
            error(entry.valuePosition, entry.path, "expected an integer, got \(Self.describe(entry.value))")
            return nil
        }
        let value: Int
        switch Self.parseInteger(scalar.string) {
        case .success(let v): value = v
        case .failure(let problem):
            error(entry.valuePosition, entry.path, problem.message(for: scalar.string, expected: "an integer"))
            return nil
        }
        if let range, !range.contains(value) {
            error(entry.valuePosition, entry.path,
                  "\(scalar.string)\(unit) is out of range (allowed \(range.lowerBound)...\(range.upperBound)\(unit))")
            return nil
        }
        return Located(value: value, position: entry.valuePosition, path: entry.path)
    }

    /// A finite number (integer or decimal), optionally range checked.
    public mutating func number(_ m: MappingView, _ key: String, in range: ClosedRange<Double>? = nil,
                         unit: String = "") -> Located<Double>? {
        guard let entry = m.entry(key) else { return nil }
        guard case let .scalar(scalar) = entry.value, Self.isPlain(scalar) else {
            error(entry.valuePosition, entry.path, "expected a number, got \(Self.describe(entry.value))")
            return nil
        }
        let value: Double
        switch Self.parseNumber(scalar.string) {
        case .success(let v): value = v
        case .failure(let problem):
            error(entry.valuePosition, entry.path, problem.message(for: scalar.string, expected: "a number"))
            return nil
        }
        if let range, !range.contains(value) {
            error(entry.valuePosition, entry.path,
                  "\(scalar.string)\(unit) is out of range (allowed \(format(range.lowerBound))...\(format(range.upperBound))\(unit))")
            return nil
        }
        return Located(value: value, position: entry.valuePosition, path: entry.path)
    }

    /// One of an enumeration's raw values.
    public mutating func choice<E: RawRepresentable & CaseIterable>(_ m: MappingView, _ key: String, _ type: E.Type) -> Located<E>?
    where E.RawValue == String {
        guard let text = string(m, key, nonEmpty: false) else { return nil }
        guard let value = E(rawValue: text.value) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            error(text.position, text.path, "unknown value '\(text.value)' (allowed: \(allowed))")
            return nil
        }
        return Located(value: value, position: text.position, path: text.path)
    }

    // MARK: Scalar grammar

    public enum ScalarProblem: Error {
        case notANumber
        case leadingZero
        case notFinite
        case overflow

        func message(for text: String, expected: String) -> String {
            switch self {
            case .notANumber: "expected \(expected), got '\(text)'"
            case .leadingZero: "'\(text)' has a leading zero, which YAML may read as octal: write it without (or as 0x hex)"
            case .notFinite: "must be a finite number, got '\(text)'"
            case .overflow: "'\(text)' is too large"
            }
        }
    }

    public static func isPlain(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain || scalar.style == .any
    }

    public static func isNull(_ scalar: Node.Scalar) -> Bool {
        isPlain(scalar) && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// `[+-]?(0|[1-9][0-9]*)` or `0x[0-9a-fA-F]+`.
    public static func parseInteger(_ text: String) -> Result<Int, ScalarProblem> {
        var digits = Substring(text)
        var negative = false
        if let first = digits.first, first == "+" || first == "-" {
            negative = first == "-"
            digits = digits.dropFirst()
        }
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            radix = 16
            digits = digits.dropFirst(2)
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.isHexDigit && (radix == 16 || $0.isNumber)) }) else {
            return .failure(.notANumber)
        }
        if radix == 10, digits.count > 1, digits.first == "0" { return .failure(.leadingZero) }
        guard let magnitude = Int(digits, radix: radix) else { return .failure(.overflow) }
        return .success(negative ? -magnitude : magnitude)
    }

    /// An integer as above, or `[+-]?(digits[.digits]|.digits)([eE][+-]?digits)?`; finite only.
    public static func parseNumber(_ text: String) -> Result<Double, ScalarProblem> {
        switch parseInteger(text) {
        case .success(let i): return .success(Double(i))
        case .failure(.leadingZero) where !text.contains("."): return .failure(.leadingZero)
        default: break
        }
        let lowered = text.lowercased()
        let bare = lowered.trimmingPrefix(while: { $0 == "+" || $0 == "-" || $0 == "." })
        if ["inf", "infinity", "nan"].contains(String(bare)) { return .failure(.notFinite) }
        guard isDecimalLiteral(text), let value = Double(text) else { return .failure(.notANumber) }
        guard value.isFinite else { return .failure(.notFinite) }
        return .success(value)
    }

    private static func isDecimalLiteral(_ text: String) -> Bool {
        var chars = Substring(text)
        if let f = chars.first, f == "+" || f == "-" { chars = chars.dropFirst() }
        let mantissaEnd = chars.firstIndex { $0 == "e" || $0 == "E" } ?? chars.endIndex
        let mantissa = chars[..<mantissaEnd]
        let parts = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isDigits: (Substring) -> Bool = { $0.allSatisfy { $0.isASCII && $0.isNumber } }
        guard parts.allSatisfy(isDigits), parts.contains(where: { !$0.isEmpty }) else { return false }
        if mantissaEnd == chars.endIndex { return true }
        var exponent = chars[chars.index(after: mantissaEnd)...]
        if let f = exponent.first, f == "+" || f == "-" { exponent = exponent.dropFirst() }
        return !exponent.isEmpty && isDigits(exponent)
    }

    // MARK: Messages

    public static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if isNull(s) { return "nothing (null)" }
            return isPlain(s) ? "'\(s.string)'" : "the quoted text '\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The allowed key nearest to a misspelt one, if it is close enough to be a typo.
    public static func closest(to key: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(key, $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2, best.1 < key.count else { return nil }
        return best.0
    }

    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// A number for messages: `300` rather than `300.0`.
public func format(_ value: Double) -> String {
    if value.rounded() == value, abs(value) < 1e15 { return String(Int(value)) }
    return String(value)
}

/// An I²C address as people write them.
public func hex(_ value: Int) -> String {
    guard value >= 0 else { return String(value) }
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + (digits.count < 2 ? "0" + digits : digits)
}
