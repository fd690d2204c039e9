#if os(Linux) || ECMO_LINUX_EMBEDDED
import ECMOCore
import ECMOHAL
import ECMOBoard

/// A hardware PWM channel through `/sys/class/pwm/pwmchipN/pwmM`.
///
/// Opening exports the channel if needed, then waits (bounded) until its files appear
/// *and* can be opened: udev fixes their group a moment after the kernel creates them.
/// The `period`, `duty_cycle` and `enable` files stay open, so a duty change is one
/// `pwrite` of digits formatted into a preallocated buffer (no allocation).
///
/// The kernel refuses a duty cycle longer than the period, so a period change writes
/// `period` first when it grows and `duty_cycle` first when it shrinks; the duty keeps
/// its fraction (the HAL's rule). Polarity is set to `normal` while the channel is
/// disabled (the kernel refuses it while enabled), only if it is not normal already.
public final class LinuxPWMChannel: PWMOutput {
    public let chipPath: String
    public let channel: Int
    let syscalls: LinuxSyscalls
    let retry: RetryPolicy
    private var periodFD: Int32 = -1
    private var dutyFD: Int32 = -1
    private var enableFD: Int32 = -1
    public private(set) var periodNanoseconds: UInt64 = 0
    private var dutyFraction: Double = 0
    private let text: UnsafeMutablePointer<UInt8>
    private let textCapacity = 32

    public var channelPath: String { "\(chipPath)/pwm\(channel)" }

    public init(chipPath: String, channel: Int, syscalls: LinuxSyscalls = .system, retry: RetryPolicy = .standard,
                exportTimeout: Duration = .seconds(2)) throws(HardwareOpenError) {
        self.chipPath = chipPath
        self.channel = channel
        self.syscalls = syscalls
        self.retry = retry
        text = .allocate(capacity: 32)
        text.initialize(repeating: 0, count: 32)
        let what = "PWM channel \(channel) of \(chipPath)"
        let dir = "\(chipPath)/pwm\(channel)"
        func fail(_ op: StaticString, _ e: Int32, _ path: String) -> HardwareOpenError {
            HardwareOpenError(what: what, cause: .system(operation: op, errno: e), detail: OpenHint.pwm(path: path, errno: e))
        }
        // Export (EBUSY: already exported, by us last time or by someone else: go on).
        if "\(dir)/enable".withPath({ syscalls.exists($0) }) < 0 {
            let fd = "\(chipPath)/export".withPath { syscalls.open($0, LinuxConstants.writeOnly) }
            guard fd >= 0 else { throw fail("open export", -fd, chipPath) }
            let digits = "\(channel)"
            let count = digits.utf8.count
            let w = digits.withPath { p in retry.run { syscalls.write(fd, UnsafeRawPointer(p), count) } }
            _ = syscalls.close(fd)
            if w < 0 && w != -Int(Errno.EBUSY) { throw fail("write export", Int32(truncatingIfNeeded: -w), chipPath) }
        }
        // Wait for the channel's files to exist and be openable (udev sets their group).
        let deadline = syscalls.monotonicNanoseconds() &+ UInt64(max(0, exportTimeout.nanoseconds))
        var enable: Int32
        while true {
            enable = "\(dir)/enable".withPath { syscalls.open($0, LinuxConstants.readWrite) }
            if enable >= 0 { break }
            let e = -enable
            guard e == Errno.ENOENT || e == Errno.EACCES || e == Errno.EPERM else { throw fail("open enable", e, dir) }
            let now = syscalls.monotonicNanoseconds()
            if now >= deadline {
                // Still missing: say why (gone = export failed; denied = udev rule missing).
                throw fail("open enable", e == Errno.ENOENT ? Errno.ETIMEDOUT : e, dir)
            }
            _ = syscalls.sleepUntil(now &+ 10_000_000)
        }
        enableFD = enable
        let period = "\(dir)/period".withPath { syscalls.open($0, LinuxConstants.readWrite) }
        guard period >= 0 else { throw fail("open period", -period, dir) }
        periodFD = period
        let duty = "\(dir)/duty_cycle".withPath { syscalls.open($0, LinuxConstants.readWrite) }
        guard duty >= 0 else { throw fail("open duty_cycle", -duty, dir) }
        dutyFD = duty
        do {
            periodNanoseconds = try readNumber(periodFD, operation: "read pwm period")
            let d = try readNumber(dutyFD, operation: "read pwm duty_cycle")
            dutyFraction = periodNanoseconds > 0 ? Double(d) / Double(periodNanoseconds) : 0
            try ensureNormalPolarity(dir: dir)
        } catch {
            throw HardwareOpenError(what: what, cause: error, detail: OpenHint.pwm(path: dir, errno: errnoOf(error)))
        }
    }

    deinit {
        // The channel stays exported and as it is: the pump's enable line, not the PWM,
        // is what stops the motor, and the runtime set the safe speed before this.
        for fd in [periodFD, dutyFD, enableFD] where fd >= 0 { _ = syscalls.close(fd) }
        text.deallocate()
    }

    private func errnoOf(_ e: HALError) -> Int32 {
        if case let .system(_, n) = e { return n }
        return Errno.EIO
    }

