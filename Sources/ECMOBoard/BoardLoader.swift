import Foundation
import Yams

/// Reads a board file (`Board/*.yaml`) into a `BoardConfiguration`, or explains every
/// reason it cannot.
///
/// Board files are data, strictly validated (house habit 3, Klipper's `configfile.py`):
/// unknown keys, missing keys, wrong types, out-of-range values, dangling references,
/// double-booked lines and addresses, and simulated/real hardware mixed in one file are
/// all errors naming file, line, column and key. Nothing here touches hardware; the
/// values are checked against the schema and against each other, not against the
/// machine the program runs on.
public enum BoardLoader {
    /// Reads and validates the board file at `path`. `path` is also the name used in
    /// error messages and in `BoardConfiguration.sourceFile`.
    public static func load(path: String) throws(BoardFileErrors) -> BoardConfiguration {
        let text: String
        switch readText(path: path) {
        case .success(let t): text = t
        case .failure(let failure):
            throw BoardFileErrors([BoardFileError(file: path, line: 1, column: 1, keyPath: "", message: failure.description)])
        }
        return try parse(yaml: text, file: path)
    }

    /// Validates board YAML held in memory; `file` names it in error messages.
    public static func parse(yaml: String, file: String) throws(BoardFileErrors) -> BoardConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw BoardFileErrors([YAMLSyntax.error(from: error, yaml: yaml, file: file)])
        }
        guard let root else {
            throw BoardFileErrors([BoardFileError(file: file, line: 1, column: 1, keyPath: "",
                                                  message: "the board file is empty")])
        }
        var decoder = BoardDecoder(file: file)
        let configuration = decoder.decode(root)
        let errors = decoder.reader.diagnostics.errors
        guard errors.isEmpty, let configuration else {
            if errors.isEmpty {
                // Every path that leaves the configuration unbuilt reports why; this is a net.
                throw BoardFileErrors([BoardFileError(file: file, line: 1, column: 1, keyPath: "",
                                                      message: "the board could not be built (no specific error was recorded)")])
            }
            throw BoardFileErrors(errors)
        }
        return configuration
    }

    /// The file's text, or why it cannot be read. The only Foundation use in this module.
    private static func readText(path: String) -> Result<String, ReadFailure> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .failure(ReadFailure("cannot read board file: no such file"))
        }
        if isDirectory.boolValue { return .failure(ReadFailure("cannot read board file: it is a directory")) }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(ReadFailure("cannot read board file: permission denied or read error"))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(ReadFailure("cannot read board file: not valid UTF-8 text"))
        }
        return .success(text)
    }

    private struct ReadFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
