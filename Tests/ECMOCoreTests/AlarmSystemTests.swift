import Testing
import ECMOCore

/// Time is advanced by hand. `t0` is well away from the clock origin.
private let t0 = Instant(nanosecondsSinceOrigin: 1_000_000_000_000)
private func at(_ seconds: Double) -> Instant { t0 + .seconds(seconds) }
private func ms(_ milliseconds: Int) -> Duration { .milliseconds(milliseconds) }

/// Collects emitted events (test-side only; the system itself never allocates for them).
private final class EventLog {
    var events: [AlarmEvent] = []
    func record(_ e: AlarmEvent) { events.append(e) }
    func of(_ kind: AlarmEventKind) -> [AlarmEvent] { events.filter { $0.kind == kind } }
    func of(_ kind: AlarmEventKind, _ id: AlarmID) -> [AlarmEvent] { events.filter { $0.kind == kind && $0.id == id } }
}

/// Evaluates every `step` from `start` (inclusive) to `end` (exclusive) with fixed conditions.
private func run(_ system: inout AlarmSystem, _ conditions: AlarmConditions,
                 from start: Instant, to end: Instant, step: Duration = .milliseconds(10), log: EventLog) {
    var now = start
    while now < end {
        system.evaluate(conditions, now: now) { log.record($0) }
        now += step
    }
}

/// Every alarm test sits under this suite (`swift test --filter AlarmSystemTests`).
@Suite struct AlarmSystemTests {}

extension AlarmSystemTests {
    @Suite struct DebounceAndLatch {
        @Test func conditionShorterThanDelayRaisesNothing() {
            var sys = AlarmSystem()
            let log = EventLog()
            // P_DRAIN_LOW has a 1 s delay: 990 ms of condition, then it ends.
            run(&sys, AlarmConditions(.drainPressureLow), from: at(0), to: at(0.99), log: log)
            run(&sys, AlarmConditions(), from: at(0.99), to: at(2), log: log)
            #expect(log.events.isEmpty)
            #expect(!sys.isActive(.drainPressureLow))
            #expect(sys.activeCount == 0)
        }

