import ECMOCore
import ECMOHAL
import ECMORuntime

/// Records a HAL transcript: attach it to a board (`HALTap`) before the loop is built and
/// to the loop (`RigLoopTap`) once it is; `finish()` gives the bytes.
///
/// A transcript covers one firmware lifetime on one board: a run that reboots its firmware
/// (a watchdog reset, a crash) is refused by `unsupported`, because the replay builds one loop.
public final class TranscriptRecorder: HALTap, RigLoopTap {
    private var w = ByteWriter(capacity: 1 << 20)
    private var nextID: UInt16 = 0
    /// Why this run cannot be replayed (nil: it can).
    public private(set) var unsupported: String?
    private var finished = false

    /// `settings` and `useWatchdog` as the loop is built with; `initNow` the clock when it is.
    public init(board: String, scenario: String, settings: RunSettings, useWatchdog: Bool, initNow: Instant) {
        for b in TranscriptFormat.magic { w.u8(b) }
        w.u32(TranscriptFormat.version)
        w.u32(UInt32(MemoryLayout<TelemetryFrame>.size))
        w.u32(UInt32(MemoryLayout<RunSettings>.size))
        w.u32(UInt32(MemoryLayout<OperatorCommand>.size))
        w.u32(UInt32(MemoryLayout<CommandResult>.size))
        w.str(board)
        w.str(scenario)
        w.u64(initNow.nanosecondsSinceOrigin)
        w.u8(useWatchdog ? 1 : 0)
        w.raw(settings)
        if !_isPOD(RunSettings.self) { unsupported = "run settings hold references (not a plain value)" }
    }

    /// Marks the transcript as not replayable, with why (the first reason wins).
    public func refuse(_ why: String) { if unsupported == nil { unsupported = why } }

    public func opened(_ what: HALTapOpen, existing: UInt16?, error: HardwareOpenError?) -> UInt16 {
        w.u8(TranscriptFormat.open)
        switch what {
        case .i2c(let bus, let address): w.u8(1); w.str(bus); w.u8(address)
        case .output(let role, let chip, let line, let safe): w.u8(2); w.str(role); w.str(chip); w.i64(Int64(line)); w.u8(safe ? 1 : 0)
        case .input(let role, let chip, let line): w.u8(3); w.str(role); w.str(chip); w.i64(Int64(line))
        case .pwm(let chip, let channel): w.u8(4); w.str(chip); w.i64(Int64(channel))
        case .watchdog(let device): w.u8(5); w.str(device)
        }
        let id: UInt16
        if let existing { id = existing } else if error != nil { id = UInt16.max } else { id = nextID; nextID &+= 1 }
        w.u8(existing != nil ? 1 : 0)
        w.u16(id)
        if let error { w.u8(1); w.str(error.description) } else { w.u8(0) }
        return id
    }

    public func call(_ id: UInt16, _ op: HALTapOp, arguments: UnsafeRawBufferPointer, results: UnsafeRawBufferPointer, error: HALError?) {
        w.u8(TranscriptFormat.call)
        w.u16(id)
        w.u8(op.rawValue)
        w.blob(arguments)
        let (code, value) = HALCallBytes.code(of: error)
        w.u8(code)
        w.u32(UInt32(bitPattern: value))
        w.blob(results)
    }

    public func loopWillRun(_ call: RigLoopCall) {
        w.u8(TranscriptFormat.will)
        TranscriptCodec.putCall(call, into: &w)
    }

    public func loopDidRun(_ call: RigLoopCall, telemetry: TelemetryFrame, result: CommandResult?) {
        w.u8(TranscriptFormat.did)
        TranscriptCodec.putCall(call, into: &w)
        w.raw(telemetry)
        if let result { w.u8(1); w.raw(result) } else { w.u8(0) }
    }

    /// The transcript's bytes (ends it).
    public func finish() -> [UInt8] {
        if !finished {
            w.u8(TranscriptFormat.end)
            finished = true
        }
        return w.bytes
    }
}
