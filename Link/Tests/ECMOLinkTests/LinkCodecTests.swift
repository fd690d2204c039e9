import Foundation
import Testing
import ECMOLink

@Suite struct LinkCodecTests {
    static let telemetry = LinkTelemetry(
        t: 12.5, tick: 12500, state: "active", phase: "regulating", fault: "none", pDrain: -30.5, pPre: 210,
        pPost: 180, dpOxy: 30, flowLpm: 3.2, rpm: 2800, rpmCmd: 2810, pumpOn: true, clampClosed: false,
        invalidMask: 0, alarmPriority: 2, alarmsActive: 1, cellsMl: 0.5, heparinMl: 0.1, protocolItem: 1,
        cellsHalt: "none", outflowClamp: false, latenessUs: 12.3, execUs: 40.1, overruns: 0, rOxy: 9.4,
        rOxyBaseline: nil, setpoint: LinkSetpoint(mode: "flow", value: 3.2))

    static func roundTrip(_ m: RigMessage) throws -> RigMessage {
        let line = LinkCodec.encode(m)
        #expect(!line.contains(0x0A))
        return try LinkCodec.decodeRigMessage(line)
    }

    static func roundTrip(_ m: ConsoleMessage) throws -> ConsoleMessage {
        let line = LinkCodec.encode(m)
        #expect(!line.contains(0x0A))
        return try LinkCodec.decodeConsoleMessage(line)
    }

