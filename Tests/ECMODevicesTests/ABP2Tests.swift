import ECMOCore
import ECMODevices
import Testing

/// The ABP2 facts checked against the Honeywell ABP2 datasheet's numbers.
@Suite("ABP2 datasheet")
struct ABP2Tests {
    typealias TF = ABP2.TransferFunction

    @Test func transferFunctionAIs10And90PercentOf2To24Counts() {
        #expect(TF.a.outputMin == 1_677_722) // 0.1 · 16 777 216 = 1 677 721.6
        #expect(TF.a.outputMax == 15_099_494) // 0.9 · 16 777 216 = 15 099 494.4
    }

    @Test func transferFunctionBIs2Point5And22Point5PercentOf2To24Counts() {
        #expect(TF.b.outputMin == 419_430) // 0.025 · 16 777 216 = 419 430.4
        #expect(TF.b.outputMax == 3_774_874) // 0.225 · 16 777 216 = 3 774 873.6
    }

    @Test func boardFilesSpellTheTransferFunctionsByTheirPartNumberLetter() {
        #expect(TF(rawValue: "A") == .a)
        #expect(TF(rawValue: "B") == .b)
        #expect(TF(rawValue: "a") == nil)
    }

    @Test func theRangeEndsAndMidpointMapToOutminOutmaxAndTheirMean() {
        let lo = Pressure.mmHg(-300), hi = Pressure.mmHg(700)
        #expect(TF.a.pressure(output: 1_677_722, pressureMin: lo, pressureMax: hi).mmHg == -300)
        #expect(TF.a.pressure(output: 15_099_494, pressureMin: lo, pressureMax: hi).mmHg == 700)
        #expect(TF.a.pressure(output: 8_388_608, pressureMin: lo, pressureMax: hi).mmHg == 200)
        #expect(TF.a.counts(pressure: .mmHg(200), pressureMin: lo, pressureMax: hi) == 8_388_608)
    }

    @Test(arguments: TF.allCases)
    func pressureToCountsToPressureRoundTripsWithinOneCount(tf: TF) {
        let lo = Pressure.mmHg(-750), hi = Pressure.mmHg(750)
        let oneCount = (hi.mmHg - lo.mmHg) / Double(tf.outputMax - tf.outputMin)
        for mmHg in stride(from: -750.0, through: 750, by: 12.5) {
            let c = tf.counts(pressure: .mmHg(mmHg), pressureMin: lo, pressureMax: hi)
            let back = tf.pressure(output: c, pressureMin: lo, pressureMax: hi)
            #expect(abs(back.mmHg - mmHg) <= oneCount / 2 + 1e-9, "\(mmHg) mmHg → \(c) → \(back.mmHg)")
        }
    }

    @Test func theInverseIsUndefinedForAnEmptyRangeOrANonFinitePressure() {
        #expect(TF.a.output(pressure: .mmHg(1), pressureMin: .mmHg(5), pressureMax: .mmHg(5)) == nil)
        #expect(TF.a.output(pressure: .mmHg(.nan), pressureMin: .mmHg(0), pressureMax: .mmHg(5)) == nil)
        #expect(TF.a.counts(pressure: .mmHg(.infinity), pressureMin: .mmHg(0), pressureMax: .mmHg(5)) == TF.a.outputMin)
    }

    @Test func idealCountsStopAt24BitsWhileAPartSaturatesAtOutminAndOutmax() {
        let lo = Pressure.mmHg(0), hi = Pressure.mmHg(100)
        #expect(TF.a.counts(pressure: .mmHg(1000), pressureMin: lo, pressureMax: hi) == 16_777_215)
        #expect(TF.a.counts(pressure: .mmHg(-1000), pressureMin: lo, pressureMax: hi) == 0)
        #expect(TF.a.counts(pressure: .mmHg(110), pressureMin: lo, pressureMax: hi) == 16_441_671) // extrapolated
        #expect(TF.a.saturatingCounts(pressure: .mmHg(110), pressureMin: lo, pressureMax: hi) == (15_099_494, true))
        #expect(TF.a.saturatingCounts(pressure: .mmHg(-1), pressureMin: lo, pressureMax: hi) == (1_677_722, true))
        #expect(TF.a.saturatingCounts(pressure: .mmHg(50), pressureMin: lo, pressureMax: hi) == (8_388_608, false))
        #expect(TF.a.saturatingCounts(pressure: .mmHg(50), pressureMin: hi, pressureMax: lo) == (1_677_722, true))
    }

    @Test func temperatureOutputSpansMinus50To150Celsius() {
        #expect(ABP2.temperature(output: 0).celsius == -50)
        #expect(ABP2.temperature(output: 16_777_215).celsius == 150)
        #expect(abs(ABP2.temperature(output: 6_291_456).celsius - 25) < 2e-5)
        #expect(ABP2.temperatureOutput(for: Temperature(celsius: 25)) == 6_291_456)
        #expect(ABP2.temperatureOutput(for: Temperature(celsius: 500)) == 16_777_215)
        #expect(ABP2.temperatureOutput(for: Temperature(celsius: .nan)) == 0)
    }

    @Test func theStatusByteBitsAreAtTheDatasheetPositions() {
        #expect(ABP2.Status.powerIndicationMask == 0b0100_0000) // bit 6
        #expect(ABP2.Status.busyMask == 0b0010_0000) // bit 5
        #expect(ABP2.Status.memoryIntegrityErrorMask == 0b0000_0100) // bit 2
        #expect(ABP2.Status.mathSaturationMask == 0b0000_0001) // bit 0
        let s = ABP2.Status(rawValue: 0x65)
        #expect(s.powerIndication && s.busy && s.memoryIntegrityError && s.mathSaturation)
        #expect(ABP2.Status().rawValue == 0x40) // a powered, idle, healthy part
        #expect(ABP2.Status(powerIndication: false, busy: true).rawValue == 0x20)
    }

    @Test func theMeasurementCommandIsAA0000AtTheDefaultAddress28h() {
        #expect(ABP2.defaultAddress == 0x28)
        let yes: [UInt8] = [0xAA, 0x00, 0x00]
        #expect(yes.withUnsafeBytes { ABP2.isOutputMeasurementCommand($0) })
        for no: [UInt8] in [[0xAA], [0xAA, 0x00, 0x01], [0xAB, 0, 0], [0xAA, 0, 0, 0]] {
            #expect(!no.withUnsafeBytes { ABP2.isOutputMeasurementCommand($0) }, "\(no)")
        }
        #expect(ABP2.measurementLength == 7)
        #expect(ABP2.conversionTime == .milliseconds(5))
    }
}
