import ECMOBoard
import ECMOCore
import Testing

@Suite("Board file validation")
struct BoardValidationTests {
    // MARK: The baseline

    @Test func theMinimalBoardLoadsWithTheValuesItStates() throws {
        let board = try BoardLoader.parse(yaml: minimalBoard, file: testFile)
        #expect(board.sourceFile == testFile)
        #expect(board.loopPeriod == .milliseconds(1))
        #expect(board.watchdog == WatchdogConfiguration(device: "sim", timeout: .milliseconds(250)))
        #expect(board.devices["abp_drain"] == I2CDeviceConfiguration(
            id: "abp_drain", bus: "bus1", address: 0x28,
            driver: .abp2(pressureMin: .mmHg(-300), pressureMax: .mmHg(300), transferFunction: .a)))
        #expect(board.inputs[.pumpTachometer] == InputLineConfiguration(
            role: .pumpTachometer, chip: "gpio0", line: 17, activeLow: false, bias: .pullUp, edge: .rising,
            pulsesPerRevolution: 2, debounce: .zero))
        #expect(board.outputs[.clamp] == OutputLineConfiguration(
            role: .clamp, chip: "gpio0", line: 24, activeLow: false, safeValue: true, maxCommandAge: .milliseconds(100)))
        #expect(board.pump.limits == PumpLimits(minimumSpeed: .rpm(1500), maximumSpeed: .rpm(4500), maximumRampPerSecond: .rpm(1000)))
        #expect(board.pump.period == .microseconds(50))
        #expect(board.syringe == nil)
    }

    // MARK: Keys

    @Test func aMisspeltKeyIsReportedWithFileLineKeyAndTheAllowedKeys() throws {
        let yaml = try mutated("    device: abp_drain\n", "    device: abp_drain\n    adress: 0x28\n")
        let at = try line(of: "adress:", in: yaml)
        let error = expectError(yaml, keyPath: "sensors.P_drain.adress", line: at, message: "unknown key 'adress'")
        #expect(error?.description == "test.yaml:\(at):5: sensors.P_drain.adress: unknown key 'adress' (allowed: device, max_age_ms)")
    }

    @Test func aMisspeltDeviceKeySuggestsTheNearestAndReportsTheMissingOne() throws {
        let yaml = try mutated("    address: 0x48\n", "    adress: 0x48\n")
        expectError(yaml, keyPath: "devices.adc0.adress", line: try line(of: "adress:", in: yaml),
                    message: "unknown key 'adress' (did you mean 'address'?")
        expectError(yaml, keyPath: "devices.adc0.address", line: try line(of: "  adc0:", in: yaml),
                    message: "missing required key 'address'")
    }

    @Test func aMissingRequiredKeyPointsAtItsMapping() throws {
        let yaml = try mutated("    safe_value: true\n", "")
        expectError(yaml, keyPath: "outputs.clamp.safe_value", line: try line(of: "  clamp:", in: yaml),
                    message: "missing required key 'safe_value'")
    }

    @Test func anUnknownTopLevelSectionIsRejected() throws {
        let yaml = minimalBoard + "sensor:\n  flow: {}\n"
        expectError(yaml, keyPath: "sensor", line: try line(of: "sensor:", in: yaml), message: "did you mean 'sensors'?")
    }

    // MARK: Roles

    @Test func aMissingRequiredRolePointsAtItsSection() throws {
        let yaml = try mutated("  estop: {chip: gpio0, line: 22}\n", "")
        expectError(yaml, keyPath: "inputs", line: try line(of: "inputs:", in: yaml), message: "missing required input role 'estop'")
    }

    @Test func anAbsentSectionReportsItsRolesAtLineOne() throws {
        let start = try #require(minimalBoard.range(of: "sensors:\n"))
        let end = try #require(minimalBoard.range(of: "inputs:\n"))
        let yaml = minimalBoard.replacingCharacters(in: start.lowerBound..<end.lowerBound, with: "")
        expectError(yaml, keyPath: "sensors", line: 1, message: "missing required key 'sensors'")
        expectError(yaml, keyPath: "sensors", line: 1, message: "missing required sensor role 'P_drain'")
    }

    @Test func anUnknownRoleListsTheAllowedRoles() throws {
        let yaml = try mutated("  P_pre: {", "  P_pree: {")
        let roleLine = try line(of: "P_pree", in: yaml)
        expectError(yaml, keyPath: "sensors.P_pree", line: roleLine, message: "unknown sensor role 'P_pree' (allowed: P_drain, P_pre, P_post, flow")
        expectError(yaml, keyPath: "sensors", line: try line(of: "sensors:", in: yaml),
                    message: "missing required sensor role 'P_pre'")
    }

    @Test func pumpSpeedIsNotAnOutput() throws {
        let yaml = try mutated("  syringe_step: {", "  pump_speed: {chip: gpio0, line: 13, safe_value: false, max_command_age_ms: 100}\n  syringe_step: {")
        expectError(yaml, keyPath: "outputs.pump_speed", line: try line(of: "pump_speed", in: yaml), message: "configured under 'pump'")
    }

    @Test func pumpTachIsAnInputNotASensor() throws {
        let yaml = try mutated("  P_pre: {", "  pump_tach: {device: adc0, channel: 1, volts_offset: 0, units_per_volt: 1, max_age_ms: 20}\n  P_pre: {")
        expectError(yaml, keyPath: "sensors.pump_tach", line: try line(of: "  pump_tach: {device", in: yaml), message: "under 'inputs'")
    }

    // MARK: Conflicts

    @Test func oneLineUsedByTwoOutputsNamesBothRolesAndTheFirstLine() throws {
        let yaml = try mutated("    line: 25\n", "    line: 24\n")
        let first = try line(of: "    line: 24", in: yaml, occurrence: 1)
        let second = try line(of: "    line: 24", in: yaml, occurrence: 2)
        expectError(yaml, keyPath: "outputs.buzzer.line", line: second,
                    message: "gpio0 line 24 is already used by outputs.clamp (line \(first))")
    }

    @Test func oneLineUsedByAnInputAndAnOutputIsRejected() throws {
        let yaml = try mutated("  syringe_dir: {chip: gpio0, line: 16,", "  syringe_dir: {chip: gpio0, line: 17,")
        expectError(yaml, keyPath: "outputs.syringe_dir.line", line: try line(of: "syringe_dir:", in: yaml),
                    message: "already used by inputs.pump_tach (line \(try line(of: "pump_tach:", in: yaml)))")
    }

    @Test func twoDevicesAtOneI2CAddressAreRejected() throws {
        let yaml = try mutated("address: 0x58", "address: 0x28")
        expectError(yaml, keyPath: "devices.abp_post.address", line: try line(of: "abp_post:", in: yaml),
                    message: "address 0x28 on bus1 is already used by device 'abp_drain' (line \(try line(of: "address: 0x28", in: yaml)))")
    }

    @Test func twoSensorsOnOneADCChannelAreRejected() throws {
        let yaml = try mutated("  P_post: {device: abp_post, max_age_ms: 20}",
                               "  P_post: {device: adc0, channel: 0, volts_offset: 0.5, units_per_volt: 100, max_age_ms: 20}")
        expectError(yaml, keyPath: "sensors.flow.channel", line: try line(of: "  flow:", in: yaml),
                    message: "device 'adc0' channel 0 is already used by sensor 'P_post'")
    }

    @Test func aHardwareIdUsedTwiceForTheSamePathIsRejectedOnARig() throws {
        var yaml = try mutated("  kind: simulated", "  kind: rig")
        yaml = try mutated("  watchdog: {device: sim, timeout_ms: 250}", "  watchdog: {device: /dev/watchdog, timeout_ms: 1000}", in: yaml)
        yaml = try mutated("  bus1: {path: sim}", "  bus1: {path: /dev/i2c-1}\n  bus2: {path: /dev/i2c-1}", in: yaml)
        yaml = try mutated("  gpio0: {label: sim-gpio, lines: 54}", "  gpio0: {label: pinctrl-bcm2711, lines: 58}", in: yaml)
        yaml = try mutated("  pwm0: {path: sim, channels: 2}", "  pwm0: {path: /sys/class/pwm/pwmchip0, channels: 2}", in: yaml)
        let found = errors(of: yaml)
        #expect(found.count == 1, "\(BoardFileErrors(found))")
        expectError(yaml, keyPath: "i2c_buses.bus2.path", line: try line(of: "bus2:", in: yaml),
                    message: "'/dev/i2c-1' is already used by i2c_buses.bus1.path")
    }

    // MARK: Ranges

    @Test func anI2CAddressAbove0x77IsRejected() throws {
        let yaml = try mutated("    address: 0x28\n", "    address: 0x80\n")
        expectError(yaml, keyPath: "devices.abp_drain.address", line: try line(of: "address: 0x80", in: yaml),
                    message: "address 0x80 is outside the 7-bit range 0x08...0x77")
    }

    @Test func decimalI2CAddressesAreAcceptedToo() throws {
        let board = try BoardLoader.parse(yaml: try mutated("    address: 0x28\n", "    address: 40\n"), file: testFile)
        #expect(board.devices["abp_drain"]?.address == 0x28)
    }

    @Test func anADS1115OutsideItsFourAddressesIsRejected() throws {
        let yaml = try mutated("    address: 0x48\n", "    address: 0x50\n")
        expectError(yaml, keyPath: "devices.adc0.address", line: try line(of: "address: 0x50", in: yaml), message: "0x48...0x4B")
    }

    @Test func anADS1115DataRateItDoesNotHaveIsRejected() throws {
        let yaml = try mutated("    data_rate_sps: 860\n", "    data_rate_sps: 900\n")
        expectError(yaml, keyPath: "devices.adc0.data_rate_sps", line: try line(of: "data_rate_sps: 900", in: yaml),
                    message: "data_rate_sps 900 is not an ADS1115 data rate (allowed: 8, 16, 32, 64, 128, 250, 475, 860)")
    }

    @Test func anADS1115FullScaleItDoesNotHaveIsRejected() throws {
        let yaml = try mutated("    full_scale_v: 4.096\n", "    full_scale_v: 5\n")
        expectError(yaml, keyPath: "devices.adc0.full_scale_v", line: try line(of: "full_scale_v: 5", in: yaml),
                    message: "not an ADS1115 range (allowed: 6.144, 4.096, 2.048, 1.024, 0.512, 0.256)")
    }

    @Test func aLineBeyondTheChipIsRejected() throws {
        let yaml = try mutated("    line: 24\n", "    line: 54\n")
        expectError(yaml, keyPath: "outputs.clamp.line", line: try line(of: "line: 54", in: yaml),
                    message: "line 54 is beyond gpio0, which has 54 lines (0...53)")
    }

    @Test func aPumpChannelBeyondThePWMChipIsRejected() throws {
        let yaml = try mutated("  channel: 0\n", "  channel: 2\n")
        expectError(yaml, keyPath: "pump.channel", line: try line(of: "  channel: 2", in: yaml),
                    message: "channel 2 is beyond pwm0, which has 2 channels (0...1)")
    }

    @Test func anADCChannelAbove3IsRejected() throws {
        let yaml = try mutated("flow: {device: adc0, channel: 0,", "flow: {device: adc0, channel: 4,")
        expectError(yaml, keyPath: "sensors.flow.channel", line: try line(of: "flow:", in: yaml), message: "4 is out of range (allowed 0...3)")
    }

    @Test func aDebounceBeyondItsSaneBoundIsRefusedNamingTheKey() throws {
        let yaml = try mutated("estop: {chip: gpio0, line: 22}", "estop: {chip: gpio0, line: 22, debounce_us: 50000}")
        expectError(yaml, keyPath: "inputs.estop.debounce_us", line: try line(of: "debounce_us", in: yaml),
                    message: "debounce_us 50000 µs is outside 0...20000 µs")
        let negative = try mutated("estop: {chip: gpio0, line: 22}", "estop: {chip: gpio0, line: 22, debounce_us: -1}")
        expectError(negative, keyPath: "inputs.estop.debounce_us", line: try line(of: "debounce_us", in: negative),
                    message: "outside 0...20000")
        let fine = try mutated("estop: {chip: gpio0, line: 22}", "estop: {chip: gpio0, line: 22, debounce_us: 20000}")
        let board = try BoardLoader.parse(yaml: fine, file: testFile)
        #expect(board.inputs[.emergencyStop]?.debounce == .milliseconds(20))
    }

    @Test func aLoopPeriodOutsideItsRangeIsRejected() throws {
        let yaml = try mutated("  loop_period_us: 1000", "  loop_period_us: -1000")
        expectError(yaml, keyPath: "board.loop_period_us", line: try line(of: "loop_period_us", in: yaml),
                    message: "-1000 µs is out of range (allowed 100...100000 µs)")
    }

    @Test func timeoutsShorterThanTheLoopAllowsAreRejected() throws {
        let yaml = try mutated("  loop_period_us: 1000", "  loop_period_us: 100000")
        expectError(yaml, keyPath: "board.watchdog.timeout_ms", line: try line(of: "watchdog:", in: yaml), message: "shorter than 5 loop periods")
        expectError(yaml, keyPath: "outputs.clamp.max_command_age_ms", line: try line(of: "    max_command_age_ms: 100", in: yaml),
                    message: "shorter than 2 loop periods")
        expectError(yaml, keyPath: "sensors.P_drain.max_age_ms", line: try line(of: "    max_age_ms: 20", in: yaml),
                    message: "shorter than one loop period")
    }

    @Test func aSensorAgeShorterThanTheADCScanIsRejected() throws {
        let yaml = try mutated("    data_rate_sps: 860\n", "    data_rate_sps: 8\n")
        expectError(yaml, keyPath: "sensors.flow.max_age_ms", line: try line(of: "  flow:", in: yaml),
                    message: "shorter than one scan of adc0 (1 channel at 8 SPS = 125 ms)")
    }

    @Test func pumpSpeedsOutOfOrderAreRejected() throws {
        let safe = try mutated("  safe_rpm: 0\n", "  safe_rpm: 2000\n")
        expectError(safe, keyPath: "pump.safe_rpm", line: try line(of: "safe_rpm", in: safe), message: "must not exceed min_rpm (1500)")
        let top = try mutated("  max_rpm: 4500\n", "  max_rpm: 6000\n")
        expectError(top, keyPath: "pump.max_rpm", line: try line(of: "max_rpm", in: top), message: "exceeds rpm_at_max_duty (5000)")
        let duty = try mutated("  duty_at_max: 0.90\n", "  duty_at_max: 0.05\n")
        expectError(duty, keyPath: "pump.duty_at_max", line: try line(of: "duty_at_max", in: duty), message: "must be above duty_at_zero")
        let ramp = try mutated("  max_ramp_rpm_per_s: 1000\n", "  max_ramp_rpm_per_s: 0\n")
        expectError(ramp, keyPath: "pump.max_ramp_rpm_per_s", line: try line(of: "max_ramp", in: ramp), message: "must be above 0")
    }

    @Test func abp2PressureRangeMustBeIncreasing() throws {
        let yaml = try mutated("    pressure_min_mmhg: -300\n", "    pressure_min_mmhg: 300\n")
        expectError(yaml, keyPath: "devices.abp_drain.pressure_min_mmhg", line: try line(of: "pressure_min_mmhg: 300", in: yaml),
                    message: "must be below pressure_max_mmhg")
    }

    @Test func notANumberAndInfinityAreRejected() throws {
        let nan = try mutated("units_per_volt: 2.5", "units_per_volt: .nan")
        expectError(nan, keyPath: "sensors.flow.units_per_volt", line: try line(of: "flow:", in: nan), message: "must be a finite number")
        let inf = try mutated("  duty_at_zero: 0.10\n", "  duty_at_zero: -.inf\n")
        expectError(inf, keyPath: "pump.duty_at_zero", line: try line(of: "duty_at_zero", in: inf), message: "must be a finite number")
        let huge = try mutated("  rpm_at_max_duty: 5000\n", "  rpm_at_max_duty: 1e400\n")
        expectError(huge, keyPath: "pump.rpm_at_max_duty", line: try line(of: "rpm_at_max_duty", in: huge), message: "must be a finite number")
    }

    // MARK: Types and values

    @Test func textWhereANumberBelongsIsAWrongType() throws {
        let yaml = try mutated("  loop_period_us: 1000", "  loop_period_us: fast")
        expectError(yaml, keyPath: "board.loop_period_us", line: try line(of: "loop_period_us", in: yaml),
                    message: "expected an integer, got 'fast'")
    }

    @Test func aQuotedNumberIsAWrongType() throws {
        let yaml = try mutated("    max_age_ms: 20\n", "    max_age_ms: \"20\"\n")
        expectError(yaml, keyPath: "sensors.P_drain.max_age_ms", line: try line(of: "max_age_ms: \"20\"", in: yaml),
                    message: "expected an integer, got the quoted text '20'")
    }

    @Test func aDecimalWhereAnIntegerBelongsIsAWrongType() throws {
        let yaml = try mutated("    line: 24\n", "    line: 24.5\n")
        expectError(yaml, keyPath: "outputs.clamp.line", line: try line(of: "24.5", in: yaml), message: "expected an integer")
    }

    @Test func booleansMustBeTrueOrFalse() throws {
        let yaml = try mutated("    safe_value: true\n", "    safe_value: yes\n")
        expectError(yaml, keyPath: "outputs.clamp.safe_value", line: try line(of: "safe_value: yes", in: yaml),
                    message: "expected true or false, got 'yes'")
    }

    @Test func aLeadingZeroIsRejectedBecauseYAMLMayReadItAsOctal() throws {
        let yaml = try mutated("    line: 24\n", "    line: 024\n")
        expectError(yaml, keyPath: "outputs.clamp.line", line: try line(of: "line: 024", in: yaml), message: "leading zero")
    }

    @Test func aMappingWhereAValueBelongsIsAWrongType() throws {
        let yaml = try mutated("  name: test\n", "  name: {first: test}\n")
        expectError(yaml, keyPath: "board.name", line: try line(of: "name:", in: yaml), message: "expected text, got a mapping")
    }

    @Test func anUnknownEnumValueListsTheAllowedValues() throws {
        let yaml = try mutated("  kind: simulated", "  kind: simulation")
        expectError(yaml, keyPath: "board.kind", line: try line(of: "kind:", in: yaml),
                    message: "unknown value 'simulation' (allowed: simulated, rig)")
        let edge = try mutated("edge: rising", "edge: up")
        expectError(edge, keyPath: "inputs.pump_tach.edge", line: try line(of: "pump_tach:", in: edge),
                    message: "unknown value 'up' (allowed: none, rising, falling, both)")
    }

    // MARK: References

    @Test func anUnknownDeviceReferenceListsTheDefinedDevices() throws {
        let yaml = try mutated("    device: abp_drain\n", "    device: abp_drian\n")
        expectError(yaml, keyPath: "sensors.P_drain.device", line: try line(of: "abp_drian", in: yaml),
                    message: "unknown device 'abp_drian' (defined: abp_drain, abp_post, abp_pre, adc0)")
    }

    @Test func unknownBusChipAndPWMReferencesAreRejected() throws {
        let bus = try mutated("    driver: abp2\n    bus: bus1\n", "    driver: abp2\n    bus: bus9\n")
        expectError(bus, keyPath: "devices.abp_drain.bus", line: try line(of: "bus9", in: bus), message: "unknown I2C bus 'bus9' (defined: bus1)")
        let chip = try mutated("    chip: gpio0\n    line: 24\n", "    chip: gpio1\n    line: 24\n")
        expectError(chip, keyPath: "outputs.clamp.chip", line: try line(of: "gpio1", in: chip), message: "unknown GPIO chip 'gpio1'")
        let pwm = try mutated("  pwm: pwm0\n", "  pwm: pwm1\n")
        expectError(pwm, keyPath: "pump.pwm", line: try line(of: "pwm: pwm1", in: pwm), message: "unknown PWM chip 'pwm1'")
    }

    // MARK: Driver- and role-specific keys

    @Test func aChannelOnADigitalSensorIsRejected() throws {
        let yaml = try mutated("    device: abp_drain\n", "    device: abp_drain\n    channel: 0\n")
        expectError(yaml, keyPath: "sensors.P_drain.channel", line: try line(of: "    channel: 0", in: yaml), message: "abp2")
    }

    @Test func anADCSensorNeedsItsChannelAndCalibration() throws {
        let yaml = try mutated("flow: {device: adc0, channel: 0, volts_offset: 0.0, ", "flow: {device: adc0, ")
        let at = try line(of: "  flow:", in: yaml)
        expectError(yaml, keyPath: "sensors.flow.channel", line: at, message: "missing required key 'channel'")
        expectError(yaml, keyPath: "sensors.flow.volts_offset", line: at, message: "missing required key 'volts_offset'")
    }

    @Test func anABP2CannotMeasureFlow() throws {
        let yaml = try mutated("flow: {device: adc0, channel: 0, volts_offset: 0.0, units_per_volt: 2.5, max_age_ms: 20}",
                               "flow: {device: abp_post, max_age_ms: 20}")
        expectError(yaml, keyPath: "sensors.flow.device", line: try line(of: "  flow:", in: yaml), message: "needs an analog input")
    }

    @Test func pulsesPerRevolutionBelongOnlyToTheTach() throws {
        let yaml = try mutated("  estop: {chip: gpio0, line: 22}", "  estop: {chip: gpio0, line: 22, pulses_per_revolution: 1}")
        expectError(yaml, keyPath: "inputs.estop.pulses_per_revolution", line: try line(of: "estop:", in: yaml),
                    message: "only the pump tachometer")
    }

    @Test func theTachNeedsAnEdgeAndItsPulseCount() throws {
        let none = try mutated("edge: rising", "edge: none")
        expectError(none, keyPath: "inputs.pump_tach.edge", line: try line(of: "pump_tach:", in: none), message: "edge must be rising, falling or both")
        let missing = try mutated("edge: rising, pulses_per_revolution: 2, ", "edge: rising, ")
        expectError(missing, keyPath: "inputs.pump_tach.pulses_per_revolution", line: try line(of: "pump_tach:", in: missing),
                    message: "missing required key")
        let many = try mutated("pulses_per_revolution: 2", "pulses_per_revolution: 65")
        expectError(many, keyPath: "inputs.pump_tach.pulses_per_revolution", line: try line(of: "pump_tach:", in: many), message: "1...64")
    }

    @Test func heparinOutputsComeAsASet() throws {
        let yaml = try mutated("  syringe_step: {", "  heparin_step: {chip: gpio0, line: 21, safe_value: false, max_command_age_ms: 100}\n  syringe_step: {")
        expectError(yaml, keyPath: "outputs", line: try line(of: "outputs:", in: yaml), message: "missing heparin_dir, heparin_enable")
    }

    // MARK: Simulated versus real hardware

    @Test func aSimulatedBoardCannotNameRealHardware() throws {
        let yaml = try mutated("  bus1: {path: sim}", "  bus1: {path: /dev/i2c-1}")
        expectError(yaml, keyPath: "i2c_buses.bus1.path", line: try line(of: "bus1:", in: yaml), message: "kind is simulated")
    }

    @Test func aRigBoardCannotNameSimulatedHardware() throws {
        let yaml = try mutated("  kind: simulated", "  kind: rig")
        let found = errors(of: yaml)
        // Plus the watchdog timeout: a rig's is set in whole seconds, and 250 ms is not.
        #expect(Set(found.map(\.keyPath)) == ["board.watchdog.device", "board.watchdog.timeout_ms", "i2c_buses.bus1.path",
                                               "gpio_chips.gpio0.label", "pwm_chips.pwm0.path"])
        expectError(yaml, keyPath: "board.watchdog.device", line: try line(of: "watchdog:", in: yaml), message: "kind is rig")
    }

    // MARK: YAML itself

    @Test func aYAMLSyntaxErrorHasItsLine() throws {
        let yaml = try mutated("  realtime: optional\n", "  realtime: optional: yes\n")
        let found = errors(of: yaml)
        #expect(found.count == 1)
        let error = try #require(found.first)
        #expect(error.line == (try line(of: "realtime:", in: yaml)))
        #expect(error.message.hasPrefix("YAML syntax error: "))
        #expect(error.description.hasPrefix("test.yaml:\(error.line):\(error.column): YAML syntax error"))
    }

    @Test func anUnclosedFlowMappingIsASyntaxError() throws {
        let yaml = try mutated("  P_pre: {device: abp_pre, max_age_ms: 20}", "  P_pre: {device: abp_pre, max_age_ms: 20")
        let error = try #require(errors(of: yaml).first)
        #expect(error.message.contains("YAML syntax error"))
        #expect(error.line >= (try line(of: "P_pre:", in: yaml)))
    }

    @Test func aDuplicateYAMLKeyIsReportedAtItsSecondOccurrence() throws {
        let yaml = try mutated("    line: 24\n", "    line: 24\n    line: 25\n")
        expectError(yaml, keyPath: "outputs.clamp.line", line: try line(of: "line: 25", in: yaml),
                    message: "duplicate key 'line' (first at line \(try line(of: "line: 24", in: yaml)))")
    }

    @Test func aDuplicateKeyInsideAFlowMappingIsReportedOnItsLine() throws {
        let yaml = try mutated("  estop: {chip: gpio0, line: 22}", "  estop: {chip: gpio0, line: 22, line: 23}")
        expectError(yaml, keyPath: "inputs.estop.line", line: try line(of: "estop:", in: yaml), message: "duplicate key 'line'")
    }

    @Test func aDuplicateRoleIsReported() throws {
        let yaml = try mutated("  syringe_step: {", "  clamp: {chip: gpio0, line: 13, safe_value: true, max_command_age_ms: 100}\n  syringe_step: {")
        expectError(yaml, keyPath: "outputs.clamp", line: try line(of: "  clamp: {", in: yaml), message: "duplicate key 'clamp'")
    }

    @Test func anEmptyFileOrANonMappingIsRejected() {
        #expect(errors(of: "").first?.message == "the board file is empty")
        #expect(errors(of: "# only a comment\n").first?.message == "the board file is empty")
        #expect(errors(of: "- a\n- b\n").first?.message.contains("expected a mapping") == true)
    }

    // MARK: Reporting

    @Test func everyErrorIsCollectedAndSortedByLine() throws {
        var yaml = try mutated("  kind: simulated", "  kind: simulation")
        yaml = try mutated("    data_rate_sps: 860\n", "    data_rate_sps: 900\n", in: yaml)
        yaml = try mutated("  safe_rpm: 0\n", "  safe_rpm: -5\n", in: yaml)
        yaml = try mutated("    device: abp_drain\n", "    device: abp_drain\n    adress: 0x28\n", in: yaml)
        let thrown = #expect(throws: BoardFileErrors.self) { try BoardLoader.parse(yaml: yaml, file: testFile) }
        let errors = try #require(thrown).errors
        #expect(errors.map(\.keyPath) == ["board.kind", "devices.adc0.data_rate_sps", "sensors.P_drain.adress", "pump.safe_rpm"])
        #expect(errors.map(\.line) == errors.map(\.line).sorted())
        let lines = try #require(thrown).description.split(separator: "\n")
        #expect(lines.count == errors.count)
        #expect(lines.allSatisfy { $0.hasPrefix("test.yaml:") })
    }
}
