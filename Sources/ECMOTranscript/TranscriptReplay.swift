import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMORuntime

/// Where a replayed firmware first did something else than the recorded one.
public struct ReplayDivergence: Error, CustomStringConvertible {
    /// The loop's tick count when it happened (0: while the loop was being built).
    public var tick: UInt64
    public var message: String
    public var description: String { "diverged at tick \(tick): \(message)" }
}

/// The transcript's header.
public struct TranscriptHeader {
    public var board: String
    public var scenario: String
    public var initNow: Instant
    public var useWatchdog: Bool
    public var settings: RunSettings
}

/// The transcript read in order, shared by the replay devices. Once a divergence is
/// found every later call fails quietly (the replay stops at the end of that loop call).
public final class ReplayCursor {
    var reader: ByteReader
    public private(set) var divergence: ReplayDivergence?
    /// The tick in progress (for messages).
    var tick: UInt64 = 0
    /// Device names by id (for messages).
    var names: [UInt16: String] = [:]
    /// HAL calls answered.
    public private(set) var callsChecked = 0
    var now: Instant

    init(reader: ByteReader, now: Instant) {
        self.reader = reader
        self.now = now
    }

    func diverge(_ message: String) {
        if divergence == nil { divergence = ReplayDivergence(tick: tick, message: message) }
    }

    func fail(_ e: TranscriptError) { diverge("unreadable transcript: \(e)") }

    static func hex(_ b: some Collection<UInt8>) -> String {
        let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
        var s = "["
        for (i, x) in b.enumerated() {
            if i > 0 { s += " " }
            s.append(digits[Int(x >> 4)]); s.append(digits[Int(x & 15)])
        }
        return s + "]"
    }

    func name(_ id: UInt16) -> String { names[id] ?? "device \(id)" }

    /// Answers one HAL call from the transcript: checks it is the next recorded call (same
    /// device, same operation, same arguments), copies the recorded results into `results`
    /// (their length must match) and gives the recorded error.
    func answer(_ id: UInt16, _ op: HALTapOp, arguments: UnsafeRawBufferPointer, results: UnsafeMutableRawBufferPointer) -> HALError? {
        if divergence != nil { return .disconnected(what: "replay stopped") }
        do throws(TranscriptError) {
            let at = reader.offset
            let kind = try reader.u8("a record")
            guard kind == TranscriptFormat.call else {
                diverge("the firmware called \(op) on \(name(id)) with \(Self.hex(arguments)); the transcript has no HAL call here (record kind \(kind) at byte \(at))")
                return .disconnected(what: "replay stopped")
            }
            let rid = try reader.u16()
            let rop = try reader.u8()
            let args = try reader.blob("call arguments")
            let code = try reader.u8()
            let value = Int32(bitPattern: try reader.u32())
            let res = try reader.blob("call results")
            guard rid == id, rop == op.rawValue, args.elementsEqual(arguments) else {
                let recorded = HALTapOp(rawValue: rop).map { "\($0)" } ?? "op \(rop)"
                diverge("the firmware called \(op) on \(name(id)) with \(Self.hex(arguments)); the transcript has \(recorded) on \(name(rid)) with \(Self.hex(args)) (byte \(at))")
                return .disconnected(what: "replay stopped")
            }
            callsChecked += 1
            if let e = HALCallBytes.error(code: code, value: value) { return e }
            guard res.count == results.count else {
                diverge("\(op) on \(name(id)): the firmware expects \(results.count) result bytes, the transcript has \(res.count) (byte \(at))")
                return .disconnected(what: "replay stopped")
            }
            for (i, b) in res.enumerated() { results[i] = b }
            return nil
        } catch {
            fail(error)
            return .disconnected(what: "replay stopped")
        }
    }

