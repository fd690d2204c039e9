import ECMOCore
import ECMOHAL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real monotonic clock. `sleep(until:)` uses an absolute deadline
/// (`clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` on Linux) so the period does not
/// drift with the loop's execution time, and retries when a signal interrupts it.
public final class SystemMonotonicClock: MonotonicClock, Sendable {
    public init() {}

    public func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Instant(nanosecondsSinceOrigin: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    public func sleep(until deadline: Instant) {
        #if os(Linux)
        var ts = timespec(tv_sec: Int(deadline.nanosecondsSinceOrigin / 1_000_000_000),
                          tv_nsec: Int(deadline.nanosecondsSinceOrigin % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
        #else
        while true {
            let n = now()
            if n >= deadline { return }
            let remaining = deadline.nanosecondsSinceOrigin - n.nanosecondsSinceOrigin
            var ts = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
            _ = nanosleep(&ts, nil)
        }
        #endif
    }
}
