import Foundation
import Testing
import ECMOCore
import ECMOBoard
import ECMOLink
import ECMORuntime
import RigTestSupport
import ECMOAssembly
import ECMOConsoleLink

/// The numeric arguments of the console link's commands, with the JSON key they are sent under.
private let numericCommands: [(name: String, key: String)] = [
    ("set_flow", "lpm"), ("set_speed", "rpm"), ("enter_act", "seconds"), ("set_heparin_rate", "u_per_kg_h")]

/// Item 16's values as a console could write them: JSON numbers (1e309 is how JSON spells
/// infinity), and the non-JSON spellings a careless console might send.
private let jsonNumbers = ["1e308", "-1e308", "1e309", "-1e309", "1e-320", "-1e-320", "9223372036854775807",
                           "-9223372036854775808", "9223372036854775808", "18446744073709551616", "0", "-0"]
private let notJSONNumbers = ["nan", "NaN", ".nan", "inf", "Infinity", ".inf", "-.inf", "-Infinity"]

/// Values that may be accepted by some command (a zero heparin rate, for one); every other
/// value must be refused.
private let maybeAcceptable: Set<String> = ["0", "-0", "1e-320", "-1e-320"]

private func commandLine(id: String, _ name: String, _ key: String, _ value: String) -> String {
    #"{"type":"command","id":\#(id),"actor":"fuzz","role":"operator","name":"\#(name)","args":{"\#(key)":\#(value)}}"#
}

