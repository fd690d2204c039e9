import ECMOLink
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A stand-in rig for tests and the browser test: a Unix socket server speaking ECMOLink.
/// It sends hello, protocol and alarm state, telemetry at `telemetryHz` (pressures follow
/// the pump speed), answers commands (refusing those `refuse` returns a reason for) and
/// records every command it got. A speed set-point above 3500 rpm raises the high-priority
/// latching alarm P_POST_HIGH within a second: the fault the browser test injects.
public final class FakeRig: Sendable {
    public let path: String
    let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    public let commands = Mutex<[ConsoleCommand]>([])
    let alarms = Mutex<[LinkAlarm]>([])
    let speed = Mutex<Double>(2500)
    let serving = Mutex<Task<Void, Never>?>(nil)
    let refuse: @Sendable (LinkCommand) -> (reason: String, message: String)?
    let telemetryHz: Double

    public static func temporaryPath() -> String {
        "/tmp/ecmo-fake-rig-\(UUID().uuidString.prefix(8)).sock"
    }

    public static func start(path: String = temporaryPath(), telemetryHz: Double = 25,
                      refuse: @escaping @Sendable (LinkCommand) -> (reason: String, message: String)? = FakeRig.defaultRefusal) async throws -> FakeRig {
        try? FileManager.default.removeItem(atPath: path)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let rig = FakeRig(path: path, server: server, refuse: refuse, telemetryHz: telemetryHz)
        let task = Task { await rig.serve() }
        rig.serving.withLock { $0 = task }
        return rig
    }

    private init(path: String, server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>,
                 refuse: @escaping @Sendable (LinkCommand) -> (reason: String, message: String)?, telemetryHz: Double) {
        self.path = path
        self.server = server
        self.refuse = refuse
        self.telemetryHz = telemetryHz
    }

    /// Refuses a flow set-point above 6 L/min and acknowledging an alarm that is not active.
    public static let defaultRefusal: @Sendable (LinkCommand) -> (reason: String, message: String)? = { command in
        switch command {
        case .setFlow(let lpm) where lpm > 6:
            return ("out_of_range", "flow set-point \(lpm) L/min is outside the board's range 0.5...6 L/min")
        case .setAlarmLimit(let key, let value):
            // Bounds from the hello, as the real rig's core would check them.
            guard let l = hello.alarmLimits?.first(where: { $0.key == key }) else { return ("unknown_limit", "no alarm limit named \(key)") }
            if value > l.max { return ("out_of_range", "alarm limit \(key) \(value) \(l.unit) is above the maximum \(l.max) \(l.unit)") }
            if value < l.min { return ("out_of_range", "alarm limit \(key) \(value) \(l.unit) is below the minimum \(l.min) \(l.unit)") }
            return nil
        case .acknowledge(let alarm) where alarm == "NO_SUCH_ALARM":
            return ("alarm_not_active", "no active alarm named NO_SUCH_ALARM")
        default:
            return nil
        }
    }

