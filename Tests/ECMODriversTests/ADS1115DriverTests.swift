import ECMOCore
import ECMOHAL
import ECMOMockBoard
import Testing
import ECMODevices
import ECMODrivers

@Suite("ADS1115 driver")
struct ADS1115DriverTests {
    let clock = ManualClock()
    let board: MockBoard
    let bus: MockI2CBus
    let model: ADS1115Model
    static let address: UInt8 = 0x48
    static let threeChannels: [(input: Int, role: SensorRole)] = [
        (0, .drainPressure), (1, .preOxygenatorPressure), (2, .postOxygenatorPressure),
    ]

    init() throws {
        board = MockBoard(clock: clock)
        bus = board.i2cBus("i2c-1")
        model = ADS1115Model(clock: clock)
        try bus.attach(model, at: Self.address)
    }

    func makeDriver(fullScale: Double = 4.096, dataRate: Int = 860,
                    channels: [(input: Int, role: SensorRole)] = threeChannels) throws -> ADS1115Driver<MockI2CDevice> {
        try ADS1115Driver(device: bus.device(at: Self.address), fullScale: Voltage(volts: fullScale),
                          dataRate: dataRate, channels: channels)
    }

    func setInputs(_ volts: [Double]) {
        for (ch, v) in volts.enumerated() { model.setInput(channel: ch, voltage: Voltage(volts: v)) }
    }

    /// Config words the driver wrote, in order, as the register value (MSB first on the wire).
    var configWrites: [UInt16] {
        board.trace.entries.compactMap { e in
            if case .i2cWrite(_, _, 1, 3) = e.target { return UInt16(e.value) }
            return nil
        }
    }

    // MARK: Conversions (datasheet)

    @Test func codesForFullScaleAndOneVoltFollowTheDataFormat() {
        let fs = Voltage(volts: 4.096)
        #expect(UInt16(bitPattern: ADS1115.outputCode(for: fs, fullScale: fs)) == 0x7FFF)
        #expect(UInt16(bitPattern: ADS1115.outputCode(for: -fs, fullScale: fs)) == 0x8000)
        #expect(ADS1115.outputCode(for: Voltage(volts: 1.0), fullScale: fs) == 8000)
        #expect(ADS1115.outputCode(for: Voltage(volts: 1.0), fullScale: fs) == 0x1F40)
        #expect(ADS1115.voltage(outputCode: 8000, fullScale: fs).volts == 1.0)
        #expect(ADS1115.voltage(outputCode: .min, fullScale: fs).volts == -4.096)
        #expect(ADS1115.outputCode(for: Voltage(volts: .nan), fullScale: fs) == 0)
    }

    @Test func initRefusesWhatTheChipCannotDo() {
        #expect(throws: ADS1115ConfigurationError.unsupportedFullScale(Voltage(volts: 5))) { try makeDriver(fullScale: 5) }
        #expect(throws: ADS1115ConfigurationError.unsupportedDataRate(100)) { try makeDriver(dataRate: 100) }
        #expect(throws: ADS1115ConfigurationError.inputOutOfRange(4)) { try makeDriver(channels: [(4, .flow)]) }
        #expect(throws: ADS1115ConfigurationError.duplicateInput(1)) { try makeDriver(channels: [(1, .flow), (1, .drainPressure)]) }
        #expect(throws: ADS1115ConfigurationError.noChannels) { try makeDriver(channels: []) }
    }

    @Test func configWordIsWrittenMSBFirstDespiteSMBusLittleEndianWords() throws {
        let driver = try makeDriver()
        driver.service(now: .origin)
        // OS=1, MUX=100 (AIN0), PGA=001 (±4.096), MODE=1, DR=111 (860), COMP_QUE=11.
        #expect(configWrites == [0xC3E3])
        #expect(model.configRegister & 0x7FFF == 0x43E3) // what the chip holds (OS=0: converting)
    }

    @Test func roundRobinGivesEachInputItsVoltageAndRole() throws {
        let driver = try makeDriver()
        setInputs([1.0, 2.0, 3.0, 0.5])
        run(clock, until: .ms(10), tick: .milliseconds(1)) { driver.service(now: $0) }
        for (input, volts, role) in [(0, 1.0, SensorRole.drainPressure), (1, 2.0, .preOxygenatorPressure), (2, 3.0, .postOxygenatorPressure)] {
            let s = driver.sample(input: input)
            #expect(s.status == .valid, "input \(input)")
            #expect(abs(s.value.volts - volts) < 0.000_125, "input \(input)")
            #expect(s.source == role)
            #expect(driver.sample(role: role)?.value == s.value)
        }
        #expect(driver.sample(input: 3).status == .missing) // not configured
        #expect(driver.sample(role: .flow) == nil)
        // MUX goes 100, 101, 110, 100, …
        let mux = configWrites.map { Int($0 >> 12) & 7 }
        #expect(Array(mux.prefix(6)) == [4, 5, 6, 4, 5, 6])
        #expect(driver.errorCount == 0)
    }

