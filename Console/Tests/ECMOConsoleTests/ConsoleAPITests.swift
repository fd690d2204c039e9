import ECMOConsole
import ECMOLink
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import NIOCore
import Synchronization
import Testing
import ECMOFakeRig

/// One example of every command the API accepts, with the command the rig must receive.
struct CommandCase: Sendable, CustomTestStringConvertible {
    var json: String
    var expected: LinkCommand
    var testDescription: String { json }

    static let all: [CommandCase] = [
        .init(json: #"{"name":"set_flow","args":{"lpm":3.2}}"#, expected: .setFlow(lpm: 3.2)),
        .init(json: #"{"name":"set_speed","args":{"rpm":2600}}"#, expected: .setSpeed(rpm: 2600)),
        .init(json: #"{"name":"acknowledge","args":{"alarm":"all"}}"#, expected: .acknowledge(alarm: "all")),
        .init(json: #"{"name":"pause_audio"}"#, expected: .pauseAudio),
        .init(json: #"{"name":"protocol_pause","args":{"channel":"cells"}}"#, expected: .protocolPause(channel: .cells)),
        .init(json: #"{"name":"protocol_resume","args":{"channel":"heparin"}}"#, expected: .protocolResume(channel: .heparin)),
        .init(json: #"{"name":"protocol_abort","args":{}}"#, expected: .protocolAbort),
        .init(json: #"{"name":"protocol_start"}"#, expected: .protocolStart),
        .init(json: #"{"name":"enter_act","args":{"seconds":185}}"#, expected: .enterACT(seconds: 185)),
        .init(json: #"{"name":"set_heparin_rate","args":{"u_per_kg_h":18}}"#, expected: .setHeparinRate(unitsPerKilogramPerHour: 18)),
        .init(json: #"{"name":"annotate","args":{"text":"clot seen at the oxygenator inlet"}}"#, expected: .annotate(text: "clot seen at the oxygenator inlet")),
        .init(json: #"{"name":"stop"}"#, expected: .stop),
    ]
}

@Suite(.serialized, .timeLimit(.minutes(1)))
struct ConsoleAPITests {
    @Test func statusNeedsALoginAndThenShowsTheRigConnected() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            #expect(try await h.request("/api/status").status == .unauthorized)
            let token = try await h.viewerToken()
            try await h.waitForRig()
            let r = try await h.request("/api/status", token: token)
            #expect(r.status == .ok)
            let o = try #require(jsonObject(r))
            #expect((o["rig"] as? [String: Any])?["connected"] as? Bool == true)
            #expect(o["run_id"] as? String == "run-test")
            #expect(o["role"] as? String == "viewer")
        }
    }

    @Test func loginWithTheRightPasswordSetsAnHttpOnlyStrictSessionCookie() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let r = try await h.request("/api/login", .post, json: #"{"user":"olga","password":"operator-password"}"#)
            #expect(r.status == .ok)
            let cookie = try #require(r.headers[.setCookie])
            #expect(cookie.hasPrefix("ecmo_session="))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            let token = try #require(jsonObject(r)?["token"] as? String)
            #expect(token.count == 64)
            // The cookie alone authenticates too.
            let s = try await h.request("/api/status", headers: [.cookie: "ecmo_session=\(token)"])
            #expect(s.status == .ok)
            #expect(jsonObject(s)?["user"] as? String == "olga")
        }
    }

    @Test func loginWithAWrongPasswordOrUnknownUserIsRefused() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let wrong = try await h.request("/api/login", .post, json: #"{"user":"olga","password":"nope-nope"}"#)
            #expect(wrong.status == .unauthorized)
            #expect(wrong.headers[.setCookie] == nil)
            let unknown = try await h.request("/api/login", .post, json: #"{"user":"mallory","password":"operator-password"}"#)
            #expect(unknown.status == .unauthorized)
            #expect(try await h.request("/api/status", token: "0123456789abcdef").status == .unauthorized)
        }
    }

    @Test func telemetryReachesAnAuthenticatedWebSocket() async throws {
        let rig = try await FakeRig.start(telemetryHz: 25)
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.viewerToken()
            try await h.waitForRig()
            let types = Mutex<[String]>([])
            let started = ContinuousClock.now
            try await h.client.ws("/api/ws", configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)"])) { inbound, outbound, _ in
                for try await message in inbound.messages(maxSize: 1 << 16) {
                    guard case .text(let text) = message,
                          let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                          let type = o["type"] as? String else { continue }
                    let telemetryCount = types.withLock { $0.append(type); return $0.filter { $0 == "telemetry" }.count }
                    if telemetryCount >= 25 { break }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
            let seen = types.withLock { $0 }
            let elapsed = started.duration(to: .now)
            #expect(seen.first == "session")
            #expect(seen.contains("link"))
            #expect(seen.contains("hello"))
            #expect(seen.filter { $0 == "telemetry" }.count >= 25)
            // 25 frames at 25 Hz: about a second, not five.
            #expect(elapsed < .seconds(5))
        }
    }

    @Test func aWebSocketWithoutALoginIsRefused() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            await #expect(throws: (any Error).self) {
                try await h.client.ws("/api/ws") { _, _, _ in }
            }
        }
    }

    @Test func aWebSocketOpenedFromAForeignOriginIsRefused() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let token = try await h.viewerToken()
            await #expect(throws: (any Error).self) {
                try await h.client.ws("/api/ws", configuration: .init(additionalHeaders: [
                    .authorization: "Bearer \(token)", .origin: "http://evil.example"])) { _, _, _ in }
            }
        }
    }

    @Test(arguments: CommandCase.all)
    func anOperatorsCommandReachesTheRigWithActorAndRole(_ c: CommandCase) async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            let r = try await h.request("/api/command", .post, token: token, json: c.json)
            #expect(r.status == .ok, "\(String(buffer: r.body))")
            let got = try #require(rig.commands.withLock { $0.last })
            #expect(got.command == c.expected)
            #expect(got.actor == "olga")
            #expect(got.role == "operator")
        }
    }

    @Test(arguments: CommandCase.all)
    func aViewersCommandIsForbiddenAndNeverReachesTheRig(_ c: CommandCase) async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.viewerToken()
            try await h.waitForRig()
            let r = try await h.request("/api/command", .post, token: token, json: c.json)
            #expect(r.status == .forbidden)
            #expect((jsonObject(r)?["error"] as? String)?.contains("viewer") == true)
            #expect(rig.commands.withLock { $0.isEmpty })
        }
    }

    @Test(arguments: CommandCase.all)
    func anUnauthenticatedCommandIsRefusedAndNeverReachesTheRig(_ c: CommandCase) async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            try await h.waitForRig()
            let r = try await h.request("/api/command", .post, json: c.json)
            #expect(r.status == .unauthorized)
            let forged = try await h.request("/api/command", .post, token: "forged", json: c.json)
            #expect(forged.status == .unauthorized)
            #expect(rig.commands.withLock { $0.isEmpty })
        }
    }

    @Test func theRigsRefusalReasonIsPassedToTheClient() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            let r = try await h.request("/api/command", .post, token: token, json: #"{"name":"set_flow","args":{"lpm":9}}"#)
            #expect(r.status == .unprocessableContent)
            let o = try #require(jsonObject(r))
            #expect(o["reason"] as? String == "out_of_range")
            #expect((o["error"] as? String)?.contains("outside the board's range") == true)
            let ack = try await h.request("/api/command", .post, token: token, json: #"{"name":"acknowledge","args":{"alarm":"NO_SUCH_ALARM"}}"#)
            #expect(ack.status == .conflict)
            #expect(jsonObject(ack)?["reason"] as? String == "alarm_not_active")
        }
    }

    @Test func badJSONIsRefusedWithTheReason() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            for body in [#"{"name":"set_flow","args":{"lpm":3"#, "[1,2]", "", #"{"name":"set_flow","args":{"lpm":"fast"}}"#,
                         #"{"name":"set_flow","args":{}}"#, #"{"name":"launch"}"#, #"{"args":{}}"#] {
                let r = try await h.request("/api/command", .post, token: token, json: body)
                #expect(r.status == .badRequest, "\(body)")
                let reason = jsonObject(r)?["error"] as? String ?? ""
                #expect(reason.count > 5, "\(body)")
            }
            let wrongType = try await h.request("/api/command", .post, token: token, json: #"{"name":"set_flow","args":{"lpm":"fast"}}"#)
            #expect((jsonObject(wrongType)?["error"] as? String)?.contains("lpm") == true)
            #expect(rig.commands.withLock { $0.isEmpty })
        }
    }

    @Test func unknownFieldsAreRefusedByName() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            let top = try await h.request("/api/command", .post, token: token, json: #"{"name":"stop","force":true}"#)
            #expect(top.status == .badRequest)
            #expect((jsonObject(top)?["error"] as? String)?.contains("force") == true)
            let arg = try await h.request("/api/command", .post, token: token, json: #"{"name":"set_flow","args":{"lpm":3,"ramp":1}}"#)
            #expect(arg.status == .badRequest)
            #expect((jsonObject(arg)?["error"] as? String)?.contains("ramp") == true)
            let login = try await h.request("/api/login", .post, json: #"{"user":"olga","password":"operator-password","role":"operator"}"#)
            #expect(login.status == .badRequest)
            #expect(rig.commands.withLock { $0.isEmpty })
        }
    }

    @Test func anOversizedBodyIsRefusedWith413() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            let text = String(repeating: "x", count: 20_000)
            let r = try await h.request("/api/command", .post, token: token, json: #"{"name":"annotate","args":{"text":"\#(text)"}}"#)
            #expect(r.status == .contentTooLarge)
            let login = try await h.request("/api/login", .post, json: #"{"user":"\#(text)","password":"x"}"#)
            #expect(login.status == .contentTooLarge)
            #expect(rig.commands.withLock { $0.isEmpty })
        }
    }

    @Test func commandsPastTheRateLimitGet429() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path, adjust: { $0.commandBurst = 3; $0.commandsPerSecond = 0.01 }) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<5 {
                statuses.append(try await h.request("/api/command", .post, token: token, json: #"{"name":"pause_audio"}"#).status)
            }
            #expect(statuses == [.ok, .ok, .ok, .tooManyRequests, .tooManyRequests])
            #expect(rig.commands.withLock { $0.count } == 3)
        }
    }

    @Test func loginsPastTheRateLimitGet429() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath(), adjust: { $0.loginBurst = 2; $0.loginsPerSecond = 0.01 }) { h in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 {
                statuses.append(try await h.request("/api/login", .post, json: #"{"user":"olga","password":"guess-guess"}"#).status)
            }
            #expect(statuses == [.unauthorized, .unauthorized, .tooManyRequests, .tooManyRequests])
        }
    }

    @Test func metricsShowTheRigsValuesAndNeedAuthentication() async throws {
        let rig = try await FakeRig.start()
        defer { Task { await rig.stop() } }
        try await withConsole(rigSocket: rig.path, adjust: { $0.metricsToken = "prom-secret" }) { h in
            #expect(try await h.request("/metrics").status == .unauthorized)
            #expect(try await h.request("/metrics", token: "wrong").status == .unauthorized)
            try await h.waitForRig()
            rig.raise(LinkAlarm(id: 0, name: "P_DRAIN_LOW", priority: "high", state: "active", since: 1))
            try await Task.sleep(for: .milliseconds(1300))
            let r = try await h.request("/metrics", token: "prom-secret")
            #expect(r.status == .ok)
            let text = String(buffer: r.body)
            #expect(text.contains("ecmo_loop_lateness_seconds_bucket"))
            #expect(text.contains("ecmo_pressure_mmhg{site=\"pre\"} 180"))
            #expect(text.contains("ecmo_flow_lpm 3.5"))
            #expect(text.contains("ecmo_pump_rpm"))
            #expect(text.contains("ecmo_console_rig_connected 1"))
            #expect(text.contains("ecmo_alarms_raised_total{alarm=\"P_DRAIN_LOW\"} 1"))
            #expect(text.contains("ecmo_dose_delivered_ml{channel=\"cells\"}"))
            #expect(text.contains("ecmo_console_telemetry_rate_hz"))
            // A session works too.
            let token = try await h.viewerToken()
            #expect(try await h.request("/metrics", token: token).status == .ok)
        }
    }

    @Test func whenTheRigGoesAwayStatusShowsDisconnectedAndCommandsGet503() async throws {
        let rig = try await FakeRig.start()
        try await withConsole(rigSocket: rig.path) { h in
            let token = try await h.operatorToken()
            try await h.waitForRig()
            await rig.stop()
            try await h.waitForRig(connected: false)
            let s = try #require(jsonObject(try await h.request("/api/status", token: token)))
            #expect((s["rig"] as? [String: Any])?["connected"] as? Bool == false)
            #expect(s["rig_error"] is String)
            let r = try await h.request("/api/command", .post, token: token, json: #"{"name":"pause_audio"}"#)
            #expect(r.status == .serviceUnavailable)
            let m = String(buffer: try await h.request("/metrics", token: token).body)
            #expect(m.contains("ecmo_console_rig_connected 0"))
        }
    }

    @Test func theConsoleReconnectsWhenTheRigComesBack() async throws {
        let path = FakeRig.temporaryPath()
        try await withConsole(rigSocket: path) { h in
            try await Task.sleep(for: .milliseconds(300))
            #expect(await h.server.link.connected == false)
            let rig = try await FakeRig.start(path: path)
            defer { Task { await rig.stop() } }
            try await h.waitForRig(connected: true, within: .seconds(8))
        }
    }

    @Test func theDashboardPageAndItsScriptAreServedWithoutLogin() async throws {
        try await withConsole(rigSocket: FakeRig.temporaryPath()) { h in
            let page = try await h.request("/")
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains("/vendor/chart.js"))
            #expect(try await h.request("/app.js").status == .ok)
            #expect(try await h.request("/style.css").status == .ok)
        }
    }
}
