/// Turns "N microsteps over D" into step pulses, tick by tick, with no cumulative error.
///
/// A phase accumulator in integers: after `elapsed` of the segment, exactly
/// ⌊N·elapsed / D⌋ steps are due (computed in 128-bit arithmetic, so no overflow for
/// any dose a syringe can hold and any duration up to centuries). The fractional step
/// is the phase, `N·elapsed mod D`; it is never rounded away, so however the ticks
/// fall, and however often the loop runs late, the steps due at the end of a segment
/// are exactly N. A rate change ends the segment and starts a new one with the steps
/// that remain, so the total is conserved across rate changes too.
///
/// Steps are handed out no faster than `maximumPerAdvance` (the driver's top step rate
/// times the loop period); a segment that falls behind catches up within that cap.
public struct StepGenerator: Sendable, BitwiseCopyable, Equatable {
    /// Steps in this segment.
    public private(set) var total: Int64 = 0
    /// Steps handed out in this segment so far.
    public private(set) var issued: Int64 = 0
    /// Segment length in nanoseconds (≥ 1).
    public private(set) var durationNanoseconds: Int64 = 1
    /// Time into the segment (≤ duration).
    public private(set) var elapsedNanoseconds: Int64 = 0
    /// Steps carried over from a previous segment: due from the first instant.
    public private(set) var carried: Int64 = 0
    /// Set by `retime` with a rate of zero: no more steps fall due until the next `retime`.
    public private(set) var isHeld: Bool = false

    public init() {}

    /// Starts a segment of `steps` spread evenly over `duration` (a zero duration: all at once).
    public init(steps: Int64, over duration: Duration) {
        total = max(steps, 0)
        durationNanoseconds = max(duration.nanoseconds, 1)
    }

    /// True once every step of the segment has been issued.
    public var isComplete: Bool { issued >= total }
    public var remaining: Int64 { total - issued }

    /// Steps due by now in the segment: ⌊total × elapsed / duration⌋.
    public var due: Int64 {
        if elapsedNanoseconds >= durationNanoseconds { return total }
        let spread = total - carried
        let p = spread.multipliedFullWidth(by: elapsedNanoseconds)
        return carried + durationNanoseconds.dividingFullWidth((high: p.high, low: p.low)).quotient
    }

    /// Advances the segment's time by `dt` and returns how many steps to issue now: those
    /// due, capped at `maximumPerAdvance` and at `allowance` (what the journal has made
    /// durable). The caller issues exactly this many.
    public mutating func advance(by dt: Duration, maximumPerAdvance: Int64, allowance: Int64 = .max) -> Int64 {
        if isHeld { return take(maximumPerAdvance: maximumPerAdvance, allowance: allowance) }
        let ns = max(dt.nanoseconds, 0)
        let (e, o) = elapsedNanoseconds.addingReportingOverflow(ns)
        elapsedNanoseconds = (o || e > durationNanoseconds) ? durationNanoseconds : e
        return take(maximumPerAdvance: maximumPerAdvance, allowance: allowance)
    }

    /// Steps due but not issued (after a cap or an allowance held them back), without moving time.
    public mutating func take(maximumPerAdvance: Int64, allowance: Int64 = .max) -> Int64 {
        let n = max(0, min(due - issued, maximumPerAdvance, allowance))
        issued += n
        return n
    }

    /// Ends this segment and starts one with the remaining steps at `stepsPerSecond`
    /// (what a rate change does). Steps already due but not issued stay due at once.
    /// A rate of zero, a negative rate or NaN holds the remaining steps until the next
    /// `retime`: a rate turned down to nothing must never become a bolus.
    public mutating func retime(stepsPerSecond: Double) {
        let backlog = due - issued
        let rest = total - due
        let hold = !(stepsPerSecond > 0)
        let seconds = hold ? 0 : Double(rest) / stepsPerSecond
        var next = StepGenerator(steps: rest, over: .seconds(min(seconds, 1e9)))
        next.carried = backlog
        next.total += backlog
        if hold {
            // Time stands still in a held segment, so only the backlog is ever due.
            next.isHeld = true
            next.durationNanoseconds = .max
        }
        self = next
    }
}