    /// The next open record, checked against what the firmware opens now.
    func open(_ what: HALTapOpen) -> (id: UInt16, error: HardwareOpenError?) {
        if divergence != nil { return (0, HardwareOpenError(what: "replay", detail: "stopped")) }
        do throws(TranscriptError) {
            let at = reader.offset
            guard try reader.u8("a record") == TranscriptFormat.open else {
                diverge("the firmware opened \(Self.describe(what)); the transcript has no open here (byte \(at))")
                return (0, HardwareOpenError(what: "replay", detail: "diverged"))
            }
            let recorded: HALTapOpen
            switch try reader.u8() {
            case 1: recorded = .i2c(bus: try reader.str(), address: try reader.u8())
            case 2: recorded = .output(role: try reader.str(), chip: try reader.str(), line: Int(try reader.i64()), safeValue: try reader.u8() != 0)
            case 3: recorded = .input(role: try reader.str(), chip: try reader.str(), line: Int(try reader.i64()))
            case 4: recorded = .pwm(chip: try reader.str(), channel: Int(try reader.i64()))
            case 5: recorded = .watchdog(device: try reader.str())
            default: throw TranscriptError(offset: at + 1, "unknown device kind")
            }
            _ = try reader.u8()  // existing: the id says it
            let id = try reader.u16()
            let failed = try reader.u8() != 0
            let message = failed ? try reader.str() : ""
            guard Self.describe(recorded) == Self.describe(what) else {
                diverge("the firmware opened \(Self.describe(what)); the transcript opened \(Self.describe(recorded)) (byte \(at))")
                return (0, HardwareOpenError(what: "replay", detail: "diverged"))
            }
            names[id] = Self.describe(what)
            return (id, failed ? HardwareOpenError(what: Self.describe(what), detail: message) : nil)
        } catch {
            fail(error)
            return (0, HardwareOpenError(what: "replay", detail: "unreadable transcript"))
        }
    }

    static func describe(_ w: HALTapOpen) -> String {
        switch w {
        case .i2c(let bus, let a): "I2C \(bus)@\(a)"
        case .output(let role, let chip, let line, let safe): "output \(role) (\(chip) line \(line), safe \(safe ? 1 : 0))"
        case .input(let role, let chip, let line): "input \(role) (\(chip) line \(line))"
        case .pwm(let chip, let ch): "PWM \(chip)/\(ch)"
        case .watchdog(let d): "watchdog \(d)"
        }
    }
}

private var noBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
private var noResults: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: nil, count: 0) }

/// An I²C device that answers from the transcript.
public final class ReplayI2C: I2CDevice {
    let cursor: ReplayCursor
    let id: UInt16
    public let address: UInt8
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
    init(cursor: ReplayCursor, id: UInt16, address: UInt8) {
        self.cursor = cursor
        self.id = id
        self.address = address
    }
    deinit { scratch.deallocate() }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(HALError) {
        if let e = cursor.answer(id, .i2cWrite, arguments: bytes, results: noResults) { throw e }
    }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        let n = UInt64(buffer.count).littleEndian
        let e = withUnsafeBytes(of: n) { cursor.answer(id, .i2cRead, arguments: $0, results: buffer) }
        if let e { throw e }
    }
    public func writeRead(_ bytes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        if let e = cursor.answer(id, .i2cWriteRead, arguments: bytes, results: buffer) { throw e }
    }
    public func readByteData(register: UInt8) throws(HALError) -> UInt8 {
        scratch[0] = register
        if let e = cursor.answer(id, .i2cReadByteData, arguments: UnsafeRawBufferPointer(rebasing: scratch[0..<1]),
                                 results: UnsafeMutableRawBufferPointer(rebasing: scratch[4..<5])) { throw e }
        return scratch[4]
    }
    public func writeByteData(register: UInt8, value: UInt8) throws(HALError) {
        scratch[0] = register
        scratch[1] = value
        if let e = cursor.answer(id, .i2cWriteByteData, arguments: UnsafeRawBufferPointer(rebasing: scratch[0..<2]), results: noResults) { throw e }
    }
    public func readWordData(register: UInt8) throws(HALError) -> UInt16 {
        scratch[0] = register
        if let e = cursor.answer(id, .i2cReadWordData, arguments: UnsafeRawBufferPointer(rebasing: scratch[0..<1]),
                                 results: UnsafeMutableRawBufferPointer(rebasing: scratch[4..<6])) { throw e }
        return UInt16(scratch[4]) | UInt16(scratch[5]) << 8
    }
    public func writeWordData(register: UInt8, value: UInt16) throws(HALError) {
        scratch[0] = register
        scratch[1] = UInt8(truncatingIfNeeded: value)
        scratch[2] = UInt8(truncatingIfNeeded: value >> 8)
        if let e = cursor.answer(id, .i2cWriteWordData, arguments: UnsafeRawBufferPointer(rebasing: scratch[0..<3]), results: noResults) { throw e }
    }
}