        @Test func interruptedConditionRestartsTheDelay() {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.drainPressureLow), from: at(0), to: at(0.8), log: log)
            run(&sys, AlarmConditions(), from: at(0.8), to: at(0.82), log: log)
            run(&sys, AlarmConditions(.drainPressureLow), from: at(0.82), to: at(1.5), log: log)
            #expect(log.events.isEmpty, "two 0.8 s / 0.68 s runs must not add up to 1 s")
        }

        @Test func conditionLongerThanDelayRaisesOnceWithOneRaisedEvent() throws {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.drainPressureLow), from: at(0), to: at(5), log: log)
            #expect(log.events.count == 1)
            let e = try #require(log.events.first)
            #expect(e == AlarmEvent(id: .drainPressureLow, kind: .raised, priority: .high, time: at(1), actor: .system))
            #expect(sys.isActive(.drainPressureLow))
            #expect(sys.priority(of: .drainPressureLow) == .high)
            #expect(sys.highestSoundingPriority == .high)
        }

        @Test func zeroDelayAlarmRaisesOnTheFirstTick() {
            var sys = AlarmSystem()
            let log = EventLog()
            sys.evaluate(AlarmConditions(.emergencyStop), now: at(0)) { log.record($0) }
            #expect(log.events == [AlarmEvent(id: .emergencyStop, kind: .raised, priority: .high, time: at(0), actor: .system)])
        }

        @Test func nonLatchingAlarmClearsByItselfWhenConditionEnds() {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.prePressureHigh), from: at(0), to: at(5), log: log)
            #expect(sys.isActive(.prePressureHigh))
            // Raised at 0.5 s, condition gone at 5 s: it clears after the 1 s clear delay.
            run(&sys, AlarmConditions(), from: at(5), to: at(6), log: log)
            #expect(sys.isActive(.prePressureHigh), "not before its clear delay")
            sys.evaluate(AlarmConditions(), now: at(6)) { log.record($0) }
            #expect(!sys.isActive(.prePressureHigh))
            #expect(log.of(.cleared) == [AlarmEvent(id: .prePressureHigh, kind: .cleared, priority: .high, time: at(6), actor: .system)])
            #expect(sys.highestActivePriority == nil)
            #expect(sys.signals(at: at(6)) == .allClear)
        }

        @Test func aBriefConditionStaysRaisedForTheMinimumOnTimeAndItsRaisesAreCounted() {
            var sys = AlarmSystem()
            let log = EventLog()
            // SENSOR_INVALID (50 ms delay) for 60 ms, then gone: raised at 50 ms, kept 3 s.
            run(&sys, AlarmConditions(.sensorInvalid), from: at(0), to: at(0.06), log: log)
            #expect(sys.isActive(.sensorInvalid))
            run(&sys, AlarmConditions(), from: at(0.06), to: at(3.0), log: log)
            #expect(sys.isActive(.sensorInvalid), "an operator must be able to see it")
            run(&sys, AlarmConditions(), from: at(3.0), to: at(3.1), log: log)
            #expect(!sys.isActive(.sensorInvalid))
            #expect(sys.raiseCount(.sensorInvalid) == 1)
            // Flickering (on 60 ms, off 40 ms) for 10 s is one alarm, not a hundred.
            var t = 4.0
            while t < 14 {
                run(&sys, AlarmConditions(.sensorInvalid), from: at(t), to: at(t + 0.06), log: log)
                run(&sys, AlarmConditions(), from: at(t + 0.06), to: at(t + 0.1), log: log)
                t += 0.1
            }
            #expect(sys.raiseCount(.sensorInvalid) == 2, "raised \(sys.raiseCount(.sensorInvalid)) times")
            #expect(log.of(.raised).filter { $0.id == .sensorInvalid }.count == 2)
        }

        @Test func latchingAlarmStaysAfterConditionEndsUntilAcknowledged() {
            var sys = AlarmSystem()
            let log = EventLog()
            sys.evaluate(AlarmConditions(.airInLine), now: at(0)) { log.record($0) }
            run(&sys, AlarmConditions(), from: at(0.01), to: at(30), log: log)
            #expect(sys.isActive(.airInLine), "latched after the bubble is gone")
            #expect(sys.isSounding(.airInLine))
            #expect(log.of(.cleared).isEmpty)

            let ok = sys.acknowledge(.airInLine, by: .operatorPanel, now: at(30)) { log.record($0) }
            #expect(ok)
            #expect(!sys.isActive(.airInLine))
            #expect(log.events.suffix(2).map(\.kind) == [.acknowledged, .cleared])
            #expect(log.of(.cleared, .airInLine).first?.actor == .operatorPanel)
        }

        @Test func acknowledgeWhileConditionPersistsSilencesButDoesNotClear() {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.airInLine), from: at(0), to: at(1), log: log)
            #expect(sys.acknowledge(.airInLine, by: .console, now: at(1)) { log.record($0) })
            #expect(sys.isActive(.airInLine))
            #expect(sys.isAcknowledged(.airInLine))
            #expect(sys.highestSoundingPriority == nil)
            #expect(log.of(.cleared).isEmpty)
            // Still latched while the condition lasts, and escalation/sounding do not come back.
            run(&sys, AlarmConditions(.airInLine), from: at(1), to: at(200), step: .milliseconds(100), log: log)
            #expect(sys.isActive(.airInLine) && sys.highestSoundingPriority == nil)
            // The condition ends: an acknowledged latched alarm clears by itself.
            sys.evaluate(AlarmConditions(), now: at(200)) { log.record($0) }
            #expect(!sys.isActive(.airInLine))
            #expect(log.of(.cleared, .airInLine).count == 1)
        }

        @Test func acknowledgingAnInactiveAlarmReturnsFalse() {
            var sys = AlarmSystem()
            let log = EventLog()
            #expect(!sys.acknowledge(.flowLow, by: .operatorPanel, now: at(0)) { log.record($0) })
            #expect(log.events.isEmpty)
        }

        @Test func acknowledgeAllAcknowledgesEveryUnacknowledgedAlarm() {
            var sys = AlarmSystem()
            let log = EventLog()
            sys.evaluate(AlarmConditions(.emergencyStop, .loopOverrun, .syringeNearEmpty), now: at(0)) { log.record($0) }
            #expect(sys.activeCount == 3)
            #expect(sys.acknowledgeAll(by: .operatorPanel, now: at(1)) { log.record($0) } == 3)
            #expect(sys.highestSoundingPriority == nil)
            #expect(sys.highestActivePriority == .high)
            #expect(log.of(.acknowledged).count == 3)
        }
    }
}

