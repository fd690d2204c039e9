import Foundation
import Testing
#if canImport(Glibc)
import Glibc   // a raw socket, to test what the server does with a peer it did not expect
#endif
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMOLink
import ECMORuntime
import RigTestSupport
import ECMOAssembly
import ECMOConsoleLink
import ECMORecord

// MARK: - Over the socket

func socketPath() -> String { "/tmp/ecmo-link-\(UInt32.random(in: 0...UInt32.max)).sock" }

func linkConfiguration(path: String, board: BoardConfiguration, directory: URL, queueBytes: Int = 4 << 20) -> ConsoleLinkConfiguration {
    var c = ConsoleLinkConfiguration(
        socketPath: path, rigVersion: "test", board: BoardConfigurationSummary(name: board.name, loopPeriod: board.loopPeriod, pump: board.pump.limits),
        runID: directory.lastPathComponent, runDirectory: directory, startedAt: Date(), timeOrigin: .origin,
        mode: .constantFlow(.lpm(4)), alarmLimits: AlarmLimits(), protocolInfo: nil)
    c.clientQueueBytes = queueBytes
    c.helloTimeout = 2
    return c
}

func temporaryDirectory() -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-link-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// Reads messages until one of `type` arrives (nil on close or time-out).
func next(_ type: String, from c: ConsoleLinkClient, timeout: Double = 5, where ok: (RigMessage) -> Bool = { _ in true }) -> RigMessage? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        guard let line = c.readLine(timeout: deadline.timeIntervalSinceNow) else { return nil }
        guard let m = try? LinkCodec.decodeRigMessage(Data(line.utf8)) else { continue }
        if m.type == type && ok(m) { return m }
    }
    return nil
}

/// Reads until the rig closes the connection; returns the `error` messages seen.
func errorsUntilClosed(_ c: ConsoleLinkClient, timeout: Double = 5) -> (errors: [LinkError], closed: Bool) {
    var errors: [LinkError] = []
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        guard let line = c.readLine(timeout: deadline.timeIntervalSinceNow) else {
            return (errors, deadline.timeIntervalSinceNow > 0)
        }
        if case .error(let e)? = try? LinkCodec.decodeRigMessage(Data(line.utf8)) { errors.append(e) }
    }
    return (errors, false)
}

let consoleHello = #"{"type":"hello","protocol":1,"client":"test"}"#

