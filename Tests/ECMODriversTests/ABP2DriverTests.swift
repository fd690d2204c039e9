import ECMOCore
import ECMOHAL
import ECMOMockBoard
import Testing
import ECMODevices
import ECMODrivers

@Suite("ABP2 driver")
struct ABP2DriverTests {
    let clock = ManualClock()
    let board: MockBoard
    let bus: MockI2CBus
    let model: ABP2Model
    let driver: ABP2Driver<MockI2CDevice>
    static let address: UInt8 = 0x28

    init() throws {
        board = MockBoard(clock: clock)
        bus = board.i2cBus("i2c-1")
        model = ABP2Model(clock: clock, pressureMin: .mmHg(-300), pressureMax: .mmHg(700))
        try bus.attach(model, at: Self.address)
        driver = try ABP2Driver(device: bus.device(at: Self.address), role: .preOxygenatorPressure,
                                pressureMin: .mmHg(-300), pressureMax: .mmHg(700))
    }

    func tick(until ms: Int64, every: Duration = .milliseconds(1)) {
        run(clock, until: .ms(ms), tick: every) { driver.service(now: $0) }
    }

    // MARK: Transfer function (datasheet)

    @Test(arguments: [
        (ABP2Counts.a, -300.0, UInt32(1_677_722)), // Pmin → 10 %
        (.a, 700, 15_099_494), // Pmax → 90 %
        (.a, 200, 8_388_608), // midscale → 2²³
        (.b, -300, 419_430), // Pmin → 2.5 %
        (.b, 700, 3_774_874), // Pmax → 22.5 %
    ])
    func transferFunctionMapsTheRangeEndsToTheDatasheetCounts(tf: ABP2Counts, mmHg: Double, counts: UInt32) {
        let c = tf.counts(pressure: .mmHg(mmHg), pressureMin: .mmHg(-300), pressureMax: .mmHg(700))
        #expect(c == counts)
        let p = tf.pressure(output: counts, pressureMin: .mmHg(-300), pressureMax: .mmHg(700))
        // The count limits are 10 %/90 % of 2²⁴ rounded, so the ends are within a count.
        let oneCount = 1000.0 / Double(tf.outputMax - tf.outputMin)
        #expect(abs(p.mmHg - mmHg) <= oneCount)
    }

    @Test func transferFunctionLimitsAreTheRoundedPercentagesOf2To24() {
        #expect(ABP2Counts.a.outputMin == UInt32((0.1 * 16_777_216).rounded()))
        #expect(ABP2Counts.a.outputMax == UInt32((0.9 * 16_777_216).rounded()))
        #expect(ABP2Counts.b.outputMin == UInt32((0.025 * 16_777_216).rounded()))
        #expect(ABP2Counts.b.outputMax == UInt32((0.225 * 16_777_216).rounded()))
    }

    @Test func temperatureCountsDecodeWithTheDatasheetFormula() {
        #expect(ABP2.temperatureOutput(for: Temperature(celsius: 25)) == 6_291_456)
        #expect(abs(ABP2.temperature(output: 6_291_456).celsius - 25) < 2e-5)
        #expect(ABP2.temperature(output: 0).celsius == -50)
        #expect(ABP2.temperature(output: 16_777_215).celsius == 150)
        #expect(abs(ABP2.temperature(output: 8_388_608).celsius - 50) < 2e-5)
    }

