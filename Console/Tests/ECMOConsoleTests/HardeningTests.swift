import ECMOConsole
import ECMOFakeRig
import ECMOLink
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// A temporary folder for a sessions database and an audit log.
func temporaryFolder() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-console-test-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The audit log's records, parsed.
func auditRecords(_ path: String) -> [[String: Any]] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
}

/// The headers of a browser's WebSocket handshake.
func handshake(_ extra: HTTPFields = [:]) -> HTTPFields {
    var h: HTTPFields = [.upgrade: "websocket", .connection: "Upgrade",
                         .secWebSocketKey: "dGhlIHNhbXBsZSBub25jZQ==", .secWebSocketVersion: "13"]
    h.append(contentsOf: extra)
    return h
}

/// A handshake on a connection of its own, as a browser opens one: status and JSON body.
func freshHandshake(_ h: Harness, _ extra: HTTPFields = [:]) async throws -> (HTTPResponse.Status, [String: Any]?) {
    let port = try #require(h.client.port)
    let r = try await TestClient.withClient(host: "localhost", port: port) { c in
        try await c.execute(TestClient.Request("/api/ws", method: .get, authority: "localhost:\(port)", headers: handshake(extra)))
    }
    let body = r.body.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.readableBytesView))) as? [String: Any] }
    return (r.head.status, body)
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct HardeningTests {
    // MARK: WebSocket refusals on the wire

    @Test func aWebSocketHandshakeWithoutASessionGets401OnTheWire() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let (status, body) = try await freshHandshake(h)
            #expect(status == .unauthorized)
            #expect((body?["error"] as? String)?.contains("log in") == true)
            let (forged, _) = try await freshHandshake(h, [.authorization: "Bearer " + String(repeating: "ab", count: 32)])
            #expect(forged == .unauthorized)
        }
    }

    @Test func aWebSocketHandshakeFromAForeignOriginGets403OnTheWire() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let token = try await h.viewerToken()
            let (status, body) = try await freshHandshake(h, [.authorization: "Bearer \(token)", .origin: "http://evil.example"])
            #expect(status == .forbidden)
            #expect((body?["error"] as? String)?.contains("evil.example") == true)
            // With the cookie, as a browser would send it, the same.
            let (c, _) = try await freshHandshake(h, [.cookie: "ecmo_session=\(token)", .origin: "http://evil.example"])
            #expect(c == .forbidden)
            // From the console's own page, with the session, it switches protocols.
            let port = try #require(h.client.port)
            let (ok, _) = try await freshHandshake(h, [.cookie: "ecmo_session=\(token)", .origin: "http://localhost:\(port)"])
            #expect(ok == .switchingProtocols)
        }
    }

    @Test func aPlainGetOfTheStreamWithASessionGets426() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let token = try await h.viewerToken()
            let r = try await h.request("/api/ws", token: token)
            #expect(r.status == .upgradeRequired)
            #expect(r.headers[.upgrade] == "websocket")
        }
    }

    // MARK: 429 and Retry-After

    @Test func everyTooManyRequestsCarriesRetryAfter() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path, adjust: { $0.commandBurst = 1; $0.commandsPerSecond = 0.1; $0.loginBurst = 1; $0.loginsPerSecond = 0.2 }) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            #expect(try await h.request("/api/command", .post, token: token, json: #"{"name":"pause_audio"}"#).status == .ok)
            let c = try await h.request("/api/command", .post, token: token, json: #"{"name":"pause_audio"}"#)
            #expect(c.status == .tooManyRequests)
            let commandWait = try #require(c.headers[.retryAfter].flatMap(Int.init))
            #expect((5...10).contains(commandWait), "Retry-After \(commandWait) for 1 command per 10 s")
            // The login bucket of this address is empty after the operator's login.
            let l = try await h.request("/api/login", .post, json: #"{"user":"victor","password":"viewer-password"}"#)
            #expect(l.status == .tooManyRequests)
            let loginWait = try #require(l.headers[.retryAfter].flatMap(Int.init))
            #expect((1...5).contains(loginWait))
            #expect(jsonObject(l)?["retry_after_s"] as? Int == loginWait)
        }
    }

    // MARK: lockout

    @Test func repeatedFailedLoginsLockTheUserOutEvenWithTheRightPassword() async throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: {
            $0.lockoutAfterUserFailures = 3; $0.lockoutBase = .seconds(2); $0.auditLog = dir + "/audit.jsonl"
        }) { h in
            for _ in 0..<3 {
                #expect(try await h.request("/api/login", .post, json: #"{"user":"olga","password":"guess-guess"}"#).status == .unauthorized)
            }
            let locked = try await h.request("/api/login", .post, json: #"{"user":"olga","password":"operator-password"}"#)
            #expect(locked.status == .tooManyRequests)
            #expect(locked.headers[.setCookie] == nil)
            let wait = try #require(locked.headers[.retryAfter].flatMap(Int.init))
            #expect((1...2).contains(wait))
            // Another user is not locked by olga's failures.
            #expect(try await h.request("/api/login", .post, json: #"{"user":"victor","password":"viewer-password"}"#).status == .ok)
            let records = auditRecords(dir + "/audit.jsonl")
            let lockout = try #require(records.first { $0["event"] as? String == "lockout" })
            #expect(lockout["user"] as? String == "olga")
            #expect((lockout["detail"] as? String)?.contains("user:olga") == true)
            #expect(records.contains { $0["event"] as? String == "refused" && $0["status"] as? Int == 429 && $0["user"] as? String == "olga" })
            // The lock ends; the right password works again and clears the count.
            try await Task.sleep(for: .milliseconds(2100))
            #expect(try await h.request("/api/login", .post, json: #"{"user":"olga","password":"operator-password"}"#).status == .ok)
            #expect(try await h.request("/api/login", .post, json: #"{"user":"olga","password":"guess-guess"}"#).status == .unauthorized)
            #expect(try await h.request("/api/login", .post, json: #"{"user":"olga","password":"operator-password"}"#).status == .ok)
        }
    }

    @Test func eachFurtherFailureDoublesTheLock() async throws {
        let lockout = LoginLockout(base: .seconds(60), maximum: .seconds(900))
        var locks: [Duration?] = []
        for _ in 0..<9 { locks.append(await lockout.failed("user:olga", threshold: 5)) }
        #expect(locks == [nil, nil, nil, nil, .seconds(60), .seconds(120), .seconds(240), .seconds(480), .seconds(900)])
        #expect(await lockout.locked("user:olga") != nil)
        await lockout.succeeded("user:olga")
        #expect(await lockout.locked("user:olga") == nil)
    }

    @Test func failedLoginsFromOneAddressLockTheAddressOutForEveryUser() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: { $0.lockoutAfterAddressFailures = 4; $0.lockoutBase = .seconds(30) }) { h in
            for name in ["ann", "bob", "carl", "dora"] {
                #expect(try await h.request("/api/login", .post, json: #"{"user":"\#(name)","password":"guess-guess"}"#).status == .unauthorized)
            }
            let r = try await h.request("/api/login", .post, json: #"{"user":"victor","password":"viewer-password"}"#)
            #expect(r.status == .tooManyRequests)
            #expect(r.headers[.retryAfter].flatMap(Int.init).map { (25...30).contains($0) } == true)
        }
    }

    // MARK: sessions in SQLite

    @Test func aSessionSurvivesAConsoleRestartAndOnlyItsHashIsStored() async throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/sessions.sqlite"
        let token = TokenBox()
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: { $0.sessionsDatabase = db }) { h in
            token.value = try await h.operatorToken()
        }
        let t = try #require(token.value)
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: { $0.sessionsDatabase = db }) { h in
            let r = try await h.request("/api/status", token: t)
            #expect(r.status == .ok)
            #expect(jsonObject(r)?["user"] as? String == "olga")
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: db))
        #expect(bytes.range(of: Data(t.utf8)) == nil, "the token itself is in the database")
        #expect(bytes.range(of: Data(SessionStore.digest(t).utf8)) != nil)
        let mode = try FileManager.default.attributesOfItem(atPath: db)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func logoutDeletesTheSessionAlsoFromTheDatabase() async throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/sessions.sqlite"
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: { $0.sessionsDatabase = db }) { h in
            let token = try await h.viewerToken()
            #expect(h.server.sessions.count() == 1)
            let out = try await h.request("/api/logout", .post, token: token)
            #expect(out.status == .ok)
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await h.request("/api/status", token: token).status == .unauthorized)
            #expect(h.server.sessions.count() == 0)
        }
        let reopened = try SessionStore(path: db)
        #expect(reopened.count() == 0)
    }

    @Test func anExpiredSessionIsRefused() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: { $0.sessionLifetime = .seconds(1) }) { h in
            let token = try await h.viewerToken()
            #expect(try await h.request("/api/status", token: token).status == .ok)
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try await h.request("/api/status", token: token).status == .unauthorized)
        }
    }

    @Test func aSessionOfAUserNoLongerInTheUsersFileIsRefusedAfterARestart() async throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/sessions.sqlite"
        let token = TokenBox()
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: { $0.sessionsDatabase = db }) { h in
            token.value = try await h.viewerToken()
        }
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: {
            $0.sessionsDatabase = db
            $0.users.users.removeAll { $0.name == TestUsers.viewerName }
        }) { h in
            let r = try await h.request("/api/status", token: token.value)
            #expect(r.status == .unauthorized)
        }
    }

    @Test(arguments: ["sessions", "audit"])
    func anUnopenableSessionsDatabaseOrAuditLogIsAnErrorNamingTheFile(_ which: String) throws {
        var config = ConsoleConfiguration(rigSocket: "/nonexistent.sock", users: TestUsers.file)
        let path = "/nonexistent-ecmo-dir/\(which).file"
        if which == "sessions" { config.sessionsDatabase = path } else { config.auditLog = path }
        do {
            _ = try ConsoleServer(configuration: config, logger: Logger(label: "test"))
            Issue.record("no error for \(path)")
        } catch let e as ConsoleStoreError {
            #expect(e.description.contains(path))
        }
    }

    // MARK: CSRF

    @Test func aCookieCommandMustComeFromTheConsolesOwnPage() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            let body = #"{"name":"set_speed","args":{"rpm":2600}}"#
            let cookie: HTTPFields = [.cookie: "ecmo_session=\(token)"]
            // No Origin, no Referer: a forged form post or a script that cannot say where it is from.
            let bare = try await h.request("/api/command", .post, json: body, headers: cookie)
            #expect(bare.status == .forbidden)
            var foreign = cookie
            foreign[.origin] = "http://evil.example"
            let fromEvil = try await h.request("/api/command", .post, json: body, headers: foreign)
            #expect(fromEvil.status == .forbidden)
            #expect((jsonObject(fromEvil)?["error"] as? String)?.contains("cross-site") == true)
            var badReferer = cookie
            badReferer[.referer] = "http://evil.example/page"
            #expect(try await h.request("/api/command", .post, json: body, headers: badReferer).status == .forbidden)
            #expect(rig.commands.withLock { $0.isEmpty }, "a cross-site command reached the rig")
            // The dashboard's own fetch: Origin names this console.
            var own = cookie
            own[.origin] = "http://localhost:\(h.client.port ?? 0)"
            #expect(try await h.request("/api/command", .post, json: body, headers: own).status == .ok)
            var ownReferer = cookie
            ownReferer[.referer] = "http://localhost:\(h.client.port ?? 0)/"
            #expect(try await h.request("/api/command", .post, json: body, headers: ownReferer).status == .ok)
            // A script with the bearer token needs neither.
            #expect(try await h.request("/api/command", .post, token: token, json: body).status == .ok)
            #expect(rig.commands.withLock { $0.count } == 3)
            // A logout forged from another site does not end the session.
            #expect(try await h.request("/api/logout", .post, headers: foreign).status == .forbidden)
            #expect(try await h.request("/api/status", token: token).status == .ok)
        }
    }

    @Test func aLoginPostedFromAnotherSiteIsRefused() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let r = try await h.request("/api/login", .post, json: #"{"user":"olga","password":"operator-password"}"#,
                                        headers: [.origin: "http://evil.example"])
            #expect(r.status == .forbidden)
            #expect(r.headers[.setCookie] == nil)
        }
    }

    // MARK: audit log

    @Test func theAuditLogRecordsLoginsFailuresLogoutsAndRefusals() async throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/audit.jsonl"
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path, adjust: { $0.auditLog = path }) { h in
            _ = try await h.request("/api/login", .post, json: #"{"user":"olga","password":"wrong-wrong"}"#)
            let viewer = try await h.viewerToken()
            try await h.waitForRig()
            _ = try await h.request("/api/command", .post, token: viewer, json: #"{"name":"stop"}"#)      // 403
            _ = try await h.request("/api/status")                                                        // 401
            let op = try await h.operatorToken()
            _ = try await h.request("/api/command", .post, token: op, json: #"{"name":"set_flow","args":{"lpm":9}}"#)  // 422
            _ = try await h.request("/api/logout", .post, token: viewer)
        }
        let records = auditRecords(path)
        func find(_ event: String, _ status: Int) -> [String: Any]? {
            records.first { $0["event"] as? String == event && $0["status"] as? Int == status }
        }
        let failed = try #require(find("login_failed", 401))
        #expect(failed["user"] as? String == "olga")
        #expect(failed["address"] as? String == "127.0.0.1")
        #expect(failed["route"] as? String == "POST /api/login")
        #expect((failed["time"] as? String)?.hasPrefix("20") == true)
        #expect(find("login", 200)?["user"] as? String == "victor")
        let forbidden = try #require(find("refused", 403))
        #expect(forbidden["user"] as? String == "victor")
        #expect(forbidden["route"] as? String == "POST /api/command")
        #expect(find("refused", 401)?["route"] as? String == "GET /api/status")
        #expect(find("refused", 422)?["user"] as? String == "olga")
        #expect(find("logout", 200)?["user"] as? String == "victor")
        // Appended, never rewritten: a second console adds to the same file.
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: { $0.auditLog = path }) { h in
            _ = try await h.request("/api/status")
        }
        #expect(auditRecords(path).count == records.count + 1)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    // MARK: found by schemathesis

    @Test func aNullArgumentIsRefusedNotTakenAsAbsent() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            let r = try await h.request("/api/command", .post, token: token, json: #"{"name":"fouling_resume","args":{"new_baseline":null}}"#)
            #expect(r.status == .badRequest)
            #expect((jsonObject(r)?["error"] as? String)?.contains("new_baseline") == true)
            #expect(rig.commands.withLock { $0.isEmpty })
        }
    }

    // MARK: 405

    @Test func anotherMethodOnAKnownPathGets405WithAllow() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let r = try await h.request("/api/command", .get)
            #expect(r.status == .methodNotAllowed)
            #expect(r.headers[.allow] == "POST")
            #expect(jsonObject(r)?["error"] is String)
        }
    }

    // MARK: fleet metrics

    @Test func metricsCountActiveHighAlarmsAndTheLatenessWindow() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.viewerToken()
            try await h.waitForRig()
            try await Task.sleep(for: .milliseconds(300))
            var text = String(buffer: try await h.request("/metrics", token: token).body)
            #expect(text.contains("ecmo_alarms_active_high 0"))
            #expect(text.contains("ecmo_loop_lateness_window_seconds{quantile=\"0.99\"} 4.2e-05"))
            #expect(text.contains("ecmo_loop_period_seconds 0.002"))
            #expect(text.contains("ecmo_console_telemetry_age_seconds"))
            rig.raise(LinkAlarm(id: 0, name: "P_DRAIN_LOW", priority: "high", state: "active", since: 1))
            rig.raise(LinkAlarm(id: 1, name: "FLOW_LOW", priority: "medium", state: "active", since: 1))
            try await Task.sleep(for: .milliseconds(1300))
            text = String(buffer: try await h.request("/metrics", token: token).body)
            #expect(text.contains("ecmo_alarms_active_high 1"))
            #expect(text.contains("ecmo_alarms_active 2"))
        }
    }

    @Test func metricsReportTheRunDirectorysFreeBytesAndLastWrite() async throws {
        let metrics = ConsoleMetrics()
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("t\n".utf8).write(to: URL(fileURLWithPath: dir + "/telemetry.csv"))
        metrics.testingRunDirectory(dir)
        let text = metrics.render()
        let free = try #require(sample(text, "ecmo_run_dir_free_bytes"))
        #expect(free > 0)
        let age = try #require(sample(text, "ecmo_run_record_write_age_seconds"))
        #expect(age >= 0 && age < 60)
    }
}

/// The value of an unlabelled sample in Prometheus text.
func sample(_ text: String, _ name: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
}

final class TokenBox: @unchecked Sendable { var value: String? }
