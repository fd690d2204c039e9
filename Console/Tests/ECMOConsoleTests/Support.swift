import ECMOConsole
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore

/// Test users (bcrypt cost 4 to keep the tests fast).
enum TestUsers {
    static let operatorName = "olga"
    static let operatorPassword = "operator-password"
    static let viewerName = "victor"
    static let viewerPassword = "viewer-password"

    static let file: UsersFile = {
        var f = UsersFile(path: "/nonexistent/test-users.yaml")
        f.set(name: operatorName, role: .operator, password: operatorPassword, cost: 4)
        f.set(name: viewerName, role: .viewer, password: viewerPassword, cost: 4)
        return f
    }()
}

struct Harness {
    let client: any TestClientProtocol
    let server: ConsoleServer

    func request(_ uri: String, _ method: HTTPRequest.Method = .get, token: String? = nil,
                 json: String? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
        var h = headers
        if let token { h[.authorization] = "Bearer \(token)" }
        if json != nil { h[.contentType] = "application/json" }
        return try await client.execute(uri: uri, method: method, headers: h, body: json.map { ByteBuffer(string: $0) })
    }

    /// Logs in and returns the session token.
    func login(_ user: String, _ password: String) async throws -> String {
        let r = try await request("/api/login", .post, json: #"{"user":"\#(user)","password":"\#(password)"}"#)
        guard r.status == .ok, let o = jsonObject(r), let token = o["token"] as? String else {
            throw TestFailure("login of \(user) failed: \(r.status) \(String(buffer: r.body))")
        }
        return token
    }

    func operatorToken() async throws -> String { try await login(TestUsers.operatorName, TestUsers.operatorPassword) }
    func viewerToken() async throws -> String { try await login(TestUsers.viewerName, TestUsers.viewerPassword) }

    /// Waits until the console's link to the rig is up (or down).
    func waitForRig(connected: Bool = true, within: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if await server.link.connected == connected { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("rig link did not become \(connected ? "connected" : "disconnected") within \(within)")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func jsonObject(_ r: TestResponse) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(r.body.readableBytesView))) as? [String: Any]
}

/// Runs `body` against a live console (random port) connected to `rigSocket`.
func withConsole(rigSocket: String, adjust: (inout ConsoleConfiguration) -> Void = { _ in },
                 _ body: @escaping @Sendable (Harness) async throws -> Void) async throws {
    var config = ConsoleConfiguration(rigSocket: rigSocket, users: TestUsers.file)
    config.port = 0
    config.loginBurst = 100
    config.commandBurst = 100
    config.commandsPerSecond = 100
    adjust(&config)
    var logger = Logger(label: "console-test")
    logger.logLevel = .critical
    let server = try ConsoleServer(configuration: config, logger: logger)
    let app = server.buildApplication()
    try await app.test(.live) { client in
        try await body(Harness(client: client, server: server))
    }
}
