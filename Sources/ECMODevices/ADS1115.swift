import ECMOCore

/// The TI ADS1115 16-bit ADC as its datasheet (SBAS444) describes it: the address
/// pointer, the four registers and their reset values, the Config register's fields
/// (named as in "Config Register Field Descriptions"), the PGA and data-rate tables and
/// the output code format. The driver, the mock board's model and the board decoder all
/// read these facts from here, so each is written once.
///
/// Pure values and arithmetic: no I/O, no allocation, no existentials.
public enum ADS1115 {
    /// 7-bit I²C addresses, chosen by what the ADDR pin is tied to ("ADDR Pin Connection
    /// and Corresponding Slave Address"): GND 0x48, VDD 0x49, SDA 0x4A, SCL 0x4B.
    public static let addresses: ClosedRange<UInt8> = 0x48...0x4B
    /// Single-ended inputs AIN0…AIN3.
    public static let inputCount = 4

    /// "Address Pointer Register", P[1:0]: which register the next read or write reaches.
    public enum Register: UInt8, Sendable, CaseIterable {
        case conversion = 0b00
        case config = 0b01
        case loThresh = 0b10
        case hiThresh = 0b11

        /// P[1:0]; bits 7:2 of the pointer byte are reserved and written 0.
        public static let pointerMask: UInt8 = 0b11

        /// The register a pointer byte selects (reserved bits ignored).
        public init(pointer: UInt8) {
            switch pointer & Self.pointerMask {
            case 0b00: self = .conversion
            case 0b01: self = .config
            case 0b10: self = .loThresh
            default: self = .hiThresh
            }
        }

        /// Value after power-up or reset.
        public var resetValue: UInt16 {
            switch self {
            case .conversion: 0x0000
            case .config: ConfigRegister.resetValue
            case .loThresh: 0x8000
            case .hiThresh: 0x7FFF
            }
        }
    }

    // MARK: Config register fields

    /// OS, bit 15, "Operational status or single-shot conversion start".
    public enum OS: UInt16, RegisterField, CaseIterable {
        /// Read: a conversion is in progress. Write: no effect.
        case converting = 0
        /// Read: no conversion in progress. Write: start a single conversion (from power-down).
        case notConverting = 1

        /// What a write of OS = 1 means.
        public static var startSingleConversion: OS { .notConverting }
        public static var bits: Range<Int> { 15..<16 }
        public init(fieldBits: UInt16) { self = fieldBits & 1 == 0 ? .converting : .notConverting }
        public var fieldBits: UInt16 { rawValue }
    }

    /// MUX[2:0], bits 14:12, "Input multiplexer configuration": AINp − AINn.
    public enum MUX: UInt16, RegisterField, CaseIterable {
        case ain0Ain1 = 0b000
        case ain0Ain3 = 0b001
        case ain1Ain3 = 0b010
        case ain2Ain3 = 0b011
        case ain0Gnd = 0b100
        case ain1Gnd = 0b101
        case ain2Gnd = 0b110
        case ain3Gnd = 0b111

        public static var bits: Range<Int> { 12..<15 }
        public init(fieldBits: UInt16) {
            switch fieldBits & 0b111 {
            case 0b000: self = .ain0Ain1
            case 0b001: self = .ain0Ain3
            case 0b010: self = .ain1Ain3
            case 0b011: self = .ain2Ain3
            case 0b100: self = .ain0Gnd
            case 0b101: self = .ain1Gnd
            case 0b110: self = .ain2Gnd
            default: self = .ain3Gnd
            }
        }
        public var fieldBits: UInt16 { rawValue }

        /// AIN`input` against GND (MUX = 1xx); `nil` outside 0...3.
        public static func singleEnded(_ input: Int) -> MUX? {
            guard input >= 0, input < ADS1115.inputCount else { return nil }
            return MUX(fieldBits: 0b100 | UInt16(input))
        }

        /// AINp.
        public var positiveInput: Int {
            switch self {
            case .ain0Ain1, .ain0Ain3, .ain0Gnd: 0
            case .ain1Ain3, .ain1Gnd: 1
            case .ain2Ain3, .ain2Gnd: 2
            case .ain3Gnd: 3
            }
        }

        /// AINn, or `nil` for GND.
        public var negativeInput: Int? {
            switch self {
            case .ain0Ain1: 1
            case .ain0Ain3, .ain1Ain3, .ain2Ain3: 3
            case .ain0Gnd, .ain1Gnd, .ain2Gnd, .ain3Gnd: nil
            }
        }
    }

    /// PGA[2:0], bits 11:9, "Programmable gain amplifier configuration": the full-scale
    /// range (FSR). 110 and 111 also mean ±0.256 V and decode to `.fsr0_256`, so the six
    /// cases are the ranges a board file may choose.
    public enum PGA: UInt16, RegisterField, CaseIterable {
        case fsr6_144 = 0b000
        case fsr4_096 = 0b001
        case fsr2_048 = 0b010
        case fsr1_024 = 0b011
        case fsr0_512 = 0b100
        case fsr0_256 = 0b101

