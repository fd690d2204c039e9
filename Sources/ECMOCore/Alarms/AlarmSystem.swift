/// The alarm state machine of the safety core (IEC 60601-1-8 behaviour as implemented by
/// conforming consoles): condition debounce, raise, latch, acknowledge, escalation and a
/// global audio pause. Pure and clock-free: time is handed in.
///
/// Storage is fixed-size, indexed by `AlarmID.index`, allocated once in `init` and
/// mutated in place. `evaluate`, `acknowledge`, `pauseAudio` and `signals` do not
/// allocate as long as the system is uniquely owned (a copy of the whole system shares
/// its storage until the first mutation of either copy, which copies it once).
public struct AlarmSystem: Sendable {
    /// Per-alarm dynamic state.
    struct Slot: Sendable, BitwiseCopyable {
        /// The condition was true at the last `evaluate`.
        var conditionPresent = false
        /// When the current run of the condition began (valid while `conditionPresent`).
        var conditionSince = Instant.origin
        /// When the condition last went away (valid while not `conditionPresent`).
        var conditionAbsentSince = Instant.origin
        /// Raises since start, for the run summary.
        var raises: UInt32 = 0
        var active = false
        var acknowledged = false
        /// Raised or escalated above the pause ceiling during an audio pause: sounds anyway.
        var breaksPause = false
        /// Current (possibly escalated) priority, valid while `active`.
        var priority = AlarmPriority.low
        var raisedAt = Instant.origin
        /// Raise or last escalation: the escalation timer's origin.
        var priorityChangedAt = Instant.origin
    }

    private var definitions: ContiguousArray<AlarmDefinition>
    private var slots: ContiguousArray<Slot>

    /// How long `pauseAudio` silences.
    public let audioPauseDuration: Duration
    /// End of the running audio pause; `nil` when none.
    public private(set) var audioPausedUntil: Instant?
    /// Highest priority sounding when the pause began (`nil`: nothing was).
    private var pauseCeiling: AlarmPriority?

    /// The presentation state `signals(at:)` reads: the priority shown / sounded and when
    /// it began being shown / sounded (the pattern's time origin).
    private(set) var visualPriority: AlarmPriority?
    private(set) var visualSince = Instant.origin
    private(set) var soundingPriority: AlarmPriority?
    private(set) var soundingSince = Instant.origin

    public init(definitions: (AlarmID) -> AlarmDefinition = AlarmDefinition.standard,
                audioPauseDuration: Duration = .seconds(120)) {
        var defs = ContiguousArray<AlarmDefinition>()
        defs.reserveCapacity(AlarmID.count)
        for i in 0..<AlarmID.count {
            guard let id = AlarmID(index: i) else { continue }
            var d = definitions(id)
            d.id = id   // storage is by index: a definition cannot describe another alarm
            defs.append(d)
        }
        self.definitions = defs
        self.slots = ContiguousArray(repeating: Slot(), count: AlarmID.count)
        self.audioPauseDuration = audioPauseDuration > .zero ? audioPauseDuration : .zero
    }

    // MARK: - Queries

    public func definition(of id: AlarmID) -> AlarmDefinition { definitions[id.index] }

    public func isActive(_ id: AlarmID) -> Bool { slots[id.index].active }

    /// Active and acknowledged.
    public func isAcknowledged(_ id: AlarmID) -> Bool {
        let s = slots[id.index]
        return s.active && s.acknowledged
    }

    /// Active, unacknowledged, and not silenced by the audio pause.
    public func isSounding(_ id: AlarmID) -> Bool { sounds(slots[id.index]) }

    /// Whether the alarm's condition was true at the last `evaluate`.
    public func isConditionPresent(_ id: AlarmID) -> Bool { slots[id.index].conditionPresent }

    /// Current (escalated) priority if active.
    public func priority(of id: AlarmID) -> AlarmPriority? {
        let s = slots[id.index]
        return s.active ? s.priority : nil
    }

    /// How many times the alarm has been raised since start.
    public func raiseCount(_ id: AlarmID) -> UInt32 { slots[id.index].raises }

    /// When the alarm was raised, if active.
    public func raisedAt(_ id: AlarmID) -> Instant? {
        let s = slots[id.index]
        return s.active ? s.raisedAt : nil
    }

