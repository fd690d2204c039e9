import ECMOLink
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
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
    /// Lockout after consecutive failed logins: per user name, per client address; the
    /// first lock, doubled by each further failure up to the maximum.
    public var lockoutAfterUserFailures = 5
    public var lockoutAfterAddressFailures = 20
    public var lockoutBase = Duration.seconds(60)
    public var lockoutMaximum = Duration.seconds(900)
    public var sessionLifetime = Duration.seconds(8 * 3600)
    /// Sessions database (SQLite); nil keeps sessions in memory (lost at restart).
    public var sessionsDatabase: String?
    /// Audit log (JSON lines, appended); nil keeps it in memory only.
    public var auditLog: String?
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

/// Cross-site request forgery and refusal auditing for every HTTP route.
///
/// A browser attaches the SameSite=Strict cookie only to same-site requests, but
/// "same site" is wider than "this console" (another service on the same host, an old
/// browser), so a state-changing request authenticated by the cookie must also say it
/// comes from this console's own page: its `Origin` (or, without one, its `Referer`)
/// must name the host the request was sent to. A bearer token is not sent by a browser
/// on its own, so scripts using one need neither. Every refusal (401, 403, 422, 429)
/// goes to the audit log, and every 429 carries `Retry-After`.
struct ConsoleGuardMiddleware: RouterMiddleware {
    typealias Context = ConsoleContext
    let server: ConsoleServer

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        let route = "\(request.method) \(request.uri.path)"
        if ![.get, .head, .options].contains(request.method), let why = server.crossSiteRefusal(request) {
            server.logger.warning("403 cross-site \(route) from \(context.client): \(why)")
            server.metrics.authFailure("cross_site")
            server.audit.record("refused", user: server.identity(request)?.user, address: context.client, route: route, status: 403, detail: why)
            return ConsoleServer.error(.forbidden, why)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let e as HTTPError {
            // Hummingbird's own refusals (no such route, wrong method) in the API's JSON form.
            var r = ConsoleServer.error(e.status, e.body ?? e.status.reasonPhrase)
            if e.status == .notFound, let allow = server.allowedMethods(request.uri.path) {
                r = ConsoleServer.error(.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path) (allowed: \(allow))")
                r.headers[.allow] = allow
            }
            for f in e.headers where f.name != .contentLength && f.name != .contentType { r.headers.append(f) }
            response = r
        }
        if response.status == .tooManyRequests, response.headers[.retryAfter] == nil {
            response.headers[.retryAfter] = "1"
        }
        if [401, 403, 422, 429].contains(response.status.code), !response.headers.contains(ConsoleServer.auditedHeader) {
            server.audit.record("refused", user: server.identity(request)?.user, address: context.client, route: route,
                                status: response.status.code, detail: response.status.reasonPhrase)
        }
        response.headers[ConsoleServer.auditedHeader] = nil
        return response
    }
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
    public let audit: AuditLog
    let logger: Logger
    let commandLimiter: RateLimiter
    let loginLimiter: RateLimiter
    let lockout: LoginLockout
    /// `routeTable()`, computed once (405 answers look paths up in it).
    private(set) var routes: [String] = []

    public static let cookieName = "ecmo_session"
    /// Set by a handler on a response it has already written to the audit log.
    static let auditedHeader = HTTPFields.Element.Name("x-ecmo-audited")!

    /// Opens the sessions database and the audit log; throws naming the file when one cannot be opened.
    public init(configuration: ConsoleConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        metrics = ConsoleMetrics()
        link = RigLink(socketPath: configuration.rigSocket, logger: logger, metrics: metrics)
        do {
            sessions = try SessionStore(path: configuration.sessionsDatabase, lifetime: configuration.sessionLifetime)
        } catch {
            throw ConsoleStoreError(description: "sessions database \(configuration.sessionsDatabase ?? ":memory:"): \(error)")
        }
        audit = try AuditLog(path: configuration.auditLog)
        commandLimiter = RateLimiter(capacity: configuration.commandBurst, perSecond: configuration.commandsPerSecond)
        loginLimiter = RateLimiter(capacity: configuration.loginBurst, perSecond: configuration.loginsPerSecond)
        lockout = LoginLockout(base: configuration.lockoutBase, maximum: configuration.lockoutMaximum)
        routes = routeTable()
    }

