import ArgumentParser
import Foundation
import ECMOConsoleLink
import ECMOLink
import ECMOPosix

/// `ecmo-rig command NAME [VALUE]`: one operator command to a running rig, over its console
/// link, with the rig's answer printed. The operator's way to `activate` a rig that waits
/// after a watchdog reset or an unclean stop, or to `clear_fault` after air in the line,
/// without a console: the same wire protocol, the same validation in the core, the same
/// line in `commands.jsonl`.
struct CommandCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command",
        abstract: "Send one operator command to a running rig over its console link and print the answer.",
        discussion: """
        NAME is one of: \(CommandCommand.names.joined(separator: ", ")).
        VALUE: set_flow L/min, set_speed rpm, enter_act seconds, set_heparin_rate U/kg/h,
        acknowledge an alarm identifier or `all`, protocol_pause/protocol_resume `cells` or
        `heparin`, annotate a text. Exit codes: 0 accepted, 1 refused (the reason is printed),
        8 no rig on the socket or a link error, 64 bad arguments.
        Example, after a watchdog reset: ecmo-rig command clear_fault --console-socket /tmp/ecmo-rig.sock
        then: ecmo-rig command activate --console-socket /tmp/ecmo-rig.sock
        """)

    static let names = LinkCommand.allNames

    @Argument(help: "The command (see below).")
    var name: String

    @Argument(help: "Its value, when it takes one.")
    var value: String?

    @Option(name: .customLong("console-socket"), help: "The rig's console-link socket (as given to `run --console-socket`).")
    var socketPath: String

    @Option(help: "Who gives the command (recorded with it in commands.jsonl).")
    var actor: String = ProcessInfo.processInfo.environment["USER"] ?? "operator"

    @Option(help: "Seconds to wait for the rig's answer.")
    var timeout: Double = 5

    func validate() throws {
        _ = try Self.parse(name: name, value: value)
        // From 10 ms: a subnormal such as 1e-320 is above zero but no time to wait at all.
        guard timeout.isFinite, timeout >= 0.01, timeout <= 60 else { throw ValidationError("--timeout \(timeout): must be in 0.01...60 seconds") }
        guard !actor.isEmpty, actor.count <= 64 else { throw ValidationError("--actor: 1 to 64 characters") }
    }

    /// The wire command for `name` and `value`, or a message naming what is wrong.
    static func parse(name: String, value: String?) throws -> LinkCommand {
        func number(_ what: String) throws -> Double {
            guard let value else { throw ValidationError("\(name) needs a value: \(what)") }
            guard let v = Double(value), v.isFinite else { throw ValidationError("\(name) \(value): not a finite number (\(what))") }
            return v
        }
        func none(_ c: LinkCommand) throws -> LinkCommand {
            if let value { throw ValidationError("\(name) takes no value (got '\(value)')") }
            return c
        }
        func channel() throws -> LinkChannel {
            guard let value else { return .cells }
            guard let c = LinkChannel(rawValue: value) else { throw ValidationError("\(name) \(value): the channel is cells or heparin") }
            return c
        }
        switch name {
        case "set_flow": return .setFlow(lpm: try number("L/min"))
        case "set_speed": return .setSpeed(rpm: try number("rpm"))
        case "enter_act": return .enterACT(seconds: try number("seconds"))
        case "set_heparin_rate": return .setHeparinRate(unitsPerKilogramPerHour: try number("U/kg/h"))
        case "acknowledge":
            guard let value, !value.isEmpty else { throw ValidationError("acknowledge needs an alarm identifier or 'all'") }
            return .acknowledge(alarm: value)
        case "annotate":
            guard let value, !value.isEmpty, value.count <= 500 else { throw ValidationError("annotate needs a text of 1 to 500 characters") }
            return .annotate(text: value)
        case "protocol_pause": return .protocolPause(channel: try channel())
        case "protocol_resume": return .protocolResume(channel: try channel())
        case "pause_audio": return try none(.pauseAudio)
        case "protocol_abort": return try none(.protocolAbort)
        case "protocol_start": return try none(.protocolStart)
        case "stop": return try none(.stop)
        case "activate": return try none(.activate)
        case "clear_fault": return try none(.clearFault)
        default:
            throw ValidationError("unknown command '\(name)' (known: \(names.joined(separator: ", ")))")
        }
    }

    func run() throws {
        do {
            try send()
        } catch let f as CommandLineFailure {
            FileHandle.standardError.write(Data("\(f.description)\n".utf8))
            throw ExitCode(f.code)
        }
    }

    private func send() throws {
        let command = try Self.parse(name: name, value: value)
        let client: UnixLineClient
        do { client = try UnixLineClient(path: socketPath) } catch {
            throw CommandLineFailure("no rig answers on \(socketPath): \(error) (is `ecmo-rig run --console-socket \(socketPath)` running?)",
                                     code: ExitCodes.console)
        }
        defer { client.close() }
        let deadline = Date().addingTimeInterval(timeout)
        func nextMessage() -> RigMessage? {
            while Date() < deadline {
                guard let line = client.readLine(timeout: max(0, deadline.timeIntervalSinceNow)) else { return nil }
                if let m = try? LinkCodec.decodeRigMessage(Data(line.utf8)) { return m }
            }
            return nil
        }
        // The rig speaks first; then this side says which protocol it speaks.
        guard case .hello(let hello)? = nextMessage() else {
            throw CommandLineFailure("\(socketPath): no hello from the rig within \(timeout) s", code: ExitCodes.console)
        }
        let id = UInt64(Date().timeIntervalSince1970 * 1000) % 1_000_000_000
        do {
            try client.send(bytes: Array(LinkCodec.line(.hello(ConsoleHello(client: "ecmo-rig command")))))
            try client.send(bytes: Array(LinkCodec.line(.command(ConsoleCommand(id: id, actor: actor, role: "operator", command: command)))))
        } catch {
            throw CommandLineFailure("\(socketPath): could not send: \(error)", code: ExitCodes.console)
        }
        while let m = nextMessage() {
            switch m {
            case .reply(let r) where r.id == id:
                if r.ok {
                    print("\(name): accepted by \(hello.board)")
                    return
                }
                let why = [r.reason, r.message].compactMap { $0 }.joined(separator: ": ")
                throw CommandLineFailure("\(name): refused (\(why))", code: 1)
            case .error(let e):
                throw CommandLineFailure("\(name): link error \(e.code): \(e.message)", code: ExitCodes.console)
            default:
                continue
            }
        }
        throw CommandLineFailure("\(name): no answer from the rig within \(timeout) s (the command may not have been carried out)",
                                 code: ExitCodes.console)
    }
}

/// A failure with its message on stderr and the exit code a script can rely on.
struct CommandLineFailure: Error, CustomStringConvertible {
    let description: String
    let code: Int32
    init(_ message: String, code: Int32) {
        description = message
        self.code = code
    }
}
