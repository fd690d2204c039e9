import ECMOCore

/// The Honeywell ABP2 series digital pressure sensor as its datasheet describes it (I²C
/// interface, "Output Measurement Command", "Status Byte", "Transfer Function",
/// "Temperature Output"). The driver, the mock board's model, the board decoder and the
/// virtual-board bridges all read these facts from here, so a correction is made once.
///
/// Pure values and arithmetic: no I/O, no allocation, no existentials.
public enum ABP2 {
    /// Factory-default 7-bit I²C address (other addresses are ordering options).
    public static let defaultAddress: UInt8 = 0x28

    /// Full scale of the 24-bit pressure and temperature outputs: 2²⁴ counts.
    public static let outputSpan: UInt32 = 1 << 24
    /// The largest 24-bit output, 2²⁴ − 1.
    public static let outputMax: UInt32 = (1 << 24) - 1

    /// "Output Measurement Command": 0xAA 0x00 0x00 starts a pressure and temperature
    /// measurement; the answer is read afterwards without a command.
    public static let outputMeasurementCommand: (UInt8, UInt8, UInt8) = (0xAA, 0x00, 0x00)
    /// Bytes in the command.
    public static let commandLength = 3
    /// Bytes in the answer: status, 24-bit pressure, 24-bit temperature, MSB first.
    public static let measurementLength = 7

    /// Whether `bytes` is exactly the output measurement command.
    public static func isOutputMeasurementCommand(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count == commandLength && bytes[0] == outputMeasurementCommand.0
            && bytes[1] == outputMeasurementCommand.1 && bytes[2] == outputMeasurementCommand.2
    }

    /// How long a measurement takes after the command (the part updates at about 200 Hz).
    /// Drivers wait this long before the first read; the model stays busy this long.
    public static let conversionTime: Duration = .milliseconds(5)

    // MARK: Status byte

    /// "Status Byte", the first byte of every answer. Bits 7, 4, 3 and 1 are reserved (0).
    public struct Status: RawRepresentable, Equatable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// Bit 6, power indication: 1 = the device is powered.
        public static let powerIndicationMask: UInt8 = 1 << 6
        /// Bit 5, busy: 1 = a measurement is still in progress, the data is the previous one.
        public static let busyMask: UInt8 = 1 << 5
        /// Bit 2, memory integrity/error flag: 1 = the calibration memory failed its check.
        public static let memoryIntegrityErrorMask: UInt8 = 1 << 2
        /// Bit 0, math saturation: 1 = the internal calculation saturated (pressure past the
        /// compensated range), the pressure output cannot be trusted.
        public static let mathSaturationMask: UInt8 = 1 << 0

        public var powerIndication: Bool {
            get { rawValue & Self.powerIndicationMask != 0 }
            set { set(Self.powerIndicationMask, newValue) }
        }
        public var busy: Bool {
            get { rawValue & Self.busyMask != 0 }
            set { set(Self.busyMask, newValue) }
        }
        public var memoryIntegrityError: Bool {
            get { rawValue & Self.memoryIntegrityErrorMask != 0 }
            set { set(Self.memoryIntegrityErrorMask, newValue) }
        }
        public var mathSaturation: Bool {
            get { rawValue & Self.mathSaturationMask != 0 }
            set { set(Self.mathSaturationMask, newValue) }
        }

        public init(powerIndication: Bool = true, busy: Bool = false, memoryIntegrityError: Bool = false,
                    mathSaturation: Bool = false) {
            rawValue = 0
            self.powerIndication = powerIndication
            self.busy = busy
            self.memoryIntegrityError = memoryIntegrityError
            self.mathSaturation = mathSaturation
        }

        /// Bits 7, 4, 3 and 1 are reserved and read 0 from a working part.
        public static let reservedMask: UInt8 = 0b1001_1010
        /// A reserved bit is set: the answer did not come from a working ABP2 (an open bus
        /// reads 0xFF).
        public var hasReservedBits: Bool { rawValue & Self.reservedMask != 0 }

