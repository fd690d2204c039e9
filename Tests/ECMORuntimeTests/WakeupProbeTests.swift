import Testing
import AllocationCounter
import ECMOCore
import ECMOHAL
import ECMORuntime
import ECMOPosix

/// A clock whose wake-ups come late by a scripted amount (the kernel's jitter, in a test).
final class LateClock: MonotonicClock, @unchecked Sendable {
    var current = Instant(nanosecondsSinceOrigin: 1_000_000_000)
    var lateness: [UInt64]
    var index = 0
    init(lateness: [UInt64]) { self.lateness = lateness }
    func now() -> Instant { current }
    func sleep(until deadline: Instant) {
        let late = lateness.isEmpty ? 0 : lateness[index % lateness.count]
        index += 1
        current = Instant(nanosecondsSinceOrigin: max(current.nanosecondsSinceOrigin, deadline.nanosecondsSinceOrigin + late))
    }
}

@Suite struct WakeupProbeTests {
    @Test func latenessIsCountedPerMicrosecondWithExactMaxAndOverruns() {
        let clock = LateClock(lateness: [0, 5_000, 12_300, 1_500_000])
        var b = LatencyBuckets(periodNanoseconds: 1_000_000)
        let r = WakeupProbe(clock: clock, period: .milliseconds(1)).run(ticks: 4, into: &b)
        #expect(b.samples == 4)
        #expect(b.counts[0] == 1 && b.counts[5] == 1 && b.counts[12] == 1 && b.counts[1500] == 1)
        #expect(b.maxNanoseconds == 1_500_000)
        #expect(b.overruns == 1, "only the 1.5 ms wake-up is later than the 1 ms period")
        #expect(r.skippedPeriods == 0, "1.5 ms late is less than one period behind the next deadline")
    }

    @Test func aStallOfSeveralPeriodsResynchronisesInsteadOfBursting() {
        let clock = LateClock(lateness: [5_500_000, 0, 0])
        var b = LatencyBuckets(periodNanoseconds: 1_000_000)
        let r = WakeupProbe(clock: clock, period: .milliseconds(1)).run(ticks: 3, into: &b)
        #expect(r.skippedPeriods == 4)
        // As LoopRunner: whole missed periods are skipped, the part period left makes the next
        // wake-up 0.5 ms late, then deadlines are met again; no burst of back-to-back ticks.
        #expect(b.counts[5500] == 1 && b.counts[500] == 1 && b.counts[0] == 1)
    }

    @Test func percentilesComeFromTheBucketsAndTheOverflowReportsTheMax() {
        var b = LatencyBuckets(periodNanoseconds: 1_000_000, rangeMicroseconds: 1000)
        for _ in 0..<998 { b.record(latenessNanoseconds: 10_000) }
        b.record(latenessNanoseconds: 200_000)
        b.record(latenessNanoseconds: 7_000_000)   // beyond the range
        #expect(b.percentileMicroseconds(0.5) == 10)
        #expect(b.percentileMicroseconds(0.999) == 200)
        #expect(b.percentileMicroseconds(1.0) == 7_000)
        var total: UInt64 = 0
        var largest: UInt64 = 0
        b.forEachBucket { us, n in total += n; largest = max(largest, us) }
        #expect(total == 1000 && largest == 7_000)
    }

    @Test func busyWorkIsSpentEachTick() {
        final class Stepping: MonotonicClock, @unchecked Sendable {
            var t: UInt64 = 0
            func now() -> Instant { t += 1_000; return Instant(nanosecondsSinceOrigin: t) }   // 1 µs per reading
            func sleep(until d: Instant) { t = max(t, d.nanosecondsSinceOrigin) }
        }
        var b = LatencyBuckets(periodNanoseconds: 1_000_000)
        let r = WakeupProbe(clock: Stepping(), period: .milliseconds(1), busyPerTick: .microseconds(200)).run(ticks: 10, into: &b)
        #expect(r.maxExecution >= .microseconds(200))
        #expect(b.samples == 10)
    }

    /// rt-check's wake-up loop must not allocate: it records into preallocated buckets.
    @Test(.enabled(if: ecmo_alloc_counter_available(), "needs the glibc allocation counter"))
    func theWakeupLoopAllocatesNothingInNAndTenNTicks() {
        let clock = LateClock(lateness: [1_000, 20_000, 3_000_000])
        let probe = WakeupProbe(clock: clock, period: .milliseconds(1), busyPerTick: .zero)
        var b = LatencyBuckets(periodNanoseconds: 1_000_000)
        _ = probe.run(ticks: 10, into: &b)   // warm up
        ecmo_alloc_counter_start()
        _ = probe.run(ticks: 1_000, into: &b)
        let n = ecmo_alloc_counter_stop()
        ecmo_alloc_counter_start()
        _ = probe.run(ticks: 10_000, into: &b)
        let tenN = ecmo_alloc_counter_stop()
        #expect(n == 0, "allocations in 1 000 wake-ups: \(n)")
        #expect(tenN == 0, "allocations in 10 000 wake-ups: \(tenN)")
        #expect(b.samples == 11_010)
    }

    /// The real clock: a short run at 1 ms on this machine wakes up every time, never early.
    @Test func realClockRunRecordsEveryWakeup() {
        var b = LatencyBuckets(periodNanoseconds: 1_000_000)
        _ = WakeupProbe(clock: SystemMonotonicClock(), period: .milliseconds(1)).run(ticks: 50, into: &b)
        #expect(b.samples == 50)
    }
}