        public static var bits: Range<Int> { 9..<12 }
        public init(fieldBits: UInt16) {
            switch fieldBits & 0b111 {
            case 0b000: self = .fsr6_144
            case 0b001: self = .fsr4_096
            case 0b010: self = .fsr2_048
            case 0b011: self = .fsr1_024
            case 0b100: self = .fsr0_512
            default: self = .fsr0_256
            }
        }
        public var fieldBits: UInt16 { rawValue }

        /// ± this many volts ("Full-Scale Range (FSR) and LSB Size"; never more than VDD + 0.3 V at the pins).
        public var fullScaleRange: Voltage {
            switch self {
            case .fsr6_144: Voltage(volts: 6.144)
            case .fsr4_096: Voltage(volts: 4.096)
            case .fsr2_048: Voltage(volts: 2.048)
            case .fsr1_024: Voltage(volts: 1.024)
            case .fsr0_512: Voltage(volts: 0.512)
            case .fsr0_256: Voltage(volts: 0.256)
            }
        }

        /// One code step, FSR / 2¹⁵ (125 µV at ±4.096 V).
        public var lsb: Voltage { fullScaleRange / 32768 }

        /// The setting whose range is `fullScale` (within 1 µV), or `nil`.
        public init?(fullScale: Voltage) {
            // Codes, not `allCases`: no array is built.
            for code: UInt16 in 0...5 where (PGA(fieldBits: code).fullScaleRange - fullScale).magnitude.volts < 1e-6 {
                self = PGA(fieldBits: code)
                return
            }
            return nil
        }
    }

    /// MODE, bit 8, "Device operating mode".
    public enum MODE: UInt16, RegisterField, CaseIterable {
        /// Continuous-conversion mode.
        case continuous = 0
        /// Single-shot mode or power-down state (the reset value).
        case singleShot = 1

        public static var bits: Range<Int> { 8..<9 }
        public init(fieldBits: UInt16) { self = fieldBits & 1 == 0 ? .continuous : .singleShot }
        public var fieldBits: UInt16 { rawValue }
    }

    /// DR[2:0], bits 7:5, "Data rate".
    public enum DR: UInt16, RegisterField, CaseIterable {
        case sps8 = 0b000
        case sps16 = 0b001
        case sps32 = 0b010
        case sps64 = 0b011
        case sps128 = 0b100
        case sps250 = 0b101
        case sps475 = 0b110
        case sps860 = 0b111

        public static var bits: Range<Int> { 5..<8 }
        public init(fieldBits: UInt16) {
            switch fieldBits & 0b111 {
            case 0b000: self = .sps8
            case 0b001: self = .sps16
            case 0b010: self = .sps32
            case 0b011: self = .sps64
            case 0b100: self = .sps128
            case 0b101: self = .sps250
            case 0b110: self = .sps475
            default: self = .sps860
            }
        }
        public var fieldBits: UInt16 { rawValue }

        public var samplesPerSecond: Int {
            switch self {
            case .sps8: 8
            case .sps16: 16
            case .sps32: 32
            case .sps64: 64
            case .sps128: 128
            case .sps250: 250
            case .sps475: 475
            case .sps860: 860
            }
        }

        /// The setting for `samplesPerSecond`, or `nil` if the chip has no such rate.
        public init?(samplesPerSecond: Int) {
            for code: UInt16 in 0...7 where DR(fieldBits: code).samplesPerSecond == samplesPerSecond {
                self = DR(fieldBits: code)
                return
            }
            return nil
        }

        /// One conversion, 1/DR rounded up to the nanosecond (nominal; the datasheet allows ±10 %).
        public var conversionTime: Duration {
            let sps = Int64(samplesPerSecond)
            return .nanoseconds((1_000_000_000 + sps - 1) / sps)
        }
    }

    /// COMP_MODE, bit 4, "Comparator mode".
    public enum COMP_MODE: UInt16, RegisterField, CaseIterable {
        case traditional = 0
        case window = 1

        public static var bits: Range<Int> { 4..<5 }
        public init(fieldBits: UInt16) { self = fieldBits & 1 == 0 ? .traditional : .window }
        public var fieldBits: UInt16 { rawValue }
    }

    /// COMP_POL, bit 3, "Comparator polarity" of the ALERT/RDY pin.
    public enum COMP_POL: UInt16, RegisterField, CaseIterable {
        case activeLow = 0
        case activeHigh = 1

        public static var bits: Range<Int> { 3..<4 }
        public init(fieldBits: UInt16) { self = fieldBits & 1 == 0 ? .activeLow : .activeHigh }
        public var fieldBits: UInt16 { rawValue }
    }

