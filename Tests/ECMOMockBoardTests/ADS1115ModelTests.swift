import ECMOCore
import ECMOHAL
import Testing
import ECMODevices
import ECMOMockBoard

/// Datasheet facts (TI SBAS444) checked on the model through raw I²C transfers.
@Suite("ADS1115 model")
struct ADS1115ModelTests {
    let clock = ManualClock()
    let model: ADS1115Model
    let dev: MockI2CDevice

    init() throws {
        model = ADS1115Model(clock: clock)
        let bus = MockBoard(clock: clock).i2cBus("i2c-1")
        try bus.attach(model, at: 0x48)
        dev = bus.device(at: 0x48)
    }

    func register(_ p: UInt8) throws -> UInt16 {
        let b = try writeRead(dev, [p], count: 2)
        return UInt16(b[0]) << 8 | UInt16(b[1])
    }

    func setRegister(_ p: UInt8, _ v: UInt16) throws {
        try write(dev, [p, UInt8(v >> 8), UInt8(v & 0xFF)])
    }

    /// OS=1, MUX=100+input, PGA, MODE=1, DR, comparator off.
    func singleShot(input: Int, pga: UInt16, dr: UInt16) -> UInt16 {
        0x8000 | UInt16(4 + input) << 12 | pga << 9 | 0x0100 | dr << 5 | 0x3
    }

    @Test func registersResetToTheDatasheetValues() throws {
        #expect(try register(1) == 0x8583)
        #expect(try register(0) == 0x0000)
        #expect(try register(2) == 0x8000)
        #expect(try register(3) == 0x7FFF)
    }

    @Test func thresholdRegistersReadBackWhatIsWrittenAndConversionRegisterIsReadOnly() throws {
        try setRegister(2, 0x1234)
        try setRegister(3, 0xABCD)
        try setRegister(0, 0x5555)
        #expect(try register(2) == 0x1234)
        #expect(try register(3) == 0xABCD)
        #expect(try register(0) == 0x0000)
    }

    @Test func osBitReadsZeroDuringASingleShotAndOneAfterOneOverDR() throws {
        model.setInput(channel: 0, voltage: Voltage(volts: 1.0))
        try setRegister(1, singleShot(input: 0, pga: 1, dr: 4)) // 128 SPS: 7.8125 ms
        #expect(try register(1) & 0x8000 == 0)
        clock.advance(by: .microseconds(7812))
        #expect(try register(1) & 0x8000 == 0)
        #expect(try register(0) == 0) // no result yet
        clock.advance(by: .microseconds(1))
        #expect(try register(1) & 0x8000 != 0)
        #expect(try register(0) == 8000)
        // Fields other than OS read back as written.
        #expect(try register(1) == singleShot(input: 0, pga: 1, dr: 4))
    }

    @Test(arguments: [
        (4.096, UInt16(1), 0x7FFF as UInt16), // +FS saturates at 7FFFh
        (-4.096, 1, 0x8000), // −FS is 8000h
        (1.000, 1, 0x1F40), // 1.000 V at ±4.096 V = 8000
        (1.000, 2, 0x3E80), // the same volt at ±2.048 V = 16000: PGA changes the code
        (0.125, 5, 0x3E80), // ±0.256 V
        (10.0, 0, 0x7FFF), // beyond +FS clamps
        (0.000_125, 1, 0x0001), // 1 LSB = 125 µV at ±4.096 V
    ])
    func outputCodeFollowsTheDataFormatTable(volts: Double, pga: UInt16, expected: UInt16) throws {
        // Differential AIN0−AIN1 so that negative inputs are meaningful.
        model.setInput(channel: 0, voltage: Voltage(volts: volts / 2))
        model.setInput(channel: 1, voltage: Voltage(volts: -volts / 2))
        try setRegister(1, 0x8000 | pga << 9 | 0x0100 | 7 << 5 | 0x3)
        clock.advance(by: .milliseconds(2))
        #expect(try register(0) == expected)
    }

    @Test func pga110And111AreAlsoPlusMinus0256V() throws {
        model.setInput(channel: 2, voltage: Voltage(volts: 0.128))
        for pga: UInt16 in [6, 7] {
            try setRegister(1, singleShot(input: 2, pga: pga, dr: 7))
            clock.advance(by: .milliseconds(2))
            #expect(try register(0) == 16384)
        }
    }

