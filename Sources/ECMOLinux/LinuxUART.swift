#if os(Linux) || ECMO_LINUX_EMBEDDED
import ECMOCore
import ECMOHAL

/// A serial line (the UART to the safety co-processor) in raw mode, non-blocking: the loop
/// reads what has arrived and queues what it sends, and never waits on the other side.
public final class LinuxUART: ByteStream {
    public let path: String
    public let baud: Int
    let syscalls: LinuxSyscalls
    private var fd: Int32 = -1
    /// Bytes the kernel would not take (its buffer full: the other side is not reading).
    public private(set) var dropped = 0

    public init(path: String, baud: Int, syscalls: LinuxSyscalls = .system) throws(HardwareOpenError) {
        self.path = path
        self.baud = baud
        self.syscalls = syscalls
        let r = path.withPath { syscalls.open($0, LinuxConstants.serial) }
        guard r >= 0 else {
            throw HardwareOpenError(what: "co-processor UART \(path)", cause: .system(operation: "open UART", errno: -r),
                                    detail: -r == 2 ? "no such device: enable the UART (see the board file's coprocessor section)"
                                        : (-r == 13 ? "permission denied: add the user to the dialout group" : ""))
        }
        guard baud > 0, baud <= Int(UInt32.max) else {
            _ = syscalls.close(r)
            throw HardwareOpenError(what: "co-processor UART \(path)", cause: .invalidArgument(what: "baud rate"), detail: "baud \(baud)")
        }
        let c = syscalls.configureSerial(r, UInt32(baud))
        guard c == 0 else {
            _ = syscalls.close(r)
            throw HardwareOpenError(what: "co-processor UART \(path)", cause: .system(operation: "configure UART (termios)", errno: -c),
                                    detail: -c == 22 ? "baud \(baud) is not a rate the line supports" : "not a serial line?")
        }
        fd = r
    }

    deinit {
        if fd >= 0 { _ = syscalls.close(fd) }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(HALError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let n = syscalls.read(fd, base, buffer.count)
        if n >= 0 { return n }
        // EAGAIN/EWOULDBLOCK (11): nothing has arrived; EINTR (4): try next tick.
        if n == -11 || n == -4 { return 0 }
        throw .system(operation: "read UART", errno: Int32(truncatingIfNeeded: -n))
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(HALError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let n = syscalls.write(fd, base, bytes.count)
        if n == bytes.count { return }
        if n >= 0 || n == -11 || n == -4 {
            // A frame cut short is dropped by the receiver's CRC; count it, never wait.
            dropped &+= bytes.count - max(0, n)
            return
        }
        throw .system(operation: "write UART", errno: Int32(truncatingIfNeeded: -n))
    }
}
#endif