    /// COMP_LAT, bit 2, "Latching comparator".
    public enum COMP_LAT: UInt16, RegisterField, CaseIterable {
        case nonlatching = 0
        case latching = 1

        public static var bits: Range<Int> { 2..<3 }
        public init(fieldBits: UInt16) { self = fieldBits & 1 == 0 ? .nonlatching : .latching }
        public var fieldBits: UInt16 { rawValue }
    }

    /// COMP_QUE[1:0], bits 1:0, "Comparator queue and disable".
    public enum COMP_QUE: UInt16, RegisterField, CaseIterable {
        case assertAfterOneConversion = 0b00
        case assertAfterTwoConversions = 0b01
        case assertAfterFourConversions = 0b10
        /// Comparator off, ALERT/RDY high-impedance (the reset value).
        case disable = 0b11

        public static var bits: Range<Int> { 0..<2 }
        public init(fieldBits: UInt16) {
            switch fieldBits & 0b11 {
            case 0b00: self = .assertAfterOneConversion
            case 0b01: self = .assertAfterTwoConversions
            case 0b10: self = .assertAfterFourConversions
            default: self = .disable
            }
        }
        public var fieldBits: UInt16 { rawValue }
    }

    // MARK: Config register

    /// "Config Register" (pointer 01b) as a value: the raw 16 bits, read and written through
    /// the datasheet's fields. The raw value is kept whole, so decoding and re-encoding a
    /// register read from the chip returns the same bits.
    public struct ConfigRegister: RawRepresentable, Equatable, Sendable {
        public var rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// 8583h: OS=1, AIN0−AIN1, ±2.048 V, single-shot, 128 SPS, comparator disabled.
        public static let resetValue: UInt16 = 0x8583

        /// Bits 14:0, everything but OS: what a read must return as written (OS reports
        /// progress instead), so a readback compares these.
        public static var settingsMask: UInt16 { ~OS.mask }

        public init(os: OS, mux: MUX, pga: PGA, mode: MODE, dr: DR, compMode: COMP_MODE = .traditional,
                    compPol: COMP_POL = .activeLow, compLat: COMP_LAT = .nonlatching, compQue: COMP_QUE = .disable) {
            rawValue = 0
            self.os = os
            self.mux = mux
            self.pga = pga
            self.mode = mode
            self.dr = dr
            self.compMode = compMode
            self.compPol = compPol
            self.compLat = compLat
            self.compQue = compQue
        }

        /// Start one single-shot conversion of `mux` with the comparator disabled (ALERT/RDY
        /// high-impedance) and the other comparator bits at their reset values.
        public static func singleShot(mux: MUX, pga: PGA, dr: DR) -> ConfigRegister {
            ConfigRegister(os: .startSingleConversion, mux: mux, pga: pga, mode: .singleShot, dr: dr)
        }

        public var os: OS {
            get { OS(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }
        public var mux: MUX {
            get { MUX(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }
        public var pga: PGA {
            get { PGA(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }
        public var mode: MODE {
            get { MODE(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }
        public var dr: DR {
            get { DR(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }
        public var compMode: COMP_MODE {
            get { COMP_MODE(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }
        public var compPol: COMP_POL {
            get { COMP_POL(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }
        public var compLat: COMP_LAT {
            get { COMP_LAT(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }
        public var compQue: COMP_QUE {
            get { COMP_QUE(register: rawValue) }
            set { rawValue = newValue.inserted(into: rawValue) }
        }

        /// Bits 14:0 (see `settingsMask`).
        public var settings: UInt16 { rawValue & Self.settingsMask }
    }

    // MARK: Output code ("Data Format")

    /// The output code for `voltage` at full scale `fullScale`: round(V / FSR · 2¹⁵),
    /// limited to 8000h…7FFFh (−FS and +FS − 1 LSB, two's complement). NaN reads 0.
    public static func outputCode(for voltage: Voltage, fullScale: Voltage) -> Int16 {
        let v = voltage.volts
        guard v.isFinite, fullScale.volts > 0 else { return v > 0 ? .max : (v < 0 ? .min : 0) }
        let code = (v / fullScale.volts * 32768).rounded()
        if code >= 32767 { return .max }
        if code <= -32768 { return .min }
        return Int16(code)
    }

    public static func outputCode(for voltage: Voltage, pga: PGA) -> Int16 {
        outputCode(for: voltage, fullScale: pga.fullScaleRange)
    }

    /// The voltage of an output code: code · FSR / 2¹⁵.
    public static func voltage(outputCode: Int16, fullScale: Voltage) -> Voltage {
        Voltage(volts: Double(outputCode) * fullScale.volts / 32768)
    }

    /// The voltage of a raw conversion register value (two's complement) at `pga`.
    public static func voltage(conversionRegister raw: UInt16, pga: PGA) -> Voltage {
        voltage(outputCode: Int16(bitPattern: raw), fullScale: pga.fullScaleRange)
    }
}