    public var highestActivePriority: AlarmPriority? {
        var best: AlarmPriority?
        for i in 0..<slots.count where slots[i].active {
            let p = slots[i].priority
            if best.map({ p > $0 }) ?? true { best = p }
        }
        return best
    }

    /// Highest priority among alarms that are active, unacknowledged and not audio-paused.
    public var highestSoundingPriority: AlarmPriority? {
        var best: AlarmPriority?
        for i in 0..<slots.count where sounds(slots[i]) {
            let p = slots[i].priority
            if best.map({ p > $0 }) ?? true { best = p }
        }
        return best
    }

    public var activeCount: Int {
        var n = 0
        for i in 0..<slots.count where slots[i].active { n += 1 }
        return n
    }

    /// Active and not acknowledged (sounding or paused).
    public var unacknowledgedCount: Int {
        var n = 0
        for i in 0..<slots.count where slots[i].active && !slots[i].acknowledged { n += 1 }
        return n
    }

    public var isAudioPaused: Bool { audioPausedUntil != nil }

    @inline(__always) fileprivate func sounds(_ s: Slot) -> Bool {
        s.active && !s.acknowledged && (audioPausedUntil == nil || s.breaksPause)
    }

    /// Whether an alarm of priority `p` appearing now would sound through the running pause.
    @inline(__always) private func breaksCurrentPause(_ p: AlarmPriority) -> Bool {
        guard audioPausedUntil != nil else { return false }
        return pauseCeiling.map { p > $0 } ?? true
    }

    // MARK: - Tick

    /// One step: ends an expired audio pause, debounces conditions, raises, clears
    /// non-latching alarms whose condition ended (latching ones stay until acknowledged
    /// AND the condition has ended), escalates unacknowledged ones. Calls `emit` for each
    /// event in order (the caller copies it into a ring). Does not allocate.
    public mutating func evaluate(_ conditions: AlarmConditions, now: Instant, emit: (AlarmEvent) -> Void) {
        var pauseEnded = false
        if let until = audioPausedUntil, now >= until {
            endPause()
            pauseEnded = true
        }

        for i in 0..<AlarmID.count {
            guard let id = AlarmID(index: i) else { continue }
            let present = conditions[id]
            // Most alarms, most ticks: no condition, none pending, not active. Nothing below
            // would change (no delay runs, nothing to clear or escalate), so skip the
            // definition's copy and the duration arithmetic.
            if !present && !slots[i].conditionPresent && !slots[i].active { continue }
            let def = definitions[i]
            if present {
                if !slots[i].conditionPresent {
                    slots[i].conditionPresent = true
                    slots[i].conditionSince = now
                }
                if !slots[i].active && now - slots[i].conditionSince >= def.conditionDelay {
                    raise(id, priority: def.priority, now: now, emit: emit)
                }
            } else {
                if slots[i].conditionPresent {
                    slots[i].conditionPresent = false
                    slots[i].conditionAbsentSince = now
                }
                // A latched alarm waits for its acknowledgement; any other for its clear
                // delay and minimum on-time (hysteresis in time: no chatter at a limit).
                if slots[i].active && (!def.latching || slots[i].acknowledged)
                    && (def.latching || (now - slots[i].conditionAbsentSince >= def.clearDelay
                                         && now - slots[i].raisedAt >= def.minimumOnTime)) {
                    clear(id, now: now, actor: .system, emit: emit)
                }
            }

            if slots[i].active, !slots[i].acknowledged, slots[i].priority < .high,
               let after = def.escalateAfter, now - slots[i].priorityChangedAt >= after {
                let p = slots[i].priority.escalated
                slots[i].priority = p
                slots[i].priorityChangedAt = now
                if breaksCurrentPause(p) { slots[i].breaksPause = true }
                emit(AlarmEvent(id: id, kind: .escalated, priority: p, time: now, actor: .system))
            }
        }

        if pauseEnded, let p = highestSoundingPriority {
            emit(AlarmEvent(id: nil, kind: .audioResumed, priority: p, time: now, actor: .system))
        }
        updatePresentation(now: now)
    }

    private mutating func raise(_ id: AlarmID, priority: AlarmPriority, now: Instant, emit: (AlarmEvent) -> Void) {
        let i = id.index
        slots[i].active = true
        slots[i].acknowledged = false
        slots[i].priority = priority
        slots[i].raisedAt = now
        slots[i].raises &+= 1
        slots[i].priorityChangedAt = now
        slots[i].breaksPause = breaksCurrentPause(priority)
        emit(AlarmEvent(id: id, kind: .raised, priority: priority, time: now, actor: .system))
    }

