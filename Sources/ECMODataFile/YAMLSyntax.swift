import Yams

/// Turns the errors Yams throws while composing (syntax errors, duplicate keys) into
/// located `DataFileError`s.
///
/// Yams stops at the first such error, so these come one at a time. For a duplicate key
/// Yams gives the first occurrence only; the second one and the key path are recovered
/// from the text by indentation, which is exact for block style and for a flow mapping on
/// one line (how board files are written) and falls back to the first occurrence otherwise.
public enum YAMLSyntax {
    public static func error(from error: any Error, yaml: String, file: String) -> DataFileError {
        func located(_ position: Position, _ path: [String], _ message: String) -> DataFileError {
            DataFileError(file: file, line: position.line, column: position.column,
                           keyPath: path.joined(separator: "."), message: message)
        }
        guard let yamlError = error as? YamlError else {
            return located(.start, [], "cannot parse YAML: \(error)")
        }
        switch yamlError {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return located(Position(line: mark.line, column: mark.column), [], message)
        case let .reader(problem, offset, _, _):
            let at = offset.map { Self.position(ofCharacterOffset: $0, in: yaml) } ?? Position.start
            return located(at, [], "cannot read YAML text: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let key = duplicates.first ?? "?"
            let first = Position(line: context.mark.line, column: context.mark.column)
            let lines = splitLines(yaml)
            let path = parentPath(of: first, in: lines) + [key]
            if let second = nextOccurrence(of: key, after: first, in: lines) {
                return located(second, path, "duplicate key '\(key)' (first at line \(first.line)): keys must be unique")
            }
            return located(first, path, "duplicate key '\(key)': keys must be unique")
        default:
            return located(.start, [], "cannot parse YAML: \(yamlError)")
        }
    }

    public static func splitLines(_ yaml: String) -> [Substring] {
        yaml.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.last == "\r" ? line.dropLast() : line
        }
    }

    public static func position(ofCharacterOffset offset: Int, in yaml: String) -> Position {
        var line = 1, column = 1
        for (index, character) in yaml.enumerated() {
            if index == offset { break }
            if character == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return Position(line: line, column: column)
    }

    private static func indentation(_ line: Substring) -> Int {
        line.prefix { $0 == " " }.count
    }

    private static func isBlankOrComment(_ line: Substring) -> Bool {
        let trimmed = line.drop { $0 == " " }
        return trimmed.isEmpty || trimmed.first == "#"
    }

    /// The key at the start of a block mapping line (`  sensors:` → `sensors`).
    private static func leadingKey(_ line: Substring) -> String? {
        let body = line.drop { $0 == " " }
        guard let colon = body.firstIndex(of: ":") else { return nil }
        var key = body[..<colon].trimmingSpaces()
        if key.count >= 2, let f = key.first, f == key.last, f == "'" || f == "\"" {
            key = String(key.dropFirst().dropLast())
        }
        return key.isEmpty || key.contains("{") || key.hasPrefix("-") ? nil : key
    }

    /// Keys of the enclosing block mappings, found by walking up to lines with less indentation.
    public static func parentPath(of position: Position, in lines: [Substring]) -> [String] {
        guard position.line >= 1, position.line <= lines.count else { return [] }
        var path: [String] = []
        var indent = position.column - 1
        // A key inside a one-line flow mapping: the line's own key is the parent.
        let own = lines[position.line - 1]
        if indentation(own) < indent, let key = leadingKey(own) {
            path.insert(key, at: 0)
            indent = indentation(own)
        }
        var index = position.line - 2
        while index >= 0, indent > 0 {
            let line = lines[index]
            index -= 1
            if isBlankOrComment(line) { continue }
            let lineIndent = indentation(line)
            if lineIndent < indent, let key = leadingKey(line) {
                path.insert(key, at: 0)
                indent = lineIndent
            }
        }
        return path
    }

    /// The next `key:` in the same mapping after `position`: later on the same line (flow
    /// style) or on a later line at the same indentation (block style).
    public static func nextOccurrence(of key: String, after position: Position, in lines: [Substring]) -> Position? {
        guard position.line >= 1, position.line <= lines.count else { return nil }
        let own = Array(lines[position.line - 1])
        let keyChars = Array(key)
        var start = position.column - 1 + keyChars.count
        while start + keyChars.count <= own.count {
            if Array(own[start..<(start + keyChars.count)]) == keyChars, start > 0, [" ", "{", ","].contains(own[start - 1]) {
                let rest = own[(start + keyChars.count)...].drop { $0 == " " }
                if rest.first == ":" { return Position(line: position.line, column: start + 1) }
            }
            start += 1
        }
        let indent = position.column - 1
        var index = position.line
        while index < lines.count {
            let line = lines[index]
            index += 1
            if isBlankOrComment(line) { continue }
            let lineIndent = indentation(line)
            if lineIndent < indent { return nil }
            if lineIndent == indent, leadingKey(line) == key {
                return Position(line: index, column: indent + 1)
            }
        }
        return nil
    }
}

private extension Substring {
    func trimmingSpaces() -> String {
        String(String(drop { $0 == " " }.reversed().drop { $0 == " " }).reversed())
    }
}