    @Test func fourChannelsAreAllConverted() throws {
        let driver = try makeDriver(channels: [(3, .flow), (2, .drainPressure), (1, .preOxygenatorPressure), (0, .postOxygenatorPressure)])
        setInputs([0.1, 0.2, 0.3, 0.4])
        run(clock, until: .ms(12), tick: .milliseconds(1)) { driver.service(now: $0) }
        for input in 0...3 {
            #expect(abs(driver.sample(input: input).value.volts - 0.1 * Double(input + 1)) < 0.000_125)
        }
        #expect(driver.sample(input: 3).source == .flow)
    }

    @Test func theDriverWaitsOneOverDRBeforePollingAndTimestampsTheEndOfConversion() throws {
        let driver = try makeDriver(dataRate: 8) // 125 ms per conversion
        setInputs([1.0, 0, 0, 0])
        run(clock, until: .ms(120), tick: .milliseconds(10)) { driver.service(now: $0) }
        #expect(bus.transferCount(address: 0x48) == 1) // only the config write
        #expect(driver.sample(input: 0).status == .missing)
        run(clock, until: .ms(130), tick: .milliseconds(10)) { driver.service(now: $0) }
        // Poll + conversion read + next config write.
        #expect(bus.transferCount(address: 0x48) == 4)
        #expect(driver.sample(input: 0).status == .valid)
        #expect(driver.sample(input: 0).timestamp == .ms(125))
    }

    @Test func fastDataRateConvertsWithinTwoOneMillisecondTicks() throws {
        let driver = try makeDriver(dataRate: 860) // 1.163 ms + margin
        setInputs([1.0, 0, 0, 0])
        driver.service(now: .origin)
        clock.advance(to: .ms(1))
        driver.service(now: .ms(1))
        #expect(driver.sample(input: 0).status == .missing)
        clock.advance(to: .ms(2))
        driver.service(now: .ms(2))
        #expect(driver.sample(input: 0).status == .valid)
        #expect(driver.sample(input: 0).timestamp == .origin + .nanoseconds(1_162_791)) // 1/860 s
    }

    /// (full scale, input, expected volts): in range, or saturated one LSB below +FS.
    static let rangeCases: [(Double, Double, Double)] = [
        (4.096, 2.0, 2.0),
        (2.048, 2.5, 2.048 * 32767 / 32768),
        (1.024, 0.3, 0.3),
        (0.256, 0.3, 0.256 * 32767 / 32768),
    ]

