/// Something that happened in the rig, for the event log and the console. Typed: each kind
/// carries its own values in their units, so nothing downstream decodes packed numbers.
/// Plain values only, so the loop hands one out through a ring without allocating.
public struct RigEvent: Sendable, BitwiseCopyable {
    public enum Kind: Sendable, BitwiseCopyable {
        case lifecycle(from: LifecycleState, to: LifecycleState)
        case phase(from: RunPhase, to: RunPhase)
        case fault(FaultReason)
        /// A tick started late (`OverrunPolicy.latenessThreshold`) after one that ran this long.
        case overrun(lateness: Duration, previousExecution: Duration)
        /// The overrun policy sheds (true) or stops shedding (false) non-critical work.
        case shedding(Bool)
        case setpoint(PumpMode)
        /// Sensor roles that became invalid, or valid again (bit i: P_drain, P_pre, P_post, flow, speed).
        case sensorInvalid(mask: UInt8)
        case sensorRecovered(mask: UInt8)
        /// Pressure sensors whose reading became pinned at a range end (bits as above; `high`:
        /// those pinned at the top): an extreme measured, not a sensor lost.
        case sensorPinned(mask: UInt8, high: UInt8)
        /// Every output was put to its safe value (shutdown).
        case outputsSafe
        /// An output fell back to its safe value because its command aged out.
        case outputExpired(ActuatorRole)
        case outputWriteError(ActuatorRole)
        /// The (simulated or real) watchdog reset the board.
        case watchdogReset
        case alarm(AlarmEvent)
        case infusion(InfusionEvent)
        /// An output's read-back differed from what was written for `OutputGuard`'s
        /// debounce (stuck line, hung PWM controller).
        case outputMismatch(ActuatorRole)
        /// The loop's health changed: the reasons it withholds the watchdog kick now
        /// (`LoopHealth` bits; 0: healthy again, kicking).
        case watchdogWithheld(reasons: UInt8)
        /// The oxygenator monitors: fouling armed / not armed / resumed, a sensor suspected of drift.
        case monitor(MonitorEvent)
        /// An alarm limit changed during the run (values in the key's unit), and who asked.
        case alarmLimit(key: AlarmLimitKey, from: Double, to: Double, by: AlarmActor)
    }
    public var time: Instant
    public var kind: Kind

    @inlinable
    public init(_ kind: Kind, at time: Instant) {
        self.kind = kind
        self.time = time
    }

    public init(alarm e: AlarmEvent) { self.init(.alarm(e), at: e.time) }
    public init(infusion e: InfusionEvent) { self.init(.infusion(e), at: e.time) }
}
