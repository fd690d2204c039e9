/// A point on the monotonic clock, in nanoseconds since an arbitrary origin (boot, or
/// the start of a simulation). It never goes backwards and has no calendar meaning:
/// the core never reads a wall clock, time is always handed in.
public struct Instant: Comparable, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var nanosecondsSinceOrigin: UInt64
    public init(nanosecondsSinceOrigin: UInt64) { self.nanosecondsSinceOrigin = nanosecondsSinceOrigin }
    public static let origin = Instant(nanosecondsSinceOrigin: 0)

    public static func < (a: Instant, b: Instant) -> Bool { a.nanosecondsSinceOrigin < b.nanosecondsSinceOrigin }

    /// Adds a duration; negative durations before the origin clamp to the origin.
    public static func + (a: Instant, d: Duration) -> Instant {
        let ns = d.nanoseconds
        if ns >= 0 { return Instant(nanosecondsSinceOrigin: a.nanosecondsSinceOrigin &+ UInt64(ns)) }
        let back = UInt64(-(ns + 1)) + 1
        return Instant(nanosecondsSinceOrigin: a.nanosecondsSinceOrigin >= back ? a.nanosecondsSinceOrigin - back : 0)
    }
    public static func - (a: Instant, d: Duration) -> Instant { a + (.zero - d) }
    public static func += (a: inout Instant, d: Duration) { a = a + d }

    /// Signed elapsed time from `b` to `a`.
    public static func - (a: Instant, b: Instant) -> Duration {
        if a >= b { return .nanoseconds(Int64(clamping: a.nanosecondsSinceOrigin - b.nanosecondsSinceOrigin)) }
        return .zero - .nanoseconds(Int64(clamping: b.nanosecondsSinceOrigin - a.nanosecondsSinceOrigin))
    }
    public var secondsSinceOrigin: Double { Double(nanosecondsSinceOrigin) / 1e9 }
    /// Signed seconds from `earlier` to this instant, without making a `Duration` (the
    /// 128-bit arithmetic a `Duration` costs adds up at a thousand ticks a second).
    @inlinable
    public func seconds(since earlier: Instant) -> Double {
        nanosecondsSinceOrigin >= earlier.nanosecondsSinceOrigin
            ? Double(nanosecondsSinceOrigin - earlier.nanosecondsSinceOrigin) / 1e9
            : -Double(earlier.nanosecondsSinceOrigin - nanosecondsSinceOrigin) / 1e9
    }
    public var description: String { "t+\(secondsSinceOrigin)s" }
}
