import ECMOCore
import ECMODevices
import ECMOHAL

/// Why an `ADS1115Driver` could not be built. Thrown at start-up, never from `service`.
public enum ADS1115ConfigurationError: Error, Equatable, Sendable {
    /// Not one of the PGA ranges (`ADS1115.PGA`).
    case unsupportedFullScale(Voltage)
    /// Not one of the data rates (`ADS1115.DR`).
    case unsupportedDataRate(Int)
    /// Single-ended inputs are 0...3.
    case inputOutOfRange(Int)
    case duplicateInput(Int)
    case noChannels
    /// The margin after 1/DR must not be negative.
    case negativeMargin
}

/// Driver for a TI ADS1115 ADC on I²C, written against the HAL only: round-robin
/// single-shot conversions over up to four single-ended inputs, non-blocking.
///
/// Each conversion: write the config register (OS=1, MUX=AINx−GND, PGA, MODE=single-shot,
/// DR, comparator off) with SMBus write-word, wait ≥ 1/DR + margin, poll OS with SMBus
/// read-word of the config register, read the conversion register, store the sample,
/// then start the next input at once (so one tick can finish one conversion and start
/// the next). SMBus words are little-endian, ADS1115 registers big-endian: every word is
/// byte-swapped here.
///
/// Configuration is checked, not trusted (ArduPilot's register checks): the OS poll
/// reads the whole config register anyway, so every conversion's config is read back
/// and bits 14:0 compared with what was written, at no extra bus cost. Because the next
/// conversion starts in the tick the last one is read, the chip is always converting
/// between ticks: a reset or corruption at any time is seen by the next poll, before
/// its conversion result is used (a periodic idle readback would add nothing). A
/// mismatch counts in `configMismatchCount`, discards the conversion, turns every sample
/// `.deviceFault` until its input converts again, and the config is rewritten on the
/// next tick (the repair, verified by the following poll). `service` allocates nothing.
public final class ADS1115Driver<Device: I2CDevice> {
    public let device: Device
    /// PGA[2:0]: the full-scale range, one of the datasheet's (`ADS1115.PGA`).
    public let pga: ADS1115.PGA
    /// DR[2:0]: the data rate, one of the datasheet's (`ADS1115.DR`).
    public let dr: ADS1115.DR
    /// ± volts at full scale (`pga`'s).
    public var fullScale: Voltage { pga.fullScaleRange }
    /// Samples per second (`dr`'s).
    public var dataRate: Int { dr.samplesPerSecond }
    /// Nominal duration of one conversion, 1/DR.
    public let conversionTime: Duration
    /// Extra wait after 1/DR before the first OS poll.
    public let margin: Duration
    /// A conversion whose OS bit is still 0 this long after it was started is abandoned.
    public let conversionTimeout: Duration

    /// Config-register readbacks that differed from what was written.
    public private(set) var configMismatchCount = 0
    /// Failed transfers, timeouts and mismatches since start (stamped into every sample).
    public private(set) var errorCount: UInt32 = 0
    public private(set) var lastError: HALError?
    /// Conversions read successfully.
    public private(set) var conversionsCompleted = 0

    private let inputs: [Int]
    private let configWords: [ADS1115.ConfigRegister]
    private var samples: [SensorSample<Voltage>]
    /// Position in `inputs` of each input 0...3, or -1.
    private let positionOfInput: [Int]

    private enum State {
        case idle
        case converting(position: Int, startedAt: Instant, config: ADS1115.ConfigRegister)
    }
    private var state: State = .idle
    private var nextPosition = 0

    /// `fullScale` and `dataRate` must be values of the datasheet's tables (a board file's
    /// numbers); the typed initialiser below takes the settings themselves.
    public convenience init(device: Device, fullScale: Voltage, dataRate: Int,
                            channels: [(input: Int, role: SensorRole)],
                            margin: Duration = .microseconds(100)) throws(ADS1115ConfigurationError) {
        guard let pga = ADS1115.PGA(fullScale: fullScale) else { throw .unsupportedFullScale(fullScale) }
        guard let dr = ADS1115.DR(samplesPerSecond: dataRate) else { throw .unsupportedDataRate(dataRate) }
        try self.init(device: device, fullScale: pga, dataRate: dr, channels: channels, margin: margin)
    }