@Suite(.serialized) struct ConsoleLinkSocketTests {
    @Test func aConsoleSeesLiveTelemetryAndItsSetFlowInTheRepliesTelemetryAndCommandLog() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let link = RigLink(loopPeriod: board.loopPeriod, telemetryHz: 25)
        let rig = try RigAssembly.simulated(board: board, settings: RunSettings(mode: .constantFlow(.lpm(4))), pace: .realtime, link: link)
        let (sim, loop) = (rig.hardware, rig.loop)
        let dir = temporaryDirectory()
        let path = socketPath()
        var cfg = linkConfiguration(path: path, board: board, directory: dir)
        cfg.timeOrigin = rig.clock.now()
        let server = try ConsoleLinkServer(configuration: cfg, link: link)
        server.start()
        defer { server.stop() }
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o660, "socket mode 0660")

        let runner = rig.runner
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: RigSession.Outcome?
        nonisolated(unsafe) let running = rig
        let t = Thread {
            outcome = running.run(for: .seconds(30))
            done.signal()
        }
        t.start()

        let c = try ConsoleLinkClient(path: path)
        guard case .hello(let hello)? = next("hello", from: c) else { Issue.record("no hello"); runner.requestStop(); done.wait(); return }
        #expect(hello.protocolVersion == 1)
        #expect(hello.limits.flowMaxLpm == AlarmLimits().flowHigh.litersPerMinute)
        #expect(hello.alarms.contains { $0.name == "AIR_IN_LINE" && $0.priority == "high" })
        #expect(hello.telemetryHz == 25)
        try c.send(consoleHello)

        var first: LinkTelemetry?
        var changed = false
        let until = Date().addingTimeInterval(5)
        while Date() < until, !changed, case .telemetry(let f)? = next("telemetry", from: c) {
            if let a = first { changed = f.flowLpm != a.flowLpm && f.tick > a.tick } else { first = f }
        }
        #expect(changed, "telemetry values change")

        try c.send(#"{"type":"command","id":41,"actor":"alice","role":"operator","name":"set_flow","args":{"lpm":3.0}}"#)
        guard case .reply(let r)? = next("reply", from: c) else { Issue.record("no reply"); runner.requestStop(); done.wait(); return }
        #expect(r == LinkReply(id: 41, ok: true))
        try c.send(#"{"type":"command","id":42,"actor":"alice","role":"operator","name":"set_flow","args":{"lpm":12}}"#)
        guard case .reply(let refused)? = next("reply", from: c) else { Issue.record("no reply"); runner.requestStop(); done.wait(); return }
        #expect(refused.ok == false && refused.reason == "out_of_range")
        #expect(refused.message?.contains("7") == true, "\(refused.message ?? "")")
        let later = next("telemetry", from: c) { m in
            if case .telemetry(let f) = m { return f.setpoint == LinkSetpoint(mode: "flow", value: 3.0) }
            return false
        }
        #expect(later != nil, "the new set-point shows in later telemetry")

        try c.send(#"{"type":"command","id":43,"actor":"alice","role":"operator","name":"stop"}"#)
        #expect(next("reply", from: c).map { $0 == .reply(LinkReply(id: 43, ok: true)) } == true)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(outcome == .stopped)
        server.stop()
        #expect(stat(path, &st) != 0, "socket file removed")

        let log = try String(contentsOf: dir.appendingPathComponent("commands.jsonl"), encoding: .utf8)
        let lines = log.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first?.contains(#""actor":"alice""#) == true && lines.first?.contains(#""command":"set_flow""#) == true)
        #expect(lines.first?.contains(#""args":{"lpm":3}"#) == true, "\(lines.first ?? "")")
        #expect(lines.dropFirst().first?.contains(#""reason":"out_of_range""#) == true)
        #expect(server.statistics.commands == 3 && server.statistics.refused == 1)
    }

    /// `ecmo-rig drill --console-socket`: a drill's prompt reaches every greeted console as
    /// an event with its own code and words, so the person at the console sees "press
    /// E-stop" as the one at the rig's terminal does.
    @Test func aDrillsPromptReachesTheConsoleAsAnEventWithItsWords() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let link = RigLink(loopPeriod: board.loopPeriod, telemetryHz: 25)
        let dir = temporaryDirectory()
        let path = socketPath()
        let server = try ConsoleLinkServer(configuration: linkConfiguration(path: path, board: board, directory: dir), link: link)
        server.start()
        defer { server.stop() }
        let c = try ConsoleLinkClient(path: path)
        guard case .hello? = next("hello", from: c) else { Issue.record("no hello"); return }
        try c.send(consoleHello)
        // Offered until the greeting has been seen (a notice before it goes to no one).
        var got: LinkEvent?
        let until = Date().addingTimeInterval(5)
        while got == nil && Date() < until {
            server.offer(notice: LinkEvent(t: 30, code: "drill", values: ["seconds_left": .number(25)],
                                           text: "DRILL: press E-stop: 25 s left"))
            if case .event(let e)? = next("event", from: c, timeout: 0.5, where: { if case .event(let e) = $0 { e.code == "drill" } else { false } }) { got = e }
        }
        #expect(got?.text == "DRILL: press E-stop: 25 s left")
        #expect(got?.values["seconds_left"] == .number(25))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("events.jsonl").path), "the link records no notice")
    }

    @Test func malformedOversizedAndOutOfOrderInputGetsAnErrorAndTheConnectionClosed() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let path = socketPath()
        let server = try ConsoleLinkServer(configuration: linkConfiguration(path: path, board: board, directory: temporaryDirectory()),
                                           link: RigLink(loopPeriod: board.loopPeriod))
        server.start()
        defer { server.stop() }

        let garbage = try ConsoleLinkClient(path: path)
        #expect(next("hello", from: garbage) != nil)
        try garbage.send("this is not json")
        let g = errorsUntilClosed(garbage)
        #expect(g.closed && g.errors.map(\.code) == ["bad_json"] && g.errors.first?.fatal == true)

        let big = try ConsoleLinkClient(path: path)
        #expect(next("hello", from: big) != nil)
        try big.send(bytes: [UInt8](repeating: 0x7B, count: LinkProtocol.maxLineBytes + 10))
        let b = errorsUntilClosed(big)
        #expect(b.closed && b.errors.map(\.code) == ["line_too_long"])

        let early = try ConsoleLinkClient(path: path)
        try early.send(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"stop"}"#)
        let e = errorsUntilClosed(early)
        #expect(e.closed && e.errors.map(\.code) == ["hello_required"])

        let old = try ConsoleLinkClient(path: path)
        try old.send(#"{"type":"hello","protocol":2}"#)
        let o = errorsUntilClosed(old)
        #expect(o.closed && o.errors.map(\.code) == ["version_mismatch"])

        let missing = try ConsoleLinkClient(path: path)
        try missing.send(consoleHello)
        try missing.send(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"set_flow","args":{}}"#)
        let m = errorsUntilClosed(missing)
        #expect(m.errors.first?.code == "missing_field" && m.errors.first?.message.contains("args.lpm") == true)

        var clients: [ConsoleLinkClient] = []
        for _ in 0..<4 {
            let c = try ConsoleLinkClient(path: path)
            #expect(next("hello", from: c) != nil)
            clients.append(c)
        }
        let fifth = try ConsoleLinkClient(path: path)
        let f = errorsUntilClosed(fifth)
        #expect(f.closed && f.errors.map(\.code) == ["too_many_clients"])
        #expect(server.statistics.commands == 0, "nothing reached the loop")
        #expect(server.link.commands.count == 0)
    }

    @Test func aSecondRigRefusesALiveSocketAndAStaleOneIsReplaced() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let path = socketPath()
        let first = try ConsoleLinkServer(configuration: linkConfiguration(path: path, board: board, directory: temporaryDirectory()),
                                          link: RigLink(loopPeriod: board.loopPeriod))
        first.start()
        #expect(throws: LinkSocketError.self) {
            _ = try ConsoleLinkServer(configuration: linkConfiguration(path: path, board: board, directory: temporaryDirectory()),
                                      link: RigLink(loopPeriod: board.loopPeriod))
        }
        do {
            _ = try ConsoleLinkServer(configuration: linkConfiguration(path: path, board: board, directory: temporaryDirectory()),
                                      link: RigLink(loopPeriod: board.loopPeriod))
        } catch {
            #expect("\(error)".contains("in use by a running rig"))
        }
        first.stop()

        // A stale socket file: bound, nobody listening (a rig that crashed).
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(r == 0)
        close(fd)
        let second = try ConsoleLinkServer(configuration: linkConfiguration(path: path, board: board, directory: temporaryDirectory()),
                                           link: RigLink(loopPeriod: board.loopPeriod))
        second.start()
        let c = try ConsoleLinkClient(path: path)
        #expect(next("hello", from: c) != nil)
        second.stop()
    }

    /// One lockstep run recorded to telemetry.csv; with `clients`, a console link with a
    /// client that stops reading and one closed abruptly half-way.
    func lockstepRecord(clients: Bool) throws -> (csv: String, dropped: Int) {
        let link = clients ? simLink(telemetryHz: 50) : nil
        let rig = try SimRig(recordEvery: 10, link: link)
        let dir = temporaryDirectory()
        let recorder = try RunRecorder(directory: dir, telemetry: rig.loop.telemetry, events: rig.loop.events, timeOrigin: rig.clock.now())
        var server: ConsoleLinkServer?
        var slow: ConsoleLinkClient?
        var abrupt: ConsoleLinkClient?
        if clients, let link {
            let path = socketPath()
            let s = try ConsoleLinkServer(configuration: linkConfiguration(path: path, board: rig.board, directory: dir, queueBytes: 16 << 10), link: link)
            recorder.onRunEvent = { e in s.offer(event: e) }
            s.start()
            server = s
            let a = try ConsoleLinkClient(path: path)
            let b = try ConsoleLinkClient(path: path)
            #expect(next("hello", from: a) != nil && next("hello", from: b) != nil)
            try a.send(consoleHello)
            try b.send(consoleHello)
            Thread.sleep(forTimeInterval: 0.1)
            slow = a
            abrupt = b
        }
        recorder.start()
        rig.runner.waitsForConsumer = true
        let half = rig.clock.now() + .seconds(15)
        nonisolated(unsafe) var closed = false
        let outcome = RigSession().run(rig.runner, duration: .seconds(30)) { now in
            if !closed && now >= half {
                closed = true
                abrupt?.close()
            }
            // Lockstep runs far faster than real time: give the link thread a moment, so the
            // slow client's queue really fills while the run goes on.
            if clients, now.nanosecondsSinceOrigin % 1_000_000_000 == 0 { Thread.sleep(forTimeInterval: 0.02) }
        }
        #expect(outcome == .completed)
        server?.stop()
        try recorder.finish(summary: [:])
        _ = slow
        let csv = try String(contentsOf: dir.appendingPathComponent("telemetry.csv"), encoding: .utf8)
        return (csv, server?.statistics.framesDropped ?? 0)
    }

    @Test func aSlowOrAbruptlyClosedConsoleChangesNothingInTheRunRecord() throws {
        let without = try lockstepRecord(clients: false)
        let with = try lockstepRecord(clients: true)
        let a = without.csv.split(separator: "\n"), b = with.csv.split(separator: "\n")
        #expect(a.count > 2000)
        #expect(a.count == b.count)
        #expect(a == b, "telemetry.csv rows identical with and without consoles")
        #expect(with.dropped > 0, "the slow console's frames were dropped, not queued without bound")
    }
}

