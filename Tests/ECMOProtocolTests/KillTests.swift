import Testing
import Foundation
import RigTestSupport
#if canImport(Glibc)
import Glibc
#endif
import ECMOCore
import ECMORuntime
import ECMORecord

/// Never over-infuse, across kill -9: the real `ecmo-rig` runs the kill-test protocol on
/// the simulated board, and is killed with SIGKILL at random points of delivery, then
/// restarted on the same journal and the same simulated plant (whose plunger position
/// survives in a shared mapping, as a real plunger survives a firmware crash). After the
/// last run completes the protocol, the plant must hold no more than prescribed, and no
/// less than prescribed minus one journal lookahead per kill.
@Suite(.serialized) struct KillTests {
    /// Kills per test run: 50 here; `scripts/kill-test 200` runs the longer one.
    static var kills: Int { ProcessInfo.processInfo.environment["ECMO_KILL_TEST_KILLS"].flatMap(Int.init) ?? 50 }

    static func plant(_ path: String) -> (Int64, Int64) {
        guard let d = FileManager.default.contents(atPath: path), d.count >= 16 else { return (0, 0) }
        return d.withUnsafeBytes { ($0.load(fromByteOffset: 0, as: Int64.self), $0.load(fromByteOffset: 8, as: Int64.self)) }
    }

