import ECMOCore
import ECMODevices
import Testing

/// The ADS1115 facts checked against the datasheet's own numbers (TI SBAS444), written
/// out here as literals rather than derived from the code under test.
@Suite("ADS1115 datasheet")
struct ADS1115Tests {
    typealias Config = ADS1115.ConfigRegister

    @Test func theResetConfig8583hDecodesToTheDatasheetDefaults() {
        let c = Config(rawValue: 0x8583)
        #expect(c.os == .notConverting) // OS = 1
        #expect(c.mux == .ain0Ain1) // MUX = 000
        #expect(c.pga == .fsr2_048) // PGA = 010
        #expect(c.mode == .singleShot) // MODE = 1
        #expect(c.dr == .sps128) // DR = 100
        #expect(c.compMode == .traditional) // COMP_MODE = 0
        #expect(c.compPol == .activeLow) // COMP_POL = 0
        #expect(c.compLat == .nonlatching) // COMP_LAT = 0
        #expect(c.compQue == .disable) // COMP_QUE = 11
        #expect(Config.resetValue == 0x8583)
        #expect(ADS1115.Register.config.resetValue == 0x8583)
    }

    @Test func encodingTheDefaultFieldsGivesBack8583h() {
        let c = Config(os: .notConverting, mux: .ain0Ain1, pga: .fsr2_048, mode: .singleShot, dr: .sps128)
        #expect(c.rawValue == 0x8583)
    }

    @Test func theFieldsSitAtTheDatasheetBitPositions() {
        #expect(ADS1115.OS.mask == 0x8000) // bit 15
        #expect(ADS1115.MUX.mask == 0x7000) // bits 14:12
        #expect(ADS1115.PGA.mask == 0x0E00) // bits 11:9
        #expect(ADS1115.MODE.mask == 0x0100) // bit 8
        #expect(ADS1115.DR.mask == 0x00E0) // bits 7:5
        #expect(ADS1115.COMP_MODE.mask == 0x0010) // bit 4
        #expect(ADS1115.COMP_POL.mask == 0x0008) // bit 3
        #expect(ADS1115.COMP_LAT.mask == 0x0004) // bit 2
        #expect(ADS1115.COMP_QUE.mask == 0x0003) // bits 1:0
        #expect(Config.settingsMask == 0x7FFF)
    }

    @Test func theFieldsCoverEveryBitOnceWithoutOverlap() {
        let masks: [UInt16] = [ADS1115.OS.mask, ADS1115.MUX.mask, ADS1115.PGA.mask, ADS1115.MODE.mask, ADS1115.DR.mask,
                               ADS1115.COMP_MODE.mask, ADS1115.COMP_POL.mask, ADS1115.COMP_LAT.mask, ADS1115.COMP_QUE.mask]
        #expect(masks.reduce(0, |) == 0xFFFF)
        #expect(masks.map(\.nonzeroBitCount).reduce(0, +) == 16)
    }

    @Test func aSingleShotOfAIN0At4VAnd860SPSIsC3E3h() {
        // OS=1, MUX=100, PGA=001, MODE=1, DR=111, COMP_QUE=11: 1100 0011 1110 0011.
        let c = Config.singleShot(mux: .ain0Gnd, pga: .fsr4_096, dr: .sps860)
        #expect(c.rawValue == 0xC3E3)
    }

    @Test func everyRegisterValueSurvivesDecodingAndReencoding() {
        for raw in stride(from: 0, through: 0xFFFF, by: 1) {
            var c = Config(rawValue: UInt16(raw))
            c.os = c.os
            c.mux = c.mux
            c.mode = c.mode
            c.dr = c.dr
            c.compMode = c.compMode
            c.compPol = c.compPol
            c.compLat = c.compLat
            c.compQue = c.compQue
            if raw & 0x0C00 != 0x0C00 { c.pga = c.pga } // PGA 110/111 decode as 101
            #expect(c.rawValue == UInt16(raw))
            if c.rawValue != UInt16(raw) { break }
        }
    }

    @Test func settingOneFieldLeavesTheOthersAlone() {
        var c = Config(rawValue: 0x8583)
        c.pga = .fsr0_256
        #expect(c.rawValue == 0x8B83) // PGA 010 → 101
        c.mux = .ain3Gnd
        #expect(c.rawValue == 0xFB83)
        c.os = .converting
        #expect(c.rawValue == 0x7B83)
        #expect(c.settings == 0x7B83)
    }