extension AlarmSystemTests {
    @Suite struct AudioPause {
        @Test func audioPauseSilencesFor120sThenResoundsIfConditionPersists() {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.prePressureHigh), from: at(0), to: at(1), log: log)
            #expect(sys.highestSoundingPriority == .high)
            sys.pauseAudio(by: .operatorPanel, now: at(1)) { log.record($0) }
            #expect(log.events.last == AlarmEvent(id: nil, kind: .audioPaused, priority: .high, time: at(1), actor: .operatorPanel))
            #expect(sys.audioPausedUntil == at(121))

            var now = at(1)
            var buzzed = false
            var redSeen = false
            while now < at(121) {
                sys.evaluate(AlarmConditions(.prePressureHigh), now: now) { log.record($0) }
                let s = sys.signals(at: now)
                buzzed = buzzed || s.buzzer
                redSeen = redSeen || s.red
                now += .milliseconds(10)
            }
            #expect(!buzzed, "no sound during the 120 s pause")
            #expect(redSeen, "the visual indication continues during the pause")
            #expect(log.of(.audioResumed).isEmpty)

            sys.evaluate(AlarmConditions(.prePressureHigh), now: at(121)) { log.record($0) }
            #expect(sys.audioPausedUntil == nil)
            #expect(log.of(.audioResumed) == [AlarmEvent(id: nil, kind: .audioResumed, priority: .high, time: at(121), actor: .system)])
            #expect(sys.highestSoundingPriority == .high)
            #expect(sys.signals(at: at(121)).buzzer, "the burst restarts from the end of the pause")
        }

        @Test func audioPauseEndsQuietlyIfTheConditionIsGone() {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.prePressureHigh), from: at(0), to: at(1), log: log)
            sys.pauseAudio(by: .operatorPanel, now: at(1)) { log.record($0) }
            run(&sys, AlarmConditions(.prePressureHigh), from: at(1), to: at(30), log: log)
            run(&sys, AlarmConditions(), from: at(30), to: at(125), log: log)
            #expect(sys.audioPausedUntil == nil)
            #expect(log.of(.audioResumed).isEmpty)
            #expect(sys.highestSoundingPriority == nil)
            #expect(sys.signals(at: at(125)) == .allClear)
        }

        @Test func latchedAlarmResoundsAfterPauseEvenThoughConditionIsGone() {
            var sys = AlarmSystem()
            let log = EventLog()
            sys.evaluate(AlarmConditions(.syringeOcclusion), now: at(0)) { log.record($0) }
            sys.pauseAudio(by: .operatorPanel, now: at(0)) { log.record($0) }
            run(&sys, AlarmConditions(), from: at(0.01), to: at(121), step: .milliseconds(100), log: log)
            #expect(log.of(.audioResumed).count == 1)
            #expect(sys.highestSoundingPriority == .high)
        }

        @Test func newHigherPriorityAlarmSoundsDuringPauseOfALowerOne() {
            var sys = AlarmSystem()
            let log = EventLog()
            // FLOW_HIGH (medium) sounding, then paused.
            run(&sys, AlarmConditions(.flowHigh), from: at(0), to: at(3), log: log)
            #expect(sys.highestSoundingPriority == .medium)
            sys.pauseAudio(by: .operatorPanel, now: at(3)) { log.record($0) }
            #expect(sys.highestSoundingPriority == nil)

            // A new medium alarm (P_POST_LOW, 2 s) during the pause stays silent.
            run(&sys, AlarmConditions(.flowHigh, .postPressureLow), from: at(3), to: at(10), log: log)
            #expect(sys.isActive(.postPressureLow))
            #expect(sys.highestSoundingPriority == nil)
            #expect(!sys.signals(at: at(10)).buzzer)

            // A new high alarm (P_POST_HIGH, 500 ms) sounds despite the pause.
            run(&sys, AlarmConditions(.flowHigh, .postPressureLow, .postPressureHigh), from: at(10), to: at(10.5), log: log)
            #expect(!sys.isActive(.postPressureHigh))
            sys.evaluate(AlarmConditions(.flowHigh, .postPressureLow, .postPressureHigh), now: at(10.5)) { log.record($0) }
            #expect(sys.isSounding(.postPressureHigh))
            #expect(!sys.isSounding(.flowHigh) && !sys.isSounding(.postPressureLow))
            #expect(sys.highestSoundingPriority == .high)
            #expect(sys.audioPausedUntil == at(123), "the pause still runs for the others")
            let s = sys.signals(at: at(10.5))
            #expect(s.buzzer && s.red)
        }

        @Test func pauseWithNothingSoundingLetsAnyNewAlarmThrough() {
            var sys = AlarmSystem()
            let log = EventLog()
            sys.pauseAudio(by: .console, now: at(0)) { log.record($0) }
            #expect(log.events.last?.priority == .low)
            sys.evaluate(AlarmConditions(.syringeNearEmpty), now: at(1)) { log.record($0) }
            #expect(sys.highestSoundingPriority == .low)
        }
    }
}

