import Synchronization
import ECMOCore

/// A console command as the loop sees it: a code and two numbers, no strings, so it
/// crosses the SPSC ring as a memcpy. Text (annotations, who sent it) stays on the link.
public struct RigCommand: Sendable, BitwiseCopyable, Equatable {
    public enum Code: UInt8, Sendable, BitwiseCopyable {
        /// `a`: flow, L/min.
        case setFlow = 1
        /// `a`: speed, rpm.
        case setSpeed = 2
        /// `a`: `AlarmID` raw value, or −1 for every active alarm.
        case acknowledge = 3
        case pauseAudio = 4
        /// `a`: `InfusionChannel` raw value.
        case pauseInfusion = 5
        case resumeInfusion = 6
        case abortProtocol = 7
        case startProtocol = 8
        /// `a`: ACT, seconds.
        case enterACT = 9
        /// `a`: U/kg/h.
        case setHeparinRate = 10
        /// Software stop: the runner ends the run and shuts it down safely.
        case stop = 11
        case activate = 12
        case clearFault = 13
        case deactivate = 14
        /// `a`: 1 to take a new fouling baseline, 0 to keep it.
        case resumeAfterFouling = 15
        /// `a`: index of the `AlarmLimitKey` in `allCases`; `b`: the new value in its unit.
        case setAlarmLimit = 16
    }
    /// Chosen by the link, echoed in the reply.
    public var sequence: UInt64
    public var code: Code
    public var a: Double
    /// Second argument (`setAlarmLimit`'s value).
    public var b: Double
    public init(sequence: UInt64, code: Code, a: Double = 0, b: Double = 0) {
        self.sequence = sequence
        self.code = code
        self.a = a
        self.b = b
    }
}

/// The loop's answer to one `RigCommand`.
public struct RigCommandReply: Sendable, BitwiseCopyable, Equatable {
    /// Why the rig refused (the core's reasons: one list for every command source).
    public typealias Reason = CommandRefusal
    public var sequence: UInt64
    public var code: RigCommand.Code
    public var reason: Reason
    /// The limit crossed (out of range only).
    public var limit: Double
    /// Loop time at which the command was applied (or refused).
    public var time: Instant
    public var ok: Bool { reason == .none }
    public init(sequence: UInt64, code: RigCommand.Code, reason: Reason, limit: Double = 0, time: Instant = .origin) {
        self.sequence = sequence
        self.code = code
        self.reason = reason
        self.limit = limit
        self.time = time
    }
}

/// How many console commands the loop applies per tick at most (the rest wait a tick).
public enum RigCommandLimits {
    public static let perTick = 4
}

/// Between the loop and the console link thread: commands in, replies and decimated
/// telemetry out, all through SPSC rings, so the loop never takes a lock or waits on the
/// console. Attach with `RigLoop.link` before the loop runs.
public final class RigLink: Sendable {
    public let commands: SPSCRing<RigCommand>
    public let replies: SPSCRing<RigCommandReply>
    /// Frames with the link fields (alarm masks, set-point, resistance) filled in.
    public let telemetry: SPSCRing<TelemetryFrame>
    /// A frame every `every` ticks.
    public let every: Int
    /// Set by the loop on a `stop` command; the `LoopRunner` ends the run on it.
    public let stopRequested = Atomic<Bool>(false)

    /// The loop's side, one call each. Not inlined on purpose: inside its own method the link
    /// is a guaranteed reference, so reaching its rings costs no retain (inlined into the
    /// loop, the ring behind the optional link is copied around the atomics' calls).
    @inline(never)
    public func nextCommand() -> RigCommand? { commands.pop() }
    @inline(never)
    public func send(_ reply: RigCommandReply) { replies.push(reply) }
    @inline(never)
    public func send(_ frame: TelemetryFrame) { telemetry.push(frame) }

    /// `telemetryHz` is rounded to a whole number of loop periods.
    public init(loopPeriod: Duration, telemetryHz: Double = 25, capacity: Int = 256) {
        let tickHz = 1 / max(loopPeriod.seconds, 1e-6)
        every = max(1, Int((tickHz / max(telemetryHz, 0.001)).rounded()))
        commands = SPSCRing(capacity: 64)
        replies = SPSCRing(capacity: 64)
        telemetry = SPSCRing(capacity: capacity)
    }
}

