import ECMOCore
import ECMODevices

/// A board: which hardware plays each role, and how. Loaded from one file in `Board/`
/// (see `BoardLoader`) and validated before anything runs: the application names roles,
/// the board maps them to buses, chips, lines and addresses.
public struct BoardConfiguration: Sendable, Equatable {
    /// Where it was loaded from (for messages).
    public var sourceFile: String
    public var name: String
    public var description: String
    public var kind: BoardKind
    public var realtime: RealtimeRequirement
    public var loopPeriod: Duration
    public var watchdog: WatchdogConfiguration

    public var i2cBuses: [String: I2CBusConfiguration]
    public var gpioChips: [String: GPIOChipConfiguration]
    public var pwmChips: [String: PWMChipConfiguration]
    /// I²C devices by id.
    public var devices: [String: I2CDeviceConfiguration]
    public var sensors: [SensorRole: SensorConfiguration]
    public var inputs: [InputRole: InputLineConfiguration]
    public var outputs: [ActuatorRole: OutputLineConfiguration]
    public var pump: PumpConfiguration
    public var syringe: SyringeDriveConfiguration?
    /// How a simulated board models its sensors (`simulation:` in the header; register
    /// level when absent). Meaningless on a rig board, which the decoder enforces.
    public var simulation: SimulationFidelity = .register
    /// The independent safety co-processor, when the rig has one (`coprocessor:`): its link
    /// and the limits it trips on. Its permit output is wired in series with `pump_enable`.
    public var coprocessor: CoProcessorConfiguration?

    public init(sourceFile: String, name: String, description: String, kind: BoardKind, realtime: RealtimeRequirement,
                loopPeriod: Duration, watchdog: WatchdogConfiguration, i2cBuses: [String: I2CBusConfiguration],
                gpioChips: [String: GPIOChipConfiguration], pwmChips: [String: PWMChipConfiguration],
                devices: [String: I2CDeviceConfiguration], sensors: [SensorRole: SensorConfiguration],
                inputs: [InputRole: InputLineConfiguration], outputs: [ActuatorRole: OutputLineConfiguration],
                pump: PumpConfiguration, syringe: SyringeDriveConfiguration?) {
        self.sourceFile = sourceFile
        self.name = name
        self.description = description
        self.kind = kind
        self.realtime = realtime
        self.loopPeriod = loopPeriod
        self.watchdog = watchdog
        self.i2cBuses = i2cBuses
        self.gpioChips = gpioChips
        self.pwmChips = pwmChips
        self.devices = devices
        self.sensors = sensors
        self.inputs = inputs
        self.outputs = outputs
        self.pump = pump
        self.syringe = syringe
    }

    /// Roles every board must map: the loop cannot run, or cannot be made safe, without them.
    public static let requiredSensors: [SensorRole] = [.drainPressure, .preOxygenatorPressure, .postOxygenatorPressure, .flow]
    public static let requiredInputs: [InputRole] = [.pumpTachometer, .airDetector, .emergencyStop, .syringeEndEmpty, .syringeEndFull]
    public static let requiredOutputs: [ActuatorRole] = [.pumpEnable, .syringeStep, .syringeDirection, .syringeEnable, .clamp, .buzzer]
}

/// A simulated board runs on the mock board and the circuit simulator; a rig board on
/// real hardware through the Linux backend. Chosen explicitly, never as a fallback.
public enum BoardKind: String, Sendable, Equatable, CaseIterable {
    case simulated
    case rig
}

/// How far down a simulated board models its devices.
///
/// The register-level board is the one to test drivers and buses against: each ABP2 and
/// ADS1115 is a datasheet model behind a mock I²C bus, fed every tick. The sensor-level
/// board keeps the same device models (conversion times, quantisation, status bits) but
/// talks to them without a bus and asks the plant for a value only when a conversion
/// finishes, so thousands of experiments can be simulated (ArduPilot's SITL works at the
/// sensor level for the same reason). Same firmware, same 1 kHz period either way.
public enum SimulationFidelity: String, Sendable, Equatable, CaseIterable {
    case register
    case sensor
}

