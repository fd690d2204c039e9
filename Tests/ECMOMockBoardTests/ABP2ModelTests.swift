import ECMOCore
import ECMOHAL
import Testing
import ECMOMockBoard

/// The Honeywell ABP2 I²C protocol as the model implements it.
@Suite("ABP2 model")
struct ABP2ModelTests {
    let clock = ManualClock()
    let model: ABP2Model
    let dev: MockI2CDevice

    init() throws {
        model = ABP2Model(clock: clock, pressureMin: .mmHg(-300), pressureMax: .mmHg(700))
        let bus = MockBoard(clock: clock).i2cBus("i2c-1")
        try bus.attach(model, at: 0x28)
        dev = bus.device(at: 0x28)
    }

    func counts(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 16 | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2])
    }

    @Test func dataIsZeroUntilTheFirstMeasurementCompletes() throws {
        let b = try read(dev, count: 7)
        #expect(b == [0x40, 0, 0, 0, 0, 0, 0]) // powered, idle, no data
    }

    @Test func measurementCommandSetsBusyForTheConversionTimeThenReturnsTheData() throws {
        model.setPressure(.mmHg(200)) // midscale of −300…700
        model.setTemperature(Temperature(celsius: 25))
        try write(dev, [0xAA, 0x00, 0x00])
        let early = try read(dev, count: 7)
        #expect(early[0] == 0x60) // powered | busy
        clock.advance(by: .milliseconds(5))
        let b = try read(dev, count: 7)
        #expect(b[0] == 0x40)
        #expect(counts(b, 1) == 8_388_608)
        #expect(counts(b, 4) == 6_291_456) // (25 + 50) / 200 · (2²⁴ − 1) = 6 291 455.6
        #expect(try read(dev, count: 1) == [0x40]) // a shorter read is a prefix
    }

    @Test(arguments: [
        (ABP2Model.TransferFunction.a, -300.0, UInt32(1_677_722), false),
        (.a, 700, 15_099_494, false),
        (.a, 200, 8_388_608, false),
        (.a, 800, 15_099_494, true),
        (.a, -400, 1_677_722, true),
        (.b, -300, 419_430, false),
        (.b, 700, 3_774_874, false),
        (.b, 701, 3_774_874, true),
    ])
    func transferFunctionLimitsAndSaturation(tf: ABP2Model.TransferFunction, mmHg: Double, expected: UInt32,
                                             saturated: Bool) throws {
        let m = ABP2Model(clock: clock, pressureMin: .mmHg(-300), pressureMax: .mmHg(700), transferFunction: tf)
        let bus = MockBoard(clock: clock).i2cBus("b")
        try bus.attach(m, at: 0x28)
        let d = bus.device(at: 0x28)
        m.setPressure(.mmHg(mmHg))
        try write(d, [0xAA, 0, 0])
        clock.advance(by: .milliseconds(5))
        let b = try read(d, count: 4)
        #expect(counts(b, 1) == expected)
        #expect((b[0] & 0x01 != 0) == saturated)
    }

    @Test func memoryErrorAndPowerFlagsShowInTheStatusByte() throws {
        model.memoryError = true
        #expect(try read(dev, count: 1) == [0x44])
        model.powered = false
        #expect(try read(dev, count: 1) == [0x04])
    }

    @Test func otherCommandsAndCommandsWhileBusyAreIgnored() throws {
        try write(dev, [0xAB, 0, 0])
        #expect(!model.isBusy)
        try write(dev, [0xAA, 0, 0])
        clock.advance(by: .milliseconds(3))
        try write(dev, [0xAA, 0, 0]) // ignored: does not restart
        clock.advance(by: .milliseconds(2))
        #expect(!model.isBusy)
        #expect(model.ignoredCommands == 2)
        #expect(model.measurementsCompleted == 1)
    }

    @Test func conversionTimeIsConfigurable() throws {
        model.conversionTime = .milliseconds(8)
        try write(dev, [0xAA, 0, 0])
        clock.advance(by: .milliseconds(7))
        #expect(model.isBusy)
        clock.advance(by: .milliseconds(1))
        #expect(!model.isBusy)
    }
}
