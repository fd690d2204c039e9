import Atomics
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
    }
    /// Chosen by the link, echoed in the reply.
    public var sequence: UInt64
    public var code: Code
    public var a: Double
    public init(sequence: UInt64, code: Code, a: Double = 0) {
        self.sequence = sequence
        self.code = code
        self.a = a
    }
}

/// The loop's answer to one `RigCommand`.
public struct RigCommandReply: Sendable, BitwiseCopyable, Equatable {
    /// Why the rig refused (the link turns it into the protocol's `reason` and a sentence).
    public enum Reason: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
        case none = 0
        /// Below the limit in `limit`.
        case belowMinimum = 1
        /// Above the limit in `limit`.
        case aboveMaximum = 2
        case unknownAlarm = 3
        case alarmNotActive = 4
        case noProtocol = 5
        case notHalted = 6
        case causePresent = 7
        case alreadyRunning = 8
        case protocolFinished = 9
        case waitingForCircuit = 10
        case notAllowed = 11

        /// The protocol's `reason` code.
        public var description: String {
            switch self {
            case .none: "none"
            case .belowMinimum, .aboveMaximum: "out_of_range"
            case .unknownAlarm: "unknown_alarm"
            case .alarmNotActive: "alarm_not_active"
            case .noProtocol: "no_protocol"
            case .notHalted: "not_halted"
            case .causePresent: "cause_present"
            case .alreadyRunning: "already_running"
            case .protocolFinished: "protocol_finished"
            case .waitingForCircuit: "waiting_for_circuit"
            case .notAllowed: "not_allowed"
            }
        }
    }
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

/// Limits the rig applies to console commands beyond the board and alarm limits.
public enum RigCommandLimits {
    /// Heparin infusion rate, U/kg/h: far above any ELSO band, below a typing error.
    public static let heparinRate: ClosedRange<Double> = 0...100
    /// ACT entries, seconds.
    public static let actSeconds: ClosedRange<Double> = 30...1500
    /// Commands applied per tick at most (the rest wait for the next tick).
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
    public let stopRequested = ManagedAtomic<Bool>(false)

    /// `telemetryHz` is rounded to a whole number of loop periods.
    public init(loopPeriod: Duration, telemetryHz: Double = 25, capacity: Int = 256) {
        let tickHz = 1 / max(loopPeriod.seconds, 1e-6)
        every = max(1, Int((tickHz / max(telemetryHz, 0.001)).rounded()))
        commands = SPSCRing(capacity: 64)
        replies = SPSCRing(capacity: 64)
        telemetry = SPSCRing(capacity: capacity)
    }
}

extension RigLoop {
    /// Applies up to `RigCommandLimits.perTick` console commands. On the loop thread,
    /// once per tick, before safety: no allocation, no lock, no wait.
    func applyLinkCommands(_ link: RigLink, now: Instant) {
        var n = 0
        while n < RigCommandLimits.perTick, let c = link.commands.pop() {
            n += 1
            let r = apply(c, stop: link.stopRequested, now: now)
            link.replies.push(r)
        }
    }

