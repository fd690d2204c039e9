import ECMOConsole
import Foundation
import Logging
import Testing
import Yams

/// docs/console-openapi.yaml is the API's contract (schemathesis checks the running
/// console against it in scripts/api-contract): a route added to the console without
/// the document, or left in the document after it is gone, fails here.
struct OpenAPIDocumentTests {
    static let documentPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/console-openapi.yaml").path

    static func documentedOperations() throws -> [String] {
        let text = try String(contentsOfFile: documentPath, encoding: .utf8)
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(root["paths"] as? [String: Any])
        var ops: [String] = []
        for (path, item) in paths {
            for (method, _) in (item as? [String: Any]) ?? [:] where ["get", "post", "put", "patch", "delete", "head", "options"].contains(method) {
                ops.append("\(method.uppercased()) \(path)")
            }
        }
        return ops.sorted()
    }

    @Test func everyRouteTheConsoleServesIsInTheOpenAPIDocumentAndNoOther() throws {
        var logger = Logger(label: "openapi-test")
        logger.logLevel = .critical
        let server = try ConsoleServer(configuration: ConsoleConfiguration(rigSocket: "/nonexistent.sock", users: TestUsers.file), logger: logger)
        let served = server.routeTable()
        let documented = try Self.documentedOperations()
        #expect(served.count >= 14, "\(served)")
        #expect(Set(served).subtracting(documented).sorted() == [], "served but not documented")
        #expect(Set(documented).subtracting(served).sorted() == [], "documented but not served")
    }

    @Test func everyOperationDocumentsItsRefusals() throws {
        let text = try String(contentsOfFile: Self.documentPath, encoding: .utf8)
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(root["paths"] as? [String: Any])
        for (path, item) in paths {
            for (method, op) in (item as? [String: Any]) ?? [:] {
                let o = try #require(op as? [String: Any])
                let responses = try #require(o["responses"] as? [String: Any], "\(method) \(path)")
                let secured = (o["security"] as? [Any])?.isEmpty != true
                if secured { #expect(responses["401"] != nil, "\(method) \(path) needs a session but documents no 401") }
                if method == "post" { #expect(responses["403"] != nil, "\(method) \(path): cross-site refusal (403) not documented") }
            }
        }
    }
}