    @Test(arguments: [
        (ADS1115.PGA.fsr6_144, 6.144, UInt16(0b000)),
        (.fsr4_096, 4.096, 0b001),
        (.fsr2_048, 2.048, 0b010),
        (.fsr1_024, 1.024, 0b011),
        (.fsr0_512, 0.512, 0b100),
        (.fsr0_256, 0.256, 0b101),
    ])
    func thePGATableMatchesTheDatasheet(pga: ADS1115.PGA, volts: Double, code: UInt16) {
        #expect(pga.fullScaleRange.volts == volts)
        #expect(pga.fieldBits == code)
        #expect(ADS1115.PGA(fullScale: Voltage(volts: volts)) == pga)
    }

    @Test func pgaCodes110And111AreAlsoTheQuarterVoltRange() {
        #expect(ADS1115.PGA(fieldBits: 0b110) == .fsr0_256)
        #expect(ADS1115.PGA(fieldBits: 0b111) == .fsr0_256)
        #expect(ADS1115.PGA.allCases.count == 6)
        #expect(ADS1115.PGA(fullScale: Voltage(volts: 5)) == nil)
    }

    @Test func theLSBIsTheDatasheetsStepSize() {
        // "Full-Scale Range and LSB Size": 187.5 µV, 125 µV, 62.5 µV, 31.25 µV, 15.625 µV, 7.8125 µV.
        let lsbMicrovolts = ADS1115.PGA.allCases.map { $0.lsb.volts * 1e6 }
        #expect(lsbMicrovolts == [187.5, 125, 62.5, 31.25, 15.625, 7.8125])
    }

    @Test func theDataRateTableMatchesTheDatasheet() {
        #expect(ADS1115.DR.allCases.map(\.samplesPerSecond) == [8, 16, 32, 64, 128, 250, 475, 860])
        #expect(ADS1115.DR.allCases.map(\.fieldBits) == Array(0...7))
        #expect(ADS1115.DR(samplesPerSecond: 475) == .sps475)
        #expect(ADS1115.DR(samplesPerSecond: 500) == nil)
        #expect(ADS1115.DR.sps8.conversionTime == .milliseconds(125))
        #expect(ADS1115.DR.sps860.conversionTime == .nanoseconds(1_162_791)) // 1/860 s rounded up
    }

    @Test func theMuxSelectsTheDatasheetInputPairs() {
        #expect(ADS1115.MUX.allCases.map(\.positiveInput) == [0, 0, 1, 2, 0, 1, 2, 3])
        #expect(ADS1115.MUX.allCases.map(\.negativeInput) == [1, 3, 3, 3, nil, nil, nil, nil])
        #expect((0...3).map { ADS1115.MUX.singleEnded($0)?.fieldBits } == [0b100, 0b101, 0b110, 0b111])
        #expect(ADS1115.MUX.singleEnded(4) == nil)
        #expect(ADS1115.MUX.singleEnded(-1) == nil)
    }

    @Test func theRegistersHaveTheDatasheetPointersAndResetValues() {
        #expect(ADS1115.Register.allCases.map(\.rawValue) == [0x00, 0x01, 0x02, 0x03])
        #expect(ADS1115.Register.allCases.map(\.resetValue) == [0x0000, 0x8583, 0x8000, 0x7FFF])
        #expect(ADS1115.Register(pointer: 0xFD) == .config) // reserved bits 7:2 ignored
        #expect(ADS1115.addresses == 0x48...0x4B)
    }

    @Test func outputCodesFollowTheDataFormatTable() {
        // "Data Format": +FS → 7FFFh, +1 LSB → 0001h, 0 → 0, −1 LSB → FFFFh, −FS → 8000h.
        let fs = ADS1115.PGA.fsr4_096
        func code(_ v: Double) -> UInt16 { UInt16(bitPattern: ADS1115.outputCode(for: Voltage(volts: v), pga: fs)) }
        #expect(code(4.096) == 0x7FFF)
        #expect(code(0.000_125) == 0x0001)
        #expect(code(0) == 0x0000)
        #expect(code(-0.000_125) == 0xFFFF)
        #expect(code(-4.096) == 0x8000)
        #expect(code(-10) == 0x8000)
        #expect(code(1.0) == 0x1F40) // 1 V / 125 µV = 8000
        #expect(ADS1115.outputCode(for: Voltage(volts: .nan), pga: fs) == 0)
    }

    @Test func rawConversionRegistersReadAsVolts() {
        #expect(ADS1115.voltage(conversionRegister: 0x1F40, pga: .fsr4_096).volts == 1.0)
        #expect(ADS1115.voltage(conversionRegister: 0x8000, pga: .fsr4_096).volts == -4.096)
        #expect(ADS1115.voltage(conversionRegister: 0x7FFF, pga: .fsr2_048).volts == 2.048 * 32767 / 32768)
        #expect(ADS1115.voltage(conversionRegister: 0xFFFF, pga: .fsr0_256).volts == -0.256 / 32768)
    }
}