extension RigCommand {
    /// The operator command this link message asks for; nil when its argument cannot name
    /// one (an unknown alarm or channel, a non-finite number): refused as such.
    public var operatorCommand: OperatorCommand? {
        switch code {
        case .setFlow: return .setFlow(Flow(litersPerMinute: a))
        case .setSpeed: return .setSpeed(PumpSpeed(rpm: a))
        case .acknowledge:
            if a < 0 { return .acknowledge(nil) }
            guard a.isFinite, a < Double(AlarmID.count), let id = AlarmID(index: Int(a)) else { return nil }
            return .acknowledge(id)
        case .pauseAudio: return .pauseAudio
        case .pauseInfusion, .resumeInfusion:
            guard a.isFinite, a >= 0, a <= 8, let ch = InfusionChannel(rawValue: Int(a)) else { return nil }
            return code == .pauseInfusion ? .pauseInfusion(ch) : .resumeInfusion(ch)
        case .abortProtocol: return .abortProtocol
        case .startProtocol: return .startProtocol
        case .enterACT:
            // Out-of-range values still convert (the core names the bound); only NaN cannot.
            guard !a.isNaN else { return nil }
            return .enterACT(.nanoseconds(Int64(max(-1e6, min(a, 1e6)) * 1e9)))
        case .setHeparinRate: return .setHeparinRate(HeparinRate(unitsPerKilogramPerHour: a))
        case .stop: return .stop
        case .activate: return .activate
        case .clearFault: return .clearFault
        case .deactivate: return .deactivate
        case .resumeAfterFouling:
            guard a == 0 || a == 1 else { return nil }
            return .resumeAfterFouling(newBaseline: a == 1)
        case .setAlarmLimit:
            guard a.isFinite, a >= 0, a < 64, !b.isNaN, let key = AlarmLimitKey(index: Int(a)) else { return nil }
            return .setAlarmLimit(key, b)
        }
    }
}

extension RigLoop {
    /// Applies up to `RigCommandLimits.perTick` console commands. On the loop thread,
    /// once per tick, before the core's step: no allocation, no lock, no wait.
    /// (Through `link?.` each time: optional chaining calls through the field in place,
    /// where binding the link to a name would copy the reference, a retain per tick.)
    func applyLinkCommands(now: Instant) {
        var n = 0
        while n < RigCommandLimits.perTick, let c = link?.nextCommand() {
            n += 1
            let reply = apply(c, now: now)
            link?.send(reply)
        }
        if core.stopRequested && link?.stopRequested.load(ordering: .relaxed) == false {
            link?.stopRequested.store(true, ordering: .releasing)
        }
    }

    /// Validates one console command (through `RigCore.apply`, as every source does) and
    /// carries it out if allowed.
    public func apply(_ c: RigCommand, now: Instant) -> RigCommandReply {
        guard let command = c.operatorCommand else {
            switch c.code {
            case .acknowledge: return RigCommandReply(sequence: c.sequence, code: c.code, reason: .unknownAlarm, time: now)
            case .enterACT:
                return RigCommandReply(sequence: c.sequence, code: c.code, reason: .belowMinimum,
                                       limit: SetpointLimits.actSeconds.lowerBound, time: now)
            default: return RigCommandReply(sequence: c.sequence, code: c.code, reason: .noProtocol, time: now)
            }
        }
        let r = apply(command, from: .console, now: now)
        return RigCommandReply(sequence: c.sequence, code: c.code, reason: r.refusal, limit: r.limit, time: now)
    }

    /// The fields only the link reads: cheap, but filled only in frames for the link.
    func fillLinkFields(_ t: inout TelemetryFrame, now: Instant) {
        switch core.controller.mode {
        case .constantFlow(let q):
            t.setpointIsFlow = true
            t.setpointValue = q.litersPerMinute
        case .constantSpeed(let s):
            t.setpointIsFlow = false
            t.setpointValue = s.rpm
        }
        var active: UInt32 = 0, latched: UInt32 = 0, acked: UInt32 = 0
        var priorities: UInt64 = 0
        // Read in place: binding `core.safety.alarms` to a local copies the alarm system (its
        // arrays: retains, every link frame).
        var i = 0
        while i < AlarmID.count {
            if let id = AlarmID(index: i), let p = core.safety.alarms.priority(of: id) {
                let bit: UInt32 = 1 << UInt32(i)
                active |= bit
                if core.safety.alarms.isAcknowledged(id) { acked |= bit }
                else if !core.safety.alarms.isConditionPresent(id) { latched |= bit }
                priorities |= UInt64(p.rawValue & 3) << UInt64(2 * i)
            }
            i += 1
        }
        t.alarmActiveMask = active
        t.alarmLatchedMask = latched
        t.alarmAcknowledgedMask = acked
        t.alarmPriorities = priorities
        if let until = core.safety.alarms.audioPausedUntil, until > now { t.audioPauseRemaining = until - now } else { t.audioPauseRemaining = .zero }
        t.oxygenatorResistance = core.safety.fouling.filteredResistance?.mmHgMinutePerLiter ?? .nan
        t.oxygenatorBaseline = core.safety.fouling.baselineResistance?.mmHgMinutePerLiter ?? .nan
        t.heparinHalt = core.infusion.heparin.halt.rawValue
        var flags: UInt8 = 0
        if core.hasInfusionPlan { flags |= 1 }
        if core.infusion.started { flags |= 2 }
        if core.infusion.completed { flags |= 4 }
        if core.infusion.heparin.present { flags |= 8 }
        t.protocolFlags = flags
    }
}
