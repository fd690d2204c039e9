#if os(Linux) || ECMO_LINUX_EMBEDDED
import ECMOCore
import ECMOHAL
import ECMOBoard

/// `/dev/watchdog` through the Linux watchdog API. Opening the node arms it, so it is
/// opened in `start(timeout:)`, not before. `kick()` is one `WDIOC_KEEPALIVE` ioctl
/// (allocates nothing) and must come only from a healthy loop. `stop()` writes the magic
/// 'V' before closing: only a clean shutdown disarms it; a crash, a kill or a close
/// without 'V' leaves it running and the board resets to its boot defaults (safe values).
///
/// `bootedAfterWatchdogReset` tells the runtime whether the last reset was the
/// watchdog's (`WDIOF_CARDRESET` in `WDIOC_GETBOOTSTATUS`), so it can raise the latched
/// alarm (`RigLoop.reportBootAfterWatchdogReset()`). Drivers without a boot-status
/// register (softdog) report false.
public final class LinuxWatchdog: Watchdog {
    public let path: String
    let syscalls: LinuxSyscalls
    let retry: RetryPolicy
    private var fd: Int32 = -1
    private let scratch: UnsafeMutablePointer<Int32>
    /// nil until `start`; then whether the previous reset was the watchdog's.
    public private(set) var bootedAfterWatchdogReset: Bool?
    /// The timeout the driver accepted, in seconds.
    public private(set) var timeoutSeconds: Int32 = 0
    public var isArmed: Bool { fd >= 0 }

    public init(path: String, syscalls: LinuxSyscalls = .system, retry: RetryPolicy = .standard) {
        self.path = path
        self.syscalls = syscalls
        self.retry = retry
        scratch = .allocate(capacity: 1)
        scratch.initialize(to: 0)
    }

    deinit {
        // No magic close here: a watchdog that is dropped without `stop()` keeps running,
        // which is the point of a watchdog.
        if fd >= 0 { _ = syscalls.close(fd) }
        scratch.deallocate()
    }

    /// Sets the timeout in whole seconds (the Linux API's unit), opening the node first if
    /// `open()` was not called.
    public func start(timeout: Duration) throws(HALError) {
        let ns = timeout.nanoseconds
        guard ns > 0, ns % 1_000_000_000 == 0, ns / 1_000_000_000 <= Int64(Int32.max) else {
            throw .invalidArgument(what: "watchdog timeout (whole seconds)")
        }
        let seconds = Int32(ns / 1_000_000_000)
        if fd < 0 {
            do { try open() } catch { throw error.cause ?? .system(operation: "open watchdog", errno: Errno.EIO) }
        }
        scratch.pointee = seconds
        let r = retry.run { Int(syscalls.ioctl(fd, LinuxConstants.wdiocSetTimeout, UnsafeMutableRawPointer(scratch))) }
        guard r >= 0 else {
            // Leave it armed with the driver's default timeout: kicks keep it alive, and a
            // failed start is reported, so the caller stops and the watchdog resets the board
            // only if the caller never disarms it cleanly.
            throw .system(operation: "ioctl WDIOC_SETTIMEOUT", errno: Int32(truncatingIfNeeded: -r))
        }
        // The driver writes back the timeout it really uses; longer than asked is unsafe.
        timeoutSeconds = scratch.pointee
        guard scratch.pointee <= seconds, scratch.pointee > 0 else {
            throw .deviceFault(what: "watchdog accepted a different timeout than asked")
        }
    }

    /// Opens (and so arms, at the driver's default timeout until `start` sets ours) the
    /// watchdog, and reads its boot status. The provider calls this, so that a missing
    /// node or a permission problem is reported with what to change.
    public func open() throws(HardwareOpenError) {
        guard fd < 0 else { return }
        let r = path.withPath { syscalls.open($0, LinuxConstants.writeOnly) }
        guard r >= 0 else {
            throw HardwareOpenError(what: "watchdog \(path)", cause: .system(operation: "open watchdog", errno: -r),
                                    detail: OpenHint.watchdog(path: path, errno: -r))
        }
        fd = r
        scratch.pointee = 0
        let b = retry.run { Int(syscalls.ioctl(r, LinuxConstants.wdiocGetBootStatus, UnsafeMutableRawPointer(scratch))) }
        // A driver without boot status (ENOTTY/EINVAL) is not an error: it just cannot tell.
        bootedAfterWatchdogReset = b >= 0 && scratch.pointee & LinuxConstants.wdiofCardReset != 0
    }

    public func kick() throws(HALError) {
        guard fd >= 0 else { throw .disconnected(what: "watchdog (not started)") }
        let fd = self.fd
        let sys = syscalls
        let arg = UnsafeMutableRawPointer(scratch)
        let r = retry.run { Int(sys.ioctl(fd, LinuxConstants.wdiocKeepAlive, arg)) }
        if r < 0 { throw .system(operation: "ioctl WDIOC_KEEPALIVE", errno: Int32(truncatingIfNeeded: -r)) }
    }

    /// The magic close: 'V', then close. If the 'V' cannot be written the watchdog is
    /// closed anyway and stays armed (the board will reset), and the error is reported.
    public func stop() throws(HALError) {
        guard fd >= 0 else { return }
        let fd = self.fd
        self.fd = -1
        let sys = syscalls
        var magic: UInt8 = UInt8(ascii: "V")
        let w = withUnsafePointer(to: &magic) { p in retry.run { sys.write(fd, UnsafeRawPointer(p), 1) } }
        let c = sys.close(fd)
        if w != 1 { throw .system(operation: "watchdog magic close write", errno: w < 0 ? Int32(truncatingIfNeeded: -w) : Errno.EIO) }
        if c < 0 { throw .system(operation: "close watchdog", errno: -c) }
    }
}
#endif