    @Test(arguments: rangeCases)
    func fullScaleSetsTheRangeAndSaturation(fullScale: Double, input: Double, expected: Double) throws {
        let driver = try makeDriver(fullScale: fullScale, channels: [(0, .flow)])
        setInputs([input, 0, 0, 0])
        run(clock, until: .ms(3), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(abs(driver.sample(input: 0).value.volts - expected) < fullScale / 32768)
        // The PGA field the chip holds is the one asked for.
        #expect(ADS1115.PGA(register: model.configRegister).fullScaleRange.volts == fullScale)
    }

    @Test func aSlowChipIsPolledUntilOSIsOne() throws {
        let slow = SlowReadyADS1115(model, extraBusyPolls: 2)
        try bus.attach(slow, at: 0x49)
        let driver = try ADS1115Driver(device: bus.device(at: 0x49), fullScale: Voltage(volts: 4.096), dataRate: 860,
                                       channels: [(0, .flow)])
        setInputs([1.0, 0, 0, 0])
        run(clock, until: .ms(3), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.sample(input: 0).status == .missing) // polled at 2 and 3 ms: busy
        run(clock, until: .ms(4), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.sample(input: 0).status == .valid)
        #expect(driver.errorCount == 0)
    }

    @Test func aChipThatNeverFinishesTimesOutAsAReadError() throws {
        let stuck = SlowReadyADS1115(model, extraBusyPolls: .max)
        try bus.attach(stuck, at: 0x49)
        let driver = try ADS1115Driver(device: bus.device(at: 0x49), fullScale: Voltage(volts: 4.096), dataRate: 860,
                                       channels: [(0, .flow)])
        run(clock, until: .ms(5), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.sample(input: 0).status == .readError)
        #expect(driver.lastError == .timeout(operation: "ADS1115 conversion"))
        #expect(driver.errorCount >= 1)
    }

    // MARK: Config readback

    @Test func configTamperedDuringAConversionIsDetectedAndRepaired() throws {
        let driver = try makeDriver()
        setInputs([1.0, 2.0, 3.0, 0])
        run(clock, until: .ms(10), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.sample(input: 0).isValid)
        // The chip's PGA changes behind the driver's back (a glitch, a partial reset).
        model.configRegister = (model.configRegister & ~0x0E00) | 0x0400 // PGA=010 (±2.048)
        driver.service(now: clock.now()) // too early for the poll
        clock.advance(by: .milliseconds(1))
        driver.service(now: clock.now())
        clock.advance(by: .milliseconds(1))
        driver.service(now: clock.now())
        #expect(driver.configMismatchCount == 1)
        for input in 0...2 { #expect(driver.sample(input: input).status == .deviceFault) }
        #expect(driver.lastError == .deviceFault(what: "ADS1115 config readback mismatch"))

        run(clock, until: clock.now() + .milliseconds(10), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.configMismatchCount == 1)
        for (input, volts) in [(0, 1.0), (1, 2.0), (2, 3.0)] {
            #expect(driver.sample(input: input).status == .valid)
            #expect(abs(driver.sample(input: input).value.volts - volts) < 0.000_125)
        }
        #expect(Int(model.configRegister >> 9) & 7 == 1) // PGA back to ±4.096
    }

    @Test func aChipThatResetItselfIsDetectedBeforeItsResultIsUsed() throws {
        let driver = try makeDriver(channels: [(0, .flow)])
        setInputs([1.0, 0, 0, 0])
        run(clock, until: .ms(5), tick: .milliseconds(1)) { driver.service(now: $0) }
        let before = driver.sample(input: 0)
        model.powerOnReset() // config 8583h, conversion register 0
        run(clock, until: .ms(7), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.configMismatchCount == 1)
        #expect(driver.sample(input: 0).status == .deviceFault)
        #expect(driver.sample(input: 0).value == before.value) // the 0 from the reset chip was not taken
        run(clock, until: .ms(12), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.sample(input: 0).status == .valid)
    }

    @Test func aFrozenChipIsCaughtByTheConfigReadback() throws {
        let driver = try makeDriver(channels: [(0, .flow)])
        setInputs([1.0, 0, 0, 0])
        run(clock, until: .ms(5), tick: .milliseconds(1)) { driver.service(now: $0) }
        bus.freeze(address: 0x48) // replays its last read: the conversion register
        run(clock, until: .ms(8), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.configMismatchCount >= 1)
        #expect(driver.sample(input: 0).status == .deviceFault)
    }

    // MARK: Bus errors

    @Test func nakIsAReadErrorOnThatInputAndTheDriverRecovers() throws {
        let driver = try makeDriver()
        setInputs([1.0, 2.0, 3.0, 0])
        run(clock, until: .ms(10), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.errorCount == 0)
        let failing = configWrites.last.map { Int($0 >> 12) & 3 } ?? -1 // input being converted now
        bus.injectNAK(address: 0x48, count: 1)
        run(clock, until: .ms(12), tick: .milliseconds(1)) { driver.service(now: $0) }
        #expect(driver.errorCount == 1)
        #expect(driver.lastError == .nak(address: 0x48))
        let s = driver.sample(input: failing)
        #expect(s.status == .readError)
        #expect(s.errorCount == 1)
        run(clock, until: .ms(25), tick: .milliseconds(1)) { driver.service(now: $0) }
        for input in 0...2 { #expect(driver.sample(input: input).status == .valid) }
        #expect(driver.errorCount == 1)
        #expect(driver.sample(input: failing).errorCount == 1)
    }

    @Test func aChipOffTheBusTurnsEveryInputToReadErrorWithinOneRound() throws {
        let driver = try makeDriver()
        setInputs([1.0, 2.0, 3.0, 0])
        run(clock, until: .ms(10), tick: .milliseconds(1)) { driver.service(now: $0) }
        bus.setPermanentNAK(address: 0x48, true)
        run(clock, until: .ms(14), tick: .milliseconds(1)) { driver.service(now: $0) }
        for input in 0...2 { #expect(driver.sample(input: input).status == .readError) }
        bus.setPermanentNAK(address: 0x48, false)
        run(clock, until: .ms(25), tick: .milliseconds(1)) { driver.service(now: $0) }
        for input in 0...2 { #expect(driver.sample(input: input).status == .valid) }
    }
}
