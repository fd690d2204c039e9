import Testing
import ECMOCore
import ECMOHAL

/// The software debounce used where the kernel cannot debounce an input (issue 15, item 14).
@Suite struct InputDebouncerTests {
    let t0 = Instant.origin + .seconds(1)

    /// One sample (`#expect` cannot hold a mutating call).
    func sample(_ d: inout InputDebouncer, _ raw: Bool, _ t: Instant) -> Bool { d.update(raw, at: t) }
    func edge(_ d: inout InputDebouncer, _ t: Instant) -> Bool { d.acceptEdge(at: t) }

    @Test func theFirstSampleIsTakenAsItIs() {
        var d = InputDebouncer(window: .milliseconds(1))
        #expect(sample(&d, true, t0) == true)
    }

    @Test func aBounceShorterThanTheWindowIsIgnored() {
        var d = InputDebouncer(window: .milliseconds(1))
        _ = d.update(false, at: t0)
        var t = t0
        // 0.9 ms of chatter: high, low, high, low every 100 µs...
        for i in 1...9 {
            t = t0 + .microseconds(100 * i)
            #expect(sample(&d, i % 2 == 1, t) == false)
        }
        // ...then low for good.
        #expect(sample(&d, false, t + .milliseconds(5)) == false)
        #expect(d.rejected > 0)
    }

    @Test func aRealChangeIsSeenAfterTheWindowAndNotBefore() {
        var d = InputDebouncer(window: .milliseconds(1))
        _ = d.update(false, at: t0)
        #expect(sample(&d, true, t0 + .microseconds(1)) == false)
        #expect(sample(&d, true, t0 + .microseconds(1000)) == false, "held 999 µs")
        #expect(sample(&d, true, t0 + .microseconds(1001)) == true, "held 1 ms")
        // And back: the same rule the other way.
        #expect(sample(&d, false, t0 + .milliseconds(2)) == true)
        #expect(sample(&d, false, t0 + .milliseconds(3)) == false)
    }

    @Test func aBounceRestartsTheWindow() {
        var d = InputDebouncer(window: .milliseconds(1))
        _ = d.update(false, at: t0)
        _ = d.update(true, at: t0 + .microseconds(100))
        _ = d.update(false, at: t0 + .microseconds(600))     // bounced back
        #expect(sample(&d, true, t0 + .microseconds(1200)) == false, "the window starts again at 1.2 ms")
        #expect(sample(&d, true, t0 + .microseconds(2200)) == true)
    }

    @Test func edgesWithinTheWindowOfTheLastAcceptedOneAreBounces() {
        var d = InputDebouncer(window: .microseconds(50))
        #expect(edge(&d, t0))
        #expect(!edge(&d, t0 + .microseconds(10)))
        #expect(!edge(&d, t0 + .microseconds(49)))
        #expect(edge(&d, t0 + .microseconds(50)))
        #expect(edge(&d, t0 + .milliseconds(1)))
        #expect(d.rejected == 2)
    }
}
