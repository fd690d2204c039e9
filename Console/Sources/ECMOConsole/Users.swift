import Foundation
import HummingbirdBcrypt
import Yams

/// What a console user may do: `viewer` reads, `operator` also sends commands to the rig.
public enum Role: String, Codable, Sendable, CaseIterable {
    case viewer
    case `operator`
}

/// One account of the users file. Only the bcrypt hash of the password is stored.
public struct UserRecord: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    public var passwordBcrypt: String

    public init(name: String, role: Role, passwordBcrypt: String) {
        self.name = name
        self.role = role
        self.passwordBcrypt = passwordBcrypt
    }

    enum CodingKeys: String, CodingKey {
        case name, role, passwordBcrypt = "password_bcrypt"
    }
}

/// A users file that could not be read, naming the file and, where it applies, the entry.
public struct UsersFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ path: String, _ message: String) { description = "users file \(path): \(message)" }
}

/// The users file (`console-users.yaml` or `.json`):
///
/// ```yaml
/// users:
///   - name: alice
///     role: operator
///     password_bcrypt: $2b$12$...
/// ```
public struct UsersFile: Sendable {
    public var path: String
    public var users: [UserRecord]

    public init(path: String, users: [UserRecord] = []) {
        self.path = path
        self.users = users
    }

    var isJSON: Bool { path.lowercased().hasSuffix(".json") }

    /// Reads and strictly checks the file: unknown keys, a bad role, a duplicate name or a
    /// hash that is not bcrypt are errors naming the entry.
    public static func load(path: String) throws -> UsersFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsersFileError(path, "cannot be read (does it exist?)")
        }
        let root: Any
        if path.lowercased().hasSuffix(".json") {
            do { root = try JSONSerialization.jsonObject(with: data) } catch {
                throw UsersFileError(path, "is not valid JSON (\(error.localizedDescription))")
            }
        } else {
            guard let text = String(data: data, encoding: .utf8) else { throw UsersFileError(path, "is not UTF-8 text") }
            do { root = try Yams.load(yaml: text) ?? [String: Any]() } catch {
                throw UsersFileError(path, "is not valid YAML (\(error))")
            }
        }
        guard let top = root as? [String: Any] else { throw UsersFileError(path, "must be a mapping with a `users` list") }
        if let extra = Set(top.keys).subtracting(["users"]).sorted().first {
            throw UsersFileError(path, "unknown key `\(extra)` (only `users`)")
        }
        guard let list = top["users"] as? [Any] else { throw UsersFileError(path, "`users` must be a list") }
        var users: [UserRecord] = []
        for (i, item) in list.enumerated() {
            guard let entry = item as? [String: Any] else { throw UsersFileError(path, "users[\(i)] must be a mapping") }
            let label = (entry["name"] as? String).map { "users[\(i)] (\($0))" } ?? "users[\(i)]"
            if let extra = Set(entry.keys).subtracting(["name", "role", "password_bcrypt"]).sorted().first {
                throw UsersFileError(path, "\(label): unknown key `\(extra)` (name, role, password_bcrypt)")
            }
            guard let name = entry["name"] as? String, isValidName(name) else {
                throw UsersFileError(path, "\(label): `name` must be 1-64 letters, digits, '.', '_' or '-'")
            }
            guard let roleText = entry["role"] as? String, let role = Role(rawValue: roleText) else {
                throw UsersFileError(path, "\(label): `role` must be viewer or operator")
            }
            guard let hash = entry["password_bcrypt"] as? String, hash.hasPrefix("$2"), hash.count == 60 else {
                throw UsersFileError(path, "\(label): `password_bcrypt` must be a bcrypt hash (use `ecmo-console user add`)")
            }
            if users.contains(where: { $0.name == name }) {
                throw UsersFileError(path, "\(label): duplicate user name")
            }
            users.append(UserRecord(name: name, role: role, passwordBcrypt: hash))
        }
        return UsersFile(path: path, users: users)
    }

    /// User names: letters, digits, '.', '_', '-' (they go into the run record as the actor).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }
    }

    /// Adds or replaces a user with a new bcrypt hash of `password`.
    public mutating func set(name: String, role: Role, password: String, cost: UInt8 = 12) {
        let record = UserRecord(name: name, role: role, passwordBcrypt: Bcrypt.hash(password, cost: cost))
        if let i = users.firstIndex(where: { $0.name == name }) { users[i] = record } else { users.append(record) }
    }

    /// Writes the file with mode 0600 (written beside it, then renamed).
    public func save() throws {
        let text: String
        if isJSON {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(["users": users])
            text = String(decoding: data, as: UTF8.self) + "\n"
        } else {
            var out = "# ecmo-console users: edit with `ecmo-console user add NAME --role viewer|operator`\nusers:\n"
            for u in users {
                out += "  - name: \(u.name)\n    role: \(u.role.rawValue)\n    password_bcrypt: '\(u.passwordBcrypt)'\n"
            }
            text = out
        }
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw UsersFileError(path, "cannot write \(tmp)")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tmp)
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: tmp, toPath: path)
    }

    /// The user if `password` matches its hash. Runs bcrypt even for an unknown name, so
    /// the answer takes as long either way.
    public func authenticate(name: String, password: String) -> UserRecord? {
        guard let user = users.first(where: { $0.name == name }) else {
            _ = Bcrypt.verify(password, hash: Self.decoyHash)
            return nil
        }
        return Bcrypt.verify(password, hash: user.passwordBcrypt) ? user : nil
    }

    static let decoyHash = Bcrypt.hash("decoy-password-never-used", cost: 12)
}