    private mutating func clear(_ id: AlarmID, now: Instant, actor: AlarmActor, emit: (AlarmEvent) -> Void) {
        let i = id.index
        let p = slots[i].priority
        slots[i].active = false
        slots[i].acknowledged = false
        slots[i].breaksPause = false
        emit(AlarmEvent(id: id, kind: .cleared, priority: p, time: now, actor: actor))
    }

    private mutating func endPause() {
        audioPausedUntil = nil
        pauseCeiling = nil
        for i in 0..<slots.count { slots[i].breaksPause = false }
    }

    /// Restarts the visual / audio pattern clocks when the priority shown / sounded changes.
    private mutating func updatePresentation(now: Instant) {
        let v = highestActivePriority
        if v != visualPriority {
            visualPriority = v
            visualSince = now
        }
        let s = highestSoundingPriority
        if s != soundingPriority {
            soundingPriority = s
            soundingSince = now
        }
    }

    // MARK: - Operator actions

    /// Operator acknowledges one alarm: its audio stops for good while its condition lasts
    /// (the visual indication stays); a latched alarm whose condition is gone clears.
    /// Returns false if the alarm is not active. Acknowledging an already acknowledged
    /// alarm returns true and emits nothing.
    @discardableResult
    public mutating func acknowledge(_ id: AlarmID, by actor: AlarmActor, now: Instant, emit: (AlarmEvent) -> Void) -> Bool {
        let i = id.index
        guard slots[i].active else { return false }
        if slots[i].acknowledged { return true }
        slots[i].acknowledged = true
        slots[i].breaksPause = false
        emit(AlarmEvent(id: id, kind: .acknowledged, priority: slots[i].priority, time: now, actor: actor))
        if !slots[i].conditionPresent {
            clear(id, now: now, actor: actor, emit: emit)
        }
        updatePresentation(now: now)
        return true
    }

    /// Acknowledges every active, unacknowledged alarm (in `AlarmID` order). Returns how many.
    @discardableResult
    public mutating func acknowledgeAll(by actor: AlarmActor, now: Instant, emit: (AlarmEvent) -> Void) -> Int {
        var n = 0
        for i in 0..<AlarmID.count {
            guard let id = AlarmID(index: i), slots[i].active, !slots[i].acknowledged else { continue }
            if acknowledge(id, by: actor, now: now, emit: emit) { n += 1 }
        }
        return n
    }

    /// Global audio pause for `audioPauseDuration` from `now` (a second pause restarts it).
    /// Everything sounding now, and any new alarm of the same or lower priority, is silent
    /// until the pause ends; a new (or escalated) alarm of higher priority than the highest
    /// sounding now sounds despite the pause. When the pause ends (`evaluate` at or after
    /// `audioPausedUntil`), sounding resumes if alarms persist and `audioResumed` is emitted.
    /// Emits `audioPaused` with the highest priority sounding now (`low` if none).
    public mutating func pauseAudio(by actor: AlarmActor, now: Instant, emit: (AlarmEvent) -> Void) {
        let ceiling = highestSoundingPriority
        audioPausedUntil = now + audioPauseDuration
        pauseCeiling = ceiling
        for i in 0..<slots.count { slots[i].breaksPause = false }
        emit(AlarmEvent(id: nil, kind: .audioPaused, priority: ceiling ?? .low, time: now, actor: actor))
        updatePresentation(now: now)
    }
}

extension AlarmSystem: CustomStringConvertible {
    /// A short summary for logs and test failures (allocates; not for the loop).
    public var description: String {
        var parts: [String] = []
        for i in 0..<AlarmID.count {
            guard let id = AlarmID(index: i), slots[i].active else { continue }
            let s = slots[i]
            parts.append("\(id.identifier) \(s.priority)\(s.acknowledged ? " ack" : "")\(sounds(s) ? " sounding" : "")\(s.conditionPresent ? "" : " latched")")
        }
        let pause = audioPausedUntil.map { ", audio paused until \($0)" } ?? ""
        return "AlarmSystem(\(parts.isEmpty ? "no active alarm" : parts.joined(separator: ", "))\(pause))"
    }
}
