import Foundation

/// Where the program finds the files it defaults to (`Board/sim.yaml`) when it is not run
/// from the repository: the working directory first, then beside the program itself — the
/// installed layout (`/opt/ecmo-rig/bin/ecmo-rig` beside `/opt/ecmo-rig/Board/`) or a build
/// tree (`<repo>/.build/<triple>/release/ecmo-rig`). A path the operator typed is used as given.
enum DefaultFiles {
    /// The default board file's path as written in `--board`'s default.
    static let boardOption = "Board/sim.yaml"

    /// `given` if it was typed or exists; else the first `Board/…` found beside the program;
    /// else `given` unchanged, so the loader's error names the path that was tried.
    static func resolve(_ given: String) -> String {
        let fm = FileManager.default
        guard given == boardOption, !fm.fileExists(atPath: given) else { return given }
        if let found = besideProgram(given) { return found }
        return given
    }

    /// The sentence to add when the default could not be found anywhere.
    static func hint(for path: String) -> String? {
        guard path == boardOption, !FileManager.default.fileExists(atPath: path) else { return nil }
        return "no \(boardOption) in \(FileManager.default.currentDirectoryPath) or beside the program: pass --board FILE (installed boards are in /opt/ecmo-rig/Board/)"
    }

    private static func besideProgram(_ relative: String) -> String? {
        guard let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() else { return nil }
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = dir.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }
}
