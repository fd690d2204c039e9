import ECMOLink
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Everything `ecmo-console serve` is configured with.
public struct ConsoleConfiguration: Sendable {
    public var rigSocket: String
    public var users: UsersFile
    /// Address to listen on; 127.0.0.1 unless configured otherwise.
    public var host = "127.0.0.1"
    public var port = 8080
    /// The console's own page, script and style sheet.
    public var webDirectory: String
    /// Chart.js (UMD build). nil or missing: the page says so.
    public var chartJSPath: String?
    /// Bearer token accepted at /metrics besides a session (for Prometheus).
    public var metricsToken: String?
    public var maxBodyBytes = 16 * 1024
    /// Commands per user: burst and sustained rate.
    public var commandBurst = 10.0
    public var commandsPerSecond = 2.0
    /// Logins per client address and per user name.
    public var loginBurst = 5.0
    public var loginsPerSecond = 0.2
    public var sessionLifetime = Duration.seconds(8 * 3600)
    /// Mark the cookie Secure (behind a TLS reverse proxy).
    public var secureCookie = false
    public var commandTimeout = Duration.seconds(3)
    /// The rig's runs directory (run folders and runs.sqlite): the runs panel lists it
    /// through `ecmoRigBinary`. Nil: no runs panel.
    public var runsDirectory: String?
    public var ecmoRigBinary = "/usr/local/bin/ecmo-rig"

    public init(rigSocket: String, users: UsersFile, webDirectory: String = ConsoleConfiguration.defaultWebDirectory(),
                chartJSPath: String? = ConsoleConfiguration.defaultChartJS) {
        self.rigSocket = rigSocket
        self.users = users
        self.webDirectory = webDirectory
        self.chartJSPath = chartJSPath
    }

    /// Debian's libjs-chart.js.
    public static let defaultChartJS = "/usr/share/javascript/chart.js/chart.min.js"

    /// The `Web` resources SwiftPM copies beside the executable
    /// (`ecmo-console_ECMOConsole.resources/Web`), else `Console/Sources/ECMOConsole/Web`
    /// of the source tree this was built from.
    public static func defaultWebDirectory() -> String {
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for name in ["ecmo-console_ECMOConsole.resources/Web", "ecmo-console_ECMOConsole.bundle/Contents/Resources/Web"] {
            let p = exe.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: p + "/index.html") { return p }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Web").path
    }
}

/// Request context: the client's address (for logs and login rate limits) and the
/// WebSocket upgrade hand-off.
public struct ConsoleContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<ConsoleContext>
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
    }

    var client: String { remoteAddress?.ipAddress ?? "unknown" }
}

/// A JSON body, or the error response explaining why it is not acceptable.
enum BodyResult {
    case ok([String: Any])
    case failed(Response)
}

/// Runs the rig link as a service of the application.
struct RigLinkService: Service {
    let link: RigLink
    func run() async throws {
        try await cancelWhenGracefulShutdown { await link.run() }
    }
}

/// The console's HTTP API, WebSocket and static files. `buildApplication` wires them up.
public struct ConsoleServer: Sendable {
    public let configuration: ConsoleConfiguration
    public let link: RigLink
    public let sessions: SessionStore
    public let metrics: ConsoleMetrics
    let logger: Logger
    let commandLimiter: RateLimiter
    let loginLimiter: RateLimiter

    public static let cookieName = "ecmo_session"

    public init(configuration: ConsoleConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        metrics = ConsoleMetrics()
        link = RigLink(socketPath: configuration.rigSocket, logger: logger, metrics: metrics)
        sessions = SessionStore(lifetime: configuration.sessionLifetime)
        commandLimiter = RateLimiter(capacity: configuration.commandBurst, perSecond: configuration.commandsPerSecond)
        loginLimiter = RateLimiter(capacity: configuration.loginBurst, perSecond: configuration.loginsPerSecond)
    }

