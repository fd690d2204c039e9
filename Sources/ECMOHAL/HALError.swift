import ECMOCore

/// Why a hardware operation failed, with the cause the kernel gave where there is one.
/// A value, never a crash: drivers count it, the sample goes invalid, the loop goes on.
/// Carries only static strings so that throwing it from the hot loop allocates nothing.
public enum HALError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed; `errno` as the kernel returned it.
    case system(operation: StaticString, errno: Int32)
    /// An I²C device did not acknowledge its address or a byte.
    case nak(address: UInt8)
    /// No answer within the bounded time.
    case timeout(operation: StaticString)
    /// The line, channel or device is not connected (mock fault, or a missing device).
    case disconnected(what: StaticString)
    /// The device answered but what it said makes no sense (bad status, readback mismatch).
    case deviceFault(what: StaticString)
    /// A value out of the range the device or channel accepts.
    case invalidArgument(what: StaticString)
    /// The backend cannot do this (e.g. raw I²C on an SMBus-only adapter).
    case unsupported(what: StaticString)

    public static func == (a: HALError, b: HALError) -> Bool {
        switch (a, b) {
        case let (.system(o1, e1), .system(o2, e2)): "\(o1)" == "\(o2)" && e1 == e2
        case let (.nak(x), .nak(y)): x == y
        case let (.timeout(x), .timeout(y)): "\(x)" == "\(y)"
        case let (.disconnected(x), .disconnected(y)): "\(x)" == "\(y)"
        case let (.deviceFault(x), .deviceFault(y)): "\(x)" == "\(y)"
        case let (.invalidArgument(x), .invalidArgument(y)): "\(x)" == "\(y)"
        case let (.unsupported(x), .unsupported(y)): "\(x)" == "\(y)"
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .system(op, e): "\(op) failed: errno \(e)"
        case let .nak(a): "I2C device 0x\(String(a, radix: 16)) did not acknowledge"
        case let .timeout(op): "\(op) timed out"
        case let .disconnected(w): "\(w) is disconnected"
        case let .deviceFault(w): "device fault: \(w)"
        case let .invalidArgument(w): "invalid argument: \(w)"
        case let .unsupported(w): "unsupported: \(w)"
        }
    }
}
