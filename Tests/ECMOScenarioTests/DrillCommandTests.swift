import Testing
import Foundation
import RigTestSupport

/// `ecmo-rig drill` end to end, with the scripted person on the simulated board.
@Suite struct DrillCommandTests {
    struct Outcome { var status: Int32; var stdout: String; var stderr: String }

    func drill(_ arguments: [String]) throws -> Outcome {
        let binary = try #require(ecmoRigBinary(), "ecmo-rig is not built next to the tests")
        let p = Process()
        p.executableURL = binary
        p.arguments = ["drill"] + arguments
        p.currentDirectoryURL = rigRepositoryRoot
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func folder() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("drill-cli-\(UUID().uuidString)") }

    @Test func aScriptedDrillPassesAndAnUnansweredOneAbortsWithExit9AndARecord() throws {
        let out = folder()
        defer { try? FileManager.default.removeItem(at: out) }
        let file = "HIL/scenarios/fault-emergency-stop.yaml"
        let ok = try drill([file, "--board", "Board/sim.yaml", "--person", "script", "--pace", "fast", "--out", out.path])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("PRESS E-STOP"))
        #expect(ok.stdout.contains("8/8 checked expectations held"))
        let silent = try drill([file, "--board", "Board/sim.yaml", "--person", "script", "--script-silent", "--prompt-timeout", "2s",
                                "--pace", "fast", "--out", out.path])
        #expect(silent.status == 9)
        #expect(silent.stdout.contains("ABORTED: no answer to 'press E-stop' within 2 s"))
        let runs = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix("-drill") }
        #expect(runs.count == 2)
        for r in runs {
            for f in ["telemetry.csv", "events.jsonl", "summary.json"] {
                #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(r).appendingPathComponent(f).path), "\(r)/\(f)")
            }
        }
    }

    @Test func aPersonCommandIsToldWhatToDoAndConfirmsByExitingZero() throws {
        let out = folder()
        defer { try? FileManager.default.removeItem(at: out) }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let log = out.appendingPathComponent("person.log").path
        let r = try drill(["HIL/scenarios/fault-emergency-stop.yaml", "--board", "Board/sim.yaml", "--person", "command",
                           "--person-command", "echo \"$DRILL_FAULT $DRILL_PHASE $DRILL_LINE: $DRILL_PROMPT\" >> '\(log)'",
                           "--pace", "fast", "--out", out.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let said = try String(contentsOfFile: log, encoding: .utf8)
        #expect(said == "emergency_stop start 12: press E-stop\nemergency_stop end 12: release E-stop\n")
        // A command that fails never confirms: the prompt times out, the drill aborts.
        let failing = try drill(["HIL/scenarios/fault-emergency-stop.yaml", "--board", "Board/sim.yaml", "--person", "command",
                                 "--person-command", "exit 3", "--prompt-timeout", "1s", "--pace", "fast", "--out", out.path])
        #expect(failing.status == 9)
        #expect(failing.stderr.contains("person command exited 3 for 'press E-stop'"))
    }

    @Test func aScenarioNoOneCanPerformOnARigIsRefusedBeforeAnythingRuns() throws {
        let out = folder()
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try drill(["HIL/scenarios/fault-loop-overrun.yaml", "--board", "Board/sim.yaml", "--person", "script", "--out", out.path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("fault-loop-overrun.yaml:"))
        #expect(r.stderr.contains("fault loop_overrun cannot be made on a rig"))
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func aScriptedPersonOnARigBoardIsRefused() throws {
        let out = folder()
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try drill(["HIL/scenarios/fault-emergency-stop.yaml", "--board", "Board/rpi4-bench.yaml", "--person", "script", "--out", out.path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--person script makes faults on a simulated board"))
    }
}
