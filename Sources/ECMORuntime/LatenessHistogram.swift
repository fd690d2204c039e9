import ECMOCore

/// How late the real-time loop's ticks started, as a histogram filled from the tick path:
/// the percentiles a run's summary reports (p50, p99, p99.9), not only the maximum, which one
/// stray scheduling hiccup decides. Fixed buckets allocated once (1 µs wide up to 1 ms, 100 µs
/// wide up to 100 ms, then one overflow bucket), so recording allocates nothing and takes no
/// lock. Percentiles are bucket upper bounds: at most 1 µs (or 100 µs above 1 ms) pessimistic.
public final class LatenessHistogram {
    static let fineBuckets = 1000          // 0..<1 ms, 1 µs each
    static let coarseBuckets = 990         // 1..<100 ms, 100 µs each
    static let count = fineBuckets + coarseBuckets + 1
    private let counts: UnsafeMutablePointer<UInt64>
    public private(set) var total: UInt64 = 0
    public private(set) var maximum: Duration = .zero

    public init() {
        counts = .allocate(capacity: Self.count)
        counts.initialize(repeating: 0, count: Self.count)
    }

    deinit { counts.deallocate() }

    @inline(__always)
    static func bucket(_ lateness: Duration) -> Int {
        let us = lateness.nanoseconds / 1000
        if us < 0 { return 0 }
        if us < Int64(fineBuckets) { return Int(us) }
        let coarse = (us - Int64(fineBuckets)) / 100
        return coarse < Int64(coarseBuckets) ? fineBuckets + Int(coarse) : count - 1
    }

    /// Upper bound of bucket `i`, in microseconds (the overflow bucket: the maximum seen).
    func upperBoundMicroseconds(_ i: Int) -> Double {
        if i < Self.fineBuckets { return Double(i + 1) }
        if i < Self.count - 1 { return Double(Self.fineBuckets + (i - Self.fineBuckets + 1) * 100) }
        return maximum.seconds * 1e6
    }

    /// Records one tick's lateness (negative counts as 0).
    @inline(__always)
    public func record(_ lateness: Duration) {
        counts[Self.bucket(lateness)] &+= 1
        total &+= 1
        if lateness > maximum { maximum = lateness }
    }

    /// The lateness below which `fraction` (0...1) of the ticks started, in microseconds;
    /// nil before any tick.
    public func percentileMicroseconds(_ fraction: Double) -> Double? {
        guard total > 0 else { return nil }
        let rank = UInt64((Double(total) * min(max(fraction, 0), 1)).rounded(.up))
        var seen: UInt64 = 0
        for i in 0..<Self.count {
            seen &+= counts[i]
            if seen >= max(rank, 1) { return min(upperBoundMicroseconds(i), maximum.seconds * 1e6) }
        }
        return maximum.seconds * 1e6
    }

    /// Ticks that started later than `threshold`.
    public func count(over threshold: Duration) -> UInt64 {
        let first = Self.bucket(threshold) + 1
        var n: UInt64 = 0
        var i = first
        while i < Self.count {
            n &+= counts[i]
            i += 1
        }
        return n
    }
}