    @Test func muxSelectsTheDifferentialPairsAndSingleEndedInputs() throws {
        for (ch, v) in [(0, 1.0), (1, 0.5), (2, 0.25), (3, 0.125)] {
            model.setInput(channel: ch, voltage: Voltage(volts: v))
        }
        let expected: [(mux: UInt16, volts: Double)] = [
            (0, 0.5), (1, 0.875), (2, 0.375), (3, 0.125), (4, 1.0), (5, 0.5), (6, 0.25), (7, 0.125),
        ]
        for (mux, volts) in expected {
            try setRegister(1, 0x8000 | mux << 12 | 1 << 9 | 0x0100 | 7 << 5 | 0x3)
            clock.advance(by: .milliseconds(2))
            #expect(try register(0) == UInt16(bitPattern: Int16(volts / 4.096 * 32768)), "MUX \(mux)")
        }
    }

    @Test(arguments: zip(UInt16(0)...7, [8, 16, 32, 64, 128, 250, 475, 860]))
    func dataRateSetsTheConversionTime(dr: UInt16, sps: Int) throws {
        model.setInput(channel: 0, voltage: Voltage(volts: 1))
        try setRegister(1, singleShot(input: 0, pga: 1, dr: dr))
        #expect(ADS1115.DR(fieldBits: dr).samplesPerSecond == sps)
        let period = ADS1115.DR(fieldBits: dr).conversionTime
        #expect(abs(period.seconds - 1.0 / Double(sps)) < 1e-9)
        clock.advance(by: period - .nanoseconds(1))
        #expect(model.isConverting)
        clock.advance(by: .nanoseconds(1))
        #expect(!model.isConverting)
        #expect(try register(0) == 8000)
    }

    @Test func theInputIsSampledAtTheEndOfTheConversion() throws {
        model.setInput(channel: 0, voltage: Voltage(volts: 1))
        try setRegister(1, singleShot(input: 0, pga: 1, dr: 0)) // 8 SPS: 125 ms
        clock.advance(by: .milliseconds(100))
        model.setInput(channel: 0, voltage: Voltage(volts: 2)) // changes mid-conversion
        clock.advance(by: .milliseconds(25))
        model.setInput(channel: 0, voltage: Voltage(volts: 3)) // after the end: too late
        #expect(try register(0) == 16000)
    }

    @Test func osWriteDuringAConversionHasNoEffect() throws {
        try setRegister(1, singleShot(input: 0, pga: 1, dr: 0)) // ends at 125 ms
        clock.advance(by: .milliseconds(100))
        try setRegister(1, singleShot(input: 0, pga: 1, dr: 0)) // ignored start
        clock.advance(by: .milliseconds(25))
        #expect(model.conversionsCompleted == 1)
        #expect(!model.isConverting)
    }

    @Test func continuousModeConvertsRepeatedlyAndFollowsTheInput() throws {
        model.setInput(channel: 0, voltage: Voltage(volts: 1))
        try setRegister(1, 0x0000 | 4 << 12 | 1 << 9 | 0x0000 | 4 << 5 | 0x3) // MODE=0, 128 SPS
        #expect(model.isConverting)
        clock.advance(by: .milliseconds(100)) // 12 whole periods of 7.8125 ms
        #expect(model.conversionsCompleted == 12)
        #expect(try register(0) == 8000)
        #expect(try register(1) & 0x8000 == 0) // always converting
        model.setInput(channel: 0, voltage: Voltage(volts: 0.5))
        clock.advance(by: .milliseconds(8))
        #expect(try register(0) == 4000)
        // Back to single-shot: the conversion in progress completes, then power-down.
        try setRegister(1, singleShot(input: 0, pga: 1, dr: 4) & 0x7FFF)
        clock.advance(by: .milliseconds(8))
        #expect(!model.isConverting)
    }

    @Test func powerOnResetAndTamperingChangeTheConfigRegister() throws {
        try setRegister(1, singleShot(input: 3, pga: 4, dr: 7))
        clock.advance(by: .milliseconds(2))
        model.configRegister = 0x0123
        #expect(try register(1) == 0x8123)
        model.powerOnReset()
        #expect(try register(1) == 0x8583)
    }
}
