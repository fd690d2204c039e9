import Foundation
import ECMOCore
import ECMOLink
import ECMOPosix
import ECMOBoard
import ECMORuntime
import ECMORecord

/// The protocol timeline as the console shows it, built once before the run from the plan.
public struct ConsoleProtocolInfo: Sendable {
    public var name: String
    /// Items with `status` left to the server.
    public var items: [LinkProtocolItem]
    public var cellsPlannedMl: Double
    /// Heparin rate range accepted (nil: no heparin programme).
    public var heparinRange: ClosedRange<Double>?

    public init(name: String, plan: InfusionPlan) {
        self.name = name
        let perStep = plan.channel(.cells)?.volumePerStep.milliliters ?? 0
        var items: [LinkProtocolItem] = []
        var planned = 0.0
        for (i, item) in plan.items.enumerated() {
            let kind: String
            var volume = 0.0
            switch item.kind {
            case .prime: kind = "prime"
            case .baseline: kind = "baseline"
            case .dose(let n):
                kind = "dose \(n + 1)"
                volume = Double(item.steps) * perStep
                planned += volume
            case .observation: kind = "observation"
            }
            items.append(LinkProtocolItem(index: i, kind: kind, at: item.earliestStart.seconds,
                                          durationS: item.duration.seconds, volumeMl: volume, status: "pending"))
        }
        self.items = items
        cellsPlannedMl = planned
        heparinRange = plan.heparin != nil && plan.channel(.heparin) != nil ? SetpointLimits.heparinRate : nil
    }
}

/// What the server needs to know about the run (all static).
public struct ConsoleLinkConfiguration: Sendable {
    public var socketPath: String
    public var rigVersion: String
    public var board: BoardConfigurationSummary
    public var runID: String
    public var runDirectory: URL
    public var startedAt: Date
    /// Loop time of `t` = 0 (the recorder's time origin).
    public var timeOrigin: Instant
    public var mode: PumpMode
    public var alarmLimits: AlarmLimits
    public var protocolInfo: ConsoleProtocolInfo?
    public var maxClients = 4
    /// Bytes queued per client before telemetry and events are dropped for it; twice this
    /// and the client is disconnected.
    public var clientQueueBytes = 4 << 20
    public var helloTimeout: Double = 5
    public var commandTimeout: Double = 2

    public init(socketPath: String, rigVersion: String, board: BoardConfigurationSummary, runID: String, runDirectory: URL,
                startedAt: Date, timeOrigin: Instant, mode: PumpMode, alarmLimits: AlarmLimits, protocolInfo: ConsoleProtocolInfo?) {
        self.socketPath = socketPath
        self.rigVersion = rigVersion
        self.board = board
        self.runID = runID
        self.runDirectory = runDirectory
        self.startedAt = startedAt
        self.timeOrigin = timeOrigin
        self.mode = mode
        self.alarmLimits = alarmLimits
        self.protocolInfo = protocolInfo
    }
}

/// The few board facts the link announces (keeps the configuration Sendable and small).
public struct BoardConfigurationSummary: Sendable {
    public var name: String
    public var loopPeriod: Duration
    public var pump: PumpLimits
    public init(name: String, loopPeriod: Duration, pump: PumpLimits) {
        self.name = name
        self.loopPeriod = loopPeriod
        self.pump = pump
    }
}

