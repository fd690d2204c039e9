import Foundation
import Yams

/// Reading a strictly validated data file (board, scenario, protocol): its text, or why
/// it cannot be read, and its YAML tree with positions, or the syntax error with its line.
public enum DataFile {
    /// The file's text, or a `DataFileError` at line 1 saying why it cannot be read.
    /// `kind` names the file in messages ("board file", "scenario file").
    public static func readText(path: String, kind: String) -> Result<String, DataFileError> {
        var isDirectory: ObjCBool = false
        func fail(_ m: String) -> Result<String, DataFileError> {
            .failure(DataFileError(file: path, line: 1, column: 1, keyPath: "", message: "cannot read \(kind): \(m)"))
        }
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return fail("no such file") }
        if isDirectory.boolValue { return fail("it is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else { return fail("permission denied or read error") }
        guard let text = String(data: data, encoding: .utf8) else { return fail("not valid UTF-8 text") }
        return .success(text)
    }

    /// The YAML document's root node, or the syntax error (with its line) as `DataFileErrors`.
    public static func compose(yaml: String, file: String, kind: String) throws(DataFileErrors) -> Node {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw DataFileErrors([YAMLSyntax.error(from: error, yaml: yaml, file: file)])
        }
        guard let root else {
            throw DataFileErrors([DataFileError(file: file, line: 1, column: 1, keyPath: "", message: "the \(kind) is empty")])
        }
        return root
    }
}
