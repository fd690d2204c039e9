/// One problem in a board file, located so that a person can go straight to it:
/// file, line, column and the dotted key path (`sensors.P_drain.adress`).
///
/// A board file decides which wire drives the pump and what every output falls back to,
/// so a mistake must never be silently tolerated or reported vaguely (house habit 3).
public struct DataFileError: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The file as it was named to the loader (`Board/sim.yaml`).
    public var file: String
    /// 1-based line of the offending key or value.
    public var line: Int
    /// 1-based column (Unicode scalars, as libyaml counts them).
    public var column: Int
    /// Dotted path of the key concerned, e.g. `sensors.P_drain.adress`; empty when the
    /// problem is not tied to a key (a YAML syntax error, an unreadable file).
    public var keyPath: String
    /// What is wrong and, where it helps, what is allowed.
    public var message: String

    public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    /// One line, compiler style: `Board/sim.yaml:12:5: sensors.P_drain.adress: unknown key 'adress' (allowed: device, max_age_ms)`.
    public var description: String {
        let location = "\(file):\(line):\(column)"
        let text = message.replacing("\n", with: " ")
        return keyPath.isEmpty ? "\(location): \(text)" : "\(location): \(keyPath): \(text)"
    }
}

/// Every problem found in one board file, sorted by position.
///
/// The loader does not stop at the first mistake: fixing a board file one error per run
/// is slow, and seeing all of them at once often shows the one real cause.
public struct DataFileErrors: Error, Sendable, Equatable, CustomStringConvertible {
    /// Never empty when thrown; sorted by line, then column.
    public var errors: [DataFileError]

    public init(_ errors: [DataFileError]) {
        // Stable sort: errors found in the same place keep the order they were found in.
        self.errors = errors.enumerated().sorted { a, b in
            (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
        }.map(\.element)
    }

    /// One line per error.
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
