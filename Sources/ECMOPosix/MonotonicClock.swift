import ECMOCore
import ECMOHAL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How one `sleep` call ended. An interrupted sleep is slept again to the same absolute
/// deadline; any other failure gives up (the caller's lateness check reports it).
public enum MonotonicSleepResult: Sendable, Equatable {
    case reached
    case interrupted
    case failed
}

/// Where a `PosixMonotonicClock` reads and waits: the kernel (`PosixTimeSource`) or, in
/// tests, a fake that interrupts sleeps at will. ECMOLinux's syscall table conforms too, so
/// its fake kernel drives the rig's clock. Generic rather than a closure table, so the
/// system clock on the loop thread is specialised and calls the kernel directly.
public protocol MonotonicTimeSource {
    /// CLOCK_MONOTONIC in nanoseconds.
    func nowNanoseconds() -> UInt64
    /// Blocks until an absolute CLOCK_MONOTONIC deadline.
    func sleep(untilNanoseconds deadline: UInt64) -> MonotonicSleepResult
}

#if canImport(Glibc) || canImport(Darwin)
/// CLOCK_MONOTONIC through the C library: `clock_nanosleep(TIMER_ABSTIME)` on Linux, so
/// the period does not drift with the loop's execution time; relative `nanosleep` steps on
/// Darwin, which has no absolute sleep.
public struct PosixTimeSource: MonotonicTimeSource, Sendable {
    public init() {}

    @inline(__always)
    public func nowNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    public func sleep(untilNanoseconds deadline: UInt64) -> MonotonicSleepResult {
        #if os(Linux)
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        switch clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) {
        case 0: return .reached
        case EINTR: return .interrupted
        default: return .failed
        }
        #else
        let now = nowNanoseconds()
        if now >= deadline { return .reached }
        let remaining = deadline - now
        var ts = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        return nanosleep(&ts, nil) == 0 ? .reached : (errno == EINTR ? .interrupted : .failed)
        #endif
    }
}
#endif

/// The real monotonic clock: the loop's clock and, on Linux, the clock of GPIO edge
/// timestamps, so a tachometer period is the difference of two kernel stamps on the loop's
/// own time line. The one implementation of `MonotonicClock` over the OS: the program,
/// the hardware tools and `LinuxHardware` (over its syscall table) all use it.
public final class PosixMonotonicClock<Source: MonotonicTimeSource>: MonotonicClock, @unchecked Sendable {
    public let source: Source

    public init(source: Source) { self.source = source }

    public func now() -> Instant { Instant(nanosecondsSinceOrigin: source.nowNanoseconds()) }

    /// Sleeps to an absolute deadline. A signal wakes the sleep early: sleep again to the
    /// same deadline, at most 1000 times, so a signal storm cannot keep the loop here.
    public func sleep(until deadline: Instant) {
        var attempts = 0
        while attempts < 1000 {
            switch source.sleep(untilNanoseconds: deadline.nanosecondsSinceOrigin) {
            case .reached, .failed: return
            case .interrupted: attempts += 1
            }
        }
    }
}

#if canImport(Glibc) || canImport(Darwin)
/// CLOCK_MONOTONIC of this machine.
public typealias SystemMonotonicClock = PosixMonotonicClock<PosixTimeSource>

extension PosixMonotonicClock where Source == PosixTimeSource {
    public convenience init() { self.init(source: PosixTimeSource()) }
}
#endif