    private func ensureNormalPolarity(dir: String) throws(HALError) {
        let fd = "\(dir)/polarity".withPath { syscalls.open($0, LinuxConstants.readWrite) }
        // Some PWM drivers have no polarity support (no file): then it is normal.
        if fd == -Errno.ENOENT { return }
        guard fd >= 0 else { throw .system(operation: "open pwm polarity", errno: -fd) }
        defer { _ = syscalls.close(fd) }
        let n = retry.run { syscalls.pread(fd, UnsafeMutableRawPointer(text), textCapacity, 0) }
        guard n >= 0 else { throw .system(operation: "read pwm polarity", errno: Int32(truncatingIfNeeded: -n)) }
        if n >= 6, text[0] == UInt8(ascii: "n") { return }   // "normal\n"
        if try readNumber(enableFD, operation: "read pwm enable") != 0 {
            try writeText(enableFD, "0", operation: "write pwm enable")
        }
        try writeText(fd, "normal", operation: "write pwm polarity")
    }

    // MARK: PWMOutput

    public func setPeriod(nanoseconds: UInt64) throws(HALError) {
        guard nanoseconds > 0, nanoseconds <= 1_000_000_000_000 else { throw .invalidArgument(what: "PWM period") }
        let duty = UInt64((dutyFraction * Double(nanoseconds)).rounded())
        if nanoseconds >= periodNanoseconds {
            try writeNumber(periodFD, nanoseconds, operation: "write pwm period")
            periodNanoseconds = nanoseconds
            try writeNumber(dutyFD, duty, operation: "write pwm duty_cycle")
        } else {
            try writeNumber(dutyFD, duty, operation: "write pwm duty_cycle")
            try writeNumber(periodFD, nanoseconds, operation: "write pwm period")
            periodNanoseconds = nanoseconds
        }
    }

    public func setDutyCycle(_ fraction: Double) throws(HALError) {
        guard fraction.isFinite, fraction >= 0, fraction <= 1 else { throw .invalidArgument(what: "PWM duty cycle (0...1)") }
        guard periodNanoseconds > 0 else { throw .invalidArgument(what: "PWM duty cycle before a period") }
        try writeNumber(dutyFD, UInt64((fraction * Double(periodNanoseconds)).rounded()), operation: "write pwm duty_cycle")
        dutyFraction = fraction
    }

    public func setEnabled(_ enabled: Bool) throws(HALError) {
        try writeNumber(enableFD, enabled ? 1 : 0, operation: "write pwm enable")
    }

    public func readBack() throws(HALError) -> (dutyCycle: Double, enabled: Bool) {
        let period = try readNumber(periodFD, operation: "read pwm period")
        let duty = try readNumber(dutyFD, operation: "read pwm duty_cycle")
        let enabled = try readNumber(enableFD, operation: "read pwm enable")
        guard period > 0 else { throw .deviceFault(what: "PWM period not set (0 ns)") }
        guard duty <= period else { throw .deviceFault(what: "PWM duty cycle longer than its period") }
        return (Double(duty) / Double(period), enabled != 0)
    }

    // MARK: sysfs text, without allocating

    private func writeNumber(_ fd: Int32, _ value: UInt64, operation: StaticString) throws(HALError) {
        guard fd >= 0 else { throw .disconnected(what: "PWM channel") }
        var v = value
        var digits = 0
        repeat { digits += 1; v /= 10 } while v > 0
        v = value
        for i in stride(from: digits - 1, through: 0, by: -1) {
            text[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
        try writeBytes(fd, count: digits, operation: operation)
    }

    private func writeText(_ fd: Int32, _ s: StaticString, operation: StaticString) throws(HALError) {
        let n = s.utf8CodeUnitCount
        for i in 0..<n { text[i] = s.utf8Start[i] }
        try writeBytes(fd, count: n, operation: operation)
    }

    private func writeBytes(_ fd: Int32, count: Int, operation: StaticString) throws(HALError) {
        let sys = syscalls
        let base = UnsafeRawPointer(text)
        let r = retry.run { sys.pwrite(fd, base, count, 0) }
        if r < 0 { throw .system(operation: operation, errno: Int32(truncatingIfNeeded: -r)) }
        if r != count { throw .deviceFault(what: "short write to a PWM sysfs file") }
    }

    private func readNumber(_ fd: Int32, operation: StaticString) throws(HALError) -> UInt64 {
        guard fd >= 0 else { throw .disconnected(what: "PWM channel") }
        let sys = syscalls
        let base = UnsafeMutableRawPointer(text)
        let count = textCapacity
        let n = retry.run { sys.pread(fd, base, count, 0) }
        if n < 0 { throw .system(operation: operation, errno: Int32(truncatingIfNeeded: -n)) }
        var value: UInt64 = 0
        var digits = 0
        for i in 0..<n {
            let c = text[i]
            if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
                guard !o1, !o2 else { throw .deviceFault(what: "PWM sysfs number out of range") }
                value = s
                digits += 1
            } else if c == UInt8(ascii: "\n"), digits > 0, i == n - 1 {
                break
            } else {
                throw .deviceFault(what: "PWM sysfs file holds no number")
            }
        }
        guard digits > 0 else { throw .deviceFault(what: "PWM sysfs file holds no number") }
        return value
    }
}
#endif
