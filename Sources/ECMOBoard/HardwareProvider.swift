import ECMOCore
import ECMOHAL

/// Opens the hardware a board file names. One implementation per backend: the
/// simulated board (mock devices driven by the circuit simulator) and the Linux backend
/// (libgpiod, i2c-dev, sysfs PWM, /dev/watchdog). The runtime builds its drivers through
/// this and never knows which one it has: the mock is a backend, not a branch.
public protocol HardwareProvider: AnyObject {
    var clock: any MonotonicClock { get }
    func i2cDevice(bus: String, address: UInt8) throws(HardwareOpenError) -> any I2CDevice
    /// Output lines must be requested driving their safe value from the first instant.
    func outputLine(_ configuration: OutputLineConfiguration) throws(HardwareOpenError) -> any DigitalOutput
    func inputLine(_ configuration: InputLineConfiguration) throws(HardwareOpenError) -> any DigitalInput
    func pwmChannel(chip: String, channel: Int) throws(HardwareOpenError) -> any PWMOutput
    func watchdog(_ configuration: WatchdogConfiguration) throws(HardwareOpenError) -> any Watchdog
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
