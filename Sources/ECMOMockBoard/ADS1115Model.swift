import ECMOCore
import ECMODevices
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
    /// Pointer values, "Address Pointer Register": P[1:0] (defined once in ECMODevices).
    public typealias Register = ADS1115.Register

    /// "Config Register": reset value 8583h (OS=1 idle, AIN0−AIN1, ±2.048 V, single-shot, 128 SPS, comparator off).
    public static var configResetValue: UInt16 { ADS1115.ConfigRegister.resetValue }

    private let clock: any MonotonicClock
    private var inputs: [Double] = [0, 0, 0, 0]
    /// The address pointer (last pointer byte written).
    public private(set) var pointer: Register = .conversion
    /// Config bits 14:0 as last written; OS (bit 15) is computed on read.
    private var config = ADS1115.ConfigRegister(rawValue: ADS1115.ConfigRegister.resetValue & ADS1115.ConfigRegister.settingsMask)
    /// "Conversion Register": reset 0000h.
    public private(set) var conversionRegister: UInt16 = 0
    public private(set) var loThresh: UInt16 = Register.loThresh.resetValue
    public private(set) var hiThresh: UInt16 = Register.hiThresh.resetValue
    /// Conversions completed since creation (up to the clock's present).
    public var conversionsCompleted: Int {
        advance(to: clock.now())
        return completed
    }
    private var completed = 0

    private struct Conversion {
        var mux: ADS1115.MUX
        var pga: ADS1115.PGA
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
            return configRead.rawValue
        }
        set {
            advance(to: clock.now())
            config = ADS1115.ConfigRegister(rawValue: newValue & ADS1115.ConfigRegister.settingsMask)
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
        config = ADS1115.ConfigRegister(rawValue: Register.config.resetValue & ADS1115.ConfigRegister.settingsMask)
        conversionRegister = Register.conversion.resetValue
        loThresh = Register.loThresh.resetValue
        hiThresh = Register.hiThresh.resetValue
        ongoing = nil
    }

    // MARK: Fields

    /// The config register as a read returns it: the settings as written, OS = 1 unless converting.
    private var configRead: ADS1115.ConfigRegister {
        var c = config
        c.os = ongoing == nil ? .notConverting : .converting
        return c
    }

    /// AINp − AINn for a MUX setting (GND for a single-ended input).
    private func differentialVolts(mux: ADS1115.MUX) -> Double {
        inputs[mux.positiveInput] - (mux.negativeInput.map { inputs[$0] } ?? 0)
    }

    /// Sensor level: the plant is asked for the converted input(s) when a conversion
    /// finishes (`setInput` is then not needed). Unowned: the simulated board owns its models.
    public unowned(unsafe) var inputSource: (any ModelInputSource)? {
        didSet { source = inputSource.map { InputSourceReference($0) } }
    }
    private var source: InputSourceReference?
    /// Which device this is, for `inputSource`.
    public var inputDevice = 0

    private func result(_ c: Conversion) -> UInt16 {
        if let source {
            let now = clock.now()
            let p = c.mux.positiveInput
            inputs[p] = source.input(device: inputDevice, channel: p, at: now)
            if let n = c.mux.negativeInput { inputs[n] = source.input(device: inputDevice, channel: n, at: now) }
        }
        return UInt16(bitPattern: ADS1115.outputCode(for: Voltage(volts: differentialVolts(mux: c.mux)), pga: c.pga))
    }

    /// Completes every conversion that has ended by `now`. "Continuous-Conversion Mode":
    /// when a conversion completes, the result goes to the conversion register and the
    /// next one starts at once with the present settings. Between two calls inputs and
    /// settings are constant, so whole periods are skipped arithmetically (no loop).
    private func advance(to now: Instant) {
        guard let c = ongoing, c.end <= now else { return }
        conversionRegister = result(c)
        completed += 1
        guard config.mode == .continuous else {
            ongoing = nil // "Single-Shot Mode": powers down, OS back to 1
            return
        }
        let period = UInt64(config.dr.conversionTime.nanoseconds)
        let elapsed = now.nanosecondsSinceOrigin - c.end.nanosecondsSinceOrigin
        let more = elapsed / period
        let next = Conversion(mux: config.mux, pga: config.pga, end: Instant(nanosecondsSinceOrigin: c.end.nanosecondsSinceOrigin + (more + 1) * period))
        if more > 0 {
            conversionRegister = result(next)
            completed += Int(more)
        }
        ongoing = next
    }

    private func start(at now: Instant) {
        ongoing = Conversion(mux: config.mux, pga: config.pga, end: now + config.dr.conversionTime)
    }

    private func register(_ r: Register) -> UInt16 {
        switch r {
        case .conversion: conversionRegister
        case .config: configRead.rawValue
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
        guard bytes.count > 0 else { return true } // quick write: ACK
        let reg = Register(pointer: bytes[0])
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
            let written = ADS1115.ConfigRegister(rawValue: value)
            config = ADS1115.ConfigRegister(rawValue: written.settings)
            // The settings take effect for the next conversion; one in progress completes
            // with the settings it started with. OS=1 starts a single shot only from
            // power-down ("OS can only be written when in power-down state").
            if ongoing == nil {
                if config.mode == .continuous || written.os == .startSingleConversion { start(at: now) }
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
