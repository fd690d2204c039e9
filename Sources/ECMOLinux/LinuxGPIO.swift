#if os(Linux) || ECMO_LINUX_EMBEDDED
import ECMOCore
import ECMOHAL
import ECMOBoard

/// The GPIO calls of the backend as a table of function values over our C shim
/// (`CGPIOD/include/ecmo_gpiod.h`, built on libgpiod v1 or v2): `.libgpiod` calls the
/// library, tests put in a fake that fails any call with any errno. Handles are opaque.
/// Results are `>= 0` or `-errno`, as in `LinuxSyscalls`.
public struct GPIOLibrary {
    public struct LineSettings: Sendable, Equatable {
        public var activeLow: Bool
        /// 0 as is, 1 disabled, 2 pull-up, 3 pull-down (the shim's `ecmo_gpio_bias`).
        public var bias: Int32
        /// 0 push-pull, 1 open drain, 2 open source.
        public var drive: Int32
        /// 0 none, 1 rising, 2 falling, 3 both.
        public var edge: Int32
        public var debounceMicroseconds: UInt32
        public init(activeLow: Bool = false, bias: Int32 = 0, drive: Int32 = 0, edge: Int32 = 0, debounceMicroseconds: UInt32 = 0) {
            self.activeLow = activeLow
            self.bias = bias
            self.drive = drive
            self.edge = edge
            self.debounceMicroseconds = debounceMicroseconds
        }
    }

    /// Requests an output driving `value` (logical) from the first instant; the handle, or
    /// nil with -errno in `error`.
    public var requestOutput: (_ chipLabel: String, _ offset: UInt32, _ consumer: String, _ settings: LineSettings,
                               _ value: Bool, _ error: inout Int32) -> OpaquePointer?
    public var requestInput: (_ chipLabel: String, _ offset: UInt32, _ consumer: String, _ settings: LineSettings,
                              _ error: inout Int32) -> OpaquePointer?
    public var set: (_ line: OpaquePointer, _ value: Bool) -> Int32
    /// 0 or 1, or -errno.
    public var get: (_ line: OpaquePointer) -> Int32
    /// Pending edges into the two arrays without blocking: count or -errno.
    public var readEdges: (_ line: OpaquePointer, _ timestamps: UnsafeMutablePointer<UInt64>,
                           _ kinds: UnsafeMutablePointer<UInt8>, _ max: Int32) -> Int32
    public var release: (_ line: OpaquePointer) -> Void
    /// Lines of the chip with this label, or -errno.
    public var chipLines: (_ chipLabel: String) -> Int32
    /// "libgpiod 1.6.3 (v1 API)".
    public var describe: () -> String
    /// The debounce the kernel applies to a requested input, in µs (0: none; libgpiod v1
    /// has none, v2 reports what its request got). Below the board's `debounce_us`, the
    /// line debounces in software (`InputDebouncer`).
    public var kernelDebounce: (_ line: OpaquePointer) -> UInt32

    public init(requestOutput: @escaping (String, UInt32, String, LineSettings, Bool, inout Int32) -> OpaquePointer?,
                requestInput: @escaping (String, UInt32, String, LineSettings, inout Int32) -> OpaquePointer?,
                set: @escaping (OpaquePointer, Bool) -> Int32,
                get: @escaping (OpaquePointer) -> Int32,
                readEdges: @escaping (OpaquePointer, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt8>, Int32) -> Int32,
                release: @escaping (OpaquePointer) -> Void,
                chipLines: @escaping (String) -> Int32,
                describe: @escaping () -> String,
                kernelDebounce: @escaping (OpaquePointer) -> UInt32 = { _ in 0 }) {
        self.kernelDebounce = kernelDebounce
        self.requestOutput = requestOutput
        self.requestInput = requestInput
        self.set = set
        self.get = get
        self.readEdges = readEdges
        self.release = release
        self.chipLines = chipLines
        self.describe = describe
    }