    /// Closes the socket and every connection (the rig "goes away").
    public func stop() async {
        serving.withLock { $0?.cancel() }
        try? await server.channel.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    public func raise(_ alarm: LinkAlarm) { alarms.withLock { $0.append(alarm) } }

    private func serve() async {
        do {
            try await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await client in inbound {
                        group.addTask { await self.handle(client) }
                    }
                }
            }
        } catch {}
    }

    static let hello = RigHello(
        rigVersion: "fake-rig", board: "mock-board", runID: "run-test", runDirectory: "/tmp/run-test",
        loopPeriodMicroseconds: 2000, startedAt: "2026-01-01T00:00:00Z", mode: "flow", telemetryHz: 25,
        limits: SetpointLimits(flowMinLpm: 0.5, flowMaxLpm: 6, rpmMin: 0, rpmMax: 4000, heparinMin: 0, heparinMax: 50),
        alarms: [AlarmCatalogueEntry(id: 0, name: "P_DRAIN_LOW", priority: "high", latching: true),
                 AlarmCatalogueEntry(id: 1, name: "FLOW_LOW", priority: "medium", latching: false),
                 AlarmCatalogueEntry(id: 2, name: "P_POST_HIGH", priority: "high", latching: true)],
        commands: LinkCommand.allNames,
        alarmLimits: [LinkAlarmLimit(key: "p_drain_low_mmhg", value: -150, min: -300, max: -20, unit: "mmHg"),
                      LinkAlarmLimit(key: "flow_high_lpm", value: 7, min: 1, max: 10, unit: "L/min")])

    static func telemetry(t: Double, tick: UInt64, rpm: Double = 2500) -> LinkTelemetry {
        let k = (rpm / 2500) * (rpm / 2500)
        return LinkTelemetry(t: t, tick: tick, state: "running", phase: "regulate", fault: "none",
                      pDrain: -40 * k + sin(t), pPre: 180 * k, pPost: 150 * k, dpOxy: 30 * k, flowLpm: 3.5 * rpm / 2500, rpm: rpm + 10 * sin(t),
                      rpmCmd: 2500, pumpOn: true, clampClosed: false, invalidMask: 0, alarmPriority: 0, alarmsActive: 0,
                      cellsMl: t * 0.01, heparinMl: t * 0.001, protocolItem: -1, cellsHalt: "none", outflowClamp: false,
                      latenessUs: 42, execUs: 80, overruns: 0, rOxy: 30 / 3.5, rOxyBaseline: 8, setpoint: LinkSetpoint(mode: "flow", value: 3.5))
    }

    private func handle(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await client.executeThenClose { inbound, outbound in
            let protocolState = LinkProtocolState(t: 0, loaded: false, name: nil, state: "none", items: [], currentItem: -1,
                                                  nextDoseAt: nil, cellsPlannedMl: 0, cellsDeliveredMl: 0,
                                                  heparinDeliveredMl: 0, cellsHalt: "none")
            for m in [RigMessage.hello(Self.hello), .protocolState(protocolState), .alarms(LinkAlarms(t: 0, alarms: [], audioPausedRemaining: 0))] {
                try await outbound.write(ByteBuffer(bytes: LinkCodec.line(m)))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var tick: UInt64 = 0
                    let period = 1.0 / self.telemetryHz
                    let started = ContinuousClock.now
                    while !Task.isCancelled {
                        let t = Double(tick) * period
                        let rpm = self.speed.withLock { $0 }
                        try await outbound.write(ByteBuffer(bytes: LinkCodec.line(RigMessage.telemetry(Self.telemetry(t: t, tick: tick, rpm: rpm)))))
                        let active = self.alarms.withLock { list in
                            let high = 150 * (rpm / 2500) * (rpm / 2500) > 280
                            if high, !list.contains(where: { $0.name == "P_POST_HIGH" }) {
                                list.append(LinkAlarm(id: 2, name: "P_POST_HIGH", priority: "high", state: "active", since: t))
                            }
                            if !high { list.removeAll { $0.name == "P_POST_HIGH" && $0.state == "acknowledged" } }
                            return list
                        }
                        if tick % UInt64(max(1, self.telemetryHz)) == 0 || !active.isEmpty && tick % 5 == 0 {
                            try await outbound.write(ByteBuffer(bytes: LinkCodec.line(RigMessage.alarms(LinkAlarms(t: t, alarms: active, audioPausedRemaining: 0)))))
                        }
                        tick += 1
                        try await Task.sleep(until: started + .milliseconds(Int(Double(tick) * period * 1000)), clock: .continuous)
                    }
                }
                group.addTask {
                    var framer = LineFramer()
                    for try await buffer in inbound {
                        for case .line(let bytes) in framer.push(buffer.readableBytesView) {
                            guard case .command(let c) = try? LinkCodec.decodeConsoleMessage(Data(bytes)) else { continue }
                            self.commands.withLock { $0.append(c) }
                            let reply: LinkReply
                            if let r = self.refuse(c.command) {
                                reply = LinkReply(id: c.id, ok: false, reason: r.reason, message: r.message)
                            } else {
                                reply = LinkReply(id: c.id, ok: true)
                                if case .setSpeed(let rpm) = c.command { self.speed.withLock { $0 = rpm } }
                                if case .setAlarmLimit(let key, let value) = c.command {
                                    let values: [String: LinkValue] = ["key": .string(key), "from": .number(0), "to": .number(value),
                                                                       "by": .string("console"), "operator": .string(c.actor)]
                                    let e = LinkEvent(t: 0, code: "alarm_limit", values: values,
                                                      text: EventWording.text(code: "alarm_limit", values: values))
                                    try await outbound.write(ByteBuffer(bytes: LinkCodec.line(RigMessage.event(e))))
                                }
                                if case .acknowledge = c.command {
                                    self.alarms.withLock { list in for i in list.indices { list[i].state = "acknowledged" } }
                                }
                            }
                            try await outbound.write(ByteBuffer(bytes: LinkCodec.line(RigMessage.reply(reply))))
                        }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }
}