    @Test func killingTheFirmwareAtRandomPointsNeverOverDelivers() throws {
        guard let binary = ecmoRigBinary() else {
            Issue.record("ecmo-rig is not built next to the tests")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = dir.appendingPathComponent("kill.journal").path
        let plantFile = dir.appendingPathComponent("plant.bin").path
        // Prescribed by the kill-test protocol (see its header): prime 2801 + 2 × 14006 cell
        // steps; heparin bolus 14006 steps then 0.389 steps/s.
        let prescribedCells: Int64 = 2801 + 2 * 14006
        // Each restart after a kill is an unclean stop: the operator confirms it (without
        // the flag the rig would wait inactive; `anUnconfirmedRestartAfterAKillDeliversNothing`).
        let arguments = ["run", "--protocol", "Protocols/kill-test.yaml", "--journal", journal, "--plant-state", plantFile,
                         "--out", dir.path, "--quiet", "--record-hz", "2", "--restart-confirmed"]
        var rng = SystemRandomNumberGenerator()
        let n = Self.kills
        // One lookahead: 100 ms at the fastest cell rate (1167 steps/s) = 117 steps.
        let lookahead: Int64 = 117
        var worstWindow: Int64 = 0
        var phantom: Int64 = 0
        var kills = 0
        for k in 0..<n {
            // Kill points: a random delivery count ahead, spreading the kills over what remains
            // (each restart counts up to one lookahead as given that the plant never got).
            let now = Self.plant(plantFile).0
            let remaining = prescribedCells - phantom - now - Int64(n - k) * lookahead
            let step = Int64.random(in: 1...max(1, 2 * remaining / Int64(n - k)), using: &rng)
            let target = now + min(step, max(1, remaining))
            let p = Process()
            p.executableURL = binary
            p.arguments = arguments
            p.currentDirectoryURL = repositoryRoot
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Wait until the plant has received at least the target, plus a random few
            // hundred microseconds so the kill lands at an arbitrary instruction.
            let deadline = Date().addingTimeInterval(60)
            while Self.plant(plantFile).0 < target && p.isRunning && Date() < deadline { usleep(200) }
            if !p.isRunning { Issue.record("kill \(k): ecmo-rig ended before reaching \(target) steps (plant \(Self.plant(plantFile).0), phantom \(phantom), status \(p.terminationStatus))"); break }
            usleep(UInt32.random(in: 0...800, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(p.terminationReason == .uncaughtSignal, "killed, not exited")
            kills += 1
            // What the journal knows against what the plant received, at this instant.
            let reserved = FileManager.default.fileExists(atPath: journal)
                ? try DeliveryJournal.inspect(path: journal).recovered.reserved : [0, 0]
            let plant = Self.plant(plantFile)
            // The window a crash leaves unknown: reserved but never received, added by this kill.
            let window = reserved[0] - plant.0
            worstWindow = max(worstWindow, window - phantom)
            phantom = window
            #expect(plant.0 <= reserved[0], "cells: the plant (\(plant.0)) is never ahead of the journal (\(reserved[0]))")
            #expect(plant.1 <= reserved[1], "heparin: the plant (\(plant.1)) is never ahead of the journal (\(reserved[1]))")
            #expect(plant.0 <= prescribedCells, "never over the prescription")
        }
        // The last run completes the protocol.
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        p.currentDirectoryURL = repositoryRoot
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let summary = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(String(decoding: summary, as: UTF8.self))")
        let plant = Self.plant(plantFile)
        let undelivered = prescribedCells - plant.0
        print("kill test: \(kills) kills, plant \(plant.0)/\(prescribedCells) cell steps, undelivered \(undelivered) steps (\(Double(undelivered) * 0.071394) µL), worst journal−plant window \(worstWindow) steps, over-deliveries 0 if plant ≤ prescribed")
        #expect(kills == n)
        #expect(plant.0 <= prescribedCells, "never over: \(plant.0) of \(prescribedCells)")
        #expect(undelivered >= 0 && undelivered <= Int64(kills) * lookahead, "short by at most one lookahead per kill (\(undelivered) steps)")
        #expect(worstWindow <= lookahead, "what a crash can leave unknown is within one lookahead (\(worstWindow) steps)")
        #expect(String(decoding: summary, as: UTF8.self).contains("\"completed\": true"))
    }

    /// The program's own boot after a kill mid-dose, with nobody confirming: the real
    /// `ecmo-rig` comes up inactive with every output safe, delivers nothing, and says why.
    @Test func anUnconfirmedRestartAfterAKillDeliversNothing() throws {
        guard let binary = ecmoRigBinary() else {
            Issue.record("ecmo-rig is not built next to the tests")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-boot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let journal = dir.appendingPathComponent("boot.journal").path
        let plantFile = dir.appendingPathComponent("plant.bin").path
        let common = ["run", "--protocol", "Protocols/kill-test.yaml", "--journal", journal, "--plant-state", plantFile,
                      "--out", dir.path, "--quiet", "--record-hz", "2"]
        let first = Process()
        first.executableURL = binary
        first.arguments = common
        first.currentDirectoryURL = repositoryRoot
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        let deadline = Date().addingTimeInterval(60)
        while Self.plant(plantFile).0 < 500 && first.isRunning && Date() < deadline { usleep(500) }
        #expect(first.isRunning, "still delivering when killed")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let atKill = Self.plant(plantFile)
        #expect(atKill.0 >= 500)

        // Started again exactly as before (a supervisor restarting the service).
        let second = Process()
        second.executableURL = binary
        second.arguments = common + ["--duration", "20s"]
        second.currentDirectoryURL = repositoryRoot
        let out = Pipe(), err = Pipe()
        second.standardOutput = out
        second.standardError = err
        try second.run()
        let summary = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        #expect(second.terminationStatus == 0, "\(log)")
        #expect(Self.plant(plantFile) == atKill, "not one step after the unclean stop")
        #expect(summary.contains("\"outcome\": \"awaitingOperator\""), "\(summary)")
        #expect(summary.contains("\"unclean_previous_stop\": true"))
        #expect(summary.contains("\"state_before_shutdown\": \"inactive\""))
        #expect(log.contains("stays inactive"), "says why: \(log)")

        // Nobody activated it: the next start must still wait (the evidence is not used up).
        let third = Process()
        third.executableURL = binary
        third.arguments = common + ["--duration", "5s"]
        third.currentDirectoryURL = repositoryRoot
        let out3 = Pipe()
        third.standardOutput = out3
        third.standardError = FileHandle.nullDevice
        try third.run()
        let summary3 = String(decoding: out3.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        third.waitUntilExit()
        #expect(summary3.contains("\"outcome\": \"awaitingOperator\""), "still waiting: \(summary3)")
        #expect(Self.plant(plantFile) == atKill)
    }
}