/// An output line that answers from the transcript.
public final class ReplayOutput: DigitalOutput {
    let cursor: ReplayCursor
    let id: UInt16
    init(cursor: ReplayCursor, id: UInt16) {
        self.cursor = cursor
        self.id = id
    }
    public func set(_ asserted: Bool) throws(HALError) {
        let e = HALCallBytes.with(HALCallBytes.bool(asserted)) { cursor.answer(id, .outputSet, arguments: $0, results: noResults) }
        if let e { throw e }
    }
    public func readBack() throws(HALError) -> Bool {
        var b: UInt8 = 0
        let e = withUnsafeMutableBytes(of: &b) { cursor.answer(id, .outputReadBack, arguments: noBytes, results: $0) }
        if let e { throw e }
        return b != 0
    }
}

/// An input line that answers from the transcript (levels and edge events).
public final class ReplayInput: DigitalInput {
    let cursor: ReplayCursor
    let id: UInt16
    private var edgeBytes: [UInt8] = []
    init(cursor: ReplayCursor, id: UInt16) {
        self.cursor = cursor
        self.id = id
    }
    public func read() throws(HALError) -> Bool {
        var b: UInt8 = 0
        let e = withUnsafeMutableBytes(of: &b) { cursor.answer(id, .inputRead, arguments: noBytes, results: $0) }
        if let e { throw e }
        return b != 0
    }
    public func readEdges(into buffer: UnsafeMutableBufferPointer<EdgeEvent>) throws(HALError) -> Int {
        // The number of events is in the transcript: peek at the recorded results' length.
        let n = cursor.recordedResultLength() / HALCallBytes.edgeSize
        guard n <= buffer.count else {
            cursor.diverge("\(cursor.name(id)): the transcript has \(n) edge events for a buffer of \(buffer.count)")
            throw .disconnected(what: "replay stopped")
        }
        edgeBytes = [UInt8](repeating: 0, count: n * HALCallBytes.edgeSize)
        let capacity = UInt64(buffer.count).littleEndian
        let e = withUnsafeBytes(of: capacity) { a in edgeBytes.withUnsafeMutableBytes { cursor.answer(id, .inputEdges, arguments: a, results: $0) } }
        if let e { throw e }
        for i in 0..<n {
            let base = i * HALCallBytes.edgeSize
            var ns: UInt64 = 0
            for k in 0..<8 { ns |= UInt64(edgeBytes[base + 1 + k]) << (8 * UInt64(k)) }
            buffer[i] = EdgeEvent(kind: edgeBytes[base] == 1 ? .rising : .falling, timestamp: Instant(nanosecondsSinceOrigin: ns))
        }
        return n
    }
}

extension ReplayCursor {
    /// The results length of the next record if it is a call (0 otherwise); reads nothing.
    func recordedResultLength() -> Int {
        var r = reader
        do throws(TranscriptError) {
            guard try r.u8() == TranscriptFormat.call else { return 0 }
            _ = try r.u16(); _ = try r.u8(); _ = try r.blob(); _ = try r.u8(); _ = try r.u32()
            return try r.blob().count
        } catch { return 0 }
    }
}

/// A PWM channel that answers from the transcript.
public final class ReplayPWM: PWMOutput {
    let cursor: ReplayCursor
    let id: UInt16
    init(cursor: ReplayCursor, id: UInt16) {
        self.cursor = cursor
        self.id = id
    }
    private func send(_ op: HALTapOp, _ v: UInt64) throws(HALError) {
        let e = HALCallBytes.with(v) { cursor.answer(id, op, arguments: $0, results: noResults) }
        if let e { throw e }
    }
    public func setPeriod(nanoseconds: UInt64) throws(HALError) { try send(.pwmPeriod, nanoseconds) }
    public func setDutyCycle(_ fraction: Double) throws(HALError) { try send(.pwmDuty, fraction.bitPattern) }
    public func setEnabled(_ enabled: Bool) throws(HALError) { try send(.pwmEnabled, enabled ? 1 : 0) }
    public func readBack() throws(HALError) -> (dutyCycle: Double, enabled: Bool) {
        var b: (UInt64, UInt8) = (0, 0)
        var raw = [UInt8](repeating: 0, count: 9)
        let e = raw.withUnsafeMutableBytes { cursor.answer(id, .pwmReadBack, arguments: noBytes, results: $0) }
        if let e { throw e }
        for k in 0..<8 { b.0 |= UInt64(raw[k]) << (8 * UInt64(k)) }
        b.1 = raw[8]
        return (Double(bitPattern: b.0), b.1 != 0)
    }
}

