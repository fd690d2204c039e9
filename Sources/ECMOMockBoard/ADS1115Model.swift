import ECMOCore
import ECMOHAL

/// A register-level model of the TI ADS1115 16-bit ADC (datasheet SBAS444), timed by
/// the injected clock, so the ADS1115 driver can be tested against the chip's documented
/// behaviour rather than against its own assumptions.
///
/// Modelled: the pointer register, the four 16-bit registers (big-endian on the wire),
/// single-shot and continuous conversions that take exactly 1/DR and sample the inputs
/// at their end, the OS status bit, the MUX/PGA/DR fields and the output code format.
/// Not modelled: the comparator and ALERT/RDY pin (COMP bits are stored only), the
/// ≈25 µs power-up before a single shot, the ±10 % data-rate tolerance, input noise.
public final class ADS1115Model: I2CDeviceModel {
    /// Pointer values, "Address Pointer Register": P[1:0].
    public enum Register: UInt8, Sendable, CaseIterable {
        case conversion = 0, config = 1, loThresh = 2, hiThresh = 3
    }

    /// "Config Register": reset value 8583h (OS=1 idle, AIN0−AIN1, ±2.048 V, single-shot, 128 SPS, comparator off).
    public static let configResetValue: UInt16 = 0x8583
    /// "Lo_thresh and Hi_thresh Registers": reset values.
    public static let loThreshResetValue: UInt16 = 0x8000
    public static let hiThreshResetValue: UInt16 = 0x7FFF
    /// DR[7:5] → samples per second ("Config Register" field descriptions).
    public static let dataRates: [Int] = [8, 16, 32, 64, 128, 250, 475, 860]
    /// PGA[11:9] → full-scale range in volts ("Full-Scale Range (FSR) and LSB Size");
    /// 110 and 111 are ±0.256 V as 101.
    public static let fullScaleRanges: [Double] = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256]

    /// DR code → SPS without touching a lazily initialised global (transfer path).
    static func dataRate(code: Int) -> Int {
        switch code & 0x7 {
        case 0: 8
        case 1: 16
        case 2: 32
        case 3: 64
        case 4: 128
        case 5: 250
        case 6: 475
        default: 860
        }
    }

    /// PGA code → full-scale volts, as `fullScaleRanges` but allocation-free.
    static func fullScale(code: Int) -> Double {
        switch code & 0x7 {
        case 0: 6.144
        case 1: 4.096
        case 2: 2.048
        case 3: 1.024
        case 4: 0.512
        default: 0.256
        }
    }

    /// One conversion's duration, 1/DR rounded up to the nanosecond.
    public static func conversionTime(dataRate: Int) -> Duration {
        let dr = Int64(max(1, dataRate))
        return .nanoseconds((1_000_000_000 + dr - 1) / dr)
    }

    /// The output code for `volts` at full-scale `fullScale` ("Data Format"):
    /// round(V / FSR · 2¹⁵), clamped to −32768 … 32767 (8000h … 7FFFh two's complement).
    public static func outputCode(volts: Double, fullScale: Double) -> Int16 {
        guard volts.isFinite, fullScale > 0 else { return volts > 0 ? .max : (volts < 0 ? .min : 0) }
        let code = (volts / fullScale * 32768).rounded()
        if code >= 32767 { return .max }
        if code <= -32768 { return .min }
        return Int16(code)
    }

    private let clock: any MonotonicClock
    private var inputs: [Double] = [0, 0, 0, 0]
    /// The address pointer (last pointer byte written).
    @exclusivity(unchecked)
    public private(set) var pointer: Register = .conversion
    /// Config bits 14:0 as last written; OS (bit 15) is computed on read.
    private var configBits: UInt16 = configResetValue & 0x7FFF
    /// "Conversion Register": reset 0000h.
    @exclusivity(unchecked)
    public private(set) var conversionRegister: UInt16 = 0
    @exclusivity(unchecked)
    public private(set) var loThresh: UInt16 = loThreshResetValue
    @exclusivity(unchecked)
    public private(set) var hiThresh: UInt16 = hiThreshResetValue
    /// Conversions completed since creation (up to the clock's present).
    public var conversionsCompleted: Int {
        advance(to: clock.now())
        return completed
    }
    private var completed = 0

    private struct Conversion {
        var mux: Int
        var pga: Int
        var end: Instant
    }
    private var ongoing: Conversion?

    /// `clock` is the board's: `setInput` first brings the chip up to the present, so a
    /// conversion that ended before the input changed sees the old voltage.
    public init(clock: any MonotonicClock) {
        self.clock = clock
    }

    // MARK: Simulator side

    /// Sets the voltage at AIN`channel` (0...3; other channels are ignored).
    public func setInput(channel: Int, voltage: Voltage) {
        guard channel >= 0, channel <= 3 else { return }
        advance(to: clock.now())
        inputs[channel] = voltage.volts
    }

    public func input(channel: Int) -> Voltage {
        guard channel >= 0, channel <= 3 else { return .zero }
        return Voltage(volts: inputs[channel])
    }

    /// The config register as a read would return it (OS computed). Setting it replaces
    /// bits 14:0 without starting anything: a test's way to corrupt the chip behind the
    /// driver's back (a glitch, a partial reset).
    public var configRegister: UInt16 {
        get {
            advance(to: clock.now())
            return configBits | (ongoing == nil ? 0x8000 : 0)
        }
        set {
            advance(to: clock.now())
            configBits = newValue & 0x7FFF
        }
    }

    /// Whether a conversion is in progress now (OS reads 0).
    public var isConverting: Bool {
        advance(to: clock.now())
        return ongoing != nil
    }

    /// Power-on reset ("Reset and Power-Up"): registers to their reset values, no conversion.
    public func powerOnReset() {
        pointer = .conversion
        configBits = Self.configResetValue & 0x7FFF
        conversionRegister = 0
        loThresh = Self.loThreshResetValue
        hiThresh = Self.hiThreshResetValue
        ongoing = nil
    }

    // MARK: Fields

    private var mux: Int { Int(configBits >> 12) & 0x7 }
    private var pga: Int { Int(configBits >> 9) & 0x7 }
    /// MODE[8]: 1 = single-shot (power-down between conversions), 0 = continuous.
    private var continuous: Bool { configBits & 0x0100 == 0 }
    private var dataRate: Int { Self.dataRate(code: Int(configBits >> 5)) }

    /// MUX[14:12] → AINp − AINn ("Config Register"): 000 AIN0−AIN1, 001 AIN0−AIN3,
    /// 010 AIN1−AIN3, 011 AIN2−AIN3, 1xx AINx − GND.
    private func differentialVolts(mux: Int) -> Double {
        switch mux {
        case 0: inputs[0] - inputs[1]
        case 1: inputs[0] - inputs[3]
        case 2: inputs[1] - inputs[3]
        case 3: inputs[2] - inputs[3]
        default: inputs[(mux - 4) & 0x3]
        }
    }

    private func result(_ c: Conversion) -> UInt16 {
        UInt16(bitPattern: Self.outputCode(volts: differentialVolts(mux: c.mux), fullScale: Self.fullScale(code: c.pga)))
    }

    /// Completes every conversion that has ended by `now`. "Continuous-Conversion Mode":
    /// when a conversion completes, the result goes to the conversion register and the
    /// next one starts at once with the present settings. Between two calls inputs and
    /// settings are constant, so whole periods are skipped arithmetically (no loop).
    private func advance(to now: Instant) {
        guard let c = ongoing, c.end <= now else { return }
        conversionRegister = result(c)
        completed += 1
        guard continuous else {
            ongoing = nil // "Single-Shot Mode": powers down, OS back to 1
            return
        }
        let period = UInt64(Self.conversionTime(dataRate: dataRate).nanoseconds)
        let elapsed = now.nanosecondsSinceOrigin - c.end.nanosecondsSinceOrigin
        let more = elapsed / period
        let next = Conversion(mux: mux, pga: pga, end: Instant(nanosecondsSinceOrigin: c.end.nanosecondsSinceOrigin + (more + 1) * period))
        if more > 0 {
            conversionRegister = result(next)
            completed += Int(more)
        }
        ongoing = next
    }

    private func start(at now: Instant) {
        ongoing = Conversion(mux: mux, pga: pga, end: now + Self.conversionTime(dataRate: dataRate))
    }

    private func register(_ r: Register) -> UInt16 {
        switch r {
        case .conversion: conversionRegister
        case .config: configBits | (ongoing == nil ? 0x8000 : 0)
        case .loThresh: loThresh
        case .hiThresh: hiThresh
        }
    }

    // MARK: I2C ("Writing To and Reading From the Registers")

    /// First byte: pointer (P[1:0]; bits 7:2 are reserved zeros and ignored). Two more
    /// bytes: the register value, MSB first. A pointer-only write just moves the pointer.
    public func write(_ bytes: UnsafeRawBufferPointer, at now: Instant) -> Bool {
        advance(to: now)
        // (Index access, not `bytes.first`: the unspecialised generic allocates in debug builds.)
        guard bytes.count > 0, let reg = Register(rawValue: bytes[0] & 0x03) else { return true } // quick write: ACK
        pointer = reg
        guard bytes.count >= 3 else { return true }
        let value = UInt16(bytes[1]) << 8 | UInt16(bytes[2])
        switch reg {
        case .conversion:
            break // read-only
        case .loThresh:
            loThresh = value
        case .hiThresh:
            hiThresh = value
        case .config:
            configBits = value & 0x7FFF
            // The settings take effect for the next conversion; one in progress completes
            // with the settings it started with. OS=1 starts a single shot only from
            // power-down ("OS can only be written when in power-down state").
            if ongoing == nil {
                if continuous || value & 0x8000 != 0 { start(at: now) }
            }
        }
        return true
    }

    /// Returns the register at the pointer, MSB first, repeated for longer reads.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at now: Instant) -> Bool {
        advance(to: now)
        let value = register(pointer)
        for i in 0..<buffer.count {
            buffer[i] = i % 2 == 0 ? UInt8(value >> 8) : UInt8(truncatingIfNeeded: value)
        }
        return true
    }
}
