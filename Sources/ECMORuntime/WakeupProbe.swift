import ECMOCore
import ECMOHAL

/// Wake-up lateness counted into preallocated 1 µs buckets: `record` is an index and an
/// increment, so the measuring loop allocates nothing; a histogram library is fed from
/// the buckets after the run (`forEachBucket`).
public struct LatencyBuckets: Sendable {
    /// Bucket width.
    public static let resolutionNanoseconds: UInt64 = 1_000
    /// counts[i]: samples with lateness in [i, i+1) µs; the last bucket holds everything
    /// beyond the range (their exact maximum is kept in `maxNanoseconds`).
    public private(set) var counts: [UInt64]
    public private(set) var samples: UInt64 = 0
    public private(set) var maxNanoseconds: UInt64 = 0
    /// Samples later than one period (the loop's overrun).
    public private(set) var overruns: UInt64 = 0
    public let periodNanoseconds: UInt64

    public init(periodNanoseconds: UInt64, rangeMicroseconds: Int = 100_000) {
        self.periodNanoseconds = periodNanoseconds
        counts = [UInt64](repeating: 0, count: max(2, rangeMicroseconds + 1))
    }

    @inline(__always)
    public mutating func record(latenessNanoseconds ns: UInt64) {
        let i = Int(min(ns / Self.resolutionNanoseconds, UInt64(counts.count - 1)))
        counts[i] &+= 1
        samples &+= 1
        if ns > maxNanoseconds { maxNanoseconds = ns }
        if ns > periodNanoseconds { overruns &+= 1 }
    }

    /// The lateness (µs, bucket lower bound) below which `fraction` of the samples fall.
    public func percentileMicroseconds(_ fraction: Double) -> UInt64 {
        guard samples > 0 else { return 0 }
        let target = UInt64((Double(samples) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() {
            seen &+= c
            if seen >= max(target, 1) { return i == counts.count - 1 ? maxNanoseconds / 1_000 : UInt64(i) }
        }
        return maxNanoseconds / 1_000
    }

    /// Each non-empty bucket as (lateness in µs, count); the overflow bucket reports the maximum.
    public func forEachBucket(_ body: (_ microseconds: UInt64, _ count: UInt64) -> Void) {
        for (i, c) in counts.enumerated() where c > 0 {
            body(i == counts.count - 1 ? maxNanoseconds / 1_000 : UInt64(i), c)
        }
    }
}

/// The loop's own wake-up path without the loop: absolute deadlines on the loop's clock,
/// `sleep(until:)`, lateness = wake-up time − deadline, the same resynchronisation after a
/// stall as `LoopRunner`'s real-time pacing, and optional busy work standing in for the
/// tick. This is what `ecmo-rig rt-check` measures.
public struct WakeupProbe {
    public let clock: any MonotonicClock
    public let period: Duration
    /// Busy work per tick (spinning on the clock), standing in for the tick's execution.
    public var busyPerTick: Duration

    public init(clock: any MonotonicClock, period: Duration, busyPerTick: Duration = .zero) {
        self.clock = clock
        self.period = period
        self.busyPerTick = busyPerTick
    }

    /// Runs `ticks` wake-ups (or until `shouldStop` says so, checked every tick) and counts
    /// their lateness into `buckets`. Allocates nothing.
    public func run(ticks: Int, into buckets: inout LatencyBuckets, shouldStop: () -> Bool = { false }) -> (skippedPeriods: UInt64, maxExecution: Duration) {
        var skipped: UInt64 = 0
        var maxExecution: Duration = .zero
        var deadline = clock.now() + period
        var n = 0
        while n < ticks && !shouldStop() {
            clock.sleep(until: deadline)
            let woke = clock.now()
            buckets.record(latenessNanoseconds: woke > deadline ? woke.nanosecondsSinceOrigin - deadline.nanosecondsSinceOrigin : 0)
            if busyPerTick > .zero {
                let end = woke + busyPerTick
                while clock.now() < end {}
            }
            let after = clock.now()
            if after - woke > maxExecution { maxExecution = after - woke }
            deadline = deadline + period
            if after - deadline > period {
                let missed = (after - deadline).nanoseconds / max(1, period.nanoseconds)
                skipped &+= UInt64(missed)
                deadline = deadline + period * Int(missed)
            }
            n += 1
        }
        return (skipped, maxExecution)
    }
}