        private mutating func set(_ mask: UInt8, _ on: Bool) {
            rawValue = on ? rawValue | mask : rawValue & ~mask
        }
    }

    // MARK: Transfer function

    /// "Transfer Function" (the letter in the part number): the outputs at Pmin and Pmax,
    /// Outmin and Outmax, as fractions of 2²⁴ counts. The raw values are the board file's
    /// spelling (`transfer_function: A`).
    public enum TransferFunction: String, Sendable, Equatable, CaseIterable {
        /// 10 % … 90 % of 2²⁴.
        case a = "A"
        /// 2.5 % … 22.5 % of 2²⁴.
        case b = "B"

        /// Outmin as a fraction of 2²⁴.
        public var outputMinFraction: Double {
            switch self {
            case .a: 0.10
            case .b: 0.025
            }
        }

        /// Outmax as a fraction of 2²⁴.
        public var outputMaxFraction: Double {
            switch self {
            case .a: 0.90
            case .b: 0.225
            }
        }

        /// Outmin in counts, rounded (A: 0.1 · 2²⁴ = 1 677 721.6 → 1 677 722).
        public var outputMin: UInt32 { UInt32((outputMinFraction * Double(ABP2.outputSpan)).rounded()) }
        /// Outmax in counts, rounded (A: 0.9 · 2²⁴ = 15 099 494.4 → 15 099 494).
        public var outputMax: UInt32 { UInt32((outputMaxFraction * Double(ABP2.outputSpan)).rounded()) }

        /// Half-way between Outmin and Outmax: a saturated output below it is pinned low.
        public var midpoint: UInt32 { (outputMin + outputMax) / 2 }

        /// Pressure = (Output − Outmin) · (Pmax − Pmin) / (Outmax − Outmin) + Pmin.
        /// Outputs outside Outmin…Outmax extrapolate linearly (the part has some headroom).
        public func pressure(output: UInt32, pressureMin: Pressure, pressureMax: Pressure) -> Pressure {
            let lo = Double(outputMin)
            let hi = Double(outputMax)
            return Pressure(mmHg: (Double(output) - lo) * (pressureMax.mmHg - pressureMin.mmHg) / (hi - lo) + pressureMin.mmHg)
        }

        /// The inverse, unrounded and unlimited: Output = (P − Pmin) · (Outmax − Outmin) /
        /// (Pmax − Pmin) + Outmin. `nil` when the range is empty or the pressure not finite.
        public func output(pressure: Pressure, pressureMin: Pressure, pressureMax: Pressure) -> Double? {
            let span = pressureMax.mmHg - pressureMin.mmHg
            guard span != 0, span.isFinite, pressure.mmHg.isFinite else { return nil }
            let lo = Double(outputMin)
            let hi = Double(outputMax)
            return (pressure.mmHg - pressureMin.mmHg) / span * (hi - lo) + lo
        }

        /// The counts an ideal sensor gives for `pressure`: rounded and limited to 24 bits
        /// (Outmin when the inverse is undefined). For bridges that feed a stub device.
        public func counts(pressure: Pressure, pressureMin: Pressure, pressureMax: Pressure) -> UInt32 {
            guard let c = output(pressure: pressure, pressureMin: pressureMin, pressureMax: pressureMax) else {
                return outputMin
            }
            return UInt32(min(max(c.rounded(), 0), Double(ABP2.outputMax)))
        }

        /// The counts a part gives, limited to Outmin…Outmax, and whether they had to be
        /// limited (the part then sets math saturation). Real parts have some headroom past
        /// Pmin/Pmax; this saturates exactly at the range ends, which is stricter.
        public func saturatingCounts(pressure: Pressure, pressureMin: Pressure,
                                     pressureMax: Pressure) -> (counts: UInt32, saturated: Bool) {
            guard pressureMax > pressureMin,
                  let c = output(pressure: pressure, pressureMin: pressureMin, pressureMax: pressureMax)?.rounded() else {
                return (outputMin, true)
            }
            if c < Double(outputMin) { return (outputMin, true) }
            if c > Double(outputMax) { return (outputMax, true) }
            return (UInt32(c), false)
        }
    }

    // MARK: Temperature output

    /// "Temperature Output": T = Output · 200 / (2²⁴ − 1) − 50 (°C). Bits above 24 are ignored.
    public static func temperature(output: UInt32) -> Temperature {
        Temperature(celsius: Double(output & outputMax) * 200 / Double(outputMax) - 50)
    }

    /// The inverse: (T + 50) / 200 · (2²⁴ − 1), rounded, limited to 24 bits (0 if not finite).
    public static func temperatureOutput(for t: Temperature) -> UInt32 {
        guard t.celsius.isFinite else { return 0 }
        return UInt32(min(max(((t.celsius + 50) / 200 * Double(outputMax)).rounded(), 0), Double(outputMax)))
    }
}