    /// The HTTP router with every route (no server).
    func makeRouter() -> Router<ConsoleContext> {
        let router = Router(context: ConsoleContext.self)
        router.add(middleware: ConsoleGuardMiddleware(server: self))
        addRoutes(to: router)
        return router
    }

    /// Every route the console serves, as "METHOD /path" with `{name}` parameters (the
    /// HTTP router's, which also answers refused WebSocket handshakes at GET /api/ws):
    /// the OpenAPI document must describe exactly these (OpenAPIDocumentTests).
    public func routeTable() -> [String] {
        makeRouter().routes.map { r in
            let path = "\(r.path)".split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(r.method) \(path.isEmpty ? "/" : (path.hasPrefix("/") ? path : "/" + path))"
        }.sorted()
    }

    /// The methods registered for `path`, for 405's Allow header (nil: no such path).
    func allowedMethods(_ path: String) -> String? {
        let parts = path.split(separator: "/")
        let methods = routes.compactMap { line -> String? in
            let sp = line.split(separator: " ", maxSplits: 1)
            let pattern = sp[1].split(separator: "/")
            guard pattern.count == parts.count else { return nil }
            for (a, b) in zip(pattern, parts) where !(a.hasPrefix("{") || a == b) { return nil }
            return String(sp[0])
        }
        return methods.isEmpty ? nil : Set(methods).sorted().joined(separator: ", ")
    }

