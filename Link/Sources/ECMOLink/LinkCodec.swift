import Foundation

/// Why a line could not be decoded. `code` is the `error` message's code; `message`
/// names the offending field.
public struct LinkDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
    /// The `error` message to send back for it.
    public func linkError(fatal: Bool) -> LinkError { LinkError(code: code, message: message, fatal: fatal) }
}

/// Encodes and decodes one message per line. Decoding is strict: an unknown `type` or
/// command `name`, a missing field or a field of the wrong type is an error naming it.
/// Extra fields are ignored, so additive changes need no version bump.
public enum LinkCodec {
    static func makeEncoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Never throw on NaN (the rig sends 0 with the invalid mask instead; this is a backstop).
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// One JSON object, no newline (append `\n` to frame it).
    public static func encode(_ message: RigMessage) -> Data {
        let e = makeEncoder()
        let data: Data?
        switch message {
        case .hello(let p): data = try? e.encode(Typed(type: message.type, payload: p))
        case .telemetry(let p): data = try? e.encode(Typed(type: message.type, payload: p))
        case .event(let p): data = try? e.encode(Typed(type: message.type, payload: p))
        case .alarms(let p): data = try? e.encode(Typed(type: message.type, payload: p))
        case .protocolState(let p): data = try? e.encode(Typed(type: message.type, payload: p))
        case .reply(let p): data = try? e.encode(Typed(type: message.type, payload: p))
        case .error(let p): data = try? e.encode(Typed(type: message.type, payload: p))
        }
        return data ?? Data(#"{"type":"error","code":"encode_failed","message":"the rig could not encode a message","fatal":false}"#.utf8)
    }

    public static func encode(_ message: ConsoleMessage) -> Data {
        let e = makeEncoder()
        let data: Data?
        switch message {
        case .hello(let p): data = try? e.encode(Typed(type: message.type, payload: p))
        case .command(let p): data = try? e.encode(Typed(type: message.type, payload: CommandWire(p)))
        }
        return data ?? Data()
    }

    /// `encode` plus the terminating newline.
    public static func line(_ message: RigMessage) -> Data { encode(message) + Data([0x0A]) }
    public static func line(_ message: ConsoleMessage) -> Data { encode(message) + Data([0x0A]) }

    /// Decodes one line sent by a console.
    public static func decodeConsoleMessage(_ line: Data) throws(LinkDecodeError) -> ConsoleMessage {
        let type = try probeType(line)
        switch type {
        case "hello": return .hello(try decode(ConsoleHello.self, line))
        case "command": return .command(try decode(CommandWire.self, line).command)
        default:
            throw LinkDecodeError(code: "unknown_type", message: "unknown message type \"\(type)\" (a console sends hello or command)")
        }
    }

    /// Decodes one line sent by a rig.
    public static func decodeRigMessage(_ line: Data) throws(LinkDecodeError) -> RigMessage {
        let type = try probeType(line)
        switch type {
        case "hello": return .hello(try decode(RigHello.self, line))
        case "telemetry": return .telemetry(try decode(LinkTelemetry.self, line))
        case "event": return .event(try decode(LinkEvent.self, line))
        case "alarms": return .alarms(try decode(LinkAlarms.self, line))
        case "protocol": return .protocolState(try decode(LinkProtocolState.self, line))
        case "reply": return .reply(try decode(LinkReply.self, line))
        case "error": return .error(try decode(LinkError.self, line))
        default:
            throw LinkDecodeError(code: "unknown_type", message: "unknown message type \"\(type)\"")
        }
    }

    static func probeType(_ line: Data) throws(LinkDecodeError) -> String {
        guard (try? JSONSerialization.jsonObject(with: line)) is [String: Any] else {
            throw LinkDecodeError(code: "bad_json", message: "the line is not a JSON object")
        }
        return try decode(TypeProbe.self, line).type
    }

    static func decode<T: Decodable>(_ type: T.Type, _ line: Data) throws(LinkDecodeError) -> T {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try d.decode(T.self, from: line)
        } catch let e as LinkDecodeError {
            throw e
        } catch let e as DecodingError {
            throw describe(e)
        } catch {
            throw LinkDecodeError(code: "bad_json", message: "\(error)")
        }
    }

    static func path(_ keys: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
        var all = keys
        if let last { all.append(last) }
        return all.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    static func describe(_ e: DecodingError) -> LinkDecodeError {
        switch e {
        case .keyNotFound(let key, let ctx):
            return LinkDecodeError(code: "missing_field", message: "missing field \"\(path(ctx.codingPath, key))\"")
        case .typeMismatch(let type, let ctx):
            return LinkDecodeError(code: "bad_field", message: "field \"\(path(ctx.codingPath))\" has the wrong type (expected \(typeName(type)))")
        case .valueNotFound(let type, let ctx):
            return LinkDecodeError(code: "bad_field", message: "field \"\(path(ctx.codingPath))\" is null (expected \(typeName(type)))")
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return LinkDecodeError(code: "bad_json", message: "the line is not valid JSON") }
            return LinkDecodeError(code: "bad_field", message: "field \"\(path(ctx.codingPath))\": \(ctx.debugDescription)")
        @unknown default:
            return LinkDecodeError(code: "bad_json", message: "\(e)")
        }
    }