    /// A build without libgpiod: every request fails with ENOSYS and a message saying so.
    public static var unavailable: GPIOLibrary {
        GPIOLibrary(
            requestOutput: { _, _, _, _, _, e in e = -Errno.ENOSYS; return nil },
            requestInput: { _, _, _, _, e in e = -Errno.ENOSYS; return nil },
            set: { _, _ in -Errno.ENOSYS }, get: { _ in -Errno.ENOSYS },
            readEdges: { _, _, _, _ in -Errno.ENOSYS }, release: { _ in },
            chipLines: { _ in -Errno.ENOSYS }, describe: { "no libgpiod in this build" })
    }

    static func settings(bias: LineBias) -> Int32 {
        switch bias {
        case .none: 0
        case .pullUp: 2
        case .pullDown: 3
        }
    }

    static func edge(_ e: EdgeSetting) -> Int32 {
        switch e {
        case .none: 0
        case .rising: 1
        case .falling: 2
        case .both: 3
        }
    }
}

/// The consumer name a line is requested with (what `gpioinfo` shows): "ecmo-rig:clamp".
func gpioConsumer(_ role: String) -> String { "ecmo-rig:\(role)" }

/// An output line held by this process, requested at its safe value. Values are logical:
/// active-low is applied by the kernel through the request's flag.
public final class LinuxOutputLine: DigitalOutput {
    public let chipLabel: String
    public let offset: Int
    let library: GPIOLibrary
    let retry: RetryPolicy
    private var handle: OpaquePointer?

    public init(chipLabel: String, offset: Int, consumer: String, activeLow: Bool, bias: LineBias = .none, safeValue: Bool,
                library: GPIOLibrary, retry: RetryPolicy = .standard) throws(HardwareOpenError) {
        self.chipLabel = chipLabel
        self.offset = offset
        self.library = library
        self.retry = retry
        guard offset >= 0, offset <= Int(UInt32.max) else {
            throw HardwareOpenError(what: "GPIO line \(offset) of \(chipLabel)", cause: .invalidArgument(what: "line offset"))
        }
        var error: Int32 = 0
        let settings = GPIOLibrary.LineSettings(activeLow: activeLow, bias: GPIOLibrary.settings(bias: bias))
        guard let h = library.requestOutput(chipLabel, UInt32(offset), consumer, settings, safeValue, &error) else {
            let e = error < 0 ? -error : Errno.EIO
            throw HardwareOpenError(what: "output \(consumer) (line \(offset) of \(chipLabel))",
                                    cause: .system(operation: "GPIO request output", errno: e),
                                    detail: OpenHint.gpio(label: chipLabel, line: offset, errno: e))
        }
        handle = h
    }

    deinit { if let handle { library.release(handle) } }

    /// Releases the line (it falls back to its power-on default).
    public func release() {
        if let handle { library.release(handle) }
        handle = nil
    }

    public func set(_ asserted: Bool) throws(HALError) {
        guard let h = handle else { throw .disconnected(what: "GPIO output (released)") }
        let lib = library
        let r = retry.run { Int(lib.set(h, asserted)) }
        if r < 0 { throw .system(operation: "GPIO set", errno: Int32(truncatingIfNeeded: -r)) }
    }

    /// What the kernel holds for the line (its logical value).
    public func readBack() throws(HALError) -> Bool {
        guard let h = handle else { throw .disconnected(what: "GPIO output (released)") }
        let lib = library
        let r = retry.run { Int(lib.get(h)) }
        if r < 0 { throw .system(operation: "GPIO get", errno: Int32(truncatingIfNeeded: -r)) }
        return r != 0
    }
}

/// An input line, with kernel-timestamped edge events when the board asks for edges
/// (CLOCK_MONOTONIC, the loop's clock: v2 requests it; v1 gets it from Linux >= 5.7 and
/// the shim moves older kernels' CLOCK_REALTIME stamps onto it).
///
/// `debounce` (the board's `debounce_us`) is the kernel's where it can (v2); where the
/// kernel applies less (v1 always), the line debounces in software: levels read by `read`
/// through an `InputDebouncer` on the monotonic clock of `time`, edges by its edge filter.
public final class LinuxInputLine: DigitalInput {
    public let chipLabel: String
    public let offset: Int
    public let edges: EdgeSetting
    let library: GPIOLibrary
    let retry: RetryPolicy
    private var handle: OpaquePointer?
    private let chunk = 32
    private let timestamps: UnsafeMutablePointer<UInt64>
    private let kinds: UnsafeMutablePointer<UInt8>
    /// Set when the kernel does not debounce as the board asks (see the type's comment).
    public private(set) var softwareDebounce: InputDebouncer?
    private let time: LinuxSyscalls

