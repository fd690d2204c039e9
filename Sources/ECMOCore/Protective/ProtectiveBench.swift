/// Runs the co-processor (`CoProcessorEndpoint`) over a scripted bench session: its own
/// sensor inputs step by step, and the bytes the Pi sends, and reports what it did as text
/// lines. The same function runs in the Cortex-M image under QEMU (inputs read over
/// semihosting) and in the hosted tests, so the two reports must be identical byte for
/// byte, and the tests judge the outcome from either.
///
/// Script: a sequence of records, little-endian, one step = 1 ms of co-processor time:
///
///     'S'  repeat:u16  drainage:i16 (0.1 mmHg)  pre:i16 (0.1 mmHg)  flow:u16 (mL/min)
///          speed:u16 (rpm)  flags:u8  linkLength:u8  link bytes…
///
/// flags: bit 0 air, 1 E-stop, 2 drainage unreadable, 3 pre unreadable, 4 flow unreadable,
/// 5 speed unreadable. The link bytes arrive before the record's first step; its inputs
/// hold for `repeat` steps (at least 1).
///
/// Report lines: `trip STEP CAUSE COUNT`, `permit STEP`, `rearm STEP accepted|REFUSAL`,
/// `status STEP HEX` (a status frame whose content changed), and a last line
/// `end STEPS permit=P trips=N crc_errors=N malformed=N stale=N frames_out=N`.
/// A malformed script ends with `error OFFSET WHAT` and false.
public enum ProtectiveBench {
    /// The co-processor's step period.
    public static let period = Duration.milliseconds(1)

    public static func run(script: UnsafeRawBufferPointer, limits: ProtectiveLimits = ProtectiveLimits(),
                           emit: (UnsafeRawBufferPointer) -> Void) -> Bool {
        var endpoint = CoProcessorEndpoint(limits: limits)
        var out = LineWriter()
        var step = 0
        var offset = 0
        var wasPermitted = false
        var attempts = endpoint.interlock.rearmAttempts
        var lastStatus: CoProcessorStatus?
        var framesOut = 0
        var frame = FrameBuffer()

        func u8(_ at: Int) -> UInt8 { script[at] }
        func u16(_ at: Int) -> UInt16 { UInt16(script[at]) | UInt16(script[at + 1]) << 8 }

        while offset < script.count {
            guard script[offset] == 0x53 else {
                out.put("error ")
                out.put(offset)
                out.put(" record does not start with 'S'")
                out.flush(emit)
                return false
            }
            guard offset + 13 <= script.count else {
                out.put("error ")
                out.put(offset)
                out.put(" record truncated")
                out.flush(emit)
                return false
            }
            let repeatCount = max(1, Int(u16(offset + 1)))
            let drain = Int16(bitPattern: u16(offset + 3))
            let pre = Int16(bitPattern: u16(offset + 5))
            let flow = u16(offset + 7)
            let speed = u16(offset + 9)
            let flags = u8(offset + 11)
            let linkLength = Int(u8(offset + 12))
            let linkStart = offset + 13
            guard linkStart + linkLength <= script.count else {
                out.put("error ")
                out.put(offset)
                out.put(" link bytes truncated")
                out.flush(emit)
                return false
            }
            let inputs = ProtectiveInputs(
                drainage: flags & 4 != 0 ? nil : Pressure(mmHg: Double(drain) / 10),
                preOxygenator: flags & 8 != 0 ? nil : Pressure(mmHg: Double(pre) / 10),
                flow: flags & 16 != 0 ? nil : Flow(litersPerMinute: Double(flow) / 1000),
                pumpSpeed: flags & 32 != 0 ? nil : PumpSpeed(rpm: Double(speed)),
                airDetected: flags & 1 != 0, emergencyStop: flags & 2 != 0)
            for r in 0..<repeatCount {
                let now = Instant.origin + period * step
                if r == 0 {
                    for i in 0..<linkLength { endpoint.receive(script[linkStart + i], now: now) }
                    if endpoint.interlock.rearmAttempts != attempts {
                        attempts = endpoint.interlock.rearmAttempts
                        out.put("rearm ")
                        out.put(step)
                        if endpoint.interlock.lastRefusal == .none {
                            out.put(" accepted")
                        } else {
                            out.put(" ")
                            out.put(endpoint.interlock.lastRefusal.description)
                        }
                        out.flush(emit)
                    }
                }
                frame.count = 0
                let permit = endpoint.step(inputs, now: now) { frame.append($0) }
                if frame.count > 0 {
                    framesOut += 1
                    let s = CoProcessorStatus(endpoint.interlock, now: now)
                    if lastStatus != s {
                        lastStatus = s
                        out.put("status ")
                        out.put(step)
                        out.put(" ")
                        frame.forEach { out.putHex($0) }
                        out.flush(emit)
                    }
                }
                if wasPermitted && !permit {
                    out.put("trip ")
                    out.put(step)
                    out.put(" ")
                    out.put(endpoint.interlock.trip.description)
                    out.put(" ")
                    out.put(Int(endpoint.interlock.tripCount))
                    out.flush(emit)
                } else if !wasPermitted && permit {
                    out.put("permit ")
                    out.put(step)
                    out.flush(emit)
                }
                wasPermitted = permit
                step += 1
            }
            offset = linkStart + linkLength
        }
        out.put("end ")
        out.put(step)
        out.put(" permit=")
        out.put(wasPermitted ? 1 : 0)
        out.put(" trips=")
        out.put(Int(endpoint.interlock.tripCount))
        out.put(" crc_errors=")
        out.put(endpoint.decoder.crcErrors)
        out.put(" malformed=")
        out.put(endpoint.decoder.malformed)
        out.put(" stale=")
        out.put(endpoint.sequence.stale)
        out.put(" frames_out=")
        out.put(framesOut)
        out.flush(emit)
        return true
    }
}

