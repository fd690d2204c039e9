import ECMOCore

/// One kind of call the firmware makes through the HAL. A tap sees every call with its
/// arguments and results as bytes (`HALCallBytes`), so one recorder and one replayer
/// cover every device kind: a transcript of the calls, replayed against the firmware
/// built for another CPU, shows it asks the hardware the same things and decides the same.
public enum HALTapOp: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case i2cWrite = 0x10, i2cRead, i2cWriteRead, i2cReadByteData, i2cWriteByteData, i2cReadWordData, i2cWriteWordData
    case outputSet = 0x20, outputReadBack, inputRead, inputEdges
    case pwmPeriod = 0x30, pwmDuty, pwmEnabled, pwmReadBack
    case watchdogStart = 0x40, watchdogKick, watchdogStop

    public var description: String {
        switch self {
        case .i2cWrite: "i2c_write"
        case .i2cRead: "i2c_read"
        case .i2cWriteRead: "i2c_write_read"
        case .i2cReadByteData: "i2c_read_byte_data"
        case .i2cWriteByteData: "i2c_write_byte_data"
        case .i2cReadWordData: "i2c_read_word_data"
        case .i2cWriteWordData: "i2c_write_word_data"
        case .outputSet: "output_set"
        case .outputReadBack: "output_read_back"
        case .inputRead: "input_read"
        case .inputEdges: "input_edges"
        case .pwmPeriod: "pwm_period"
        case .pwmDuty: "pwm_duty"
        case .pwmEnabled: "pwm_enabled"
        case .pwmReadBack: "pwm_read_back"
        case .watchdogStart: "watchdog_start"
        case .watchdogKick: "watchdog_kick"
        case .watchdogStop: "watchdog_stop"
        }
    }
}

/// What was opened through a `HardwareProvider` (the arguments of the open call).
public enum HALTapOpen: Sendable {
    case i2c(bus: String, address: UInt8)
    case output(role: String, chip: String, line: Int, safeValue: Bool)
    case input(role: String, chip: String, line: Int)
    case pwm(chip: String, channel: Int)
    case watchdog(device: String)
}

/// Sees the HAL calls of a firmware: what it opened and every call on what it opened,
/// in order. Mock devices report to one when it is attached (a HAL transcript); nil, the
/// normal case, costs one nil check per call and nothing else.
public protocol HALTap: AnyObject {
    /// An open call and its outcome; returns the id the device's calls are reported with
    /// (`existing`: the backend handed out an object it had opened before).
    func opened(_ what: HALTapOpen, existing: UInt16?, error: HardwareOpenError?) -> UInt16
    /// One call on device `id`: its arguments and results encoded by `HALCallBytes`, and
    /// the error it threw (results empty then).
    func call(_ id: UInt16, _ op: HALTapOp, arguments: UnsafeRawBufferPointer, results: UnsafeRawBufferPointer, error: HALError?)
}

/// The byte encodings of HAL call arguments and results, little-endian, shared by the
/// recording side (mock devices) and the replaying side so they cannot disagree.
public enum HALCallBytes {
    /// A bool as one byte.
    @inline(__always) public static func bool(_ b: Bool) -> UInt8 { b ? 1 : 0 }

    /// Calls `body` with `value`'s little-endian bytes (integers and Double bit patterns).
    @inline(__always)
    public static func with<R>(_ value: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: value.littleEndian, body)
    }

    @inline(__always)
    public static func with<R>(_ byte: UInt8, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: byte, body)
    }

    /// Reads a little-endian integer at `offset` (0 when the buffer is too short).
    public static func u64(_ b: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64 {
        guard offset >= 0, b.count >= offset + 8 else { return 0 }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(b[offset + i]) << (8 * UInt64(i)) }
        return v
    }

    /// An edge event as 9 bytes: kind, then its timestamp in nanoseconds.
    public static let edgeSize = 9

    /// The error's kind and number for a transcript: 0 none; 1 system (errno); 2 NAK
    /// (address); 3 timeout; 4 disconnected; 5 device fault; 6 invalid argument; 7 unsupported.
    public static func code(of error: HALError?) -> (UInt8, Int32) {
        switch error {
        case nil: (0, 0)
        case .system(_, let e)?: (1, e)
        case .nak(let a)?: (2, Int32(a))
        case .timeout?: (3, 0)
        case .disconnected?: (4, 0)
        case .deviceFault?: (5, 0)
        case .invalidArgument?: (6, 0)
        case .unsupported?: (7, 0)
        }
    }

    /// The error back from its code. The text is not kept (a `StaticString` cannot cross
    /// processes); the firmware acts on the kind and number only, never on the text.
    public static func error(code: UInt8, value: Int32) -> HALError? {
        switch code {
        case 0: nil
        case 1: .system(operation: "replayed", errno: value)
        case 2: .nak(address: UInt8(truncatingIfNeeded: value))
        case 3: .timeout(operation: "replayed")
        case 4: .disconnected(what: "replayed")
        case 5: .deviceFault(what: "replayed")
        case 6: .invalidArgument(what: "replayed")
        default: .unsupported(what: "replayed")
        }
    }
}
