import Foundation
import RigTestSupport
import Testing

/// Issue 15, item 6: after an unclean stop (or a watchdog reset) the rig waits for an
/// operator; `ecmo-rig command` is the operator's way to answer it without a console, over
/// the same console link, validated by the same core, recorded in the same commands.jsonl.
@Suite(.serialized) struct OperatorCommandLineTests {
    @Test func aRigWaitingAfterAnUncleanStopIsStartedFromTheCommandLine() throws {
        guard let binary = ecmoRigBinary() else {
            Issue.record("ecmo-rig is not built next to the tests")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The marker a run leaves while it runs: its presence means the last run ended uncleanly.
        FileManager.default.createFile(atPath: dir.appendingPathComponent(".ecmo-rig-sim.running").path, contents: Data())
        let socket = dir.appendingPathComponent("s.sock").path
        let rig = Process()
        rig.executableURL = binary
        rig.arguments = ["run", "--duration", "60s", "--pace", "realtime", "--out", dir.path, "--console-socket", socket, "--quiet"]
        rig.currentDirectoryURL = repositoryRoot
        rig.standardOutput = FileHandle.nullDevice
        rig.standardError = FileHandle.nullDevice
        try rig.run()
        defer { if rig.isRunning { rig.terminate() } }
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: socket) && Date() < deadline { usleep(50_000) }
        usleep(500_000)

        let clear = try runRig(["command", "clear_fault", "--console-socket", socket])
        #expect(clear.status == 1, "not in fault: refused; \(clear.stderr)")
        #expect(clear.stderr.contains("refused (not_allowed"), "\(clear.stderr)")
        let huge = try runRig(["command", "set_flow", "1e19", "--console-socket", socket])
        #expect(huge.status == 1 && huge.stderr.contains("out_of_range"), "\(huge.stderr)")
        sleep(1)
        let activate = try runRig(["command", "activate", "--console-socket", socket, "--actor", "alice"])
        #expect(activate.status == 0, "\(activate.stderr)")
        #expect(activate.stdout.contains("activate: accepted"))
        sleep(3)
        let again = try runRig(["command", "activate", "--console-socket", socket])
        #expect(again.status == 1 && again.stderr.contains("already_running"), "\(again.stderr)")
        let stop = try runRig(["command", "stop", "--console-socket", socket])
        #expect(stop.status == 0, "\(stop.stderr)")
        let end = Date().addingTimeInterval(20)
        while rig.isRunning && Date() < end { usleep(50_000) }
        #expect(!rig.isRunning, "the rig stopped on the command")

        let runDir = try #require(try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .first { $0.hasDirectoryPath && FileManager.default.fileExists(atPath: $0.appendingPathComponent("events.jsonl").path) })
        let commands = try String(contentsOf: runDir.appendingPathComponent("commands.jsonl"), encoding: .utf8)
        #expect(commands.contains("\"command\":\"activate\"") && commands.contains("\"actor\":\"alice\""), "\(commands)")
        let events = try String(contentsOf: runDir.appendingPathComponent("events.jsonl"), encoding: .utf8)
        let lines = events.split(separator: "\n")
        let activeAt = lines.firstIndex { $0.contains("\"to\":\"active\"") }
        #expect(activeAt != nil, "the circuit started once activated")
    }

    @Test func badCommandLinesAreRefusedBeforeAnythingIsSent() throws {
        for (args, what) in [(["command", "set_flow", "nan"], "not a finite number"),
                             (["command", "set_speed"], "needs a value"),
                             (["command", "activate", "now"], "takes no value"),
                             (["command", "frobnicate"], "unknown command 'frobnicate'"),
                             (["command", "protocol_pause", "saline"], "cells or heparin")] {
            let r = try runRig(args + ["--console-socket", "/nonexistent.sock"])
            #expect(r.status == 64, "\(args): \(r.status)")
            #expect(r.stderr.contains(what), "\(args): \(r.stderr)")
        }
        let none = try runRig(["command", "activate", "--console-socket", "/nonexistent.sock"])
        #expect(none.status == 8, "no rig there: \(none.stderr)")
        #expect(none.stderr.contains("no rig answers on /nonexistent.sock"))
    }
}