    /// The application: routes, WebSocket upgrade, and the rig link as a service.
    public func buildApplication() -> some ApplicationProtocol {
        let router = Router(context: ConsoleContext.self)
        addRoutes(to: router)
        let wsRouter = Router(context: ConsoleContext.self)
        addWebSocket(to: wsRouter)
        var app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: wsRouter, configuration: .init(ws: .init(maxFrameSize: 1 << 16))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ecmo-console"),
            logger: logger
        )
        app.addServices(RigLinkService(link: link))
        return app
    }

    // MARK: - helpers

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any], headers: HTTPFields = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var h = headers
        h[.contentType] = "application/json; charset=utf-8"
        h[.cacheControl] = "no-store"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, extra: [String: Any] = [:]) -> Response {
        var o = extra
        o["error"] = message
        return json(status, o)
    }

    /// The session token from the cookie or an `Authorization: Bearer` header.
    static func token(of request: Request) -> String? {
        if let auth = request.headers[.authorization], auth.lowercased().hasPrefix("bearer ") {
            return String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        return request.cookies[cookieName]?.value
    }

    func identity(_ request: Request) async -> Identity? {
        guard let token = Self.token(of: request), !token.isEmpty else { return nil }
        return await sessions.identity(token: token)
    }

    /// Reads a JSON object body of at most `maxBodyBytes`, allowing only `allowed` keys.
    func jsonBody(_ request: inout Request, allowed: Set<String>) async -> BodyResult {
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: configuration.maxBodyBytes)
        } catch {
            return .failed(Self.error(.contentTooLarge, "request body larger than \(configuration.maxBodyBytes) bytes"))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] else {
            return .failed(Self.error(.badRequest, "the body is not a JSON object"))
        }
        if let extra = Set(object.keys).subtracting(allowed).sorted().first {
            return .failed(Self.error(.badRequest, "unknown field \"\(extra)\" (allowed: \(allowed.sorted().joined(separator: ", ")))"))
        }
        return .ok(object)
    }

    func file(_ path: String, type: String) -> Response {
        guard let data = FileManager.default.contents(atPath: path) else {
            return Self.error(.notFound, "missing file \(path)")
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: - routes

    func addRoutes(to router: Router<ConsoleContext>) {
        let web = configuration.webDirectory
        router.get("/") { _, _ in file(web + "/index.html", type: "text/html; charset=utf-8") }
        router.get("/app.js") { _, _ in file(web + "/app.js", type: "text/javascript; charset=utf-8") }
        router.get("/style.css") { _, _ in file(web + "/style.css", type: "text/css; charset=utf-8") }
        router.get("/vendor/chart.js") { _, _ in
            guard let path = configuration.chartJSPath, FileManager.default.fileExists(atPath: path) else {
                return Self.error(.notFound, "chart.js not found (install Debian's libjs-chart.js or pass --assets)")
            }
            return file(path, type: "text/javascript; charset=utf-8")
        }

        router.post("/api/login") { request, context in try await login(request, context) }
        router.post("/api/logout") { request, _ in
            if let token = Self.token(of: request) { await sessions.remove(token: token) }
            var r = Self.json(.ok, ["ok": true])
            r.headers[.setCookie] = "\(Self.cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
            return r
        }
        router.get("/api/status") { request, context in
            guard let who = await identity(request) else { return unauthenticated(request, context) }
            return await status(who)
        }
        router.post("/api/command") { request, context in try await command(request, context) }
        addRunRoutes(to: router)
        router.get("/metrics") { request, context in
            let token = Self.token(of: request)
            let metricsOK = configuration.metricsToken.map { !$0.isEmpty && token == $0 } ?? false
            var allowed = metricsOK
            if !allowed { allowed = await identity(request) != nil }
            guard allowed else { return unauthenticated(request, context) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
    }

    func unauthenticated(_ request: Request, _ context: ConsoleContext) -> Response {
        logger.warning("401 unauthenticated \(request.method) \(request.uri.path) from \(context.client)")
        metrics.authFailure("unauthenticated")
        return Self.error(.unauthorized, "log in first (session cookie or Authorization: Bearer)")
    }

    func status(_ who: Identity) async -> Response {
        var o: [String: Any] = [
            "user": who.user, "role": who.role.rawValue,
            "rig": ["connected": await link.connected, "socket": configuration.rigSocket] as [String: Any],
            "telemetry_frames": Int(truncatingIfNeeded: await link.telemetryFrames),
        ]
        if let h = await link.hello {
            o["run_id"] = h.runID
            o["board"] = h.board
            o["rig_version"] = h.rigVersion
            o["commands"] = h.commands
        }
        if let e = await link.lastError, !(await link.connected) { o["rig_error"] = e }
        return Self.json(.ok, o)
    }

    func login(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        var request = request
        guard await loginLimiter.allow("ip:" + context.client) else {
            logger.warning("429 login rate limit for \(context.client)")
            return Self.error(.tooManyRequests, "too many login attempts; wait and try again")
        }
        let body: [String: Any]
        switch await jsonBody(&request, allowed: ["user", "password"]) {
        case .failed(let r): return r
        case .ok(let b): body = b
        }
        guard let user = body["user"] as? String, let password = body["password"] as? String else {
            return Self.error(.badRequest, "fields \"user\" and \"password\" (strings) are required")
        }
        guard await loginLimiter.allow("user:" + user) else {
            logger.warning("429 login rate limit for user \(user)")
            return Self.error(.tooManyRequests, "too many login attempts; wait and try again")
        }
        let users = configuration.users
        // bcrypt is slow on purpose: off the event loop.
        let record = try await NIOThreadPool.singleton.runIfActive { users.authenticate(name: user, password: password) }
        guard let record else {
            logger.warning("401 bad login for user \(user) from \(context.client)")
            metrics.authFailure("bad_login")
            return Self.error(.unauthorized, "unknown user or wrong password")
        }
        let token = await sessions.create(Identity(user: record.name, role: record.role))
        logger.info("login \(record.name) (\(record.role.rawValue)) from \(context.client)")
        let seconds = Int(configuration.sessionLifetime.components.seconds)
        var cookie = "\(Self.cookieName)=\(token); Path=/; Max-Age=\(seconds); HttpOnly; SameSite=Strict"
        if configuration.secureCookie { cookie += "; Secure" }
        return Self.json(.ok, ["user": record.name, "role": record.role.rawValue, "token": token, "expires_in_s": seconds],
                         headers: [.setCookie: cookie])
    }

    /// Arguments each command takes (the rig checks their values).
    static let commandArguments: [String: Set<String>] = [
        "set_flow": ["lpm"], "set_speed": ["rpm"], "acknowledge": ["alarm"], "pause_audio": [],
        "protocol_pause": ["channel"], "protocol_resume": ["channel"], "protocol_abort": [], "protocol_start": [],
        "enter_act": ["seconds"], "set_heparin_rate": ["u_per_kg_h"], "annotate": ["text"], "stop": [],
        "activate": [], "clear_fault": [], "fouling_resume": ["new_baseline"],
        "set_alarm_limit": ["key", "value"],
    ]

    func command(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        var request = request
        guard let who = await identity(request) else { return unauthenticated(request, context) }
        guard who.role == .operator else {
            logger.warning("403 viewer \(who.user) tried a command from \(context.client)")
            metrics.authFailure("forbidden")
            metrics.command(name: "any", result: "forbidden")
            return Self.error(.forbidden, "user \(who.user) is a viewer; commands need the operator role")
        }
        guard await commandLimiter.allow("user:" + who.user) else {
            logger.warning("429 command rate limit for \(who.user)")
            metrics.command(name: "any", result: "rate_limited")
            return Self.error(.tooManyRequests, "too many commands; at most \(configuration.commandsPerSecond)/s sustained")
        }
        let body: [String: Any]
        switch await jsonBody(&request, allowed: ["name", "args"]) {
        case .failed(let r): return r
        case .ok(let b): body = b
        }
        guard let name = body["name"] as? String else { return Self.error(.badRequest, "field \"name\" (string) is required") }
        guard let allowedArgs = Self.commandArguments[name] else {
            return Self.error(.badRequest, "unknown command \"\(name)\" (known: \(Self.commandArguments.keys.sorted().joined(separator: ", ")))")
        }
        let args: [String: Any]
        switch body["args"] {
        case nil, is NSNull: args = [:]
        case let a as [String: Any]: args = a
        default: return Self.error(.badRequest, "field \"args\" must be an object")
        }
        if let extra = Set(args.keys).subtracting(allowedArgs).sorted().first {
            return Self.error(.badRequest, "unknown argument \"\(extra)\" for \(name) (takes: \(allowedArgs.sorted().joined(separator: ", ")))")
        }
        // The wire form, decoded by ECMOLink: the same strict checks the rig applies to shapes.
        let wire: [String: Any] = ["type": "command", "id": 0, "actor": who.user, "role": who.role.rawValue, "name": name, "args": args]
        let linkCommand: LinkCommand
        do {
            let data = try JSONSerialization.data(withJSONObject: wire)
            guard case .command(let c) = try LinkCodec.decodeConsoleMessage(data) else {
                return Self.error(.badRequest, "not a command")
            }
            linkCommand = c.command
        } catch let e as LinkDecodeError {
            return Self.error(.badRequest, e.message)
        } catch {
            return Self.error(.badRequest, "\(error)")
        }
        do {
            let reply = try await link.send(linkCommand, actor: who.user, role: who.role, timeout: configuration.commandTimeout)
            if reply.ok {
                logger.info("command \(name) by \(who.user): ok")
                metrics.command(name: name, result: "ok")
                return Self.json(.ok, ["ok": true, "name": name, "id": Int(truncatingIfNeeded: reply.id)])
            }
            let reason = reply.reason ?? "refused"
            let message = reply.message ?? reason
            logger.notice("command \(name) by \(who.user): refused by the rig: \(reason): \(message)")
            metrics.command(name: name, result: "refused")
            let status: HTTPResponse.Status = ["out_of_range", "invalid", "bad_value"].contains(reason) ? .unprocessableContent : .conflict
            return Self.error(status, message, extra: ["ok": false, "reason": reason, "name": name])
        } catch RigLinkError.disconnected {
            metrics.command(name: name, result: "rig_disconnected")
            return Self.error(.serviceUnavailable, "rig disconnected: the command was not sent")
        } catch RigLinkError.timeout {
            metrics.command(name: name, result: "timeout")
            return Self.error(.gatewayTimeout, "the rig did not answer in time; check the rig before repeating the command")
        }
    }

    // MARK: - WebSocket

    func addWebSocket(to router: Router<ConsoleContext>) {
        router.ws("/api/ws") { request, context in
            // Browsers send Origin: a page of another site may not open the stream.
            if let origin = request.headers[.origin], let authority = request.head.authority,
               URL(string: origin)?.host?.lowercased() != URL(string: "http://" + authority)?.host?.lowercased() {
                logger.warning("403 WebSocket from foreign origin \(origin) (\(context.client))")
                throw HTTPError(.forbidden, message: "foreign origin")
            }
            guard await identity(request) != nil else {
                logger.warning("401 unauthenticated WebSocket from \(context.client)")
                metrics.authFailure("unauthenticated")
                throw HTTPError(.unauthorized, message: "log in first")
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let who = await identity(context.request) else { return }
            let (id, stream) = await link.subscribe()
            let sessionLine = "{\"type\":\"session\",\"user\":\"\(who.user)\",\"role\":\"\(who.role.rawValue)\"}"
            try await outbound.write(.text(sessionLine))
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Ends when the browser closes the socket.
                    do { for try await _ in inbound {} } catch {}
                }
                group.addTask {
                    for await line in stream {
                        do { try await outbound.write(.text(line)) } catch { break }
                    }
                }
                await group.next()
                group.cancelAll()
                await link.unsubscribe(id)
            }
        }
    }
}
