#if os(Linux) || ECMO_LINUX_EMBEDDED
import CLinuxIO

/// Every system call the Linux backend makes, as a table of function values (the way
/// swift-system mocks its syscalls): `.system` calls the kernel, tests put in a fake that
/// returns any error they like, so every error path of the backend can be driven on a
/// laptop. Each function returns its result or `-errno`, never touching `errno` itself.
///
/// The hot-path entries (`ioctl`, `pread`, `pwrite`) take raw pointers and return
/// integers: calling them allocates nothing.
public struct LinuxSyscalls {
    public var open: (_ path: UnsafePointer<CChar>, _ flags: Int32) -> Int32
    public var close: (_ fd: Int32) -> Int32
    public var read: (_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int
    public var write: (_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int
    public var pread: (_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int) -> Int
    public var pwrite: (_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ offset: Int) -> Int
    /// ioctl with a pointer argument (SMBus, I2C_RDWR, I2C_FUNCS, watchdog).
    public var ioctl: (_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer?) -> Int32
    /// ioctl with an integer argument (I2C_SLAVE).
    public var ioctlValue: (_ fd: Int32, _ request: UInt, _ argument: UInt) -> Int32
    /// CLOCK_MONOTONIC in nanoseconds.
    public var monotonicNanoseconds: () -> UInt64
    /// Sleeps until an absolute CLOCK_MONOTONIC deadline; 0 or -errno (-EINTR).
    public var sleepUntil: (_ deadlineNanoseconds: UInt64) -> Int32
    /// 0 if the path exists, else -errno.
    public var exists: (_ path: UnsafePointer<CChar>) -> Int32
    /// Puts a serial line in raw mode at a baud rate (termios); 0 or -errno.
    public var configureSerial: (_ fd: Int32, _ baud: UInt32) -> Int32

    public init(open: @escaping (UnsafePointer<CChar>, Int32) -> Int32,
                close: @escaping (Int32) -> Int32,
                read: @escaping (Int32, UnsafeMutableRawPointer, Int) -> Int,
                write: @escaping (Int32, UnsafeRawPointer, Int) -> Int,
                pread: @escaping (Int32, UnsafeMutableRawPointer, Int, Int) -> Int,
                pwrite: @escaping (Int32, UnsafeRawPointer, Int, Int) -> Int,
                ioctl: @escaping (Int32, UInt, UnsafeMutableRawPointer?) -> Int32,
                ioctlValue: @escaping (Int32, UInt, UInt) -> Int32,
                monotonicNanoseconds: @escaping () -> UInt64,
                sleepUntil: @escaping (UInt64) -> Int32,
                exists: @escaping (UnsafePointer<CChar>) -> Int32,
                configureSerial: @escaping (Int32, UInt32) -> Int32 = { ecmo_uart_configure($0, $1) }) {
        self.open = open
        self.close = close
        self.read = read
        self.write = write
        self.pread = pread
        self.pwrite = pwrite
        self.ioctl = ioctl
        self.ioctlValue = ioctlValue
        self.monotonicNanoseconds = monotonicNanoseconds
        self.sleepUntil = sleepUntil
        self.exists = exists
        self.configureSerial = configureSerial
    }

    /// The kernel.
    public static var system: LinuxSyscalls {
        LinuxSyscalls(
            open: { ecmo_sys_open($0, $1) },
            close: { ecmo_sys_close($0) },
            read: { ecmo_sys_read($0, $1, $2) },
            write: { ecmo_sys_write($0, $1, $2) },
            pread: { ecmo_sys_pread($0, $1, $2, off_t($3)) },
            pwrite: { ecmo_sys_pwrite($0, $1, $2, off_t($3)) },
            ioctl: { ecmo_sys_ioctl_ptr($0, $1, $2) },
            ioctlValue: { ecmo_sys_ioctl_value($0, $1, $2) },
            monotonicNanoseconds: { ecmo_sys_monotonic_ns() },
            sleepUntil: { ecmo_sys_sleep_until_ns($0) },
            exists: { ecmo_sys_exists($0) })
    }
}

/// Open flags and request numbers, from the kernel headers of the build machine (the
/// watchdog's are `_IOR`/`_IOWR` macros Swift cannot import, so C computes them).
public enum LinuxConstants {
    public static var readWrite: Int32 { ecmo_flag_rdwr() }
    public static var writeOnly: Int32 { ecmo_flag_wronly() }
    public static var readOnly: Int32 { ecmo_flag_rdonly() }
    public static var serial: Int32 { ecmo_flag_serial() }

    public static let i2cSlave = UInt(I2C_SLAVE)
    public static let i2cFuncs = UInt(I2C_FUNCS)
    public static let i2cRdwr = UInt(I2C_RDWR)
    public static let i2cSMBus = UInt(I2C_SMBUS)
    public static let i2cFuncI2C = UInt(I2C_FUNC_I2C)
    public static let i2cFuncWordData = UInt(I2C_FUNC_SMBUS_READ_WORD_DATA | I2C_FUNC_SMBUS_WRITE_WORD_DATA)

    public static var wdiocSetTimeout: UInt { ecmo_wdioc_settimeout() }
    public static var wdiocGetTimeout: UInt { ecmo_wdioc_gettimeout() }
    public static var wdiocKeepAlive: UInt { ecmo_wdioc_keepalive() }
    public static var wdiocGetBootStatus: UInt { ecmo_wdioc_getbootstatus() }
    public static let wdiofCardReset = Int32(WDIOF_CARDRESET)
}

/// errno values the backend treats specially, with Linux's numbers, so that tests and
/// messages name them without importing Glibc.
public enum Errno {
    public static let EPERM: Int32 = 1
    public static let ENOENT: Int32 = 2
    public static let EINTR: Int32 = 4
    public static let EIO: Int32 = 5
    public static let ENXIO: Int32 = 6
    public static let EAGAIN: Int32 = 11
    public static let ENOMEM: Int32 = 12
    public static let EACCES: Int32 = 13
    public static let EBUSY: Int32 = 16
    public static let ENODEV: Int32 = 19
    public static let EINVAL: Int32 = 22
    public static let ENOTTY: Int32 = 25
    public static let ETIMEDOUT: Int32 = 110
    public static let EOPNOTSUPP: Int32 = 95
    public static let EREMOTEIO: Int32 = 121

    /// A short name for messages ("EACCES"), or the number.
    public static func name(_ e: Int32) -> String {
        switch e {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EINTR: "EINTR"
        case EIO: "EIO"
        case ENXIO: "ENXIO"
        case EAGAIN: "EAGAIN"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EBUSY: "EBUSY"
        case ENODEV: "ENODEV"
        case EINVAL: "EINVAL"
        case ENOTTY: "ENOTTY"
        case ETIMEDOUT: "ETIMEDOUT"
        case EOPNOTSUPP: "EOPNOTSUPP"
        case EREMOTEIO: "EREMOTEIO"
        default: "errno \(e)"
        }
    }
}

/// How often a system call is tried again: EINTR (a signal arrived) and EAGAIN (an I²C
/// adapter lost arbitration) are retried on purpose, a bounded number of times, then
/// reported. Nothing sleeps between attempts: the loop's tick budget is the bound.
public struct RetryPolicy: Sendable, Equatable {
    public var interruptedAttempts: Int
    public var busyAttempts: Int
    public init(interruptedAttempts: Int = 3, busyAttempts: Int = 3) {
        self.interruptedAttempts = max(1, interruptedAttempts)
        self.busyAttempts = max(1, busyAttempts)
    }
    public static let standard = RetryPolicy()

    /// Calls `body` until it returns >= 0 or an error that is not retried; returns the
    /// last result (>= 0, or -errno).
    @inline(__always)
    func run(_ body: () -> Int) -> Int {
        var interrupted = 0
        var busy = 0
        while true {
            let r = body()
            if r >= 0 { return r }
            if r == -Int(Errno.EINTR) {
                interrupted += 1
                if interrupted < interruptedAttempts { continue }
            } else if r == -Int(Errno.EAGAIN) {
                busy += 1
                if busy < busyAttempts { continue }
            }
            return r
        }
    }
}

extension String {
    /// Calls `body` with a C string of `self` (open paths are not on the hot path).
    func withPath<R>(_ body: (UnsafePointer<CChar>) -> R) -> R { withCString(body) }
}
#endif