/// A watchdog that answers from the transcript.
public final class ReplayWatchdog: Watchdog {
    let cursor: ReplayCursor
    let id: UInt16
    init(cursor: ReplayCursor, id: UInt16) {
        self.cursor = cursor
        self.id = id
    }
    public func start(timeout: Duration) throws(HALError) {
        let e = HALCallBytes.with(UInt64(bitPattern: timeout.nanoseconds)) { cursor.answer(id, .watchdogStart, arguments: $0, results: noResults) }
        if let e { throw e }
    }
    public func kick() throws(HALError) {
        if let e = cursor.answer(id, .watchdogKick, arguments: noBytes, results: noResults) { throw e }
    }
    public func stop() throws(HALError) {
        if let e = cursor.answer(id, .watchdogStop, arguments: noBytes, results: noResults) { throw e }
    }
}

/// The clock of a replay: the instant of the loop call being replayed.
public final class ReplayClock: MonotonicClock, @unchecked Sendable {
    let cursor: ReplayCursor
    init(cursor: ReplayCursor) { self.cursor = cursor }
    public func now() -> Instant { cursor.now }
    public func sleep(until deadline: Instant) {}
}

/// Hardware that is a transcript: every open and call is answered from it and checked
/// against it. The devices opened twice (the same object handed out again) share an id.
public final class ReplayHardware: HardwareProvider {
    public let cursor: ReplayCursor
    public let clock: any MonotonicClock
    private var i2cs: [UInt16: ReplayI2C] = [:]
    private var outs: [UInt16: ReplayOutput] = [:]
    private var ins: [UInt16: ReplayInput] = [:]
    private var pwms: [UInt16: ReplayPWM] = [:]
    private var dogs: [UInt16: ReplayWatchdog] = [:]

    init(cursor: ReplayCursor) {
        self.cursor = cursor
        clock = ReplayClock(cursor: cursor)
    }

    public func i2cDevice(bus: String, address: UInt8) throws(HardwareOpenError) -> ReplayI2C {
        let (id, e) = cursor.open(.i2c(bus: bus, address: address))
        if let e { throw e }
        if let d = i2cs[id] { return d }
        let d = ReplayI2C(cursor: cursor, id: id, address: address)
        i2cs[id] = d
        return d
    }
    public func outputLine(_ c: OutputLineConfiguration) throws(HardwareOpenError) -> ReplayOutput {
        let (id, e) = cursor.open(.output(role: c.role.rawValue, chip: c.chip, line: c.line, safeValue: c.safeValue))
        if let e { throw e }
        if let d = outs[id] { return d }
        let d = ReplayOutput(cursor: cursor, id: id)
        outs[id] = d
        return d
    }
    public func inputLine(_ c: InputLineConfiguration) throws(HardwareOpenError) -> ReplayInput {
        let (id, e) = cursor.open(.input(role: c.role.rawValue, chip: c.chip, line: c.line))
        if let e { throw e }
        if let d = ins[id] { return d }
        let d = ReplayInput(cursor: cursor, id: id)
        ins[id] = d
        return d
    }
    public func pwmChannel(chip: String, channel: Int) throws(HardwareOpenError) -> ReplayPWM {
        let (id, e) = cursor.open(.pwm(chip: chip, channel: channel))
        if let e { throw e }
        if let d = pwms[id] { return d }
        let d = ReplayPWM(cursor: cursor, id: id)
        pwms[id] = d
        return d
    }
    public func watchdog(_ c: WatchdogConfiguration) throws(HardwareOpenError) -> ReplayWatchdog {
        let (id, e) = cursor.open(.watchdog(device: c.device))
        if let e { throw e }
        if let d = dogs[id] { return d }
        let d = ReplayWatchdog(cursor: cursor, id: id)
        dogs[id] = d
        return d
    }
    public var bootedAfterWatchdogReset: Bool { false }
    public func service(now: Instant) {}
}

/// What a replay found.
public struct ReplayReport {
    public var ticks: UInt64
    public var loopCalls: Int
    public var halCalls: Int
    public var framesCompared: Int
    public var divergence: ReplayDivergence?
    public var passed: Bool { divergence == nil }
}

/// Replays a transcript against this build of the loop.
public final class TranscriptReplay {
    public let header: TranscriptHeader
    private let start: ByteReader