    static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is Double.Type, is Float.Type: "a number"
        case is Int.Type, is UInt64.Type, is Int64.Type: "an integer"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default: "\(t)"
        }
    }
}

struct TypeProbe: Decodable {
    var type: String
}

/// A payload's fields with `type` beside them in the same object.
struct Typed<P: Encodable>: Encodable {
    var type: String
    var payload: P
    enum K: String, CodingKey { case type }
    func encode(to encoder: any Encoder) throws {
        try payload.encode(to: encoder)
        var c = encoder.container(keyedBy: K.self)
        try c.encode(type, forKey: .type)
    }
}

/// `{"type":"command","id":…,"actor":…,"role":…,"name":…,"args":{…}}`.
struct CommandWire: Codable {
    var command: ConsoleCommand
    init(_ c: ConsoleCommand) { command = c }

    enum K: String, CodingKey { case id, actor, role, name, args }
    enum A: String, CodingKey { case lpm, rpm, alarm, channel, seconds, rate = "u_per_kg_h", text, newBaseline = "new_baseline", key, value }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: K.self)
        let id = try c.decode(UInt64.self, forKey: .id)
        let actor = try c.decode(String.self, forKey: .actor)
        let role = try c.decode(String.self, forKey: .role)
        let name = try c.decode(String.self, forKey: .name)
        let command: LinkCommand
        // Commands without arguments accept a missing or empty `args`.
        func args() throws -> KeyedDecodingContainer<A> { try c.nestedContainer(keyedBy: A.self, forKey: .args) }
        func channel() throws -> LinkChannel {
            let a = try args()
            let s = try a.decode(String.self, forKey: .channel)
            guard let ch = LinkChannel(rawValue: s) else {
                throw LinkDecodeError(code: "bad_field", message: "field \"args.channel\" must be \"cells\" or \"heparin\", not \"\(s)\"")
            }
            return ch
        }
        switch name {
        case "set_flow": command = .setFlow(lpm: try args().decode(Double.self, forKey: .lpm))
        case "set_speed": command = .setSpeed(rpm: try args().decode(Double.self, forKey: .rpm))
        case "acknowledge": command = .acknowledge(alarm: try args().decode(String.self, forKey: .alarm))
        case "pause_audio": command = .pauseAudio
        case "protocol_pause": command = .protocolPause(channel: try channel())
        case "protocol_resume": command = .protocolResume(channel: try channel())
        case "protocol_abort": command = .protocolAbort
        case "protocol_start": command = .protocolStart
        case "enter_act": command = .enterACT(seconds: try args().decode(Double.self, forKey: .seconds))
        case "set_heparin_rate": command = .setHeparinRate(unitsPerKilogramPerHour: try args().decode(Double.self, forKey: .rate))
        case "annotate":
            let text = try args().decode(String.self, forKey: .text)
            guard text.count <= LinkProtocol.maxAnnotationCharacters else {
                throw LinkDecodeError(code: "bad_field", message: "field \"args.text\" is longer than \(LinkProtocol.maxAnnotationCharacters) characters")
            }
            command = .annotate(text: text)
        case "stop": command = .stop
        case "activate": command = .activate
        case "clear_fault": command = .clearFault
        case "fouling_resume":
            // `args` and `new_baseline` are optional: plain resume keeps the baseline.
            let a = try? c.nestedContainer(keyedBy: A.self, forKey: .args)
            command = .foulingResume(newBaseline: try a?.decodeIfPresent(Bool.self, forKey: .newBaseline) ?? false)
        case "set_alarm_limit":
            let a = try args()
            command = .setAlarmLimit(key: try a.decode(String.self, forKey: .key), value: try a.decode(Double.self, forKey: .value))
        default:
            throw LinkDecodeError(code: "unknown_command", message: "unknown command \"\(name)\" (known: \(LinkCommand.allNames.joined(separator: ", ")))")
        }
        self.command = ConsoleCommand(id: id, actor: actor, role: role, command: command)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: K.self)
        try c.encode(command.id, forKey: .id)
        try c.encode(command.actor, forKey: .actor)
        try c.encode(command.role, forKey: .role)
        try c.encode(command.command.name, forKey: .name)
        var a = c.nestedContainer(keyedBy: A.self, forKey: .args)
        switch command.command {
        case .setFlow(let v): try a.encode(v, forKey: .lpm)
        case .setSpeed(let v): try a.encode(v, forKey: .rpm)
        case .acknowledge(let v): try a.encode(v, forKey: .alarm)
        case .protocolPause(let ch), .protocolResume(let ch): try a.encode(ch.rawValue, forKey: .channel)
        case .enterACT(let v): try a.encode(v, forKey: .seconds)
        case .setHeparinRate(let v): try a.encode(v, forKey: .rate)
        case .annotate(let v): try a.encode(v, forKey: .text)
        case .foulingResume(let v): try a.encode(v, forKey: .newBaseline)
        case .setAlarmLimit(let k, let v):
            try a.encode(k, forKey: .key)
            try a.encode(v, forKey: .value)
        case .pauseAudio, .protocolAbort, .protocolStart, .stop, .activate, .clearFault: break
        }
    }
}
