import ECMOLink
import Foundation
import Logging
import NIOCore
import NIOPosix

/// Why a command got no answer from the rig.
public enum RigLinkError: Error, CustomStringConvertible, Sendable {
    case disconnected
    case timeout
    public var description: String {
        switch self {
        case .disconnected: "the rig is not connected"
        case .timeout: "the rig did not answer in time"
        }
    }
}

/// The console's connection to the rig's console socket (docs/console-protocol.md).
///
/// Connects, says hello, and reconnects with a growing delay (0.25 s to 5 s) while the rig
/// is absent or after it goes away. Every line the rig sends is passed on verbatim to the
/// subscribers (the browsers' WebSockets); replies are matched to waiting commands by id.
/// The rig never waits on the console: it decimates and drops on its side.
public actor RigLink {
    public let socketPath: String
    let logger: Logger
    let metrics: ConsoleMetrics?
    private var outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>?
    private var nextID: UInt64 = 1
    private var pending: [UInt64: CheckedContinuation<LinkReply, any Error>] = [:]
    private var subscribers: [UUID: AsyncStream<String>.Continuation] = [:]
    /// Last hello/alarms/protocol lines, sent to a subscriber as soon as it joins.
    private var snapshot: [String: String] = [:]
    public private(set) var connected = false
    public private(set) var hello: RigHello?
    public private(set) var lastError: String?
    public private(set) var telemetryFrames: UInt64 = 0
    private var knownAlarms: Set<Int> = []

    public init(socketPath: String, logger: Logger, metrics: ConsoleMetrics? = nil) {
        self.socketPath = socketPath
        self.logger = logger
        self.metrics = metrics
    }

    /// Runs until cancelled: connect, read, reconnect.
    public func run() async {
        var delay = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                try await connectOnce { delay = .milliseconds(250) }
                setDisconnected(reason: "the rig closed the console socket")
            } catch {
                setDisconnected(reason: "\(error)")
            }
            if Task.isCancelled { break }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
        setDisconnected(reason: "console stopping")
    }

    private func connectOnce(onConnected: () -> Void) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: socketPath) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            self.outbound = outbound
            onConnected()
            try await outbound.write(ByteBuffer(bytes: LinkCodec.line(ConsoleMessage.hello(ConsoleHello(client: "ecmo-console")))))
            var framer = LineFramer()
            for try await buffer in inbound {
                for item in framer.push(buffer.readableBytesView) {
                    switch item {
                    case .line(let bytes): self.receive(bytes)
                    case .tooLong:
                        self.logger.error("rig sent a line longer than \(LinkProtocol.maxLineBytes) bytes; reconnecting")
                        return
                    }
                }
            }
        }
    }

    private func receive(_ bytes: [UInt8]) {
        let data = Data(bytes)
        let message: RigMessage
        do { message = try LinkCodec.decodeRigMessage(data) } catch {
            logger.warning("rig sent a line the console cannot decode: \(error)")
            return
        }
        let text = String(decoding: bytes, as: UTF8.self)
        switch message {
        case .hello(let h):
            hello = h
            metrics?.hello(h)
            if !connected {
                connected = true
                lastError = nil
                metrics?.rigConnected(true)
                logger.info("connected to rig \(h.runID) on board \(h.board) (protocol \(h.protocolVersion))")
            }
            snapshot["hello"] = text
            broadcast(Self.linkStatus(connected: true, reason: nil))
        case .telemetry(let t):
            telemetryFrames &+= 1
            metrics?.telemetry(t)
        case .alarms(let a):
            let ids = Set(a.alarms.map(\.id))
            for alarm in a.alarms where !knownAlarms.contains(alarm.id) { metrics?.alarmRaised(name: alarm.name) }
            knownAlarms = ids
            metrics?.alarms(a.alarms)
            snapshot["alarms"] = text
        case .protocolState(let p):
            metrics?.protocolState(p)
            snapshot["protocol"] = text
        case .reply(let r):
            if let c = pending.removeValue(forKey: r.id) { c.resume(returning: r) }
            return  // replies go to the requester only
        case .event(let e):
            // A limit changed: the cached hello a page joining later receives says so too.
            if e.code == "alarm_limit", var h = hello, var limits = h.alarmLimits,
               case .string(let key)? = e.values["key"], case .number(let to)? = e.values["to"],
               let i = limits.firstIndex(where: { $0.key == key }) {
                limits[i].value = to
                h.alarmLimits = limits
                hello = h
                snapshot["hello"] = String(decoding: LinkCodec.encode(RigMessage.hello(h)), as: UTF8.self)
            }
        case .error(let e):
            logger.warning("rig reported a protocol error: \(e.code): \(e.message)")
        }
        broadcast(text)
    }

    private func setDisconnected(reason: String) {
        outbound = nil
        for (_, c) in pending { c.resume(throwing: RigLinkError.disconnected) }
        pending = [:]
        if connected || lastError == nil {
            logger.warning("rig disconnected: \(reason)")
        }
        let wasConnected = connected
        connected = false
        lastError = reason
        snapshot = [:]
        knownAlarms = []
        metrics?.rigConnected(false)
        if wasConnected || subscribers.count > 0 { broadcast(Self.linkStatus(connected: false, reason: reason)) }
    }

    /// The console's own message about the link, in the same stream as the rig's.
    static func linkStatus(connected: Bool, reason: String?) -> String {
        var o: [String: Any] = ["type": "link", "connected": connected]
        if let reason { o["reason"] = reason }
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func broadcast(_ line: String) {
        for (_, c) in subscribers { c.yield(line) }
    }

    /// A stream of every line from the rig (and link status lines), starting with the
    /// current link state and the last hello, alarms and protocol state.
    public func subscribe() -> (UUID, AsyncStream<String>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(512))
        continuation.yield(Self.linkStatus(connected: connected, reason: connected ? nil : (lastError ?? "connecting")))
        for key in ["hello", "protocol", "alarms"] { if let s = snapshot[key] { continuation.yield(s) } }
        subscribers[id] = continuation
        return (id, stream)
    }

    public func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.finish()
    }

    /// Sends one command with `actor` and `role` and waits for the rig's reply.
    public func send(_ command: LinkCommand, actor: String, role: Role, timeout: Duration = .seconds(3)) async throws -> LinkReply {
        guard let outbound, connected else { throw RigLinkError.disconnected }
        let id = nextID
        nextID += 1
        let line = LinkCodec.line(ConsoleMessage.command(ConsoleCommand(id: id, actor: actor, role: role.rawValue, command: command)))
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expire(id)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = continuation
            Task {
                do { try await outbound.write(ByteBuffer(bytes: line)) } catch { self.fail(id, error) }
            }
        }
    }

    private func expire(_ id: UInt64) { pending.removeValue(forKey: id)?.resume(throwing: RigLinkError.timeout) }
    private func fail(_ id: UInt64, _ error: any Error) { pending.removeValue(forKey: id)?.resume(throwing: error) }
}
