import ECMOCore
import ECMODevices
import ECMOHAL

/// The ABP2 transfer functions (Outmin/Outmax), defined once in ECMODevices; the
/// driver's historical name for them.
public typealias ABP2Counts = ABP2.TransferFunction

/// Why an `ABP2Driver` could not be built. Thrown at start-up, never from `service`.
public enum ABP2ConfigurationError: Error, Equatable, Sendable {
    /// Pmin must be below Pmax and both finite.
    case invalidPressureRange
    /// Conversion time and busy timeout must be positive, the timeout not shorter than the conversion.
    case invalidTiming
}

/// Driver for a Honeywell ABP2 pressure sensor on I²C, written against the HAL only.
///
/// Non-blocking: `service(now:)` is called once per control tick. It starts a measurement
/// (command 0xAA 0x00 0x00), and on a later tick, once `conversionTime` has passed, reads
/// the 7-byte answer (status, 24-bit pressure, 24-bit temperature), checks the status and
/// starts the next measurement, so one sample arrives every `conversionTime` rounded up to
/// the tick. Errors never escape: they are counted in `sample.errorCount`, the last value
/// is kept and its status says why it cannot be trusted. `service` allocates nothing.
public final class ABP2Driver<Device: I2CDevice> {
    public let device: Device
    public let role: SensorRole
    public let pressureMin: Pressure
    public let pressureMax: Pressure
    public let transferFunction: ABP2Counts
    /// How long after the command the first read is attempted.
    public let conversionTime: Duration
    /// A measurement still busy this long after its command is abandoned as an error.
    public let busyTimeout: Duration

    /// The latest pressure. Timestamp = when the conversion completed (estimated: command
    /// time + `conversionTime`, or later if the sensor was still seen busy).
    public private(set) var sample: SensorSample<Pressure>
    /// The temperature of the latest measurement whose status allowed decoding it.
    public private(set) var temperature: Temperature?
    /// The last error, for diagnostics.
    public private(set) var lastError: HALError?
    /// Measurements read back successfully (valid samples).
    public private(set) var measurementsCompleted = 0

    private enum State {
        case idle
        case converting(since: Instant, lastSeenBusy: Instant?)
    }
    private var state: State = .idle
    /// [0..<3]: the command; [0..<7]: the answer. Preallocated so that a transfer needs
    /// no `withUnsafeBytes` closure, which would box a thrown error (and, in debug
    /// builds, allocate on every call).
    private let buffer: UnsafeMutableRawBufferPointer

    public init(device: Device, role: SensorRole, pressureMin: Pressure, pressureMax: Pressure,
                transferFunction: ABP2Counts = .a, conversionTime: Duration = ABP2.conversionTime,
                busyTimeout: Duration = .milliseconds(50)) throws(ABP2ConfigurationError) {
        guard pressureMin.isFinite, pressureMax.isFinite, pressureMin < pressureMax else {
            throw .invalidPressureRange
        }
        guard conversionTime > .zero, busyTimeout >= conversionTime else { throw .invalidTiming }
        self.device = device
        self.role = role
        self.pressureMin = pressureMin
        self.pressureMax = pressureMax
        self.transferFunction = transferFunction
        self.conversionTime = conversionTime
        self.busyTimeout = busyTimeout
        sample = SensorSample(value: .zero, timestamp: .origin, source: role, errorCount: 0, status: .missing)
        buffer = .allocate(byteCount: ABP2.measurementLength, alignment: 1)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { buffer.deallocate() }

    // MARK: Tick

    /// One non-blocking step; call once per control tick with the tick's time.
    public func service(now: Instant) {
        switch state {
        case .idle:
            startMeasurement(now: now, keepStatus: false)
        case let .converting(since, lastSeenBusy):
            guard now - since >= conversionTime else { return }
            readMeasurement(now: now, since: since, lastSeenBusy: lastSeenBusy)
        }
    }

    /// Writes the measurement command. On failure the sample turns `.readError`, unless
    /// `keepStatus` (a fresh valid value was read this very tick: it stays valid, the
    /// error is still counted and the start is retried next tick).
    private func startMeasurement(now: Instant, keepStatus: Bool) {
        buffer[0] = ABP2.outputMeasurementCommand.0
        buffer[1] = ABP2.outputMeasurementCommand.1
        buffer[2] = ABP2.outputMeasurementCommand.2
        do {
            try device.write(UnsafeRawBufferPointer(rebasing: buffer[0..<ABP2.commandLength]))
            state = .converting(since: now, lastSeenBusy: nil)
        } catch {
            state = .idle
            fail(error, status: keepStatus ? sample.status : .readError)
        }
    }

    private func readMeasurement(now: Instant, since: Instant, lastSeenBusy: Instant?) {
        do {
            try device.read(into: buffer)
        } catch {
            state = .idle
            fail(error, status: .readError)
            return
        }
        let status = ABP2.Status(rawValue: buffer[0])
        // Reserved bits set (an open bus reads 0xFF): this is not an ABP2 answering.
        guard !status.hasReservedBits else {
            state = .idle
            fail(.deviceFault(what: "ABP2 status: reserved bits set (bus open?)"), status: .readError)
            return
        }
        guard status.powerIndication else {
            state = .idle
            fail(.deviceFault(what: "ABP2 status: not powered"), status: .readError)
            return
        }
        if status.busy {
            if now - since >= busyTimeout {
                state = .idle
                fail(.timeout(operation: "ABP2 measurement (busy)"), status: .readError)
            } else {
                state = .converting(since: since, lastSeenBusy: now)
            }
            return
        }
        if status.memoryIntegrityError {
            fail(.deviceFault(what: "ABP2 status: memory integrity error"), status: .deviceFault)
            startMeasurement(now: now, keepStatus: true)
            return
        }
        let pressureCounts = UInt32(buffer[1]) << 16 | UInt32(buffer[2]) << 8 | UInt32(buffer[3])
        let temperatureCounts = UInt32(buffer[4]) << 16 | UInt32(buffer[5]) << 8 | UInt32(buffer[6])
        temperature = ABP2.temperature(output: temperatureCounts)
        // Completed no earlier than the nominal end, nor before the last busy answer.
        var completed = since + conversionTime
        if let busy = lastSeenBusy, busy > completed { completed = busy }
        if completed > now { completed = now }
        if status.mathSaturation {
            // The pressure is past the compensated range: pinned at the end the counts point
            // to. That is a measurement of an extreme (suction, over-pressure), not a lost
            // sample: the value becomes the range end and the status says which way.
            let low = pressureCounts < transferFunction.midpoint
            lastError = .deviceFault(what: "ABP2 status: math saturation")
            sample.errorCount &+= 1
            sample.value = low ? pressureMin : pressureMax
            sample.timestamp = completed
            sample.status = low ? .belowRange : .aboveRange
            startMeasurement(now: now, keepStatus: true)
            return
        }
        sample.value = transferFunction.pressure(output: pressureCounts, pressureMin: pressureMin, pressureMax: pressureMax)
        sample.timestamp = completed
        sample.status = .valid
        measurementsCompleted += 1
        startMeasurement(now: now, keepStatus: true)
    }

    /// Counts an error; the value and timestamp of the last good sample are kept.
    private func fail(_ error: HALError, status: SampleStatus) {
        lastError = error
        sample.errorCount &+= 1
        sample.status = status
    }
}
