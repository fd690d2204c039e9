import ECMOConsole
import Foundation
import Testing

struct UsersFileTests {
    func tempPath(_ ext: String) -> String { "/tmp/ecmo-users-\(UUID().uuidString.prefix(8)).\(ext)" }

    @Test(arguments: ["yaml", "json"])
    func aSavedFileIsPrivateAndLoadsBackWithWorkingPasswords(_ ext: String) throws {
        let path = tempPath(ext)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var f = UsersFile(path: path)
        f.set(name: "olga", role: .operator, password: "operator-password", cost: 4)
        try f.save()
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains("operator-password"))
        let loaded = try UsersFile.load(path: path)
        #expect(loaded.authenticate(name: "olga", password: "operator-password")?.role == .operator)
        #expect(loaded.authenticate(name: "olga", password: "wrong") == nil)
    }

    @Test func aBadEntryIsReportedWithTheFileAndTheEntry() throws {
        let path = tempPath("yaml")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "users:\n  - name: ann\n    role: admin\n    password_bcrypt: x\n".write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(throws: UsersFileError.self) { try UsersFile.load(path: path) }
        #expect(error.description.contains(path))
        #expect(error.description.contains("users[0] (ann)"))
        #expect(error.description.contains("role"))
    }

    @Test func anUnknownKeyAndAMissingFileAreClearErrors() throws {
        let path = tempPath("json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #"{"users":[{"name":"bo","role":"viewer","password_bcrypt":"$2b$04$abcdefghijklmnopqrstuuDnY0F0uH2yC8z2bYvHcJ3vDq5Ue9Jmq","admin":true}]}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(throws: UsersFileError.self) { try UsersFile.load(path: path) }
        #expect(error.description.contains("users[0] (bo): unknown key `admin`"))
        let missing = try #require(throws: UsersFileError.self) { try UsersFile.load(path: "/nonexistent/users.yaml") }
        #expect(missing.description.contains("/nonexistent/users.yaml"))
    }
}