/// Whether the loop must get real-time scheduling to start.
public enum RealtimeRequirement: String, Sendable, Equatable, CaseIterable {
    /// Refuse to start without SCHED_FIFO and locked memory (a rig with blood in it).
    case required
    /// Warn once and run as an ordinary thread (a laptop simulation).
    case optional
}


public struct I2CBusConfiguration: Sendable, Equatable {
    /// `/dev/i2c-1` on a rig, `sim` on a simulated board.
    public var path: String
    public init(path: String) { self.path = path }
}

public struct GPIOChipConfiguration: Sendable, Equatable {
    /// The chip's label (`pinctrl-bcm2711`, `pinctrl-rp1`): found by label, not by number,
    /// because `/dev/gpiochipN` numbering changes between kernels (Pi 5).
    public var label: String
    /// Number of lines, for range checks of line offsets.
    public var lineCount: Int
    public init(label: String, lineCount: Int) {
        self.label = label
        self.lineCount = lineCount
    }
}

public struct PWMChipConfiguration: Sendable, Equatable {
    /// `/sys/class/pwm/pwmchip0` on a rig, `sim` on a simulated board.
    public var path: String
    public var channelCount: Int
    public init(path: String, channelCount: Int) {
        self.path = path
        self.channelCount = channelCount
    }
}

/// Which driver talks to an I²C device, with its device-level settings.
public enum I2CDriver: Sendable, Equatable {
    /// Honeywell ABP2 digital pressure sensor: its calibrated range and transfer function.
    case abp2(pressureMin: Pressure, pressureMax: Pressure, transferFunction: ABP2TransferFunction)
    /// TI ADS1115 16-bit ADC: programmable full-scale range (PGA) and data rate (DR).
    case ads1115(fullScale: ADS1115.PGA, dataRate: ADS1115.DR)
}

/// ABP2 output transfer functions (`transfer_function: A` or `B`), defined once in ECMODevices.
public typealias ABP2TransferFunction = ABP2.TransferFunction

public struct I2CDeviceConfiguration: Sendable, Equatable {
    public var id: String
    public var bus: String
    public var address: UInt8
    public var driver: I2CDriver
    public init(id: String, bus: String, address: UInt8, driver: I2CDriver) {
        self.id = id
        self.bus = bus
        self.address = address
        self.driver = driver
    }
}

/// A sensor role bound to a device (and a channel, for a multiplexed ADC).
public struct SensorConfiguration: Sendable, Equatable {
    public var role: SensorRole
    public var device: String
    /// ADC input (0...3 for the ADS1115, single-ended); `nil` for single-channel devices.
    public var channel: Int?
    /// Analog scaling for ADC channels: value = (volts − offset) × scale, in the role's
    /// canonical unit (mmHg, L/min). `nil` for digital sensors.
    public var analog: AnalogCalibration?
    /// Older samples are stale and never controlled on.
    public var maxAge: Duration
    public init(role: SensorRole, device: String, channel: Int?, analog: AnalogCalibration?, maxAge: Duration) {
        self.role = role
        self.device = device
        self.channel = channel
        self.analog = analog
        self.maxAge = maxAge
    }
}

public struct AnalogCalibration: Sendable, Equatable {
    public var offset: Voltage
    /// Canonical units of the role per volt.
    public var unitsPerVolt: Double
    /// The voltages the sensor itself can output (`signal_v`); a reading outside is a wire
    /// open or shorted to a rail, not a measurement. nil: not stated, not checked.
    public var signalRange: ClosedRange<Double>?
    public init(offset: Voltage, unitsPerVolt: Double, signalRange: ClosedRange<Double>? = nil) {
        self.offset = offset
        self.unitsPerVolt = unitsPerVolt
        self.signalRange = signalRange
    }
    public func convert(_ v: Voltage) -> Double { (v - offset).volts * unitsPerVolt }
    public func volts(for value: Double) -> Voltage { Voltage(volts: value / unitsPerVolt) + offset }
}