    static func decodeConsole(_ s: String) -> LinkDecodeError? {
        do {
            _ = try LinkCodec.decodeConsoleMessage(Data(s.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test func everyRigMessageSurvivesARoundTrip() throws {
        let hello = RigHello(rigVersion: "0.1", board: "sim", runID: "run-1", runDirectory: "/tmp/run-1",
                             loopPeriodMicroseconds: 1000, startedAt: "2026-11-25T17:00:00Z", mode: "flow",
                             telemetryHz: 25,
                             limits: SetpointLimits(flowMinLpm: 1, flowMaxLpm: 7, rpmMin: 1000, rpmMax: 4500,
                                                    heparinMin: 0, heparinMax: 50),
                             alarms: [AlarmCatalogueEntry(id: 5, name: "FLOW_LOW", priority: "medium", latching: false)],
                             commands: LinkCommand.allNames)
        let messages: [RigMessage] = [
            .hello(hello),
            .telemetry(Self.telemetry),
            .event(LinkEvent(t: 1, code: "setpoint", values: ["mode": .string("constant_flow"), "flow_lpm": .number(3),
                                                               "sensors": .array([.string("P_pre")]), "active": .bool(true)],
                             text: "set-point 3 L/min")),
            .alarms(LinkAlarms(t: 2, alarms: [LinkAlarm(id: 5, name: "FLOW_LOW", priority: "high", state: "latched", since: 1.5)],
                               audioPausedRemaining: 100)),
            .protocolState(LinkProtocolState(t: 3, loaded: true, name: "p1", state: "running",
                                             items: [LinkProtocolItem(index: 0, kind: "baseline", at: 0, durationS: 300, volumeMl: 0, status: "current")],
                                             currentItem: 0, nextDoseAt: 300, cellsPlannedMl: 2, cellsDeliveredMl: 0,
                                             heparinDeliveredMl: 0, cellsHalt: "none")),
            .reply(LinkReply(id: 9, ok: false, reason: "out_of_range", message: "flow 9 L/min is above 7 L/min")),
            .reply(LinkReply(id: 10, ok: true)),
            .error(LinkError(code: "bad_json", message: "x", fatal: true)),
        ]
        for m in messages {
            #expect(try Self.roundTrip(m) == m)
        }
    }

    /// Found by fuzzing (link-codec, 3.7 M executions): an event value that is the text
    /// "nan", "inf" or "-inf" came back as a number (NaN, which equals nothing), because the
    /// decoder's non-conforming-float strategy read the string as a Double first.
    @Test(arguments: ["nan", "inf", "-inf", "12.5", "0"])
    func aTextEventValueStaysTextEvenWhenItSpellsANumber(text: String) throws {
        let line = #"{"type":"event","t":51,"code":"note","values":{"note":"\#(text)","n":2.5,"on":true},"text":"x"}"#
        guard case .event(let e) = try LinkCodec.decodeRigMessage(Data(line.utf8)) else {
            Issue.record("not an event")
            return
        }
        #expect(e.values["note"] == .string(text))
        #expect(e.values["n"] == .number(2.5) && e.values["on"] == .bool(true))
        #expect(try Self.roundTrip(.event(e)) == .event(e))
    }

    /// A value past a Double's range is refused or read as a number that survives a round trip.
    @Test(arguments: ["1e999", "-1e999", "1e308", "5e-324"])
    func anExtremeNumericEventValueIsRefusedOrSurvivesARoundTrip(number: String) throws {
        let line = #"{"type":"event","t":1,"code":"note","values":{"n":\#(number)},"text":"x"}"#
        guard let m = try? LinkCodec.decodeRigMessage(Data(line.utf8)) else { return }
        guard case .event(let e) = m, case .number(let d) = e.values["n"] else {
            Issue.record("\(number) decoded as \(m)")
            return
        }
        #expect(d.isFinite, "\(number) read as \(d)")
        #expect(try Self.roundTrip(m) == m)
    }

    @Test func everyCommandSurvivesARoundTrip() throws {
        let commands: [LinkCommand] = [
            .setFlow(lpm: 3.5), .setSpeed(rpm: 3000), .acknowledge(alarm: "all"), .pauseAudio,
            .protocolPause(channel: .cells), .protocolResume(channel: .heparin), .protocolAbort, .protocolStart,
            .enterACT(seconds: 180), .setHeparinRate(unitsPerKilogramPerHour: 20), .annotate(text: "clot at the inlet"), .stop, .activate, .clearFault,
            .foulingResume(newBaseline: true), .setAlarmLimit(key: "p_drain_low_mmhg", value: -120),
        ]
        #expect(commands.map(\.name) == LinkCommand.allNames)
        for (i, c) in commands.enumerated() {
            let m = ConsoleMessage.command(ConsoleCommand(id: UInt64(i), actor: "alice", role: "operator", command: c))
            #expect(try Self.roundTrip(m) == m)
        }
        #expect(try Self.roundTrip(.hello(ConsoleHello(client: "console 0.1"))) == .hello(ConsoleHello(client: "console 0.1")))
    }

    @Test func wireFormatUsesTheDocumentedNames() throws {
        let line = String(decoding: LinkCodec.encode(.telemetry(Self.telemetry)), as: UTF8.self)
        #expect(line.hasPrefix("{"))
        for key in ["\"type\":\"telemetry\"", "\"p_drain\":-30.5", "\"flow_lpm\":3.2", "\"rpm_cmd\":2810", "\"lateness_us\":12.3",
                    "\"setpoint\":{\"mode\":\"flow\",\"value\":3.2}", "\"r_oxy\":9.4"] {
            #expect(line.contains(key), "missing \(key) in \(line)")
        }
        let cmd = ConsoleMessage.command(ConsoleCommand(id: 4, actor: "bob", role: "operator", command: .setFlow(lpm: 2.5)))
        let c = String(decoding: LinkCodec.encode(cmd), as: UTF8.self)
        #expect(c == #"{"actor":"bob","args":{"lpm":2.5},"id":4,"name":"set_flow","role":"operator","type":"command"}"#)
    }

    @Test func foulingResumeDecodesWithAndWithoutANewBaseline() throws {
        let with = try LinkCodec.decodeConsoleMessage(Data(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"fouling_resume","args":{"new_baseline":true}}"#.utf8))
        #expect(with == .command(ConsoleCommand(id: 1, actor: "a", role: "operator", command: .foulingResume(newBaseline: true))))
        let without = try LinkCodec.decodeConsoleMessage(Data(#"{"type":"command","id":2,"actor":"a","role":"operator","name":"fouling_resume"}"#.utf8))
        #expect(without == .command(ConsoleCommand(id: 2, actor: "a", role: "operator", command: .foulingResume(newBaseline: false))))
    }

    @Test func decodesAHandWrittenCommandWithoutArgs() throws {
        let m = try LinkCodec.decodeConsoleMessage(Data(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"stop"}"#.utf8))
        #expect(m == .command(ConsoleCommand(id: 1, actor: "a", role: "operator", command: .stop)))
    }

    @Test func refusesTextThatIsNotAJSONObject() {
        #expect(Self.decodeConsole("hello there")?.code == "bad_json")
        #expect(Self.decodeConsole("[1,2]")?.code == "bad_json")
        #expect(Self.decodeConsole("{\"type\":")?.code == "bad_json")
    }

    @Test func refusesAnUnknownTypeByName() {
        let e = Self.decodeConsole(#"{"type":"telemetry"}"#)
        #expect(e?.code == "unknown_type")
        #expect(e?.message.contains("telemetry") == true)
        #expect(Self.decodeConsole(#"{"id":1}"#)?.message.contains("\"type\"") == true)
    }

    @Test func namesTheMissingField() {
        let e = Self.decodeConsole(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"set_flow","args":{}}"#)
        #expect(e?.code == "missing_field")
        #expect(e?.message.contains("args.lpm") == true, "\(String(describing: e))")
        let e2 = Self.decodeConsole(#"{"type":"command","id":1,"role":"operator","name":"stop"}"#)
        #expect(e2?.message.contains("\"actor\"") == true, "\(String(describing: e2))")
        #expect(Self.decodeConsole(#"{"type":"hello"}"#)?.message.contains("\"protocol\"") == true)
    }

    @Test func namesAFieldOfTheWrongType() {
        let e = Self.decodeConsole(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"set_flow","args":{"lpm":"fast"}}"#)
        #expect(e?.code == "bad_field")
        #expect(e?.message.contains("args.lpm") == true, "\(String(describing: e))")
        #expect(Self.decodeConsole(#"{"type":"command","id":-1,"actor":"a","role":"operator","name":"stop"}"#) != nil)
    }

    @Test func refusesUnknownCommandsChannelsAndLongAnnotations() {
        #expect(Self.decodeConsole(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"open_valve"}"#)?.code == "unknown_command")
        let ch = Self.decodeConsole(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"protocol_pause","args":{"channel":"blood"}}"#)
        #expect(ch?.message.contains("args.channel") == true)
        let long = String(repeating: "x", count: 501)
        let a = Self.decodeConsole(#"{"type":"command","id":1,"actor":"a","role":"operator","name":"annotate","args":{"text":"\#(long)"}}"#)
        #expect(a?.message.contains("500") == true)
    }
}

@Suite struct LineFramerTests {
    @Test func splitsLinesAcrossChunksAndDropsCarriageReturns() {
        var f = LineFramer(maxLineBytes: 16)
        #expect(f.push(Array("ab".utf8)) == [])
        #expect(f.push(Array("c\r\n\nde\nf".utf8)) == [.line(Array("abc".utf8)), .line(Array("de".utf8))])
        #expect(f.pending == 1)
    }

    @Test func acceptsALineOfExactlyTheLimit() {
        var f = LineFramer(maxLineBytes: 4)
        #expect(f.push(Array("abcd\r\nabcd\n".utf8)) == [.line(Array("abcd".utf8)), .line(Array("abcd".utf8))])
    }

    @Test func refusesALineOverTheLimitEvenWithoutANewline() {
        var f = LineFramer(maxLineBytes: 4)
        #expect(f.push(Array("ok\nabcdef".utf8)) == [.line(Array("ok".utf8)), .tooLong])
        #expect(f.failed)
        #expect(f.push(Array("x\n".utf8)) == [])
        var g = LineFramer(maxLineBytes: 4)
        #expect(g.push(Array("abcde\n".utf8)) == [.tooLong])
        var big = LineFramer()
        let items = big.push([UInt8](repeating: 0x41, count: LinkProtocol.maxLineBytes + 2))
        #expect(items == [.tooLong])
        #expect(big.pending == 0)
    }
}
