import Crypto
import Foundation
import GRDB

/// Who made a request: the user of a valid session.
public struct Identity: Sendable, Equatable {
    public var user: String
    public var role: Role
}

/// Server-side sessions in SQLite (GRDB): a console restart (an update, a crash, a power
/// cut of the Pi) must not log out the people watching a run with blood in the circuit,
/// and a stolen copy of the database must not be a set of live logins. So the file holds
/// only a SHA-256 of each 256-bit token, with an absolute expiry on the wall clock (it has
/// to mean the same after a reboot); logout deletes the row. Without a path the database
/// lives in memory (tests). Lookups are synchronous and short (one indexed row), so the
/// WebSocket gate can use them on the event loop.
public final class SessionStore: Sendable {
    let db: DatabaseQueue
    public let lifetime: Duration
    public let path: String?

    public init(path: String?, lifetime: Duration = .seconds(8 * 3600)) throws {
        self.lifetime = lifetime
        self.path = path
        if let path {
            let existed = FileManager.default.fileExists(atPath: path)
            db = try DatabaseQueue(path: path)
            if !existed { try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path) }
        } else {
            db = try DatabaseQueue()
        }
        try db.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS sessions (
                    token_sha256 TEXT PRIMARY KEY NOT NULL,
                    user TEXT NOT NULL,
                    role TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL)
                """)
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [Date().timeIntervalSince1970])
        }
    }

    /// The stored form of a token: its SHA-256, hex.
    public static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A new session for `identity`; returns its token (64 hex digits, 256 random bits).
    public func create(_ identity: Identity) throws -> String {
        var rng = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(format: "%016llx", rng.next() as UInt64) }.joined()
        let now = Date().timeIntervalSince1970
        let expires = now + Double(lifetime.components.seconds)
        try db.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [now])
            try db.execute(sql: "INSERT INTO sessions (token_sha256, user, role, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [Self.digest(token), identity.user, identity.role.rawValue, now, expires])
        }
        return token
    }

    /// The identity of a live session, nil when unknown, expired or unreadable.
    public func identity(token: String) -> Identity? {
        guard token.count == 64 else { return nil }
        let key = Self.digest(token)
        let now = Date().timeIntervalSince1970
        let row = try? db.read { db in
            try Row.fetchOne(db, sql: "SELECT user, role, expires_at FROM sessions WHERE token_sha256 = ?", arguments: [key])
        }
        guard let row, let user = row["user"] as String?, let roleText = row["role"] as String?,
              let role = Role(rawValue: roleText), let expires = row["expires_at"] as Double? else { return nil }
        guard expires > now else { remove(token: token); return nil }
        return Identity(user: user, role: role)
    }

    /// Deletes the session (logout). True when there was one.
    @discardableResult
    public func remove(token: String) -> Bool {
        let key = Self.digest(token)
        return (try? db.write { db -> Bool in
            try db.execute(sql: "DELETE FROM sessions WHERE token_sha256 = ?", arguments: [key])
            return db.changesCount > 0
        }) ?? false
    }

    /// Live sessions (for tests and the log).
    public func count() -> Int {
        (try? db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sessions WHERE expires_at > ?", arguments: [Date().timeIntervalSince1970]) ?? 0 }) ?? 0
    }
}

/// Token buckets keyed by user or client address: `capacity` requests at once, refilled
/// at `perSecond`. A refusal says how long until the next token, for `Retry-After`.
public actor RateLimiter {
    struct Bucket { var tokens: Double; var last: ContinuousClock.Instant }
    private var buckets: [String: Bucket] = [:]
    public let capacity: Double
    public let perSecond: Double

    public init(capacity: Double, perSecond: Double) {
        self.capacity = capacity
        self.perSecond = perSecond
    }

    /// Takes one token for `key`; false when the bucket is empty.
    public func allow(_ key: String) -> Bool { take(key) == nil }

    /// Takes one token for `key`: nil when allowed, else the wait until one is there.
    public func take(_ key: String) -> Duration? {
        let now = ContinuousClock.now
        var b = buckets[key] ?? Bucket(tokens: capacity, last: now)
        let elapsed = b.last.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        b.tokens = min(capacity, b.tokens + seconds * perSecond)
        b.last = now
        if buckets.count > 10_000 { buckets.removeAll() }
        guard b.tokens >= 1 else {
            buckets[key] = b
            let wait = perSecond > 0 ? (1 - b.tokens) / perSecond : 3600
            return .milliseconds(Int64((wait * 1000).rounded(.up)))
        }
        b.tokens -= 1
        buckets[key] = b
        return nil
    }
}

/// Lockout after repeated failed logins, per user name and per client address, on top of
/// the token buckets: a bucket slows a guesser down, a lockout stops one. After
/// `threshold` consecutive failures the key is locked for `base`, and each further
/// failure doubles it up to `maximum`; while locked even the right password is refused
/// (429 with Retry-After). A success clears the key; so does a quiet `forgetAfter` past
/// the end of the last lock.
public actor LoginLockout {
    struct State { var failures = 0; var lockedUntil: ContinuousClock.Instant?; var last: ContinuousClock.Instant = .now }
    private var states: [String: State] = [:]
    public let base: Duration
    public let maximum: Duration
    public let forgetAfter: Duration

    public init(base: Duration = .seconds(60), maximum: Duration = .seconds(900), forgetAfter: Duration = .seconds(900)) {
        self.base = base
        self.maximum = maximum
        self.forgetAfter = forgetAfter
    }

    /// Time left of a lock on `key`, nil when it may try.
    public func locked(_ key: String) -> Duration? {
        let now = ContinuousClock.now
        guard let s = states[key] else { return nil }
        if let until = s.lockedUntil, until > now { return now.duration(to: until) }
        if (s.lockedUntil ?? s.last) + forgetAfter <= now { states[key] = nil }
        return nil
    }

    /// Counts a failure; returns the lock it starts, if it starts one.
    public func failed(_ key: String, threshold: Int) -> Duration? {
        let now = ContinuousClock.now
        var s = states[key] ?? State()
        if (s.lockedUntil ?? s.last) + forgetAfter <= now { s = State() }
        s.failures += 1
        s.last = now
        var lock: Duration?
        if s.failures >= threshold {
            let doublings = min(s.failures - threshold, 20)
            let d = min(base * (1 << doublings), maximum)
            s.lockedUntil = now + d
            lock = d
        }
        if states.count > 10_000 { states = states.filter { $0.value.lockedUntil.map { $0 > now } ?? false } }
        states[key] = s
        return lock
    }

    public func succeeded(_ key: String) { states[key] = nil }
}
