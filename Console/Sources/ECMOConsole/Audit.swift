import Foundation
import Synchronization

/// The console's audit trail: who logged in, who failed, who was locked out, who logged
/// out, and every refused request (401, 403, 422, 429), one JSON object a line, appended
/// (O_APPEND, one write per line) to a file beside the users and sessions database, mode
/// 0600. The application log rotates and mixes levels; this file is what a lab reviews
/// after an incident, so it is never rewritten by the console. Without a path the lines
/// are kept in memory only (tests).
public final class AuditLog: Sendable {
    public let path: String?
    private let fd: Int32
    private let memory = Mutex<[String]>([])

    public init(path: String?) throws {
        self.path = path
        if let path {
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ConsoleStoreError(description: "audit log \(path): cannot open for appending (\(String(cString: strerror(errno))))")
            }
            self.fd = fd
        } else {
            fd = -1
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends one record: `event` (login, login_failed, lockout, logout, refused), the
    /// user if known, the client address, the route, the HTTP status and a detail.
    public func record(_ event: String, user: String?, address: String, route: String, status: Int, detail: String? = nil) {
        var o: [String: Any] = ["time": Self.timestamp(), "event": event, "address": address, "route": route, "status": status]
        if let user { o["user"] = user }
        if let detail { o["detail"] = detail }
        guard let data = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        let line = String(decoding: data, as: UTF8.self) + "\n"
        memory.withLock { m in
            m.append(line)
            if m.count > 1000 { m.removeFirst(m.count - 1000) }
            if fd >= 0 {
                let bytes = Array(line.utf8)
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
    }

    /// The last lines recorded by this process (newest last).
    public func recent() -> [String] { memory.withLock { $0 } }

    static func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }
}

/// The audit log or the sessions database could not be opened: names the file and why.
public struct ConsoleStoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