extension AlarmSystemTests {
    @Suite struct Escalation {
        @Test func unacknowledgedMediumEscalatesToHighAfter60s() {
            var sys = AlarmSystem()
            let log = EventLog()
            // FLOW_HIGH: medium, 2 s delay → raised at 2 s, escalates at 62 s.
            run(&sys, AlarmConditions(.flowHigh), from: at(0), to: at(62), log: log)
            #expect(sys.priority(of: .flowHigh) == .medium)
            #expect(log.of(.escalated).isEmpty)
            sys.evaluate(AlarmConditions(.flowHigh), now: at(62)) { log.record($0) }
            #expect(sys.priority(of: .flowHigh) == .high)
            #expect(log.of(.escalated) == [AlarmEvent(id: .flowHigh, kind: .escalated, priority: .high, time: at(62), actor: .system)])
            #expect(sys.signals(at: at(62)).red, "escalated to high: red lamp")
            // Not above high.
            run(&sys, AlarmConditions(.flowHigh), from: at(62.01), to: at(300), step: .milliseconds(100), log: log)
            #expect(log.of(.escalated).count == 1)
            // Cleared (after its 1 s clear delay) with the escalated priority; raised again at its own priority.
            run(&sys, AlarmConditions(), from: at(300), to: at(301), log: log)
            sys.evaluate(AlarmConditions(), now: at(301)) { log.record($0) }
            #expect(log.of(.cleared, .flowHigh).first?.priority == .high)
            run(&sys, AlarmConditions(.flowHigh), from: at(301.01), to: at(304), log: log)
            #expect(sys.priority(of: .flowHigh) == .medium)
        }

        @Test func acknowledgedMediumDoesNotEscalate() {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.flowHigh), from: at(0), to: at(3), log: log)
            #expect(sys.acknowledge(.flowHigh, by: .operatorPanel, now: at(3)) { log.record($0) })
            run(&sys, AlarmConditions(.flowHigh), from: at(3), to: at(300), step: .milliseconds(100), log: log)
            #expect(log.of(.escalated).isEmpty)
            #expect(sys.priority(of: .flowHigh) == .medium)
        }

        @Test func unacknowledgedLowEscalatesToMediumAfter120s() {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.syringeNearEmpty), from: at(0), to: at(120), step: .milliseconds(100), log: log)
            #expect(sys.priority(of: .syringeNearEmpty) == .low)
            sys.evaluate(AlarmConditions(.syringeNearEmpty), now: at(120)) { log.record($0) }
            #expect(sys.priority(of: .syringeNearEmpty) == .medium)
            #expect(log.of(.escalated).map(\.priority) == [.medium])
        }

        @Test func escalationAbovePauseCeilingSoundsThroughThePause() {
            var sys = AlarmSystem()
            let log = EventLog()
            run(&sys, AlarmConditions(.flowHigh), from: at(0), to: at(3), log: log)
            sys.pauseAudio(by: .operatorPanel, now: at(3)) { log.record($0) }
            run(&sys, AlarmConditions(.flowHigh), from: at(3), to: at(62.01), log: log)
            #expect(sys.priority(of: .flowHigh) == .high)
            #expect(sys.highestSoundingPriority == .high)
        }
    }
}

