import Yams
import ECMODataFile

/// Board files report errors as data-file errors (file, line, column, key path).
public typealias BoardFileError = DataFileError
public typealias BoardFileErrors = DataFileErrors

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
        switch DataFile.readText(path: path, kind: "board file") {
        case .success(let t): text = t
        case .failure(let failure): throw BoardFileErrors([failure])
        }
        return try parse(yaml: text, file: path)
    }

    /// Validates board YAML held in memory; `file` names it in error messages.
    public static func parse(yaml: String, file: String) throws(BoardFileErrors) -> BoardConfiguration {
        let root = try DataFile.compose(yaml: yaml, file: file, kind: "board file")
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
}
