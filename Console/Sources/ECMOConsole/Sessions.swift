import Foundation

/// Who made a request: the user of a valid session.
public struct Identity: Sendable, Equatable {
    public var user: String
    public var role: Role
}

/// Server-side sessions: random 256-bit tokens with an expiry. Tokens live only in
/// memory, so restarting the console logs everyone out.
public actor SessionStore {
    struct Entry { var identity: Identity; var expires: ContinuousClock.Instant }
    private var sessions: [String: Entry] = [:]
    public let lifetime: Duration

    public init(lifetime: Duration = .seconds(8 * 3600)) { self.lifetime = lifetime }

    /// A new session for `identity`; returns its token.
    public func create(_ identity: Identity) -> String {
        var rng = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(format: "%016llx", rng.next() as UInt64) }.joined()
        let now = ContinuousClock.now
        sessions = sessions.filter { $0.value.expires > now }
        sessions[token] = Entry(identity: identity, expires: now + lifetime)
        return token
    }

    /// The identity of a live session, nil when unknown or expired.
    public func identity(token: String) -> Identity? {
        guard let e = sessions[token] else { return nil }
        if e.expires <= .now { sessions[token] = nil; return nil }
        return e.identity
    }

    public func remove(token: String) { sessions[token] = nil }
}

/// Token buckets keyed by user or client address: `capacity` requests at once, refilled
/// at `perSecond`.
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
    public func allow(_ key: String) -> Bool {
        let now = ContinuousClock.now
        var b = buckets[key] ?? Bucket(tokens: capacity, last: now)
        let elapsed = b.last.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        b.tokens = min(capacity, b.tokens + seconds * perSecond)
        b.last = now
        if buckets.count > 10_000 { buckets.removeAll() }
        guard b.tokens >= 1 else { buckets[key] = b; return false }
        b.tokens -= 1
        buckets[key] = b
        return true
    }
}
