import Testing
import ECMOLink

@Suite struct EventWordingTests {
    @Test func anOverrunReadsAsMillisecondsLateAndMicrosecondsTaken() {
        let text = EventWording.text(code: "overrun", values: ["lateness_s": .number(0.00122), "previous_execution_s": .number(2.73e-05)])
        #expect(text == "Loop 1.2 ms late (previous tick took 27 µs)")
    }

    @Test func anAcknowledgeNamesTheOperatorTheLinkAttributedItTo() {
        let values: [String: LinkValue] = ["alarm": .string("P_DRAIN_LOW"), "action": .string("acknowledged"),
                                           "priority": .string("high"), "by": .string("console"), "operator": .string("olga")]
        #expect(EventWording.text(code: "alarm", values: values) == "Olga acknowledged P_DRAIN_LOW")
        var anonymous = values
        anonymous["operator"] = nil
        #expect(EventWording.text(code: "alarm", values: anonymous) == "The console acknowledged P_DRAIN_LOW")
    }

    @Test func anAlarmLimitChangeSaysWhoWhichLimitAndTheUnit() {
        let text = EventWording.text(code: "alarm_limit", values: ["key": .string("p_drain_low_mmhg"), "from": .number(-150),
                                                                   "to": .number(-120), "by": .string("console"), "operator": .string("olga")])
        #expect(text == "Olga changed alarm limit p_drain_low_mmhg from -150 to -120 mmHg")
    }

    @Test func theFoulingMonitorArmingGivesTheBaselineWithItsUnit() {
        let text = EventWording.text(code: "fouling_armed", values: ["resistance_mmhg_min_per_l": .number(9.437),
                                                                     "flow_lpm": .number(3.5), "baseline": .string("window")])
        #expect(text == "Fouling monitor armed: baseline R 9.44 mmHg/(L/min) at 3.5 L/min (window)")
    }

    @Test func anUnknownEventStillReadsInWordsWithItsFields() {
        let text = EventWording.text(code: "new_thing", values: ["some_value": .number(1.23456), "flag": .bool(true)])
        #expect(text == "new thing: flag yes, some value 1.235")
    }

    @Test func setPointsCarryTheirUnits() {
        #expect(EventWording.text(code: "setpoint", values: ["mode": .string("constant_speed"), "speed_rpm": .number(4500),
                                                             "operator": .string("olga")]) == "Olga set speed 4500 rpm")
        #expect(EventWording.text(code: "setpoint", values: ["mode": .string("constant_flow"), "flow_lpm": .number(3.25)])
                == "Set-point: flow 3.25 L/min")
    }
}