extension AlarmSystemTests {
    @Suite struct Definition {
        @Test func standardDefinitionsMatchTheTable() {
            let high: Set<AlarmID> = [.drainPressureLow, .prePressureHigh, .postPressureHigh, .flowLow, .sensorInvalid,
                                      .airInLine, .emergencyStop, .foulingPause, .syringeOcclusion, .watchdogReset,
                                      .flowSensorHold, .zeroFlow, .outputFault, .protectiveTrip, .coprocessorLost]
            let latching: Set<AlarmID> = [.airInLine, .emergencyStop, .loopOverrun, .deviceConfigMismatch, .foulingWarning,
                                          .foulingPause, .syringeOcclusion, .syringeEmpty, .watchdogReset,
                                          .outputFault, .auxiliaryOutputFault, .sensorDrift, .protectiveTrip]
            for id in AlarmID.allCases {
                let d = AlarmDefinition.standard(id)
                #expect(d.id == id)
                #expect((d.priority == .high) == high.contains(id), "\(id)")
                #expect(d.latching == latching.contains(id), "\(id)")
                switch d.priority {
                case .high: #expect(d.escalateAfter == nil)
                case .medium: #expect(d.escalateAfter == .seconds(60))
                case .low: #expect(d.escalateAfter == .seconds(120))
                }
            }
            #expect(AlarmDefinition.standard(.syringeNearEmpty).priority == .low)
            #expect(AlarmDefinition.standard(.drainPressureLow).conditionDelay == .seconds(1))
            #expect(AlarmDefinition.standard(.prePressureHigh).conditionDelay == .milliseconds(500))
            #expect(AlarmDefinition.standard(.oxygenatorDropHigh).conditionDelay == .seconds(5))
            #expect(AlarmDefinition.standard(.speedFlowMismatch).conditionDelay == .seconds(3))
            #expect(AlarmDefinition.standard(.sensorInvalid).conditionDelay == .milliseconds(50))
            #expect(AlarmDefinition.standard(.airInLine).conditionDelay == .zero)
        }

        @Test func customDefinitionsAreUsed() {
            var sys = AlarmSystem(definitions: { id in
                var d = AlarmDefinition.standard(id)
                if id == .flowLow { d.latching = true; d.conditionDelay = .zero }
                return d
            })
            let log = EventLog()
            sys.evaluate(AlarmConditions(.flowLow), now: at(0)) { log.record($0) }
            sys.evaluate(AlarmConditions(), now: at(1)) { log.record($0) }
            #expect(sys.isActive(.flowLow))
            #expect(sys.definition(of: .flowLow).latching)
        }

        @Test func identifiersRoundTripForAllCasesAndAreUnique() {
            #expect(AlarmID.count == AlarmID.allCases.count)
            var seen = Set<String>()
            for (n, id) in AlarmID.allCases.enumerated() {
                #expect(id.index == n, "dense index")
                #expect(AlarmID(index: n) == id)
                #expect(AlarmID(identifier: id.identifier) == id)
                #expect(seen.insert(id.identifier).inserted, "duplicate identifier \(id.identifier)")
            }
            #expect(seen.count == AlarmID.count)
            #expect(AlarmID(identifier: "E_STOP") == .emergencyStop)
            #expect(AlarmID(identifier: "OXY_FOULING_PAUSE") == .foulingPause)
            #expect(AlarmID(identifier: "e_stop") == nil)
            #expect(AlarmID(identifier: "") == nil)
            #expect(AlarmID(index: AlarmID.count) == nil)
            #expect(AlarmID(index: -1) == nil)
        }

        @Test func conditionsAreABitSetOverAlarmIDs() {
            var c = AlarmConditions()
            #expect(c.isEmpty)
            c[.watchdogReset] = true
            c[.drainPressureLow] = true
            #expect(c[.watchdogReset] && c[.drainPressureLow] && !c[.flowLow])
            #expect(c.count == 2)
            c[.watchdogReset] = false
            #expect(c == AlarmConditions(.drainPressureLow))
            #expect(!c.isEmpty)
        }

        @Test func priorityOrder() {
            #expect(AlarmPriority.low < .medium && AlarmPriority.medium < .high)
            #expect(AlarmPriority.low.escalated == .medium && AlarmPriority.high.escalated == .high)
        }
    }
}

extension AlarmSystemTests {
    @Suite struct Limits {
        @Test func defaultsAreValid() throws {
            let l = try AlarmLimits().validated()
            #expect(l == AlarmLimits())
            // The domain note's console defaults: two tiers.
            #expect(l.drainPressureWarning == .mmHg(-100) && l.drainPressureLow == .mmHg(-150) && l.flowHigh == .lpm(7))
            #expect(l.prePressureWarning == .mmHg(400) && l.prePressureHigh == .mmHg(500))
            #expect(l.postPressureWarning == .mmHg(400) && l.postPressureHigh == .mmHg(500))
            #expect(l.zeroFlowLimit == .seconds(30))
        }

