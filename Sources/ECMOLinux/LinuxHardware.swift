#if os(Linux) || ECMO_LINUX_EMBEDDED
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOPosix

/// The rig's clock is ECMOPosix's monotonic clock read through this backend's syscall
/// table, so the fake kernel of the tests drives it (and interrupts its sleeps) too.
extension LinuxSyscalls: MonotonicTimeSource {
    public func nowNanoseconds() -> UInt64 { monotonicNanoseconds() }
    public func sleep(untilNanoseconds deadline: UInt64) -> MonotonicSleepResult {
        switch sleepUntil(deadline) {
        case 0: .reached
        case -Errno.EINTR: .interrupted
        default: .failed
        }
    }
}

/// The Linux hardware backend for a `kind: rig` board: i2c-dev buses, libgpiod lines
/// (chips found by label), sysfs PWM and `/dev/watchdog`. Opens what the runtime asks for,
/// by the board's ids; every failure is a `HardwareOpenError` naming the device and what
/// to change. Nothing here falls back to a mock.
///
/// Owned by the loop thread (not thread-safe by design).
public final class LinuxHardware: HardwareProvider {
    public let board: BoardConfiguration
    public let clock: any MonotonicClock
    public let syscalls: LinuxSyscalls
    public let gpio: GPIOLibrary
    public let retry: RetryPolicy
    private var buses: [String: LinuxI2CBus] = [:]
    /// Every line and channel opened, in order (for `board probe` and diagnostics).
    public private(set) var outputs: [ActuatorRole: LinuxOutputLine] = [:]
    public private(set) var inputs: [InputRole: LinuxInputLine] = [:]
    public private(set) var pwmChannels: [String: LinuxPWMChannel] = [:]
    /// The watchdog, once the runtime asked for it.
    public private(set) var openedWatchdog: LinuxWatchdog?

    public init(board: BoardConfiguration, syscalls: LinuxSyscalls = .system, gpio: GPIOLibrary = LinuxHardware.defaultGPIO,
                retry: RetryPolicy = .standard) throws(HardwareOpenError) {
        guard board.kind == .rig else {
            throw HardwareOpenError(what: "board \(board.name)", detail: "a simulated board has no Linux hardware; use the simulator")
        }
        self.board = board
        self.syscalls = syscalls
        self.gpio = gpio
        self.retry = retry
        clock = PosixMonotonicClock(source: syscalls)
    }

    /// libgpiod where this build has it; otherwise a library whose requests fail saying so.
    public static var defaultGPIO: GPIOLibrary {
        #if ECMO_NO_GPIOD
        .unavailable
        #else
        .libgpiod
        #endif
    }

    /// The bus for a board bus id, opened once and shared by its devices.
    public func bus(_ id: String) throws(HardwareOpenError) -> LinuxI2CBus {
        guard let config = board.i2cBuses[id] else {
            throw HardwareOpenError(what: "I2C bus \(id)", detail: "not on board \(board.name)")
        }
        if let b = buses[id], b.isOpen { return b }
        let b = try LinuxI2CBus(path: config.path, syscalls: syscalls, retry: retry)
        buses[id] = b
        return b
    }

    public func i2cDevice(bus id: String, address: UInt8) throws(HardwareOpenError) -> LinuxI2CDevice {
        try bus(id).device(address: address)
    }

    private func chipLabel(_ id: String) throws(HardwareOpenError) -> String {
        guard let chip = board.gpioChips[id] else {
            throw HardwareOpenError(what: "GPIO chip \(id)", detail: "not on board \(board.name)")
        }
        return chip.label
    }

    public func outputLine(_ c: OutputLineConfiguration) throws(HardwareOpenError) -> LinuxOutputLine {
        if let existing = outputs[c.role] { return existing }
        let line = try LinuxOutputLine(chipLabel: chipLabel(c.chip), offset: c.line, consumer: gpioConsumer(c.role.rawValue),
                                       activeLow: c.activeLow, safeValue: c.safeValue, library: gpio, retry: retry)
        outputs[c.role] = line
        return line
    }

    public func inputLine(_ c: InputLineConfiguration) throws(HardwareOpenError) -> LinuxInputLine {
        if let existing = inputs[c.role] { return existing }
        let line = try LinuxInputLine(chipLabel: chipLabel(c.chip), offset: c.line, consumer: gpioConsumer(c.role.rawValue),
                                      activeLow: c.activeLow, bias: c.bias, edge: c.edge, debounce: c.debounce,
                                      library: gpio, retry: retry, time: syscalls)
        inputs[c.role] = line
        return line
    }

    public func pwmChannel(chip: String, channel: Int) throws(HardwareOpenError) -> LinuxPWMChannel {
        guard let config = board.pwmChips[chip] else {
            throw HardwareOpenError(what: "PWM chip \(chip)", detail: "not on board \(board.name)")
        }
        let key = "\(config.path)/pwm\(channel)"
        if let existing = pwmChannels[key] { return existing }
        let ch = try LinuxPWMChannel(chipPath: config.path, channel: channel, syscalls: syscalls, retry: retry)
        pwmChannels[key] = ch
        return ch
    }

    /// Opens (arms) the watchdog and reads its boot status; `RigLoop` then sets the timeout.
    public func watchdog(_ configuration: WatchdogConfiguration) throws(HardwareOpenError) -> LinuxWatchdog {
        if let w = openedWatchdog { return w }
        let w = LinuxWatchdog(path: configuration.device, syscalls: syscalls, retry: retry)
        try w.open()
        openedWatchdog = w
        return w
    }

    /// `WDIOF_CARDRESET` in the watchdog's boot status (false until the watchdog is opened).
    public var bootedAfterWatchdogReset: Bool { openedWatchdog?.bootedAfterWatchdogReset ?? false }

    /// Real hardware has nothing to advance.
    public func service(now: Instant) {}

    /// Releases every line (each falls back to its power-on default) and closes the buses.
    /// The watchdog is left alone: only `Watchdog.stop()` disarms it.
    public func close() {
        for l in outputs.values { l.release() }
        for l in inputs.values { l.release() }
        for b in buses.values { b.close() }
        outputs = [:]
        inputs = [:]
        buses = [:]
        pwmChannels = [:]
    }
}
#endif