    /// The application: routes, WebSocket upgrade, and the rig link as a service.
    public func buildApplication() -> some ApplicationProtocol {
        let router = makeRouter()
        let wsRouter = Router(context: ConsoleContext.self)
        addWebSocket(to: wsRouter)
        var app = Application(
            router: router,
            server: .gatedWebSocketUpgrade(webSocketRouter: wsRouter, configuration: .init(ws: .init(maxFrameSize: 1 << 16)),
                                           refuses: { head in webSocketRefusal(head: head) != nil }),
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

    static func error(_ status: HTTPResponse.Status, _ message: String, extra: [String: Any] = [:], headers: HTTPFields = [:]) -> Response {
        var o = extra
        o["error"] = message
        return json(status, o, headers: headers)
    }

    /// 429 with `Retry-After` (whole seconds, at least 1).
    static func tooMany(_ message: String, retryAfter: Duration, audited: Bool = false) -> Response {
        let seconds = max(1, Int((Double(retryAfter.components.seconds) + Double(retryAfter.components.attoseconds) * 1e-18).rounded(.up)))
        var h: HTTPFields = [.retryAfter: "\(seconds)"]
        if audited { h[auditedHeader] = "1" }
        return error(.tooManyRequests, message, extra: ["retry_after_s": seconds], headers: h)
    }

    /// The session token from the cookie or an `Authorization: Bearer` header.
    static func token(of request: Request) -> String? {
        if let auth = request.headers[.authorization], auth.lowercased().hasPrefix("bearer ") {
            return String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        return request.cookies[cookieName]?.value
    }

    /// The user of a live session; the role is the users file's now (a user removed from
    /// the file, or demoted, is so at once, also for sessions made before a restart).
    func identity(token: String?) -> Identity? {
        guard let token, !token.isEmpty, let who = sessions.identity(token: token),
              let record = configuration.users.users.first(where: { $0.name == who.user }) else { return nil }
        return Identity(user: record.name, role: record.role)
    }

    func identity(_ request: Request) -> Identity? { identity(token: Self.token(of: request)) }

    /// Host part of an Origin or Referer URL, or of a Host header's `host:port`.
    static func hostOf(url: String) -> String? { URL(string: url)?.host?.lowercased() }
    static func hostOf(authority: String) -> String? { URL(string: "http://" + authority)?.host?.lowercased() }

    /// Why a state-changing request must be refused as cross-site, nil when it may go on.
    /// Cookie-authenticated requests must name this console in Origin or Referer; any
    /// request that names another site in Origin is refused (also a login: login CSRF).
    func crossSiteRefusal(_ request: Request) -> String? {
        let host = request.head.authority.flatMap(Self.hostOf(authority:))
        if let origin = request.headers[.origin] {
            if origin == "null" || Self.hostOf(url: origin) == nil || Self.hostOf(url: origin) != host {
                return "cross-site request refused: Origin \(origin) is not this console"
            }
            return nil
        }
        let bearer = request.headers[.authorization]?.lowercased().hasPrefix("bearer ") ?? false
        guard !bearer, request.cookies[Self.cookieName] != nil else { return nil }
        guard let referer = request.headers[.referer] else {
            return "cross-site request refused: a request with the session cookie must carry Origin or Referer"
        }
        return Self.hostOf(url: referer) == host ? nil : "cross-site request refused: Referer is not this console"
    }

    /// Why a WebSocket handshake is refused (403 foreign origin, 401 no session), or nil.
    func webSocketRefusal(origin: String?, authority: String?, token: String?) -> (HTTPResponse.Status, String)? {
        // Browsers send Origin: a page of another site may not open the stream.
        if let origin, Self.hostOf(url: origin) == nil || Self.hostOf(url: origin) != authority.flatMap(Self.hostOf(authority:)) {
            return (.forbidden, "foreign origin \(origin)")
        }
        guard identity(token: token) != nil else { return (.unauthorized, "log in first (session cookie or Authorization: Bearer)") }
        return nil
    }

    /// The same decision on the raw handshake, before NIO tries the upgrade (WebSocketGate).
    func webSocketRefusal(head: HTTPRequestHead) -> (HTTPResponse.Status, String)? {
        guard head.uri == "/api/ws" || head.uri.hasPrefix("/api/ws?") else { return nil }
        var token: String?
        if let auth = head.headers["authorization"].first, auth.lowercased().hasPrefix("bearer ") {
            token = String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        } else {
            for line in head.headers["cookie"] {
                for pair in line.split(separator: ";") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == Self.cookieName {
                        token = kv[1].trimmingCharacters(in: .whitespaces)
                    }
                }
            }
        }
        return webSocketRefusal(origin: head.headers["origin"].first, authority: head.headers["host"].first, token: token)
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
        router.post("/api/logout") { request, context in
            if let token = Self.token(of: request) {
                let who = identity(token: token)
                if sessions.remove(token: token) {
                    logger.info("logout \(who?.user ?? "?") from \(context.client)")
                    audit.record("logout", user: who?.user, address: context.client, route: "POST /api/logout", status: 200)
                }
            }
            var r = Self.json(.ok, ["ok": true])
            r.headers[.setCookie] = "\(Self.cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
            return r
        }
        // A WebSocket handshake the gate refused (or a plain GET): its real status.
        router.get("/api/ws") { request, context in
            if let (status, message) = webSocketRefusal(origin: request.headers[.origin], authority: request.head.authority, token: Self.token(of: request)) {
                if status == .unauthorized {
                    metrics.authFailure("unauthenticated")
                    logger.warning("401 unauthenticated WebSocket from \(context.client)")
                } else {
                    metrics.authFailure("forbidden")
                    logger.warning("403 WebSocket from \(message) (\(context.client))")
                }
                return Self.error(status, message)
            }
            return Self.error(.upgradeRequired, "this is the WebSocket stream: open it with a WebSocket handshake",
                              headers: [.upgrade: "websocket", .connection: "Upgrade"])
        }
        router.get("/api/status") { request, context in
            guard let who = identity(request) else { return unauthenticated(request, context) }
            return await status(who)
        }
        router.post("/api/command") { request, context in try await command(request, context) }
        addRunRoutes(to: router)
        router.get("/metrics") { request, context in
            let token = Self.token(of: request)
            let metricsOK = configuration.metricsToken.map { !$0.isEmpty && token == $0 } ?? false
            var allowed = metricsOK
            if !allowed { allowed = identity(request) != nil }
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

    /// Login: token buckets per address and user name, then the lockout, then bcrypt.
    /// Every outcome is in the audit log (login, login_failed, lockout, refused).
    func login(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        var request = request
        let route = "POST /api/login"
        let address = context.client
        if let wait = await loginLimiter.take("ip:" + address) {
            logger.warning("429 login rate limit for \(address)")
            audit.record("refused", user: nil, address: address, route: route, status: 429, detail: "login rate limit (address)")
            return Self.tooMany("too many login attempts; wait and try again", retryAfter: wait, audited: true)
        }
        let body: [String: Any]
        switch await jsonBody(&request, allowed: ["user", "password"]) {
        case .failed(let r): return r
        case .ok(let b): body = b
        }
        guard let user = body["user"] as? String, let password = body["password"] as? String else {
            return Self.error(.badRequest, "fields \"user\" and \"password\" (strings) are required")
        }
        // A name that cannot exist is not a key for the lockout table (bounded keys).
        let userKey = "user:" + (UsersFile.isValidName(user) ? user : "<invalid>")
        let lockedUser = await lockout.locked(userKey)
        let lockedAddress = await lockout.locked("ip:" + address)
        if let wait = [lockedUser, lockedAddress].compactMap({ $0 }).max() {
            let which = lockedUser != nil ? "user \(user)" : "address \(address)"
            logger.warning("429 login refused: \(which) locked out for \(wait) (from \(address))")
            audit.record("refused", user: user, address: address, route: route, status: 429, detail: "locked out: \(which)")
            return Self.tooMany("too many failed logins for \(lockedUser != nil ? "this user" : "this address"); locked out, try again later",
                                retryAfter: wait, audited: true)
        }
        if let wait = await loginLimiter.take(userKey) {
            logger.warning("429 login rate limit for user \(user)")
            audit.record("refused", user: user, address: address, route: route, status: 429, detail: "login rate limit (user)")
            return Self.tooMany("too many login attempts; wait and try again", retryAfter: wait, audited: true)
        }
        let users = configuration.users
        // bcrypt is slow on purpose: off the event loop.
        let record = try await NIOThreadPool.singleton.runIfActive { users.authenticate(name: user, password: password) }
        guard let record else {
            logger.warning("401 bad login for user \(user) from \(address)")
            metrics.authFailure("bad_login")
            audit.record("login_failed", user: user, address: address, route: route, status: 401)
            for (key, threshold) in [(userKey, configuration.lockoutAfterUserFailures), ("ip:" + address, configuration.lockoutAfterAddressFailures)] {
                if let lock = await lockout.failed(key, threshold: threshold) {
                    logger.warning("lockout of \(key) for \(lock) after repeated failed logins (from \(address))")
                    metrics.authFailure("lockout")
                    audit.record("lockout", user: user, address: address, route: route, status: 401,
                                 detail: "\(key) locked for \(lock.components.seconds) s")
                }
            }
            var r = Self.error(.unauthorized, "unknown user or wrong password")
            r.headers[Self.auditedHeader] = "1"
            return r
        }
        await lockout.succeeded(userKey)
        await lockout.succeeded("ip:" + address)
        let token: String
        do {
            token = try sessions.create(Identity(user: record.name, role: record.role))
        } catch {
            logger.error("cannot store a session: \(error)")
            return Self.error(.serviceUnavailable, "the session store cannot be written; try again")
        }
        logger.info("login \(record.name) (\(record.role.rawValue)) from \(address)")
        audit.record("login", user: record.name, address: address, route: route, status: 200, detail: record.role.rawValue)
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
        guard let who = identity(request) else { return unauthenticated(request, context) }
        guard who.role == .operator else {
            logger.warning("403 viewer \(who.user) tried a command from \(context.client)")
            metrics.authFailure("forbidden")
            metrics.command(name: "any", result: "forbidden")
            return Self.error(.forbidden, "user \(who.user) is a viewer; commands need the operator role")
        }
        if let wait = await commandLimiter.take("user:" + who.user) {
            logger.warning("429 command rate limit for \(who.user)")
            metrics.command(name: "any", result: "rate_limited")
            return Self.tooMany("too many commands; at most \(configuration.commandsPerSecond)/s sustained", retryAfter: wait)
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
        // An argument given as null is neither given nor a value (found by schemathesis:
        // fouling_resume {"new_baseline": null} was taken as a plain resume).
        if let null = args.filter({ $0.value is NSNull }).keys.sorted().first {
            return Self.error(.badRequest, "argument \"\(null)\" of \(name) is null; leave it out or give a value")
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
            // WebSocketGate already turned refused handshakes into plain requests answered
            // by the HTTP router with 401/403; checked again here all the same.
            if webSocketRefusal(origin: request.headers[.origin], authority: request.head.authority, token: Self.token(of: request)) != nil {
                return .dontUpgrade
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let who = identity(context.request) else { return }
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