/// The pump's speed channel: a hardware PWM into the BLDC controller's speed input.
public struct PumpConfiguration: Sendable, Equatable {
    public var pwmChip: String
    public var channel: Int
    public var period: Duration
    /// Linear speed ↔ duty calibration of the motor controller: duty = dutyAtZero +
    /// rpm × (dutyAtMax − dutyAtZero) / rpmAtMaxDuty.
    public var dutyAtZero: Double
    public var dutyAtMax: Double
    public var rpmAtMaxDuty: PumpSpeed
    public var limits: PumpLimits
    /// Speed commanded at boot, on shutdown, in fault and when commands stop.
    public var safeSpeed: PumpSpeed
    public var maxCommandAge: Duration
    /// The pump's H–Q curve, when known: lets the safety layer cross-check the flow meter.
    public var curve: PumpCurve?
    public init(pwmChip: String, channel: Int, period: Duration, dutyAtZero: Double, dutyAtMax: Double,
                rpmAtMaxDuty: PumpSpeed, limits: PumpLimits, safeSpeed: PumpSpeed, maxCommandAge: Duration,
                curve: PumpCurve? = nil) {
        self.curve = curve
        self.pwmChip = pwmChip
        self.channel = channel
        self.period = period
        self.dutyAtZero = dutyAtZero
        self.dutyAtMax = dutyAtMax
        self.rpmAtMaxDuty = rpmAtMaxDuty
        self.limits = limits
        self.safeSpeed = safeSpeed
        self.maxCommandAge = maxCommandAge
    }

    /// The speed ↔ duty map of the motor controller (one implementation, in the core).
    public var calibration: PumpSpeedCalibration {
        PumpSpeedCalibration(dutyAtZero: dutyAtZero, dutyAtMax: dutyAtMax, rpmAtMaxDuty: rpmAtMaxDuty)
    }
    /// Duty cycle for a speed, clamped to the calibrated span.
    public func duty(for speed: PumpSpeed) -> Double { calibration.duty(for: speed) }
    /// Speed a duty cycle asks for (inverse of `duty(for:)`).
    public func speed(for duty: Double) -> PumpSpeed { calibration.speed(forDuty: duty) }
}

/// The syringe's mechanics (step/dir stepper on a lead screw).
public struct SyringeDriveConfiguration: Sendable, Equatable {
    public var stepsPerRevolution: Int
    public var microsteps: Int
    public var leadScrewPitchMillimeters: Double
    public var maxStepRateHz: Double
    public init(stepsPerRevolution: Int, microsteps: Int, leadScrewPitchMillimeters: Double, maxStepRateHz: Double) {
        self.stepsPerRevolution = stepsPerRevolution
        self.microsteps = microsteps
        self.leadScrewPitchMillimeters = leadScrewPitchMillimeters
        self.maxStepRateHz = maxStepRateHz
    }

    /// The drive as the infusion core works with it (one conversion, here).
    public var drive: SyringeDrive {
        SyringeDrive(stepsPerRevolution: stepsPerRevolution, microsteps: microsteps,
                     leadMillimeters: leadScrewPitchMillimeters, maximumStepRate: maxStepRateHz)
    }
}

/// The safety co-processor on a rig board (docs/coprocessor.md): an MCU with its own
/// sensor inputs and a pump-permit output in series with the Pi's pump enable.
public struct CoProcessorConfiguration: Sendable, Equatable {
    /// The Pi's UART to the co-processor.
    public var uart: String
    public var baud: Int
    /// How often the Pi sends its heartbeat.
    public var heartbeatEvery: Duration
    /// The Pi counts the co-processor lost after this long without a status frame.
    public var silenceTimeout: Duration
    /// What the co-processor trips on (its image is built with these).
    public var limits: ProtectiveLimits
    /// Where the permit is wired, for the people who wire it.
    public var permitWiring: String
    public init(uart: String, baud: Int, heartbeatEvery: Duration, silenceTimeout: Duration, limits: ProtectiveLimits,
                permitWiring: String) {
        self.uart = uart
        self.baud = baud
        self.heartbeatEvery = heartbeatEvery
        self.silenceTimeout = silenceTimeout
        self.limits = limits
        self.permitWiring = permitWiring
    }
}