        @Test func valueBeyondAHardBoundThrowsNamingTheKey() {
            var l = AlarmLimits()
            l.drainPressureLow = .mmHg(-400)
            #expect(throws: AlarmLimitError(key: "p_drain_low_mmhg", value: -400, bounds: -300 ... -20)) { try l.validated() }
            do {
                _ = try l.validated()
            } catch {
                #expect(error.description.contains("p_drain_low_mmhg"))
                #expect(error.description.contains("-400"))
                #expect(error.description.contains("-300"))
            }

            var f = AlarmLimits()
            f.speedFlowMismatchFraction = 0.05
            #expect(throws: AlarmLimitError(key: "speed_flow_mismatch_fraction", value: 0.05, bounds: 0.1 ... 1)) { try f.validated() }

            var h = AlarmLimits()
            h.prePressureHigh = .mmHg(601)
            #expect(throws: AlarmLimitError(key: "p_pre_high_mmhg", value: 601, bounds: 110 ... 600)) { try h.validated() }
        }

        @Test func everyKeyIsCheckedAgainstItsBounds() {
            for key in AlarmLimitKey.allCases {
                let b = key.hardBounds
                var ok = AlarmLimits()
                ok[key] = b.lowerBound
                // Keep the partner consistent so only the bound is tested.
                if key == .flowHigh { ok.flowLow = .lpm(0.5) }
                if key == .postPressureHigh { ok.postPressureLow = .mmHg(0) }
                // The other tier of the same pressure, out of the way.
                if key == .drainPressureLow || key == .prePressureHigh || key == .postPressureHigh { _ = ok.deriveWarningTiers(given: [key]) }
                if key == .postPressureWarning || key == .postPressureHigh { ok.postPressureLow = .mmHg(0) }
                if key == .drainPressureWarning { ok.drainPressureLow = .mmHg(-300) }
                if key == .prePressureWarning { ok.prePressureHigh = .mmHg(600) }
                if key == .postPressureWarning { ok.postPressureHigh = .mmHg(600) }
                #expect(throws: Never.self, "\(key) at its lower bound") { try ok.validated() }
                for bad in [b.lowerBound - 0.001, b.upperBound + 0.001, Double.nan, .infinity] {
                    var l = AlarmLimits()
                    l[key] = bad
                    #expect(throws: AlarmLimitError.self, "\(key) = \(bad)") { try l.validated() }
                    do { _ = try l.validated() } catch { #expect(error.key == key.rawValue) }
                }
            }
        }

        @Test func inconsistentLowHighThrows() {
            var l = AlarmLimits()
            l.flowLow = .lpm(4)
            l.flowHigh = .lpm(3)
            #expect(throws: AlarmLimitError(key: "flow_low_lpm", value: 4, bounds: 0.2 ... 5,
                                            mustBeBelowKey: "flow_high_lpm", mustBeBelowValue: 3)) { try l.validated() }

            var equal = AlarmLimits()
            equal.flowLow = .lpm(3)
            equal.flowHigh = .lpm(3)
            #expect(throws: AlarmLimitError.self) { try equal.validated() }

            var p = AlarmLimits()
            p.postPressureLow = .mmHg(150)
            p.postPressureHigh = .mmHg(100)
            do {
                _ = try p.validated()
                Issue.record("post low above post high must throw")
            } catch {
                #expect(error.key == "p_post_low_mmhg")
                #expect(error.mustBeBelowKey == "p_post_high_mmhg")
                #expect(error.description.contains("must be below p_post_high_mmhg"))
            }
        }

        @Test func hardBoundsAreExposedPerKey() {
            let keys: Set<String> = ["p_drain_low_mmhg", "p_pre_high_mmhg", "p_post_high_mmhg", "p_post_low_mmhg",
                                     "dp_oxy_high_mmhg", "flow_low_lpm", "flow_high_lpm", "speed_flow_mismatch_fraction",
                                     "p_drain_warning_mmhg", "p_pre_warning_mmhg", "p_post_warning_mmhg", "zero_flow_limit_s"]
            #expect(Set(AlarmLimitKey.allCases.map(\.rawValue)) == keys)
            #expect(AlarmLimitKey.drainPressureLow.hardBounds == -300 ... -20)
            #expect(AlarmLimitKey.drainPressureWarning.hardBounds == -290 ... -10)
            #expect(AlarmLimitKey.prePressureHigh.hardBounds == 110 ... 600)
            #expect(AlarmLimitKey.prePressureWarning.hardBounds == 100 ... 590)
            #expect(AlarmLimitKey.postPressureHigh.hardBounds == 60 ... 600)
            #expect(AlarmLimitKey.zeroFlowLimit.hardBounds == 1 ... 30)
            #expect(AlarmLimitKey.postPressureLow.hardBounds == -50 ... 200)
            #expect(AlarmLimitKey.oxygenatorDropHigh.hardBounds == 10 ... 300)
            #expect(AlarmLimitKey.flowLow.hardBounds == 0.2 ... 5)
            #expect(AlarmLimitKey.flowHigh.hardBounds == 1 ... 10)
            #expect(AlarmLimitKey.speedFlowMismatchFraction.hardBounds == 0.1 ... 1)
        }
    }
}