/// Every operator command is recorded or refused: when commands.jsonl cannot be written,
/// the commands after it are refused with a reason and never reach the loop.
@Suite(.serialized) struct CommandRecordTests {
    @Test func commandsAreRefusedWhileTheirRecordCannotBeWritten() throws {
        let dir = temporaryDirectory()
        // Every write to /dev/full fails with ENOSPC: a full disk under the run directory.
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("commands.jsonl").path,
                                                   withDestinationPath: "/dev/full")
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let link = simLink()
        let path = socketPath()
        let server = try ConsoleLinkServer(configuration: linkConfiguration(path: path, board: board, directory: dir), link: link)
        server.start()
        defer { server.stop() }
        let c = try ConsoleLinkClient(path: path)
        #expect(next("hello", from: c) != nil)
        try c.send(consoleHello)

        // The first command reaches the loop (played here by hand); writing its record fails.
        try c.send(#"{"type":"command","id":1,"actor":"alice","role":"operator","name":"set_flow","args":{"lpm":3.0}}"#)
        var forwarded: RigCommand?
        let until = Date().addingTimeInterval(5)
        while forwarded == nil && Date() < until {
            forwarded = link.commands.pop()
            if forwarded == nil { Thread.sleep(forTimeInterval: 0.005) }
        }
        let first = try #require(forwarded, "the first command is forwarded to the loop")
        link.replies.push(RigCommandReply(sequence: first.sequence, code: first.code, reason: .none))
        guard case .reply(let r1)? = next("reply", from: c) else { Issue.record("no reply to the first command"); return }
        #expect(r1.id == 1 && r1.ok)

        // From now on: refused with the reason, and nothing reaches the loop.
        try c.send(#"{"type":"command","id":2,"actor":"alice","role":"operator","name":"set_flow","args":{"lpm":3.5}}"#)
        guard case .reply(let r2)? = next("reply", from: c) else { Issue.record("no reply to the second command"); return }
        #expect(r2.id == 2 && !r2.ok)
        #expect(r2.reason == "record_failed")
        #expect(r2.message?.contains("commands.jsonl") == true, "\(r2.message ?? "")")
        Thread.sleep(forTimeInterval: 0.05)
        #expect(link.commands.pop() == nil, "a command that cannot be recorded is not carried out")
    }
}