    @Test func initRefusesAnEmptyOrInvertedRange() {
        #expect(throws: ABP2ConfigurationError.invalidPressureRange) {
            try ABP2Driver(device: bus.device(at: 0x28), role: .drainPressure, pressureMin: .mmHg(10), pressureMax: .mmHg(10))
        }
        #expect(throws: ABP2ConfigurationError.invalidTiming) {
            try ABP2Driver(device: bus.device(at: 0x28), role: .drainPressure, pressureMin: .mmHg(0), pressureMax: .mmHg(10),
                           conversionTime: .milliseconds(5), busyTimeout: .milliseconds(1))
        }
    }

    // MARK: Protocol

    @Test func firstServiceSendsTheMeasurementCommandAndTheSampleIsMissingUntilRead() {
        driver.service(now: .origin)
        #expect(board.trace.entries.map(\.target) == [.i2cWrite(bus: bus.id, address: 0x28, firstByte: 0xAA, length: 3)])
        #expect(board.trace.entries.first?.value == 0) // AA 00 00
        #expect(driver.sample.status == .missing)
        #expect(driver.sample.source == .preOxygenatorPressure)
    }

    @Test func readsThePressureAfterTheConversionTimeStampedWhenTheConversionCompleted() {
        model.setPressure(.mmHg(123.4))
        model.setTemperature(Temperature(celsius: 37))
        driver.service(now: .origin)
        clock.advance(to: .ms(4))
        driver.service(now: .ms(4)) // too early: no read
        #expect(bus.transferCount(address: 0x28) == 1)
        clock.advance(to: .ms(7))
        driver.service(now: .ms(7))
        #expect(driver.sample.status == .valid)
        #expect(abs(driver.sample.value.mmHg - 123.4) < 1e-3)
        #expect(driver.sample.timestamp == .ms(5)) // completed at 5 ms, read at 7 ms
        #expect(driver.sample.errorCount == 0)
        #expect(abs((driver.temperature?.celsius ?? 0) - 37) < 1e-4)
        // And the next measurement was started in the same tick.
        #expect(board.trace.entries.count == 2)
        #expect(model.isBusy)
    }

    @Test func followsAChangingPressureOneSamplePerConversion() {
        for k in 0..<10 {
            clock.advance(to: .ms(Int64(k * 5)))
            model.setPressure(.mmHg(Double(k * 10)))
            driver.service(now: clock.now())
        }
        // Read at 45 ms: the measurement ran 40…45 ms and sampled 80 mmHg at its end
        // (the 90 set at 45 ms comes after it).
        #expect(abs(driver.sample.value.mmHg - 80) < 1e-3)
        #expect(driver.sample.timestamp == .ms(45))
        #expect(driver.measurementsCompleted == 9)
    }

    @Test func busyAnswerIsNotAnErrorTheDriverWaitsAndTimestampsNoEarlierThanTheLastBusy() throws {
        model.conversionTime = .milliseconds(8) // slower than the driver's 5 ms
        model.setPressure(.mmHg(50))
        driver.service(now: .origin)
        clock.advance(to: .ms(6))
        driver.service(now: .ms(6)) // reads busy
        #expect(driver.sample.status == .missing)
        #expect(driver.sample.errorCount == 0)
        clock.advance(to: .ms(12))
        driver.service(now: .ms(12))
        #expect(driver.sample.status == .valid)
        #expect(abs(driver.sample.value.mmHg - 50) < 1e-3)
        #expect(driver.sample.timestamp == .ms(6))
        #expect(driver.sample.errorCount == 0)
    }

    @Test func busyBeyondTheTimeoutIsAReadError() {
        model.conversionTime = .seconds(1)
        tick(until: 60)
        #expect(driver.sample.status == .readError)
        #expect(driver.sample.errorCount == 1)
        #expect(driver.lastError == .timeout(operation: "ABP2 measurement (busy)"))
    }

    @Test func saturationPinsTheReadingAtTheRangeEndItPointsToAndClearsWhenBackInRange() {
        model.setPressure(.mmHg(100))
        tick(until: 6)
        #expect(driver.sample.status == .valid)
        model.setPressure(.mmHg(900)) // above Pmax: an extreme measured, not a sample lost
        tick(until: 12)
        #expect(driver.sample.status == .aboveRange)
        #expect(driver.sample.value == driver.pressureMax)
        #expect(driver.sample.timestamp > .origin + .milliseconds(6), "a new measurement, with its time")
        #expect(driver.sample.errorCount == 1)
        #expect(driver.lastError == .deviceFault(what: "ABP2 status: math saturation"))
        model.setPressure(.mmHg(-900)) // below Pmin
        tick(until: 24)
        #expect(driver.sample.status == .belowRange)
        #expect(driver.sample.value == driver.pressureMin)
        model.setPressure(.mmHg(200))
        tick(until: 36)
        #expect(driver.sample.status == .valid)
        #expect(abs(driver.sample.value.mmHg - 200) < 1e-3)
    }

    @Test func anAnswerWithReservedStatusBitsIsAReadErrorNotAReading() {
        model.setPressure(.mmHg(100))
        tick(until: 6)
        #expect(driver.sample.status == .valid)
        var st = ABP2.Status(rawValue: 0xFF)
        #expect(st.hasReservedBits)
        st = ABP2.Status(powerIndication: true, busy: false, memoryIntegrityError: false, mathSaturation: true)
        #expect(!st.hasReservedBits, "a working part's status has none")
    }

    @Test func memoryIntegrityErrorIsADeviceFault() {
        model.memoryError = true
        tick(until: 6)
        #expect(driver.sample.status == .deviceFault)
        #expect(driver.sample.errorCount == 1)
        #expect(driver.lastError == .deviceFault(what: "ABP2 status: memory integrity error"))
        #expect(driver.temperature == nil)
    }

    @Test func statusWithoutThePowerBitIsAReadError() {
        model.powered = false
        tick(until: 6)
        #expect(driver.sample.status == .readError)
        #expect(driver.sample.errorCount == 1)
    }

    @Test func nakOnTheReadIsAReadErrorAndTheDriverRecovers() {
        model.setPressure(.mmHg(80))
        tick(until: 6)
        #expect(driver.sample.status == .valid)
        // The next read (at 10 ms) is NAKed.
        bus.injectNAK(address: 0x28, count: 1)
        tick(until: 11)
        #expect(driver.sample.status == .readError)
        #expect(driver.sample.errorCount == 1)
        #expect(driver.lastError == .nak(address: 0x28))
        #expect(abs(driver.sample.value.mmHg - 80) < 1e-3) // last value kept
        model.setPressure(.mmHg(90))
        tick(until: 25)
        #expect(driver.sample.status == .valid)
        #expect(abs(driver.sample.value.mmHg - 90) < 1e-3)
        #expect(driver.sample.errorCount == 1)
    }

    @Test func deviceOffTheBusCountsAnErrorEveryTickAndRecoversWhenItReturns() {
        bus.setPermanentNAK(address: 0x28, true)
        tick(until: 9) // 10 ticks, each a failed start
        #expect(driver.sample.status == .readError)
        #expect(driver.sample.errorCount == 10)
        bus.setPermanentNAK(address: 0x28, false)
        tick(until: 20)
        #expect(driver.sample.status == .valid)
        #expect(driver.sample.errorCount == 10)
    }

    @Test func transferFunctionBSensorIsDecodedWithItsOwnLimits() throws {
        let m = ABP2Model(clock: clock, pressureMin: .mmHg(0), pressureMax: .mmHg(300), transferFunction: .b)
        try bus.attach(m, at: 0x29)
        let d = try ABP2Driver(device: bus.device(at: 0x29), role: .drainPressure,
                               pressureMin: .mmHg(0), pressureMax: .mmHg(300), transferFunction: .b)
        m.setPressure(.mmHg(75))
        run(clock, until: .ms(6), tick: .milliseconds(1)) { d.service(now: $0) }
        #expect(d.sample.status == .valid)
        #expect(abs(d.sample.value.mmHg - 75) < 1e-3)
        #expect(d.sample.source == .drainPressure)
    }
}