extension AlarmSystemTests {
    @Suite struct Signals {
        /// A system with `ids` raised at `at(0)` (all zero-delay or evaluated past their delay).
        private func raised(_ ids: AlarmID..., log: EventLog = EventLog()) -> AlarmSystem {
            var sys = AlarmSystem(definitions: { id in
                var d = AlarmDefinition.standard(id)
                d.conditionDelay = .zero
                d.escalateAfter = nil
                return d
            })
            var c = AlarmConditions()
            for id in ids { c.insert(id) }
            sys.evaluate(c, now: at(0)) { log.record($0) }
            return sys
        }

        /// Samples `f` every millisecond over `[from, to)` and counts off→on transitions
        /// (a signal on at `from` counts as one).
        private func onsets(_ sys: AlarmSystem, from: Duration, to: Duration, _ f: (AlarmSignals) -> Bool) -> Int {
            var n = 0
            var previous = false
            var t = from
            while t < to {
                let v = f(sys.signals(at: t0 + t))
                if v && !previous { n += 1 }
                previous = v
                t += .milliseconds(1)
            }
            return n
        }

        @Test func highPriorityBuzzerPlaysATenPulseBurstEvery8s() {
            let sys = raised(.airInLine)
            #expect(onsets(sys, from: .zero, to: .seconds(8)) { $0.buzzer } == 10)
            #expect(onsets(sys, from: .seconds(8), to: .seconds(16)) { $0.buzzer } == 10)
            func buzzer(_ t: Int) -> Bool { sys.signals(at: t0 + ms(t)).buzzer }
            // First group of 3: on 0–149, off 150–249, on 250–399, off 400–499, on 500–649.
            #expect(buzzer(0) && buzzer(149) && !buzzer(150) && !buzzer(249) && buzzer(250) && buzzer(399) && !buzzer(400))
            #expect(buzzer(500) && buzzer(649))
            // 350 ms gap after the group: off 650–999, second group (2 pulses) from 1000.
            #expect(!buzzer(650) && !buzzer(999) && buzzer(1000) && buzzer(1149) && !buzzer(1150) && buzzer(1250) && !buzzer(1400))
            #expect(!buzzer(1749) && buzzer(1750) && buzzer(2250) && !buzzer(2749) && buzzer(2750) && buzzer(3000) && buzzer(3149))
            // Burst over at 3150 ms, silent until the next one at 8 s.
            #expect(!buzzer(3150) && !buzzer(5000) && !buzzer(7999) && buzzer(8000) && buzzer(8149) && !buzzer(8150))
            // Total on-time per burst: 10 × 150 ms.
            var onMs = 0
            for t in 0..<8000 where buzzer(t) { onMs += 1 }
            #expect(onMs == 1500)
        }

        @Test func highPriorityRedFlashesAt2Hz() {
            let sys = raised(.emergencyStop)
            #expect(onsets(sys, from: .zero, to: .seconds(10)) { $0.red } == 20)
            func red(_ t: Int) -> Bool { sys.signals(at: t0 + ms(t)).red }
            #expect(red(0) && red(249) && !red(250) && !red(499) && red(500) && red(749) && !red(750))
            var onMs = 0
            for t in 0..<1000 where red(t) { onMs += 1 }
            #expect(onMs == 500, "50 % duty")
            for t in stride(from: 0, to: 10_000, by: 7) {
                let s = sys.signals(at: t0 + ms(t))
                #expect(!s.yellow && !s.green)
            }
        }

