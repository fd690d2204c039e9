/// What the loop does when it cannot keep its period. Every tick is measured (how late
/// it started, how long the previous one ran); the policy escalates in three steps:
///
/// 1. **count** every overrun (a tick that started more than `latenessThreshold` after its
///    deadline, or followed a tick that ran longer than the period);
/// 2. **alarm** (LOOP_OVERRUN) after `alarmAfterConsecutive` overruns in a row, or
///    `alarmAfterInWindow` within the last `window` ticks, or a single tick starting more
///    than `stallAlarm` late (20 periods by default), and **shed** non-critical work
///    (the run record's telemetry) while overruns continue;
/// 3. **safe state** when the safety tasks themselves miss their deadline: ticks starting
///    more than `safetyDeadline` late, `safetyDeadlineTicks` in a row. The interlocks
///    (air, E-stop, pressure) act within one tick; a loop that late cannot promise that.
///    The hardware watchdog (250 ms on the sim board) is the last line behind this.
public struct OverrunPolicy: Sendable, Equatable {
    public var latenessThreshold: Duration
    public var alarmAfterConsecutive: Int
    public var window: Int
    public var alarmAfterInWindow: Int
    public var shedAfterConsecutive: Int
    public var safetyDeadline: Duration
    public var safetyDeadlineTicks: Int
    /// A single tick starting this late is a stall worth an alarm on its own (a loop frozen
    /// for tens of milliseconds once is an event, not noise, even if the next ticks are on time).
    public var stallAlarm: Duration

    /// Defaults for a loop of `period`: threshold one period; alarm after 3 in a row or 10
    /// in 1000 ticks, or one tick 20 periods late; shed from the second in a row; safe state after 3 ticks in a row
    /// each starting more than 50 periods (50 ms at 1 kHz, a fifth of the watchdog) late.
    public init(period: Duration, alarmAfterConsecutive: Int = 3, window: Int = 1000, alarmAfterInWindow: Int = 10,
                shedAfterConsecutive: Int = 2, safetyDeadline: Duration? = nil, safetyDeadlineTicks: Int = 3,
                stallAlarm: Duration? = nil) {
        self.stallAlarm = stallAlarm ?? period * 20
        latenessThreshold = period
        self.alarmAfterConsecutive = max(1, alarmAfterConsecutive)
        self.window = max(1, window)
        self.alarmAfterInWindow = max(1, alarmAfterInWindow)
        self.shedAfterConsecutive = max(1, shedAfterConsecutive)
        self.safetyDeadline = safetyDeadline ?? period * 50
        self.safetyDeadlineTicks = max(1, safetyDeadlineTicks)
    }
}

/// The policy's state: counters and a ring of the last `window` ticks' verdicts (a bit
/// each, allocated once). `update` allocates nothing.
public struct OverrunMonitor: Sendable {
    public let policy: OverrunPolicy
    public private(set) var total: UInt64 = 0
    public private(set) var consecutive = 0
    public private(set) var inWindow = 0
    public private(set) var shedTicks: UInt64 = 0
    public private(set) var worstLateness: Duration = .zero
    private var lateStreak = 0
    private var bits: [UInt64]
    private var cursor = 0

    public struct Status: Sendable, BitwiseCopyable, Equatable {
        public var overran = false
        /// LOOP_OVERRUN condition.
        public var alarm = false
        /// Skip non-critical work this tick.
        public var shed = false
        /// The safety tasks missed their deadline: go to the safe state.
        public var safeState = false
        public init() {}
    }

    public init(policy: OverrunPolicy) {
        self.policy = policy
        bits = [UInt64](repeating: 0, count: (policy.window + 63) / 64)
    }

    /// One tick: `lateness` of its start, `previousExecution` of the tick before, `period`.
    public mutating func update(lateness: Duration, previousExecution: Duration, period: Duration) -> Status {
        let overran = lateness > policy.latenessThreshold || previousExecution > period
        if lateness > worstLateness { worstLateness = lateness }
        // The window: drop the verdict of `window` ticks ago, record this one.
        let word = cursor >> 6, bit = UInt64(1) << UInt64(cursor & 63)
        if bits[word] & bit != 0 { inWindow -= 1 }
        if overran { bits[word] |= bit; inWindow += 1 } else { bits[word] &= ~bit }
        cursor = cursor + 1 == policy.window ? 0 : cursor + 1
        if overran {
            total &+= 1
            consecutive += 1
        } else {
            consecutive = 0
        }
        lateStreak = lateness > policy.safetyDeadline ? lateStreak + 1 : 0
        var s = Status()
        s.overran = overran
        s.alarm = consecutive >= policy.alarmAfterConsecutive || inWindow >= policy.alarmAfterInWindow
            || lateness >= policy.stallAlarm
        s.shed = consecutive >= policy.shedAfterConsecutive
        if s.shed { shedTicks &+= 1 }
        s.safeState = lateStreak >= policy.safetyDeadlineTicks
        return s
    }
}