    /// Validates one command against the board, the alarm limits and the infusion engine
    /// and carries it out if allowed.
    public func apply(_ c: RigCommand, stop: ManagedAtomic<Bool>? = nil, now: Instant) -> RigCommandReply {
        func refuse(_ r: RigCommandReply.Reason, _ limit: Double = 0) -> RigCommandReply {
            RigCommandReply(sequence: c.sequence, code: c.code, reason: r, limit: limit, time: now)
        }
        let ok = RigCommandReply(sequence: c.sequence, code: c.code, reason: .none, time: now)
        switch c.code {
        case .setFlow:
            // Inside the run's flow alarm limits: a set-point outside them alarms at once.
            let lo = safety.limits.flowLow.litersPerMinute, hi = safety.limits.flowHigh.litersPerMinute
            if !(c.a >= lo) { return refuse(.belowMinimum, lo) }
            if !(c.a <= hi) { return refuse(.aboveMaximum, hi) }
            setMode(.constantFlow(Flow(litersPerMinute: c.a)), now: now)
            return ok
        case .setSpeed:
            let lo = board.pump.limits.minimumSpeed.rpm, hi = board.pump.limits.maximumSpeed.rpm
            if !(c.a >= lo) { return refuse(.belowMinimum, lo) }
            if !(c.a <= hi) { return refuse(.aboveMaximum, hi) }
            setMode(.constantSpeed(PumpSpeed(rpm: c.a)), now: now)
            return ok
        case .acknowledge:
            if c.a < 0 {
                var acknowledged = 0
                var i = 0
                while i < AlarmID.count {
                    if let id = AlarmID(index: i), safety.alarms.isActive(id), !safety.alarms.isAcknowledged(id),
                       acknowledge(id, by: .console, now: now) {
                        acknowledged += 1
                    }
                    i += 1
                }
                return acknowledged > 0 ? ok : refuse(.alarmNotActive)
            }
            guard c.a.isFinite, let id = AlarmID(index: Int(c.a)) else { return refuse(.unknownAlarm) }
            return acknowledge(id, by: .console, now: now) ? ok : refuse(.alarmNotActive)
        case .pauseAudio:
            pauseAudio(by: .console, now: now)
            return ok
        case .pauseInfusion, .resumeInfusion:
            guard hasInfusionPlan, c.a.isFinite, let ch = InfusionChannel(rawValue: Int(c.a)) else { return refuse(.noProtocol) }
            let state = ch == .cells ? infusion.cells : infusion.heparin
            guard state.present else { return refuse(.noProtocol) }
            if c.code == .pauseInfusion {
                if state.halt == .aborted || infusion.completed { return refuse(.protocolFinished) }
                pauseInfusion(ch, now: now)
                return ok
            }
            guard state.halt != .none else { return refuse(.notHalted) }
            return resumeInfusion(ch, now: now) ? ok : refuse(.causePresent)
        case .abortProtocol:
            guard hasInfusionPlan else { return refuse(.noProtocol) }
            if infusion.completed || infusion.cells.halt == .aborted { return refuse(.protocolFinished) }
            abortProtocol(now: now)
            return ok
        case .startProtocol:
            guard hasInfusionPlan else { return refuse(.noProtocol) }
            if infusion.completed || infusion.cells.halt == .aborted { return refuse(.protocolFinished) }
            if infusion.started { return refuse(.alreadyRunning) }
            return refuse(.waitingForCircuit)
        case .enterACT:
            guard hasInfusionPlan, infusion.plan.heparin != nil else { return refuse(.noProtocol) }
            let r = RigCommandLimits.actSeconds
            if !(c.a >= r.lowerBound) { return refuse(.belowMinimum, r.lowerBound) }
            if !(c.a <= r.upperBound) { return refuse(.aboveMaximum, r.upperBound) }
            return enterACT(.nanoseconds(Int64(c.a * 1e9)), now: now) != nil ? ok : refuse(.noProtocol)
        case .setHeparinRate:
            guard hasInfusionPlan, infusion.plan.heparin != nil, infusion.heparin.present else { return refuse(.noProtocol) }
            let r = RigCommandLimits.heparinRate
            if !(c.a >= r.lowerBound) { return refuse(.belowMinimum, r.lowerBound) }
            if !(c.a <= r.upperBound) { return refuse(.aboveMaximum, r.upperBound) }
            return setHeparinRate(HeparinRate(unitsPerKilogramPerHour: c.a), now: now) ? ok : refuse(.noProtocol)
        case .stop:
            guard let stop else { return refuse(.notAllowed) }
            if stop.load(ordering: .relaxed) { return refuse(.notAllowed) }
            stop.store(true, ordering: .releasing)
            return ok
        }
    }

    /// The fields only the link reads: cheap, but filled only in frames for the link.
    func fillLinkFields(_ t: inout TelemetryFrame, now: Instant) {
        switch controller.mode {
        case .constantFlow(let q):
            t.setpointIsFlow = true
            t.setpointValue = q.litersPerMinute
        case .constantSpeed(let s):
            t.setpointIsFlow = false
            t.setpointValue = s.rpm
        }
        var active: UInt32 = 0, latched: UInt32 = 0, acked: UInt32 = 0
        var priorities: UInt64 = 0
        // Read in place: binding `safety.alarms` to a local copies the alarm system (its
        // arrays: retains, every link frame).
        var i = 0
        while i < AlarmID.count {
            if let id = AlarmID(index: i), let p = safety.alarms.priority(of: id) {
                let bit: UInt32 = 1 << UInt32(i)
                active |= bit
                if safety.alarms.isAcknowledged(id) { acked |= bit }
                else if !safety.alarms.isConditionPresent(id) { latched |= bit }
                priorities |= UInt64(p.rawValue & 3) << UInt64(2 * i)
            }
            i += 1
        }
        t.alarmActiveMask = active
        t.alarmLatchedMask = latched
        t.alarmAcknowledgedMask = acked
        t.alarmPriorities = priorities
        if let until = safety.alarms.audioPausedUntil, until > now { t.audioPauseRemaining = until - now } else { t.audioPauseRemaining = .zero }
        t.oxygenatorResistance = safety.fouling.filteredResistance?.mmHgMinutePerLiter ?? .nan
        t.oxygenatorBaseline = safety.fouling.baselineResistance?.mmHgMinutePerLiter ?? .nan
        t.heparinHalt = infusion.heparin.halt.rawValue
        var flags: UInt8 = 0
        if hasInfusionPlan { flags |= 1 }
        if infusion.started { flags |= 2 }
        if infusion.completed { flags |= 4 }
        if infusion.heparin.present { flags |= 8 }
        t.protocolFlags = flags
    }
}