        @Test func mediumPriorityYellowFlashesAt0_6HzAndBuzzes3PulsesPer15s() {
            let sys = raised(.loopOverrun)
            // 0.6 Hz: 6 flashes in 10 s, on for the first 833 ms of each 1667 ms.
            #expect(onsets(sys, from: .zero, to: .seconds(10)) { $0.yellow } == 6)
            func at_(_ t: Int) -> AlarmSignals { sys.signals(at: t0 + ms(t)) }
            #expect(at_(0).yellow && at_(833).yellow && !at_(834).yellow && !at_(1666).yellow && at_(1667).yellow)
            #expect(!at_(0).red && !at_(0).green)
            #expect(onsets(sys, from: .zero, to: .seconds(15)) { $0.buzzer } == 3)
            #expect(onsets(sys, from: .seconds(15), to: .seconds(30)) { $0.buzzer } == 3)
            // 200 ms on / 150 ms off: onsets at 0, 350, 700 ms.
            #expect(at_(0).buzzer && at_(199).buzzer && !at_(200).buzzer && !at_(349).buzzer && at_(350).buzzer)
            #expect(at_(700).buzzer && at_(899).buzzer && !at_(900).buzzer && !at_(14_999).buzzer && at_(15_000).buzzer)
        }

        @Test func lowPriorityYellowSteadyAndOnePulsePer30s() {
            let sys = raised(.syringeNearEmpty)
            for t in stride(from: 0, to: 30_000, by: 13) {
                let s = sys.signals(at: t0 + ms(t))
                #expect(s.yellow && !s.red && !s.green)
            }
            #expect(onsets(sys, from: .zero, to: .seconds(30)) { $0.buzzer } == 1)
            #expect(onsets(sys, from: .seconds(30), to: .seconds(60)) { $0.buzzer } == 1)
            func buzzer(_ t: Int) -> Bool { sys.signals(at: t0 + ms(t)).buzzer }
            #expect(buzzer(0) && buzzer(249) && !buzzer(250) && !buzzer(29_999) && buzzer(30_000))
        }

        @Test func noAlarmMeansGreenOnly() {
            var sys = AlarmSystem()
            sys.evaluate(AlarmConditions(), now: at(0)) { _ in }
            for t in stride(from: 0, to: 20_000, by: 11) {
                #expect(sys.signals(at: t0 + ms(t)) == AlarmSignals(buzzer: false, red: false, yellow: false, green: true))
            }
            // A fresh system, never evaluated, is also all clear.
            #expect(AlarmSystem().signals(at: t0) == .allClear)
        }

        @Test func highestPriorityDrivesTheLampsAndTheBuzzer() {
            let sys = raised(.syringeNearEmpty, .loopOverrun, .airInLine)
            #expect(onsets(sys, from: .zero, to: .seconds(8)) { $0.buzzer } == 10)
            for t in stride(from: 0, to: 5_000, by: 7) {
                let s = sys.signals(at: t0 + ms(t))
                #expect(!s.yellow && !s.green)
            }
        }

        @Test func acknowledgedMeansNoBuzzerButTheVisualStays() {
            var sys = raised(.airInLine)
            #expect(sys.acknowledge(.airInLine, by: .operatorPanel, now: at(0.1)) { _ in })
            #expect(onsets(sys, from: .milliseconds(100), to: .seconds(20)) { $0.buzzer } == 0)
            #expect(onsets(sys, from: .milliseconds(100), to: .seconds(10)) { $0.red } >= 19)
            #expect(!sys.signals(at: at(1)).green)
        }

        @Test func acknowledgingTheHighAlarmLetsTheMediumOneSoundFromThen() {
            var sys = raised(.airInLine, .loopOverrun)
            #expect(sys.acknowledge(.airInLine, by: .operatorPanel, now: at(1)) { _ in })
            #expect(sys.highestSoundingPriority == .medium)
            // The medium pattern starts at 1 s: 3 pulses in [1 s, 16 s), first at exactly 1 s.
            #expect(sys.signals(at: at(1)).buzzer && !sys.signals(at: at(1.2)).buzzer && sys.signals(at: at(1.35)).buzzer)
            #expect(onsets(sys, from: .seconds(1), to: .seconds(16)) { $0.buzzer } == 3)
            #expect(sys.signals(at: at(1)).red, "the acknowledged high alarm still shows")
        }

        @Test func audioPausedMeansNoBuzzer() {
            var sys = raised(.airInLine, .loopOverrun, .syringeNearEmpty)
            sys.pauseAudio(by: .operatorPanel, now: at(0.1)) { _ in }
            #expect(onsets(sys, from: .milliseconds(100), to: .seconds(40)) { $0.buzzer } == 0)
            #expect(onsets(sys, from: .milliseconds(100), to: .seconds(10)) { $0.red } >= 19)
        }
    }
}