    /// Reads the header; refuses a transcript of another format or of a build whose plain
    /// values have other sizes.
    public init(bytes: [UInt8]) throws(TranscriptError) {
        var r = ByteReader(bytes)
        for b in TranscriptFormat.magic {
            guard try r.u8("the magic") == b else { throw TranscriptError(offset: r.offset - 1, "not a HAL transcript (magic ECMOTRN1)") }
        }
        let version = try r.u32()
        guard version == TranscriptFormat.version else { throw TranscriptError(offset: 8, "version \(version), this build reads \(TranscriptFormat.version)") }
        let sizes = [try r.u32(), try r.u32(), try r.u32(), try r.u32()]
        let mine = [MemoryLayout<TelemetryFrame>.size, MemoryLayout<RunSettings>.size, MemoryLayout<OperatorCommand>.size, MemoryLayout<CommandResult>.size]
        for i in 0..<4 where Int(sizes[i]) != mine[i] {
            throw TranscriptError(offset: 12 + 4 * i, "recorded by a build whose value sizes differ (size \(i): \(sizes[i]) recorded, \(mine[i]) here)")
        }
        let board = try r.str("the board name")
        let scenario = try r.str("the scenario name")
        let initNow = Instant(nanosecondsSinceOrigin: try r.u64())
        let watchdog = try r.u8() != 0
        var settings = RunSettings(mode: .constantFlow(.zero))
        try r.raw(into: &settings, "the run settings")
        header = TranscriptHeader(board: board, scenario: scenario, initNow: initNow, useWatchdog: watchdog, settings: settings)
        start = r
    }

    /// Builds the loop on `board` (the transcript's board, compiled in) over the transcript
    /// and drives it call by call. `afterCall` sees the loop after each call (to drain its
    /// rings into a run record). Stops at the first divergence.
    public func run(board: BoardConfiguration, rings: RigRings? = nil,
                    afterCall: (RigLoop<ReplayHardware>) -> Void = { _ in }) -> ReplayReport {
        let cursor = ReplayCursor(reader: start, now: header.initNow)
        let hw = ReplayHardware(cursor: cursor)
        var report = ReplayReport(ticks: 0, loopCalls: 0, halCalls: 0, framesCompared: 0, divergence: nil)
        let loop: RigLoop<ReplayHardware>
        do throws(RigLoopOpenError) {
            loop = try RigLoop(board: board, hardware: hw, settings: header.settings, useWatchdog: header.useWatchdog, rings: rings)
        } catch {
            cursor.diverge("the loop could not be built: \(error)")
            report.divergence = cursor.divergence
            return report
        }
        var mine: [UInt64] = []
        var theirs: [UInt64] = []
        while cursor.divergence == nil {
            do throws(TranscriptError) {
                let at = cursor.reader.offset
                let kind = try cursor.reader.u8("a record")
                if kind == TranscriptFormat.end { break }
                guard kind == TranscriptFormat.will else {
                    cursor.diverge("the transcript has a HAL call (record kind \(kind) at byte \(at)) the firmware did not make")
                    break
                }
                let call = try TranscriptCodec.call(from: &cursor.reader)
                switch call {
                case .configure(let now):
                    cursor.now = now
                    loop.configure(now: now)
                case .reportBootAfterWatchdogReset:
                    loop.reportBootAfterWatchdogReset()
                case .apply(let command, let source, let now):
                    cursor.now = now
                    let result = loop.apply(command, from: source, now: now)
                    try checkDid(cursor, loop, call, result: result, &mine, &theirs)
                    report.loopCalls += 1
                    afterCall(loop)
                    continue
                case .tick(let now, let lateness, let previous, let grant):
                    cursor.now = now
                    cursor.tick = loop.tickCount + 1
                    if grant != nil, loop.journal == nil {
                        cursor.diverge("the transcript's loop had a delivery journal (a protocol); replaying protocols is not supported")
                        break
                    }
                    loop.tick(now: now, lateness: lateness, previousExecution: previous)
                case .shutdown(let now):
                    cursor.now = now
                    loop.shutdown(now: now)
                }
                try checkDid(cursor, loop, call, result: nil, &mine, &theirs)
                report.loopCalls += 1
                report.framesCompared += 1
                afterCall(loop)
            } catch {
                cursor.fail(error)
            }
        }
        report.ticks = loop.tickCount
        report.halCalls = cursor.callsChecked
        report.divergence = cursor.divergence
        return report
    }

