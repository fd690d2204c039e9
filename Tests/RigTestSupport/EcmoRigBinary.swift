import Foundation

/// The repository root, found from this file's path (Tests/RigTestSupport/…).
public let rigRepositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The built `ecmo-rig` beside the test bundle (`swift test` builds it with the tests), for
/// the tests that run the program itself: one lookup for every test target.
public func ecmoRigBinary() -> URL? {
    var candidates: [URL] = []
    if let first = CommandLine.arguments.first {
        var dir = URL(fileURLWithPath: first).deletingLastPathComponent()
        // On macOS the runner sits inside the .xctest bundle.
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("ecmo-rig"))
            dir = dir.deletingLastPathComponent()
        }
    }
    candidates.append(rigRepositoryRoot.appendingPathComponent(".build/debug/ecmo-rig"))
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}