/// Issue 15, item 16, console link: the codec never hands the rig a number that is not
/// finite, and an `id` outside UInt64 is a `bad_field`, never a trap.
@Suite struct ExtremeLinkCodecTests {
    @Test(arguments: jsonNumbers + notJSONNumbers)
    func aNumericArgumentDecodesToAFiniteNumberOrIsABadField(_ value: String) {
        for (name, key) in numericCommands {
            let line = commandLine(id: "1", name, key, value)
            do {
                let m = try LinkCodec.decodeConsoleMessage(Data(line.utf8))
                guard case .command(let c) = m else { Issue.record("\(line): decoded as \(m)"); continue }
                let v: Double? = switch c.command {
                case .setFlow(let x): x
                case .setSpeed(let x): x
                case .enterACT(let x): x
                case .setHeparinRate(let x): x
                default: nil
                }
                #expect(v?.isFinite == true, "\(line) decoded to \(String(describing: v))")
                #expect(!notJSONNumbers.contains(value), "\(line) is not JSON but decoded")
            } catch {
                #expect(["bad_json", "bad_field"].contains(error.code), "\(line): \(error.code) \(error.message)")
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test(arguments: ["0", "-0", "9223372036854775807", "9223372036854775808", "18446744073709551615",
                      "18446744073709551616", "-1", "-9223372036854775808", "1e308", "1e-320", "1.5"])
    func anIdOutsideUInt64IsABadFieldAndOneInsideDecodesExactly(_ id: String) {
        let line = #"{"type":"command","id":\#(id),"actor":"fuzz","role":"operator","name":"stop"}"#
        do {
            let m = try LinkCodec.decodeConsoleMessage(Data(line.utf8))
            guard case .command(let c) = m else { Issue.record("\(line): decoded as \(m)"); return }
            #expect(UInt64(id) == c.id || (id == "-0" && c.id == 0), "id \(id) decoded as \(c.id)")
        } catch {
            #expect(UInt64(id) == nil, "id \(id) is a UInt64 but was refused: \(error.message)")
            #expect(error.code == "bad_field" || error.code == "bad_json", "\(error.code)")
        }
    }
}

/// The same values against a real simulated rig over its socket: each command is answered
/// with a refusal (or the connection with a fatal error), the loop keeps ticking, and the
/// run still ends with its outputs safe.
@Suite(.serialized) struct ExtremeLinkRigTests {
    @Test func extremeNumbersFromAConsoleAreRefusedWhileTheRigKeepsTickingAndEndsSafe() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        let link = RigLink(loopPeriod: board.loopPeriod, telemetryHz: 25)
        let rig = try RigAssembly.simulated(board: board, settings: RunSettings(mode: .constantFlow(.lpm(4))), pace: .realtime, link: link)
        let loop = rig.loop
        let dir = temporaryDirectory()
        let path = socketPath()
        var cfg = linkConfiguration(path: path, board: board, directory: dir)
        cfg.timeOrigin = rig.clock.now()
        let server = try ConsoleLinkServer(configuration: cfg, link: link)
        server.start()
        defer { server.stop() }

        let runner = rig.runner
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: RigSession.Outcome?
        nonisolated(unsafe) let running = rig
        let t = Thread {
            outcome = running.run(for: .seconds(60))
            done.signal()
        }
        t.start()
        defer { runner.requestStop(); _ = done.wait(timeout: .now() + 10) }

        let c = try ConsoleLinkClient(path: path)
        #expect(next("hello", from: c) != nil)
        try c.send(consoleHello)
        // The loop's progress as the link reports it (its tick counter belongs to the loop's
        // thread: reading it from here is a data race, which ThreadSanitizer reports).
        guard case .telemetry(let first)? = next("telemetry", from: c) else { Issue.record("no telemetry"); return }
        let ticksBefore = first.tick

        var id = 100
        for (name, key) in numericCommands {
            for value in jsonNumbers {
                id += 1
                let line = commandLine(id: "\(id)", name, key, value)
                if (try? LinkCodec.decodeConsoleMessage(Data(line.utf8))) == nil {
                    // The codec refuses it (1e309 is beyond Double): a fatal error on its own connection.
                    try expectFatalFieldError(line, path: path)
                    continue
                }
                try c.send(line)
                let answer = next("reply", from: c) { m in if case .reply(let r) = m { r.id == UInt64(id) } else { false } }
                guard case .reply(let r)? = answer else {
                    Issue.record("\(line): no reply")
                    continue
                }
                if !maybeAcceptable.contains(value) {
                    #expect(!r.ok && r.reason != nil && r.message?.isEmpty == false, "\(line) -> \(r)")
                }
            }
        }

        // Lines the codec refuses: a fatal error closes that connection, nothing reaches the loop.
        for bad in [commandLine(id: "18446744073709551616", "stop", "x", "0"), commandLine(id: "-1", "stop", "x", "0"),
                    commandLine(id: "7", "set_flow", "lpm", "NaN"), commandLine(id: "8", "set_speed", "rpm", "Infinity"),
                    #"{"type":"command","id":9,"actor":"fuzz","role":"operator","name":"acknowledge","args":{"alarm":1e308}}"#] {
            try expectFatalFieldError(bad, path: path)
        }
        // acknowledge takes an alarm's name: numbers as names are unknown alarms.
        for value in ["1e308", "nan", "-9223372036854775808", "18446744073709551616"] {
            id += 1
            try c.send(#"{"type":"command","id":\#(id),"actor":"fuzz","role":"operator","name":"acknowledge","args":{"alarm":"\#(value)"}}"#)
            let answer = next("reply", from: c) { m in if case .reply(let r) = m { r.id == UInt64(id) } else { false } }
            guard case .reply(let r)? = answer else { Issue.record("acknowledge \(value): no reply"); continue }
            #expect(!r.ok && r.reason == "unknown_alarm", "acknowledge \(value) -> \(r)")
        }

        // Still running, still at its set-point, still ticking.
        guard case .telemetry(let f)? = next("telemetry", from: c) else { Issue.record("no telemetry after the barrage"); return }
        #expect(f.state == "active" && f.setpoint == LinkSetpoint(mode: "flow", value: 4.0) && f.pumpOn, "\(f)")
        #expect(f.tick > ticksBefore)

        id += 1
        try c.send(#"{"type":"command","id":\#(id),"actor":"fuzz","role":"operator","name":"stop"}"#)
        #expect(next("reply", from: c) { m in if case .reply(let r) = m { r.id == UInt64(id) && r.ok } else { false } } != nil)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(outcome == .stopped)
        var sawOutputsSafe = false
        _ = loop.events.drain { if $0.isOutputsSafe { sawOutputsSafe = true } }
        #expect(sawOutputsSafe, "the run ends with outputs_safe")
        done.signal() // for the deferred wait
    }
}

/// Sends `line` over a new connection and expects one fatal `bad_field`/`bad_json` error and the connection closed.
private func expectFatalFieldError(_ line: String, path: String) throws {
    let b = try ConsoleLinkClient(path: path)
    #expect(next("hello", from: b) != nil)
    try b.send(consoleHello)
    try b.send(line)
    let e = errorsUntilClosed(b)
    #expect(e.closed && e.errors.count == 1 && e.errors.first?.fatal == true
            && ["bad_field", "bad_json"].contains(e.errors.first?.code ?? ""), "\(line) -> \(e)")
}
