import ECMOCore

/// Opens the hardware a board file names. One implementation per backend: the
/// simulated board (mock devices driven by the circuit simulator) and the Linux backend
/// (libgpiod, i2c-dev, sysfs PWM, /dev/watchdog). The runtime builds its drivers through
/// this and never knows which one it has: the mock is a backend, not a branch.
///
/// Each backend names its concrete device types, so code written against this protocol
/// (drivers, the output guard, the loop) is specialised by the compiler for the board it
/// runs on — ArduPilot picks its HAL backend at build time for the same reason: no
/// existential call, no wrapper, no reference counting on the tick path.
public protocol HardwareProvider: AnyObject {
    associatedtype I2C: I2CDevice
    associatedtype Output: DigitalOutput
    associatedtype Input: DigitalInput
    associatedtype PWM: PWMOutput
    associatedtype WatchdogDevice: Watchdog
    /// The clock the backend's devices are stamped with (not read on the tick path).
    var clock: any MonotonicClock { get }
    func i2cDevice(bus: String, address: UInt8) throws(HardwareOpenError) -> I2C
    /// Output lines must be requested driving their safe value from the first instant.
    func outputLine(_ configuration: OutputLineConfiguration) throws(HardwareOpenError) -> Output
    func inputLine(_ configuration: InputLineConfiguration) throws(HardwareOpenError) -> Input
    func pwmChannel(chip: String, channel: Int) throws(HardwareOpenError) -> PWM
    func watchdog(_ configuration: WatchdogConfiguration) throws(HardwareOpenError) -> WatchdogDevice
    /// What the board knows about why it last started (a watchdog reset, on Linux
    /// `WDIOF_CARDRESET`): the boot sequence decides on it. Read once, after `watchdog`.
    var bootedAfterWatchdogReset: Bool { get }
    /// Called at the start of every tick, before sensors are read. A simulated board
    /// advances its physics to `now` here; real hardware has nothing to do.
    func service(now: Instant)
}

/// Hardware that could not be opened, naming what and where.
public struct HardwareOpenError: Error, CustomStringConvertible {
    public var what: String
    public var cause: HALError?
    public var detail: String
    public init(what: String, cause: HALError? = nil, detail: String = "") {
        self.what = what
        self.cause = cause
        self.detail = detail
    }
    public var description: String {
        var s = "cannot open \(what)"
        if let cause { s += ": \(cause)" }
        if !detail.isEmpty { s += " (\(detail))" }
        return s
    }
}

public struct WatchdogConfiguration: Sendable, Equatable {
    /// `/dev/watchdog` on a rig, `sim` on a simulated board.
    public var device: String
    public var timeout: Duration
    public init(device: String, timeout: Duration) {
        self.device = device
        self.timeout = timeout
    }
}

public enum LineBias: String, Sendable, Equatable, CaseIterable {
    case none = "none"
    case pullUp = "pull_up"
    case pullDown = "pull_down"
}

public struct InputLineConfiguration: Sendable, Equatable {
    public var role: InputRole
    public var chip: String
    public var line: Int
    public var activeLow: Bool
    public var bias: LineBias
    public var edge: EdgeSetting
    /// Tachometer only: pulses per pump revolution.
    public var pulsesPerRevolution: Int?
    /// Contact debounce (kernel debounce where supported).
    public var debounce: Duration
    public init(role: InputRole, chip: String, line: Int, activeLow: Bool, bias: LineBias, edge: EdgeSetting,
                pulsesPerRevolution: Int?, debounce: Duration) {
        self.role = role
        self.chip = chip
        self.line = line
        self.activeLow = activeLow
        self.bias = bias
        self.edge = edge
        self.pulsesPerRevolution = pulsesPerRevolution
        self.debounce = debounce
    }
}

public enum EdgeSetting: String, Sendable, Equatable, CaseIterable {
    case none, rising, falling, both
}

/// A digital output: where it is, and what it must fall back to.
public struct OutputLineConfiguration: Sendable, Equatable {
    public var role: ActuatorRole
    public var chip: String
    public var line: Int
    public var activeLow: Bool
    /// Logical value at boot, on shutdown, in fault, and whenever commands stop.
    public var safeValue: Bool
    /// If the controller has not commanded the output for this long, the output guard
    /// puts it to `safeValue` by itself (Klipper's max command age).
    public var maxCommandAge: Duration
    public init(role: ActuatorRole, chip: String, line: Int, activeLow: Bool, safeValue: Bool, maxCommandAge: Duration) {
        self.role = role
        self.chip = chip
        self.line = line
        self.activeLow = activeLow
        self.safeValue = safeValue
        self.maxCommandAge = maxCommandAge
    }
}
