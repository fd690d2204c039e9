import ECMOCore

/// A call into the loop from outside it (the program, a harness, a console), with its
/// arguments: what a transcript must hold to drive another build of the loop the same way.
public enum RigLoopCall: Sendable, BitwiseCopyable {
    case configure(now: Instant)
    case reportBootAfterWatchdogReset
    case apply(OperatorCommand, from: AlarmActor, now: Instant)
    /// `journalGrant`: the durable reservations the loop reads this tick (nil: no journal).
    case tick(now: Instant, lateness: Duration, previousExecution: Duration, journalGrant: JournalGrant?)
    case shutdown(now: Instant)
}

/// Sees every call into a `RigLoop`, before it runs and after, with the telemetry frame it
/// left and (for `apply`) the command's result. With the board's `HALTap`, it records the
/// loop's whole conversation with the world (`ECMOTranscript`).
public protocol RigLoopTap: AnyObject {
    func loopWillRun(_ call: RigLoopCall)
    func loopDidRun(_ call: RigLoopCall, telemetry: TelemetryFrame, result: CommandResult?)
}
