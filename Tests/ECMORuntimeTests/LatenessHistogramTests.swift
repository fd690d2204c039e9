import Testing
import ECMOCore
@testable import ECMORuntime

@Suite struct LatenessHistogramTests {
    @Test func percentilesFollowTheRecordedLateness() {
        let h = LatenessHistogram()
        #expect(h.percentileMicroseconds(0.5) == nil)
        // 990 ticks 10 µs late, 9 ticks 500 µs late, one 20 ms late.
        for _ in 0..<990 { h.record(.microseconds(10)) }
        for _ in 0..<9 { h.record(.microseconds(500)) }
        h.record(.milliseconds(20))
        #expect(h.total == 1000)
        #expect(h.percentileMicroseconds(0.5) == 11)     // bucket [10, 11) µs
        #expect(h.percentileMicroseconds(0.99) == 11)
        #expect(h.percentileMicroseconds(0.995) == 501)
        #expect(h.percentileMicroseconds(1.0) == 20_000)
        #expect(h.maximum == .milliseconds(20))
        #expect(h.count(over: .milliseconds(1)) == 1)
        #expect(h.count(over: .microseconds(100)) == 10)
    }

    @Test func lateBeyondTheRangeLandsInOverflowAtItsMaximum() {
        let h = LatenessHistogram()
        h.record(.seconds(2))
        h.record(.microseconds(-5))   // early: counts as on time
        #expect(h.percentileMicroseconds(1.0) == 2_000_000)
        #expect(h.percentileMicroseconds(0.5) == 1)
    }
}