    public init(device: Device, fullScale pga: ADS1115.PGA, dataRate dr: ADS1115.DR,
                channels: [(input: Int, role: SensorRole)],
                margin: Duration = .microseconds(100)) throws(ADS1115ConfigurationError) {
        guard !channels.isEmpty else { throw .noChannels }
        guard margin >= .zero else { throw .negativeMargin }
        var positions = [Int](repeating: -1, count: ADS1115.inputCount)
        var configs: [ADS1115.ConfigRegister] = []
        for (position, channel) in channels.enumerated() {
            guard let mux = ADS1115.MUX.singleEnded(channel.input) else { throw .inputOutOfRange(channel.input) }
            guard positions[channel.input] < 0 else { throw .duplicateInput(channel.input) }
            positions[channel.input] = position
            configs.append(.singleShot(mux: mux, pga: pga, dr: dr))
        }
        self.device = device
        self.pga = pga
        self.dr = dr
        self.margin = margin
        conversionTime = dr.conversionTime
        conversionTimeout = conversionTime * 2 + .milliseconds(1) + margin
        inputs = channels.map { $0.input }
        configWords = configs
        samples = channels.map {
            SensorSample(value: .zero, timestamp: .origin, source: $0.role, errorCount: 0, status: .missing)
        }
        positionOfInput = positions
    }

    /// The latest sample of AIN`input`. An input that is not configured reads `.missing`
    /// (with the first channel's role as its source).
    public func sample(input: Int) -> SensorSample<Voltage> {
        guard input >= 0, input <= 3, positionOfInput[input] >= 0 else {
            var s = samples[0]
            s.status = .missing
            return s
        }
        return samples[positionOfInput[input]]
    }

    /// The latest sample of the channel bound to `role`, if any.
    public func sample(role: SensorRole) -> SensorSample<Voltage>? {
        for s in samples where s.source == role { return s }
        return nil
    }

    // MARK: Tick

    /// One non-blocking step; call once per control tick with the tick's time.
    public func service(now: Instant) {
        switch state {
        case .idle:
            startNext(now: now)
        case let .converting(position, startedAt, config):
            guard now - startedAt >= conversionTime + margin else { return }
            finish(position: position, startedAt: startedAt, config: config, now: now)
        }
    }

    private func startNext(now: Instant) {
        let position = nextPosition
        let config = configWords[position]
        do {
            try device.writeWordData(register: ADS1115.Register.config.rawValue, value: config.rawValue.byteSwapped)
        } catch {
            transferFailed(position: position, error)
            return
        }
        state = .converting(position: position, startedAt: now, config: config)
    }

    private func finish(position: Int, startedAt: Instant, config: ADS1115.ConfigRegister, now: Instant) {
        let status: ADS1115.ConfigRegister
        do {
            status = ADS1115.ConfigRegister(rawValue: try readRegister(.config))
        } catch {
            transferFailed(position: position, error)
            return
        }
        guard status.settings == config.settings else {
            // Not what was written: this conversion cannot be trusted. Retry this input
            // with a fresh config write (the repair) on the next tick.
            configMismatch()
            state = .idle
            nextPosition = position
            return
        }
        guard status.os == .notConverting else {
            if now - startedAt >= conversionTimeout {
                transferFailed(position: position, .timeout(operation: "ADS1115 conversion"))
            }
            return
        }
        let raw: UInt16
        do {
            raw = try readRegister(.conversion)
        } catch {
            transferFailed(position: position, error)
            return
        }
        var completed = startedAt + conversionTime
        if completed > now { completed = now }
        samples[position].value = ADS1115.voltage(conversionRegister: raw, pga: pga)
        samples[position].timestamp = completed
        samples[position].errorCount = errorCount
        samples[position].status = .valid
        conversionsCompleted += 1
        nextPosition = (position + 1) % inputs.count
        state = .idle
        startNext(now: now)
    }

    /// SMBus read-word, byte-swapped to the register's big-endian value.
    private func readRegister(_ register: ADS1115.Register) throws(HALError) -> UInt16 {
        try device.readWordData(register: register.rawValue).byteSwapped
    }

    /// The input's sample turns `.readError` (value kept); the round robin moves on so
    /// that one failing conversion does not starve the other inputs.
    private func transferFailed(position: Int, _ error: HALError) {
        errorCount &+= 1
        lastError = error
        samples[position].status = .readError
        samples[position].errorCount = errorCount
        nextPosition = (position + 1) % inputs.count
        state = .idle
    }

    private func configMismatch() {
        configMismatchCount += 1
        errorCount &+= 1
        lastError = .deviceFault(what: "ADS1115 config readback mismatch")
        for i in samples.indices {
            samples[i].status = .deviceFault
            samples[i].errorCount = errorCount
        }
    }
}
