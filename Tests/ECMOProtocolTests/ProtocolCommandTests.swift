import Testing
import Foundation
import RigTestSupport

struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `ecmo-rig` in the repository root (so the default `--board Board/sim.yaml` is found),
/// or in `directory`.
func runRig(_ arguments: [String], in directory: URL = repositoryRoot) throws -> Outcome {
    guard let binary = ecmoRigBinary() else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "ecmo-rig is not built next to the tests"])
    }
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    p.currentDirectoryURL = directory
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

@Suite(.serialized) struct ProtocolCommandTests {
    @Test func checkOfAValidProtocolPrintsOkAndExitsZero() throws {
        let r = try runRig(["protocol", "check", "Protocols/quick-dose.yaml"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("Protocols/quick-dose.yaml: ok: protocol quick-dose: 4 items, 1 dose of 2 mL"), "\(r.stdout)")
    }

    @Test func checkOfAnInvalidProtocolPrintsEveryErrorAndExitsTwo() throws {
        for file in ["dose-out-of-range", "volume-over-syringe", "unknown-key", "rate-over-channel", "clamp-too-long", "several-errors"] {
            let r = try runRig(["protocol", "check", "Protocols/invalid/\(file).yaml"])
            #expect(r.status == 2, "\(file): exit \(r.status)")
            #expect(r.stderr.hasPrefix("Protocols/invalid/\(file).yaml:"), "\(file): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        let several = try runRig(["protocol", "check", "Protocols/invalid/several-errors.yaml"])
        #expect(several.stderr.split(separator: "\n").count == 5, "\(several.stderr)")
    }

    @Test func planOfAnInvalidProtocolExitsTwoToo() throws {
        let r = try runRig(["protocol", "plan", "Protocols/invalid/dose-out-of-range.yaml"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("dose-out-of-range.yaml:19:26: phases.2.infusion.dose_cells_per_kg: dose 5e8 cells/kg is outside the accepted range"), "\(r.stderr)")
    }

    @Test func aMissingProtocolOrBoardFileExitsTwo() throws {
        #expect(try runRig(["protocol", "check", "Protocols/nope.yaml"]).status == 2)
        let r = try runRig(["protocol", "check", "Protocols/quick-dose.yaml", "--board", "Board/nope.yaml"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("Board/nope.yaml:1:1: cannot read board file"), "\(r.stderr)")
    }

    @Test func planPrintsTheDryRunTable() throws {
        let r = try runRig(["protocol", "plan", "Protocols/outflow-clamp.yaml", "--board", "Board/rpi4-bench.yaml"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("0.179639 µL/step"))
        #expect(r.stdout.contains("38967"))
        #expect(r.stdout.contains("0:15:30–0:15:52.8 (dose 0:15:35–0:15:42.8) @1500 rpm"), "\(r.stdout)")
    }

    @Test func protocolCheckOutsideTheRepositoryFindsTheDefaultBoardBesideTheProgram() throws {
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-elsewhere-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let file = repositoryRoot.appendingPathComponent("Protocols/quick-dose.yaml").path
        let o = try runRig(["protocol", "check", file], in: elsewhere)
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout.contains("ok: protocol quick-dose"), "\(o.stdout)")
        // Any other board path is used as typed, and its error names it.
        let typed = try runRig(["protocol", "check", file, "--board", "nowhere/none.yaml"], in: elsewhere)
        #expect(typed.status == 2)
        #expect(typed.stderr.contains("nowhere/none.yaml"), "\(typed.stderr)")
    }
}