    /// The `did` record of `call`: the same call, the same telemetry frame field for field,
    /// the same command result.
    private func checkDid(_ cursor: ReplayCursor, _ loop: RigLoop<ReplayHardware>, _ call: RigLoopCall, result: CommandResult?,
                          _ mine: inout [UInt64], _ theirs: inout [UInt64]) throws(TranscriptError) {
        guard cursor.divergence == nil else { return }
        let at = cursor.reader.offset
        let kind = try cursor.reader.u8("a record")
        guard kind == TranscriptFormat.did else {
            cursor.diverge("after \(TranscriptCodec.name(call)) the transcript has a HAL call the firmware did not make (byte \(at))")
            return
        }
        _ = try TranscriptCodec.call(from: &cursor.reader)
        var frame = TelemetryFrame()
        try cursor.reader.raw(into: &frame, "a telemetry frame")
        var recorded: CommandResult?
        if try cursor.reader.u8() != 0 {
            var r = CommandResult(refusal: .none)
            try cursor.reader.raw(into: &r, "a command result")
            recorded = r
        }
        TranscriptCodec.words(loop.lastTelemetry, into: &mine)
        TranscriptCodec.words(frame, into: &theirs)
        for i in 0..<mine.count where mine[i] != theirs[i] {
            let name = i < TranscriptCodec.wordNames.count ? TranscriptCodec.wordNames[i] : "field \(i)"
            cursor.diverge("after \(TranscriptCodec.name(call)) the telemetry differs in \(name): \(mine[i]) here, \(theirs[i]) recorded (bit patterns)")
            return
        }
        if recorded != result {
            func text(_ r: CommandResult?) -> String { r.map { $0.accepted ? "accepted" : "refused (\($0.refusal))" } ?? "no result" }
            cursor.diverge("\(TranscriptCodec.name(call)) was \(text(result)) here, \(text(recorded)) recorded")
        }
    }
}

/// Where each HAL call sits in a transcript, and in which tick: for tools and for tests
/// that edit a transcript and expect the replay to find the edit at its tick.
public struct TranscriptCallLocation: Sendable {
    public var tick: UInt64
    public var device: UInt16
    public var op: HALTapOp?
    /// Byte ranges of the call's arguments and results in the file.
    public var arguments: Range<Int>
    public var results: Range<Int>
}

extension TranscriptReplay {
    /// Every HAL call of the transcript, in order, with its tick (0: before the first).
    public func calls() throws(TranscriptError) -> [TranscriptCallLocation] {
        var r = start
        var tick: UInt64 = 0
        var out: [TranscriptCallLocation] = []
        while !r.atEnd {
            let at = r.offset
            switch try r.u8("a record") {
            case TranscriptFormat.end: return out
            case TranscriptFormat.open:
                switch try r.u8() {
                case 1: _ = try r.str(); _ = try r.u8()
                case 2: _ = try r.str(); _ = try r.str(); _ = try r.i64(); _ = try r.u8()
                case 3: _ = try r.str(); _ = try r.str(); _ = try r.i64()
                case 4: _ = try r.str(); _ = try r.i64()
                case 5: _ = try r.str()
                default: throw TranscriptError(offset: at + 1, "unknown device kind")
                }
                _ = try r.u8(); _ = try r.u16()
                if try r.u8() != 0 { _ = try r.str() }
            case TranscriptFormat.call:
                let id = try r.u16()
                let op = HALTapOp(rawValue: try r.u8())
                let a = try r.blob()
                _ = try r.u8(); _ = try r.u32()
                let res = try r.blob()
                out.append(TranscriptCallLocation(tick: tick, device: id, op: op, arguments: a.startIndex..<a.endIndex,
                                                  results: res.startIndex..<res.endIndex))
            case TranscriptFormat.will:
                if case .tick = try TranscriptCodec.call(from: &r) { tick += 1 }
            case TranscriptFormat.did:
                _ = try TranscriptCodec.call(from: &r)
                var f = TelemetryFrame()
                try r.raw(into: &f, "a telemetry frame")
                if try r.u8() != 0 {
                    var c = CommandResult(refusal: .none)
                    try r.raw(into: &c, "a command result")
                }
            default: throw TranscriptError(offset: at, "unknown record kind")
            }
        }
        throw TranscriptError(offset: r.offset, "no end record (the transcript is cut short)")
    }
}
