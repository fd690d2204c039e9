import ECMOCore

/// The monotonic clock the loop runs on. Injected everywhere: the real one sleeps, the
/// manual one only moves when told, so simulations run as fast as the CPU allows and
/// tests are exact.
public protocol MonotonicClock: AnyObject, Sendable {
    func now() -> Instant
    /// Blocks until `deadline` (absolute). A manual clock jumps there instead.
    func sleep(until deadline: Instant)
}

/// A clock that moves only when told. Used by tests and lockstep simulation.
/// Not thread-safe by design: one loop owns it.
public final class ManualClock: MonotonicClock, @unchecked Sendable {
    private var current: Instant
    public init(start: Instant = .origin) { current = start }
    public func now() -> Instant { current }
    public func sleep(until deadline: Instant) {
        if deadline > current { current = deadline }
    }
    public func advance(by d: Duration) { current = current + d }
    public func advance(to t: Instant) { if t > current { current = t } }
}