/// Serves the console link (docs/console-protocol.md) on an ordinary thread: a
/// non-blocking Unix socket, `poll`, up to `maxClients` consoles. It reads the loop only
/// through `RigLink`'s rings and the recorder's event fan-out (`offer(event:)`, a lock
/// shared with the recorder thread, never with the loop). A slow console loses frames
/// (bounded queue per client), a stalled or misbehaving one is disconnected; nothing
/// it does reaches the loop except commands, which the loop validates.
public final class ConsoleLinkServer: @unchecked Sendable {
    public let configuration: ConsoleLinkConfiguration
    public let link: RigLink
    private let listenFD: Int32
    private var clients: [Client] = []
    private var nextClientID = 1
    private var nextSequence: UInt64 = 1
    private var pending: [UInt64: Pending] = [:]
    private var thread: Thread?
    private let stopFlag = NSLock()
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)
    private var started = false
    private let commandLog: FileHandle?
    /// Why the last append to commands.jsonl failed (nil: it did not). While set, commands
    /// are refused: an operator's command is recorded, or it is not carried out.
    private var commandLogFailure: String?

    /// The alarm limits in force (changed by `alarm_limit` events), for the hello of a
    /// console that connects later. Link thread only.
    private var currentLimits: AlarmLimits
    /// Actor of the last command of each attributable kind (see `attributionKind`). Link thread only.
    private var lastActor: [String: String] = [:]

    private let eventLock = NSLock()
    private var eventQueue: [RigEvent] = []
    /// Words for the people at the consoles that are not the loop's events (a drill's
    /// prompts and countdown): sent as `event` messages, recorded by whoever made them.
    private var noticeQueue: [LinkEvent] = []
    private var eventsDropped = 0

    private let statsLock = NSLock()
    private var _commands = 0
    private var _refused = 0
    private var _telemetrySent = 0
    private var _framesDropped = 0
    private var _clientsServed = 0

    // Link-thread state.
    private var latest: TelemetryFrame?
    private var alarmSince = [Double](repeating: 0, count: AlarmID.count)
    private var lastAlarmKey: (UInt32, UInt32, UInt32, UInt64, Bool) = (0, 0, 0, 0, false)
    private var lastAlarmsSent = Date.distantPast
    private var lastProtocolKey: (Int16, UInt8, UInt8, UInt8) = (-2, 0, 0, 0)
    private var lastProtocolSent = Date.distantPast

    /// Counters for summary.json.
    public struct Statistics: Sendable, Equatable {
        public var commands: Int
        public var refused: Int
        public var telemetrySent: Int
        public var framesDropped: Int
        public var clientsServed: Int
    }

    public var statistics: Statistics {
        statsLock.lock(); defer { statsLock.unlock() }
        return Statistics(commands: _commands, refused: _refused, telemetrySent: _telemetrySent,
                          framesDropped: _framesDropped, clientsServed: _clientsServed)
    }

    /// Opens the socket (mode 0660) and `commands.jsonl` in the run directory. Throws if
    /// the path is in use by a live rig or cannot be created.
    public init(configuration: ConsoleLinkConfiguration, link: RigLink) throws {
        self.configuration = configuration
        self.link = link
        currentLimits = configuration.alarmLimits
        listenFD = try UnixSocket.listen(configuration.socketPath)
        let logURL = configuration.runDirectory.appendingPathComponent("commands.jsonl")
        try? FileManager.default.createDirectory(at: configuration.runDirectory, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        commandLog = try? FileHandle(forWritingTo: logURL)
        _ = try? commandLog?.seekToEnd()
        if commandLog == nil {
            UnixSocket.close(listenFD)
            UnixSocket.remove(path: configuration.socketPath)
            throw SocketError("cannot open \(logURL.path) for the command log")
        }
    }

    deinit {
        if !started { cleanUp() }
    }

    public func start() {
        started = true
        let t = Thread { [self] in
            while true {
                stopFlag.lock()
                let stop = stopping
                stopFlag.unlock()
                if stop { break }
                serviceOnce(pollMilliseconds: 10)
            }
            serviceOnce(pollMilliseconds: 0)   // last replies and frames
            flushAll(deadline: Date().addingTimeInterval(0.5))
            cleanUp()
            finished.signal()
        }
        t.name = "console-link"
        thread = t
        t.start()
    }

    /// Stops the thread, closes every client and removes the socket file.
    public func stop() {
        stopFlag.lock()
        let wasStopping = stopping
        stopping = true
        stopFlag.unlock()
        if started && !wasStopping { finished.wait() }
    }

    /// A notice for every console (a drill's prompt: "press E-stop, 30 s to answer"),
    /// sent like an event with its own code and text. Bounded: 256 waiting at most.
    public func offer(notice: LinkEvent) {
        eventLock.lock()
        if noticeQueue.count < 256 { noticeQueue.append(notice) } else { eventsDropped += 1 }
        eventLock.unlock()
    }

    /// The recorder thread hands each event over (bounded: 4096 waiting at most).
    public func offer(event: RigEvent) {
        eventLock.lock()
        if eventQueue.count < 4096 { eventQueue.append(event) } else { eventsDropped += 1 }
        eventLock.unlock()
    }

    private func cleanUp() {
        for c in clients { UnixSocket.close(c.fd) }
        clients.removeAll()
        UnixSocket.close(listenFD)
        UnixSocket.remove(path: configuration.socketPath)
        try? commandLog?.close()
    }

    // MARK: - One pass

    /// Polls the sockets, then moves commands, replies, telemetry, events, alarms and
    /// protocol state. Public so a test can drive the link without its thread.
    public func serviceOnce(pollMilliseconds: Int32) {
        var fds = [SocketPollEntry(fd: listenFD)]
        for c in clients { fds.append(SocketPollEntry(fd: c.fd, wantsWrite: c.queued > 0)) }
        UnixSocket.poll(&fds, timeoutMilliseconds: pollMilliseconds)
        if fds[0].readable { acceptClients() }
        for i in 0..<clients.count where i + 1 < fds.count && fds[i + 1].readable {
            readClient(clients[i])
        }
        let now = Date()
        for c in clients where !c.greeted && !c.closing && now.timeIntervalSince(c.connectedAt) > configuration.helloTimeout {
            sendError(c, LinkError(code: "hello_timeout", message: "no hello within \(Int(configuration.helloTimeout)) s", fatal: true))
        }
        drainReplies()
        expirePending(now: now)
        drainTelemetry()
        drainEvents()
        periodic(now: now)
        for c in clients { flush(c) }
        clients.removeAll { c in
            if c.dead || (c.closing && (c.queued == 0 || now.timeIntervalSince(c.closingSince) > 1)) {
                UnixSocket.close(c.fd)
                return true
            }
            return false
        }
    }

    private func acceptClients() {
        while true {
            guard let fd = UnixSocket.accept(listenFD) else { return }
            let c = Client(id: nextClientID, fd: fd)
            nextClientID += 1
            if clients.filter({ !$0.closing }).count >= configuration.maxClients {
                clients.append(c)
                sendError(c, LinkError(code: "too_many_clients", message: "at most \(configuration.maxClients) consoles at once", fatal: true))
                continue
            }
            clients.append(c)
            statsLock.lock(); _clientsServed += 1; statsLock.unlock()
            enqueue(c, .hello(hello()), essential: true)
        }
    }

    private func readClient(_ c: Client) {
        var chunk = [UInt8](repeating: 0, count: 16384)
        for _ in 0..<8 {
            let n: Int
            switch chunk.withUnsafeMutableBytes({ UnixSocket.receive(c.fd, into: $0) }) {
            case .bytes(let count): n = count
            case .wouldBlock: return
            case .closed, .failed:
                c.dead = true
                return
            }
            if c.closing { continue }   // after a fatal error: read and discard
            for item in c.framer.push(chunk[..<n]) {
                switch item {
                case .tooLong:
                    sendError(c, LinkError(code: "line_too_long", message: "a line is longer than \(LinkProtocol.maxLineBytes) bytes", fatal: true))
                case .line(let bytes):
                    handle(line: bytes, from: c)
                }
                if c.closing { break }
            }
        }
    }

    private func handle(line: [UInt8], from c: Client) {
        let message: ConsoleMessage
        do {
            message = try LinkCodec.decodeConsoleMessage(Data(line))
        } catch {
            sendError(c, error.linkError(fatal: true))
            return
        }
        switch message {
        case .hello(let h):
            if h.protocolVersion != LinkProtocol.version {
                sendError(c, LinkError(code: "version_mismatch", message: "this rig speaks protocol \(LinkProtocol.version), not \(h.protocolVersion)", fatal: true))
                return
            }
            if c.greeted { return }
            c.greeted = true
            if let f = latest {
                enqueue(c, .alarms(alarms(f)), essential: true)
                enqueue(c, .protocolState(protocolState(f)), essential: true)
            }
        case .command(let cmd):
            guard c.greeted else {
                sendError(c, LinkError(code: "hello_required", message: "send hello first", fatal: true))
                return
            }
            command(cmd, from: c)
        }
    }

    // MARK: - Commands

    private func command(_ cmd: ConsoleCommand, from c: Client) {
        statsLock.lock(); _commands += 1; statsLock.unlock()
        let t = latest.map(runTime) ?? 0
        guard cmd.role == "operator" else {
            finish(cmd, client: c, t: t, reason: "forbidden", message: "role \(cmd.role) may not command the rig")
            return
        }
        if let why = commandLogFailure {
            // Recording the refusal may succeed (the disk recovered): then the next command goes through.
            finish(cmd, client: c, t: t, reason: "record_failed",
                   message: "commands.jsonl cannot be written (\(why)): commands are refused until the record can be kept")
            return
        }
        let code: RigCommand.Code
        var a = 0.0, b = 0.0
        switch cmd.command {
        case .annotate:
            finish(cmd, client: c, t: t, reason: nil, message: nil)
            return
        case .setFlow(let v): code = .setFlow; a = v
        case .setSpeed(let v): code = .setSpeed; a = v
        case .acknowledge(let name):
            code = .acknowledge
            if name == "all" { a = -1 }
            else if let id = AlarmID(identifier: name) { a = Double(id.rawValue) }
            else {
                finish(cmd, client: c, t: t, reason: "unknown_alarm", message: "no alarm named \(name)")
                return
            }
        case .pauseAudio: code = .pauseAudio
        case .protocolPause(let ch): code = .pauseInfusion; a = ch == .cells ? 0 : 1
        case .protocolResume(let ch): code = .resumeInfusion; a = ch == .cells ? 0 : 1
        case .protocolAbort: code = .abortProtocol
        case .protocolStart: code = .startProtocol
        case .enterACT(let s): code = .enterACT; a = s
        case .setHeparinRate(let r): code = .setHeparinRate; a = r
        case .stop: code = .stop
        case .activate: code = .activate
        case .clearFault: code = .clearFault
        case .foulingResume(let nb): code = .resumeAfterFouling; a = nb ? 1 : 0
        case .setAlarmLimit(let key, let value):
            guard let k = AlarmLimitKey(rawValue: key) else {
                finish(cmd, client: c, t: t, reason: "unknown_limit",
                       message: "no alarm limit named \(key) (known: \(AlarmLimitKey.allCases.map(\.rawValue).joined(separator: ", ")))")
                return
            }
            code = .setAlarmLimit; a = Double(k.index); b = value
        }
        let seq = nextSequence
        nextSequence += 1
        if !link.commands.push(RigCommand(sequence: seq, code: code, a: a, b: b)) {
            finish(cmd, client: c, t: t, reason: "busy", message: "the rig's command queue is full; try again")
            return
        }
        // Who asked, for the words of the event the command will cause (set before the loop
        // can emit it; the most recent sender of that kind of command).
        if let kind = Self.attributionKind(of: cmd.command) { lastActor[kind] = cmd.actor }
        pending[seq] = Pending(command: cmd, client: c.id, sentAt: Date())
    }

    private func drainReplies() {
        while let r = link.replies.pop() {
            guard let p = pending.removeValue(forKey: r.sequence) else { continue }
            let c = clients.first { $0.id == p.client }
            let t = Double(Int64(bitPattern: r.time.nanosecondsSinceOrigin &- configuration.timeOrigin.nanosecondsSinceOrigin)) / 1e9
            if r.ok {
                finish(p.command, client: c, t: t, reason: nil, message: nil)
            } else {
                finish(p.command, client: c, t: t, reason: r.reason.description, message: Self.text(r, p.command.command))
            }
        }
    }

    private func expirePending(now: Date) {
        for (seq, p) in pending where now.timeIntervalSince(p.sentAt) > configuration.commandTimeout {
            pending[seq] = nil
            let c = clients.first { $0.id == p.client }
            finish(p.command, client: c, t: latest.map(runTime) ?? 0, reason: "timeout",
                   message: "the control loop did not answer within \(configuration.commandTimeout) s")
        }
    }

    /// Replies to the console (if still connected) and appends the command to commands.jsonl.
    private func finish(_ cmd: ConsoleCommand, client: Client?, t: Double, reason: String?, message: String?) {
        if reason != nil { statsLock.lock(); _refused += 1; statsLock.unlock() }
        if let client {
            enqueue(client, .reply(LinkReply(id: cmd.id, ok: reason == nil, reason: reason, message: message)), essential: true)
        }
        var record: [String: Any] = [
            "wall": ISO8601DateFormatter().string(from: Date()),
            "t": (t * 1000).rounded() / 1000,
            "actor": cmd.actor, "role": cmd.role, "command": cmd.command.name, "id": cmd.id,
            "result": reason == nil ? "ok" : "refused",
            "client": client?.id ?? 0,
        ]
        if let reason { record["reason"] = reason }
        if let message { record["message"] = message }
        // The command's own args, exactly as the protocol spells them.
        if let obj = try? JSONSerialization.jsonObject(with: LinkCodec.encode(ConsoleMessage.command(cmd))) as? [String: Any] {
            record["args"] = obj["args"] ?? [String: Any]()
        }
        do {
            let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
            try commandLog?.write(contentsOf: data + Data([0x0A]))
            commandLogFailure = nil
        } catch {
            commandLogFailure = "\(error.localizedDescription)"
        }
    }

    static func text(_ r: RigCommandReply, _ c: LinkCommand) -> String {
        // Whole numbers as integers only where an Int holds them: a refused 1e19 rpm or an
        // infinite flow must become text, never a trap on the link thread.
        func fmt(_ x: Double) -> String {
            x.isFinite && abs(x) < 1e15 && x == x.rounded() ? String(Int(x)) : String(format: x.isFinite ? "%.4g" : "%f", x)
        }
        switch r.reason {
        case .belowMinimum, .aboveMaximum:
            let (what, value, unit): (String, Double, String) = switch c {
            case .setFlow(let v): ("flow", v, "L/min")
            case .setSpeed(let v): ("speed", v, "rpm")
            case .setHeparinRate(let v): ("heparin rate", v, "U/kg/h")
            case .enterACT(let v): ("ACT", v, "s")
            case .setAlarmLimit(let k, let v): ("alarm limit \(k)", v, EventWording.limitUnit(k))
            default: ("value", 0, "")
            }
            let side = r.reason == .belowMinimum ? "below the minimum" : "above the maximum"
            return "\(what) \(fmt(value)) \(unit) is \(side) \(fmt(r.limit)) \(unit)"
        case .unknownAlarm: return "no such alarm"
        case .alarmNotActive:
            if case .acknowledge(let name) = c { return name == "all" ? "no unacknowledged alarm is active" : "alarm \(name) is not active" }
            return "alarm not active"
        case .noProtocol: return "this run has no protocol (or none with that channel)"
        case .notHalted:
            if case .foulingResume = c { return "no fouling pause is active" }
            return "that channel is not halted"
        case .causePresent: return "the halt's cause is still present (empty, occlusion, alarm pause or circuit not running)"
        case .alreadyRunning: return "the protocol is already running"
        case .protocolFinished: return "the protocol has completed or was aborted"
        case .waitingForCircuit: return "the protocol starts by itself when the circuit is regulating"
        case .notAllowed: return "not allowed in the rig's present state"
        case .sensorsNotReady: return "a pressure or flow sensor is not delivering valid samples"
        case .notAcknowledged: return "acknowledge OXY_FOULING_PAUSE first"
        case .none: return ""
        }
    }

    // MARK: - Outbound

    private func runTime(_ f: TelemetryFrame) -> Double {
        Double(Int64(bitPattern: f.time.nanosecondsSinceOrigin &- configuration.timeOrigin.nanosecondsSinceOrigin)) / 1e9
    }

    private func drainTelemetry() {
        var frames = 0
        while let f = link.telemetry.pop() {
            frames += 1
            latest = f
            let t = runTime(f)
            // Alarm "since": when the link first saw the alarm raised.
            for i in 0..<AlarmID.count where f.alarmActiveMask & (1 << UInt32(i)) != 0 {
                if lastAlarmKey.0 & (1 << UInt32(i)) == 0 { alarmSince[i] = t }
            }
            let message = RigMessage.telemetry(Self.telemetry(f, t: t))
            var sent = 0
            for c in clients where c.greeted && !c.closing {
                if enqueue(c, message, essential: false) { sent += 1 }
            }
            statsLock.lock(); _telemetrySent += sent; statsLock.unlock()
            let aKey = (f.alarmActiveMask, f.alarmLatchedMask, f.alarmAcknowledgedMask, f.alarmPriorities, f.audioPauseRemaining > .zero)
            if aKey != lastAlarmKey {
                lastAlarmKey = aKey
                broadcast(.alarms(alarms(f)))
                lastAlarmsSent = Date()
            }
            let pKey = (f.infusionItem, f.cellsHalt, f.heparinHalt, f.protocolFlags)
            if pKey != lastProtocolKey {
                lastProtocolKey = pKey
                broadcast(.protocolState(protocolState(f)))
                lastProtocolSent = Date()
            }
        }
        _ = frames
    }

    private func drainEvents() {
        eventLock.lock()
        let events = eventQueue
        eventQueue.removeAll(keepingCapacity: true)
        let notices = noticeQueue
        noticeQueue.removeAll(keepingCapacity: true)
        eventLock.unlock()
        for n in notices {
            for c in clients where c.greeted && !c.closing { enqueue(c, .event(n), essential: true) }
        }
        for e in events {
            if case .alarmLimit(let key, _, let to, _) = e.kind { currentLimits[key] = to }
            var linkEvent = Self.event(e)
            if case .string("console")? = linkEvent.values["by"], let kind = Self.attributionKind(of: linkEvent),
               let actor = lastActor[kind] {
                linkEvent.values["operator"] = .string(actor)
                linkEvent.text = EventWording.text(code: linkEvent.code, values: linkEvent.values)
            }
            let message = RigMessage.event(linkEvent)
            for c in clients where c.greeted && !c.closing { enqueue(c, message, essential: false) }
        }
    }

    private func periodic(now: Date) {
        guard let f = latest else { return }
        if now.timeIntervalSince(lastAlarmsSent) >= 1 {
            broadcast(.alarms(alarms(f)))
            lastAlarmsSent = now
        }
        if now.timeIntervalSince(lastProtocolSent) >= 5 {
            broadcast(.protocolState(protocolState(f)))
            lastProtocolSent = now
        }
    }

    private func broadcast(_ m: RigMessage) {
        for c in clients where c.greeted && !c.closing { enqueue(c, m, essential: true) }
    }

    private func sendError(_ c: Client, _ e: LinkError) {
        enqueue(c, .error(e), essential: true)
        if e.fatal {
            c.closing = true
            c.closingSince = Date()
        }
    }

    /// Queues a message for a client. Non-essential messages (telemetry, events) are
    /// dropped when the queue is full; past twice the bound the client is disconnected.
    @discardableResult
    private func enqueue(_ c: Client, _ m: RigMessage, essential: Bool) -> Bool {
        let data = LinkCodec.line(m)
        if c.queued + data.count > configuration.clientQueueBytes {
            if !essential {
                statsLock.lock(); _framesDropped += 1; statsLock.unlock()
                return false
            }
            if c.queued + data.count > 2 * configuration.clientQueueBytes {
                c.dead = true
                return false
            }
        }
        c.out.append(contentsOf: data)
        return true
    }

    private func flush(_ c: Client) {
        while c.queued > 0 && !c.dead {
            let result = c.out[c.sent...].withUnsafeBytes { UnixSocket.send(c.fd, $0) }
            guard case .bytes(let n) = result else {
                if result != .wouldBlock { c.dead = true }
                break
            }
            c.sent += n
        }
        if c.sent > 0 && (c.sent == c.out.count || c.sent > 1 << 16) {
            c.out.removeFirst(c.sent)
            c.sent = 0
        }
    }

    private func flushAll(deadline: Date) {
        while clients.contains(where: { $0.queued > 0 && !$0.dead }) && Date() < deadline {
            for c in clients { flush(c) }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    // MARK: - Conversions

    private func hello() -> RigHello {
        let cfg = configuration
        let limits = SetpointLimits(flowMinLpm: cfg.alarmLimits.flowLow.litersPerMinute,
                                    flowMaxLpm: cfg.alarmLimits.flowHigh.litersPerMinute,
                                    rpmMin: cfg.board.pump.minimumSpeed.rpm, rpmMax: cfg.board.pump.maximumSpeed.rpm,
                                    heparinMin: cfg.protocolInfo?.heparinRange?.lowerBound,
                                    heparinMax: cfg.protocolInfo?.heparinRange?.upperBound)
        var catalogue: [AlarmCatalogueEntry] = []
        for i in 0..<AlarmID.count {
            guard let id = AlarmID(index: i) else { continue }
            let d = AlarmDefinition.standard(id)
            catalogue.append(AlarmCatalogueEntry(id: i, name: id.identifier, priority: d.priority.description, latching: d.latching))
        }
        let mode: String = if case .constantFlow = cfg.mode { "flow" } else { "speed" }
        let hz = 1 / (cfg.board.loopPeriod.seconds * Double(link.every))
        return RigHello(rigVersion: cfg.rigVersion, board: cfg.board.name, runID: cfg.runID,
                        runDirectory: cfg.runDirectory.path, loopPeriodMicroseconds: Int(cfg.board.loopPeriod.seconds * 1e6),
                        startedAt: ISO8601DateFormatter().string(from: cfg.startedAt), mode: mode,
                        telemetryHz: (hz * 1000).rounded() / 1000, limits: limits, alarms: catalogue,
                        commands: LinkCommand.allNames, alarmLimits: Self.linkLimits(currentLimits))
    }

    static func finite(_ x: Double) -> Double { x.isFinite ? x : 0 }

    /// A loop frame as the protocol's `telemetry` (non-finite values → 0, see invalid_mask).
    public static func telemetry(_ f: TelemetryFrame, t: Double) -> LinkTelemetry {
        LinkTelemetry(
            t: t, tick: f.tick, state: f.state.description, phase: f.phase.description, fault: f.faultReason.description,
            pDrain: finite(f.drainPressure.mmHg), pPre: finite(f.preOxygenatorPressure.mmHg),
            pPost: finite(f.postOxygenatorPressure.mmHg), dpOxy: finite(f.oxygenatorPressureDrop.mmHg),
            flowLpm: finite(f.flow.litersPerMinute), rpm: finite(f.measuredSpeed.rpm), rpmCmd: finite(f.commandedSpeed.rpm),
            pumpOn: f.pumpEnabled, clampClosed: f.clampClosed, invalidMask: Int(f.invalidMask),
            alarmPriority: Int(f.highestAlarm), alarmsActive: Int(f.activeAlarms),
            cellsMl: finite(f.cellsDelivered.milliliters), heparinMl: finite(f.heparinDelivered.milliliters),
            protocolItem: Int(f.infusionItem), cellsHalt: InfusionHalt(rawValue: f.cellsHalt)?.description ?? "none",
            outflowClamp: f.outflowClamp, latenessUs: finite(f.lateness.seconds * 1e6), execUs: finite(f.executionTime.seconds * 1e6),
            overruns: Int(f.overruns),
            rOxy: f.oxygenatorResistance.isFinite ? f.oxygenatorResistance : nil,
            rOxyBaseline: f.oxygenatorBaseline.isFinite ? f.oxygenatorBaseline : nil,
            setpoint: LinkSetpoint(mode: f.setpointIsFlow ? "flow" : "speed", value: finite(f.setpointValue)))
    }

    private func alarms(_ f: TelemetryFrame) -> LinkAlarms {
        var list: [LinkAlarm] = []
        for i in 0..<AlarmID.count {
            let bit: UInt32 = 1 << UInt32(i)
            guard f.alarmActiveMask & bit != 0, let id = AlarmID(index: i) else { continue }
            let p = AlarmPriority(rawValue: UInt8((f.alarmPriorities >> UInt64(2 * i)) & 3))?.description ?? "low"
            let state = f.alarmAcknowledgedMask & bit != 0 ? "acknowledged" : (f.alarmLatchedMask & bit != 0 ? "latched" : "active")
            list.append(LinkAlarm(id: i, name: id.identifier, priority: p, state: state, since: alarmSince[i]))
        }
        return LinkAlarms(t: runTime(f), alarms: list, audioPausedRemaining: (f.audioPauseRemaining.seconds * 10).rounded() / 10)
    }

    private func protocolState(_ f: TelemetryFrame) -> LinkProtocolState {
        let t = runTime(f)
        guard let info = configuration.protocolInfo, f.protocolFlags & 1 != 0 else {
            return LinkProtocolState(t: t, loaded: false, name: nil, state: "none", items: [], currentItem: -1, nextDoseAt: nil,
                                     cellsPlannedMl: 0, cellsDeliveredMl: 0, heparinDeliveredMl: 0, cellsHalt: "none")
        }
        let halt = InfusionHalt(rawValue: f.cellsHalt) ?? .none
        let started = f.protocolFlags & 2 != 0, completed = f.protocolFlags & 4 != 0
        let state: String = if halt == .aborted { "aborted" } else if completed { "completed" }
            else if !started { "waiting" } else if halt != .none { "halted" } else { "running" }
        let current = completed || halt == .aborted ? info.items.count : Int(f.infusionItem)
        var items = info.items
        for i in items.indices {
            items[i].status = i < current ? "done" : (i == current && started ? "current" : "pending")
        }
        let nextDose = items.first { $0.index > current && $0.kind.hasPrefix("dose") }?.at
        return LinkProtocolState(t: t, loaded: true, name: info.name, state: state, items: items, currentItem: current,
                                 nextDoseAt: nextDose, cellsPlannedMl: info.cellsPlannedMl,
                                 cellsDeliveredMl: Self.finite(f.cellsDelivered.milliliters),
                                 heparinDeliveredMl: Self.finite(f.heparinDelivered.milliliters), cellsHalt: halt.description)
    }

    /// An event (time already relative to the run's start) as the protocol's `event`.
    public static func event(_ e: RigEvent) -> LinkEvent {
        let o = RunRecorder.jsonObject(e)
        var values: [String: LinkValue] = [:]
        var code = "event"
        for (k, v) in o {
            if k == "t" { continue }
            if k == "event", case .string(let s) = v { code = s; continue }
            values[k] = linkValue(v)
        }
        return LinkEvent(t: e.time.secondsSinceOrigin, code: code, values: values,
                         text: EventWording.text(code: code, values: values))
    }

    /// Which console command an event with `by: console` came from (nil: not one an operator sends).
    static func attributionKind(of e: LinkEvent) -> String? {
        switch e.code {
        case "alarm":
            if case .string(let action)? = e.values["action"] {
                return action == "acknowledged" ? "acknowledge" : (action == "audio paused" ? "pause_audio" : nil)
            }
            return nil
        case "alarm_limit": return "set_alarm_limit"
        default: return nil
        }
    }

    static func attributionKind(of c: LinkCommand) -> String? {
        switch c {
        case .acknowledge: "acknowledge"
        case .pauseAudio: "pause_audio"
        case .setAlarmLimit: "set_alarm_limit"
        default: nil
        }
    }

    /// The limits in force with the core's hard bounds, for the hello.
    static func linkLimits(_ l: AlarmLimits) -> [LinkAlarmLimit] {
        AlarmLimitKey.allCases.map { k in
            LinkAlarmLimit(key: k.rawValue, value: l[k], min: k.hardBounds.lowerBound, max: k.hardBounds.upperBound,
                           unit: EventWording.limitUnit(k.rawValue))
        }
    }

    static func linkValue(_ v: JSONValue) -> LinkValue {
        switch v {
        case .number(let d): .number(finite(d))
        case .int(let i): .number(Double(i))
        case .string(let s): .string(s)
        case .bool(let b): .bool(b)
        case .array(let a): .array(a.map(linkValue))
        case .object: .string("")
        case .null: .string("")
        }
    }

    static func render(_ v: LinkValue) -> String {
        switch v {
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(format: "%.3g", d)
        case .string(let s): s
        case .bool(let b): b ? "yes" : "no"
        case .array(let a): a.map(render).joined(separator: " ")
        }
    }

    // MARK: - Types

    final class Client {
        let id: Int
        let fd: Int32
        var framer = LineFramer()
        var out: [UInt8] = []
        var sent = 0
        var greeted = false
        var closing = false
        var closingSince = Date.distantFuture
        var dead = false
        let connectedAt = Date()
        var queued: Int { out.count - sent }
        init(id: Int, fd: Int32) {
            self.id = id
            self.fd = fd
        }
    }

    struct Pending {
        var command: ConsoleCommand
        var client: Int
        var sentAt: Date
    }
}

/// The console link's blocking test client and its socket errors are ECMOPosix's.
public typealias ConsoleLinkClient = UnixLineClient
public typealias LinkSocketError = SocketError
