import ArgumentParser
import Foundation
import Logging
import ECMOBoard
import ECMOCore
import ECMORuntime
import ECMOConsoleLink
import ECMORecord

/// `run`'s console-link options (an option group, so EcmoRig.swift gains one line for them).
struct ConsoleLinkOptions: ParsableArguments {
    @Option(name: .customLong("console-socket"),
            help: "Serve the console link (docs/console-protocol.md) on this Unix socket, e.g. /run/ecmo-rig/console.sock on a Pi, /tmp/ecmo-rig.sock on a laptop. Off unless given.")
    var socketPath: String?

    @Option(name: .customLong("console-rate"), help: "Telemetry rate of the console link, Hz (rounded to whole loop periods).")
    var rate: Double = 25

    func validate() throws {
        // 0.001 Hz is the slowest the link paces (RigLink); below it a rate would be silently raised.
        guard rate.isFinite, rate >= 0.001, rate <= 200 else { throw ValidationError("--console-rate \(rate): must be in 0.001...200 Hz") }
    }

    /// The loop's side of the link, when a socket was asked for (built into the loop).
    func makeLink(loopPeriod: Duration) -> RigLink? {
        socketPath == nil ? nil : RigLink(loopPeriod: loopPeriod, telemetryHz: rate)
    }

    /// Starts the server on the loop's link (before the loop runs), or nil when no socket
    /// was asked for.
    func start<H>(loop: RigLoop<H>, recorder: RunRecorder, board: BoardConfiguration, mode: PumpMode, alarmLimits: AlarmLimits,
               protocolName: String?, timeOrigin: Instant, logger: Logger) throws -> ConsoleLinkServer? {
        guard let socketPath, let link = loop.link else { return nil }
        var info: ConsoleProtocolInfo?
        if loop.hasInfusionPlan { info = ConsoleProtocolInfo(name: protocolName ?? "protocol", plan: loop.infusion.plan) }
        let configuration = ConsoleLinkConfiguration(
            socketPath: socketPath, rigVersion: ConsoleLinkOptions.rigVersion,
            board: BoardConfigurationSummary(name: board.name, loopPeriod: board.loopPeriod, pump: board.pump.limits),
            runID: recorder.directory.lastPathComponent, runDirectory: recorder.directory, startedAt: Date(),
            timeOrigin: timeOrigin, mode: mode, alarmLimits: alarmLimits, protocolInfo: info)
        let server = try ConsoleLinkServer(configuration: configuration, link: link)
        recorder.onRunEvent = { [server] e in server.offer(event: e) }
        server.start()
        logger.info("console link on \(socketPath) (mode 0660), telemetry \(String(format: "%.1f", 1 / (board.loopPeriod.seconds * Double(link.every)))) Hz; commands → \(recorder.directory.appendingPathComponent("commands.jsonl").path)")
        return server
    }

    static let rigVersion = "0.9.0"

    /// summary.json's `console` object.
    static func summary(_ s: ConsoleLinkServer.Statistics) -> JSONValue {
        .object([
            "commands": .int(s.commands),
            "commands_refused": .int(s.refused),
            "clients_served": .int(s.clientsServed),
            "telemetry_messages_sent": .int(s.telemetrySent),
            "telemetry_messages_dropped": .int(s.framesDropped),
        ])
    }
}