/// A bench script record, for writing scripts (tests, tools): the inverse of the reader in
/// `ProtectiveBench.run`.
public struct ProtectiveBenchRecord: Sendable {
    public var repeatCount: UInt16
    public var drainageTenths: Int16
    public var preTenths: Int16
    public var flowMilliliters: UInt16
    public var speedRPM: UInt16
    public var flags: UInt8
    public var link: [UInt8]

    public init(steps: Int, drainage: Double = -40, pre: Double = 180, flow: Double = 4, speed: Double = 3000,
                air: Bool = false, estop: Bool = false, unreadable: UInt8 = 0, link: [UInt8] = []) {
        repeatCount = UInt16(clamping: steps)
        drainageTenths = Int16(clamping: Int((drainage * 10).rounded()))
        preTenths = Int16(clamping: Int((pre * 10).rounded()))
        flowMilliliters = UInt16(clamping: Int((flow * 1000).rounded()))
        speedRPM = UInt16(clamping: Int(speed.rounded()))
        flags = (air ? 1 : 0) | (estop ? 2 : 0) | (unreadable << 2)
        self.link = link
    }

    public func append(to bytes: inout [UInt8]) {
        bytes.append(0x53)
        bytes.append(UInt8(truncatingIfNeeded: repeatCount))
        bytes.append(UInt8(truncatingIfNeeded: repeatCount >> 8))
        let d = UInt16(bitPattern: drainageTenths), p = UInt16(bitPattern: preTenths)
        for v in [d, p, flowMilliliters, speedRPM] {
            bytes.append(UInt8(truncatingIfNeeded: v))
            bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        }
        bytes.append(flags)
        bytes.append(UInt8(clamping: link.count))
        bytes.append(contentsOf: link.prefix(255))
    }
}

/// One frame's bytes, without allocating.
struct FrameBuffer {
    var bytes: (UInt64, UInt64, UInt64) = (0, 0, 0)
    var count = 0
    mutating func append(_ b: UInt8) {
        guard count < 24 else { return }
        let i = count
        withUnsafeMutableBytes(of: &bytes) { $0[i] = b }
        count += 1
    }
    func forEach(_ body: (UInt8) -> Void) {
        withUnsafeBytes(of: bytes) { raw in
            for i in 0..<count { body(raw[i]) }
        }
    }
}

/// A text line built in a fixed buffer (no allocation, no Foundation, no float printing):
/// what a co-processor can afford.
struct LineWriter {
    private var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                         UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    private var count = 0
    static let capacity = 127

    mutating func byte(_ b: UInt8) {
        guard count < Self.capacity else { return }
        let i = count
        withUnsafeMutableBytes(of: &buffer) { $0[i] = b }
        count += 1
    }
    mutating func put(_ s: StaticString) {
        s.withUTF8Buffer { for b in $0 { byte(b) } }
    }
    mutating func put(_ s: String) {
        for b in s.utf8 { byte(b) }
    }
    mutating func put(_ n: Int) {
        if n < 0 {
            byte(45)
            put(0 - n)
            return
        }
        if n >= 10 { put(n / 10) }
        byte(UInt8(48 + n % 10))
    }
    mutating func putHex(_ b: UInt8) {
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { d in
            byte(d[Int(b >> 4)])
            byte(d[Int(b & 15)])
        }
    }
    /// Emits the line with its newline and starts a new one.
    mutating func flush(_ emit: (UnsafeRawBufferPointer) -> Void) {
        byte(10)
        let n = count
        withUnsafeBytes(of: buffer) { emit(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        count = 0
    }
}