    public init(chipLabel: String, offset: Int, consumer: String, activeLow: Bool, bias: LineBias, edge: EdgeSetting,
                debounce: Duration = .zero, library: GPIOLibrary, retry: RetryPolicy = .standard,
                time: LinuxSyscalls = .system) throws(HardwareOpenError) {
        self.time = time
        self.chipLabel = chipLabel
        self.offset = offset
        self.edges = edge
        self.library = library
        self.retry = retry
        timestamps = .allocate(capacity: chunk)
        timestamps.initialize(repeating: 0, count: chunk)
        kinds = .allocate(capacity: chunk)
        kinds.initialize(repeating: 0, count: chunk)
        guard offset >= 0, offset <= Int(UInt32.max) else {
            throw HardwareOpenError(what: "GPIO line \(offset) of \(chipLabel)", cause: .invalidArgument(what: "line offset"))
        }
        var error: Int32 = 0
        let us = UInt32(clamping: max(0, debounce.nanoseconds / 1000))
        let settings = GPIOLibrary.LineSettings(activeLow: activeLow, bias: GPIOLibrary.settings(bias: bias),
                                                edge: GPIOLibrary.edge(edge), debounceMicroseconds: us)
        guard let h = library.requestInput(chipLabel, UInt32(offset), consumer, settings, &error) else {
            let e = error < 0 ? -error : Errno.EIO
            throw HardwareOpenError(what: "input \(consumer) (line \(offset) of \(chipLabel))",
                                    cause: .system(operation: "GPIO request input", errno: e),
                                    detail: OpenHint.gpio(label: chipLabel, line: offset, errno: e))
        }
        handle = h
        if us > 0 && library.kernelDebounce(h) < us { softwareDebounce = InputDebouncer(window: debounce) }
    }

    deinit {
        if let handle { library.release(handle) }
        timestamps.deallocate()
        kinds.deallocate()
    }

    public func release() {
        if let handle { library.release(handle) }
        handle = nil
    }

    public func read() throws(HALError) -> Bool {
        guard let h = handle else { throw .disconnected(what: "GPIO input (released)") }
        let lib = library
        let r = retry.run { Int(lib.get(h)) }
        if r < 0 { throw .system(operation: "GPIO get", errno: Int32(truncatingIfNeeded: -r)) }
        if softwareDebounce != nil {
            let now = Instant(nanosecondsSinceOrigin: time.nowNanoseconds())
            return softwareDebounce?.update(r != 0, at: now) ?? (r != 0)
        }
        return r != 0
    }

    public func readEdges(into buffer: UnsafeMutableBufferPointer<EdgeEvent>) throws(HALError) -> Int {
        guard edges != .none, buffer.count > 0 else { return 0 }
        guard let h = handle else { throw .disconnected(what: "GPIO input (released)") }
        var total = 0
        let lib = library
        let ts = timestamps
        let ks = kinds
        while total < buffer.count {
            let want = Int32(min(chunk, buffer.count - total))
            let n = retry.run { Int(lib.readEdges(h, ts, ks, want)) }
            if n < 0 {
                // Report the edges already moved out; a lasting error shows on the next call.
                if total > 0 { return total }
                throw .system(operation: "GPIO read edge events", errno: Int32(truncatingIfNeeded: -n))
            }
            for i in 0..<min(n, Int(want)) {
                let kind: EdgeEvent.Kind = ks[i] == 1 ? .rising : .falling
                let stamp = Instant(nanosecondsSinceOrigin: ts[i])
                if softwareDebounce != nil, softwareDebounce?.acceptEdge(at: stamp) == false { continue }
                buffer[total] = EdgeEvent(kind: kind, timestamp: stamp)
                total += 1
            }
            if n < Int(want) { break }
        }
        return total
    }
}
#endif
