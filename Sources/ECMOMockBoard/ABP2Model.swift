import ECMOCore
import ECMODevices
import ECMOHAL

/// A model of the Honeywell ABP2 series digital pressure sensor on I²C, timed by the
/// injected clock, so the ABP2 driver is tested against the datasheet's protocol:
/// command 0xAA 0x00 0x00 starts a measurement; a read returns a status byte, 24-bit
/// pressure counts and 24-bit temperature counts. The circuit simulator sets the
/// pressure and temperature; tests can raise the memory-integrity flag.
public final class ABP2Model: I2CDeviceModel {
    /// Output transfer functions ("Transfer Function"), defined once in ECMODevices.
    public typealias TransferFunction = ABP2.TransferFunction

    /// Pressure counts for `pressure` (the transfer function solved for the output),
    /// clamped to the function's limits; `saturated` when it had to be clamped.
    /// Real parts give some headroom past Pmin/Pmax before saturating; the model
    /// saturates exactly at the range ends.
    public static func pressureCounts(for pressure: Pressure, pressureMin: Pressure, pressureMax: Pressure,
                                      transferFunction: TransferFunction) -> (counts: UInt32, saturated: Bool) {
        transferFunction.saturatingCounts(pressure: pressure, pressureMin: pressureMin, pressureMax: pressureMax)
    }

    /// Temperature counts ("Temperature Output"): (T + 50) / 200 · (2²⁴ − 1), clamped to 24 bits.
    public static func temperatureCounts(for t: Temperature) -> UInt32 {
        ABP2.temperatureOutput(for: t)
    }

    public let pressureMin: Pressure
    public let pressureMax: Pressure
    public let transferFunction: TransferFunction
    /// How long a measurement takes (the busy time after the command).
    public var conversionTime: Duration
    public private(set) var pressure: Pressure = .zero
    public private(set) var temperature = Temperature(celsius: 25)
    /// Fault hook: the memory integrity check failed (status bit 2).
    public var memoryError = false
    /// Fault hook: status bit 6 (power indication) reads 0 when `false`.
    public var powered = true
    /// Measurements completed since creation (up to the clock's present).
    public var measurementsCompleted: Int {
        advance(to: clock.now())
        return completed
    }
    private var completed = 0
    /// Writes that were not the measurement command, or came while busy.
    public private(set) var ignoredCommands = 0

    private let clock: any MonotonicClock
    private var measurementEnd: Instant?
    private var pressureCounts: UInt32 = 0
    private var temperatureCounts: UInt32 = 0
    private var saturated = false

    /// `clock` is the board's: `setPressure`/`setTemperature` first bring the sensor up to
    /// the present, so a measurement that ended before the change sees the old value.
    public init(clock: any MonotonicClock, pressureMin: Pressure, pressureMax: Pressure,
                transferFunction: TransferFunction = .a, conversionTime: Duration = ABP2.conversionTime) {
        self.clock = clock
        self.pressureMin = pressureMin
        self.pressureMax = pressureMax
        self.transferFunction = transferFunction
        self.conversionTime = conversionTime
    }

    public func setPressure(_ p: Pressure) {
        advance(to: clock.now())
        pressure = p
    }

    public func setTemperature(_ t: Temperature) {
        advance(to: clock.now())
        temperature = t
    }

    /// Whether a measurement is in progress now.
    public var isBusy: Bool {
        advance(to: clock.now())
        return measurementEnd != nil
    }

    /// The status byte as a read now would return it.
    public var statusByte: UInt8 {
        advance(to: clock.now())
        return status
    }

    private var status: UInt8 {
        ABP2.Status(powerIndication: powered, busy: measurementEnd != nil, memoryIntegrityError: memoryError,
                    mathSaturation: saturated).rawValue
    }

    /// The measurement samples pressure and temperature at its end.
    /// Sensor level: the plant is asked for the pressure when a conversion finishes
    /// (`setPressure` is then not needed). Unowned: the simulated board owns its models.
    public unowned(unsafe) var inputSource: (any ModelInputSource)? {
        didSet { source = inputSource.map { InputSourceReference($0) } }
    }
    private var source: InputSourceReference?
    /// Which device this is, for `inputSource`.
    public var inputDevice = 0

    private func advance(to now: Instant) {
        guard let end = measurementEnd, end <= now else { return }
        if let source { pressure = .mmHg(source.input(device: inputDevice, channel: 0, at: now)) }
        let p = Self.pressureCounts(for: pressure, pressureMin: pressureMin, pressureMax: pressureMax,
                                    transferFunction: transferFunction)
        pressureCounts = p.counts
        saturated = p.saturated
        temperatureCounts = Self.temperatureCounts(for: temperature)
        measurementEnd = nil
        completed += 1
    }

    /// "Output Measurement Command" 0xAA 0x00 0x00 starts a measurement. Anything else,
    /// or the command while busy, is acknowledged and ignored.
    public func write(_ bytes: UnsafeRawBufferPointer, at now: Instant) -> Bool {
        advance(to: now)
        guard ABP2.isOutputMeasurementCommand(bytes), measurementEnd == nil else {
            ignoredCommands += 1
            return true
        }
        measurementEnd = now + conversionTime
        return true
    }

    /// Status, pressure counts (24 bits, MSB first), temperature counts (24 bits, MSB
    /// first); a shorter read gets a prefix, bytes past the seventh read 0xFF. Until the
    /// first measurement completes the data bytes are zero.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at now: Instant) -> Bool {
        advance(to: now)
        for i in 0..<buffer.count {
            switch i {
            case 0: buffer[i] = status
            case 1: buffer[i] = UInt8(truncatingIfNeeded: pressureCounts >> 16)
            case 2: buffer[i] = UInt8(truncatingIfNeeded: pressureCounts >> 8)
            case 3: buffer[i] = UInt8(truncatingIfNeeded: pressureCounts)
            case 4: buffer[i] = UInt8(truncatingIfNeeded: temperatureCounts >> 16)
            case 5: buffer[i] = UInt8(truncatingIfNeeded: temperatureCounts >> 8)
            case 6: buffer[i] = UInt8(truncatingIfNeeded: temperatureCounts)
            default: buffer[i] = 0xFF
            }
        }
        return true
    }
}
