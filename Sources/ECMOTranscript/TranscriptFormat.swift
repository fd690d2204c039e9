import ECMOCore
import ECMOHAL
import ECMORuntime

// A HAL transcript: everything one run of the loop said to the world and heard back.
//
// Recorded on the hosted build (a scenario on the simulated board), replayed against
// another build of the same loop (the Pi image, aarch64, Embedded Swift, under qemu-user):
// the replay answers every HAL call from the transcript and checks that the firmware makes
// the same call with the same arguments, and leaves the same telemetry frame, field for
// field, bit for bit, after every tick. If it does, the closed loop (plant included) would
// have run identically on that CPU: the plant sees only the HAL writes.
//
// Layout (little-endian):
//   header  "ECMOTRN1", u32 version, u32 sizes of TelemetryFrame / RunSettings /
//           OperatorCommand / CommandResult, str board, str scenario, u64 init instant,
//           u8 watchdog used, RunSettings (its bytes: both ends are 64-bit little-endian
//           builds of the same source, checked by the sizes)
//   records u8 kind, then:
//     open  u8 what, its fields, u8 existing + u16 id, u8 failed (+ str message)
//     call  u16 id, u8 op, blob arguments, u8 error code, i32 error value, blob results
//     will  the loop call (see `TranscriptCodec.putCall`)
//     did   the loop call, the telemetry frame's bytes, u8 has result (+ its bytes)
//     end
//   str = u16 length + UTF-8; blob = u32 length + bytes.

/// The record kinds and constants of the transcript format.
public enum TranscriptFormat {
    public static let magic: [UInt8] = [0x45, 0x43, 0x4D, 0x4F, 0x54, 0x52, 0x4E, 0x31]  // "ECMOTRN1"
    public static let version: UInt32 = 1
    public static let open: UInt8 = 1
    public static let call: UInt8 = 2
    public static let will: UInt8 = 3
    public static let did: UInt8 = 4
    public static let end: UInt8 = 5
}

/// Appends little-endian fields to a byte array.
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []
    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }
    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { little(v) }
    public mutating func u32(_ v: UInt32) { little(v) }
    public mutating func u64(_ v: UInt64) { little(v) }
    private mutating func little<T: FixedWidthInteger>(_ v: T) {
        for i in 0..<(T.bitWidth / 8) { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    public mutating func str(_ s: String) {
        let u = Array(s.utf8.prefix(Int(UInt16.max)))
        u16(UInt16(u.count))
        bytes.append(contentsOf: u)
    }
    public mutating func blob(_ b: UnsafeRawBufferPointer) {
        u32(UInt32(b.count))
        for x in b { bytes.append(x) }
    }
    /// The bytes of a plain value (no references), as they are in memory.
    public mutating func raw<T>(_ value: T) {
        withUnsafeBytes(of: value) { for x in $0 { bytes.append(x) } }
    }
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }
}

/// Why a transcript could not be read or replayed, with where.
public struct TranscriptError: Error, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public init(offset: Int, _ message: String) {
        self.offset = offset
        self.message = message
    }
    public var description: String { "transcript byte \(offset): \(message)" }
}

/// Reads little-endian fields; every read checks the length (a cut or edited file is an
/// error naming the offset, never a trap).
public struct ByteReader {
    public let bytes: [UInt8]
    public private(set) var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var atEnd: Bool { offset >= bytes.count }

    mutating func need(_ n: Int, _ what: StaticString) throws(TranscriptError) {
        guard n >= 0, bytes.count - offset >= n else {
            throw TranscriptError(offset: offset, "cut short reading \(what) (\(n) bytes, \(bytes.count - offset) left)")
        }
    }
    public mutating func u8(_ what: StaticString = "a byte") throws(TranscriptError) -> UInt8 {
        try need(1, what)
        offset += 1
        return bytes[offset - 1]
    }
    public mutating func u16(_ what: StaticString = "u16") throws(TranscriptError) -> UInt16 { try little(what) }
    public mutating func u32(_ what: StaticString = "u32") throws(TranscriptError) -> UInt32 { try little(what) }
    public mutating func u64(_ what: StaticString = "u64") throws(TranscriptError) -> UInt64 { try little(what) }
    private mutating func little<T: FixedWidthInteger>(_ what: StaticString) throws(TranscriptError) -> T {
        let n = T.bitWidth / 8
        try need(n, what)
        var v: T = 0
        for i in 0..<n { v |= T(bytes[offset + i]) << (8 * i) }
        offset += n
        return v
    }
    public mutating func i64(_ what: StaticString = "i64") throws(TranscriptError) -> Int64 { Int64(bitPattern: try u64(what)) }
    public mutating func str(_ what: StaticString = "a string") throws(TranscriptError) -> String {
        let n = Int(try u16(what))
        try need(n, what)
        offset += n
        return String(decoding: bytes[(offset - n)..<offset], as: UTF8.self)
    }
    public mutating func blob(_ what: StaticString = "a blob") throws(TranscriptError) -> ArraySlice<UInt8> {
        let n = Int(try u32(what))
        try need(n, what)
        offset += n
        return bytes[(offset - n)..<offset]
    }
    /// A plain value's bytes into `value` (sizes checked).
    public mutating func raw<T>(into value: inout T, _ what: StaticString) throws(TranscriptError) {
        let n = MemoryLayout<T>.size
        try need(n, what)
        let start = offset
        withUnsafeMutableBytes(of: &value) { dst in
            for i in 0..<n { dst[i] = bytes[start + i] }
        }
        offset += n
    }
}

/// The loop calls and telemetry frames as bytes.
public enum TranscriptCodec {
    public static func putCall(_ c: RigLoopCall, into w: inout ByteWriter) {
        switch c {
        case .configure(let now):
            w.u8(1); w.u64(now.nanosecondsSinceOrigin)
        case .reportBootAfterWatchdogReset:
            w.u8(2)
        case .apply(let command, let source, let now):
            w.u8(3); w.raw(command); w.u8(source.rawValue); w.u64(now.nanosecondsSinceOrigin)
        case .tick(let now, let lateness, let previous, let grant):
            w.u8(4); w.u64(now.nanosecondsSinceOrigin); w.i64(lateness.nanoseconds); w.i64(previous.nanoseconds)
            if let g = grant { w.u8(1); w.i64(g.cells); w.i64(g.heparin) } else { w.u8(0) }
        case .shutdown(let now):
            w.u8(5); w.u64(now.nanosecondsSinceOrigin)
        }
    }

    public static func call(from r: inout ByteReader) throws(TranscriptError) -> RigLoopCall {
        let at = r.offset
        switch try r.u8("a loop call") {
        case 1: return .configure(now: Instant(nanosecondsSinceOrigin: try r.u64()))
        case 2: return .reportBootAfterWatchdogReset
        case 3:
            var command = OperatorCommand.activate
            try r.raw(into: &command, "an operator command")
            guard let source = AlarmActor(rawValue: try r.u8()) else { throw TranscriptError(offset: r.offset - 1, "unknown command source") }
            return .apply(command, from: source, now: Instant(nanosecondsSinceOrigin: try r.u64()))
        case 4:
            let now = Instant(nanosecondsSinceOrigin: try r.u64())
            let lateness = Duration.nanoseconds(try r.i64())
            let previous = Duration.nanoseconds(try r.i64())
            var grant: JournalGrant?
            if try r.u8() != 0 { grant = JournalGrant(cells: try r.i64(), heparin: try r.i64()) }
            return .tick(now: now, lateness: lateness, previousExecution: previous, journalGrant: grant)
        case 5: return .shutdown(now: Instant(nanosecondsSinceOrigin: try r.u64()))
        default: throw TranscriptError(offset: at, "unknown loop call")
        }
    }

    /// The name of a loop call, for messages.
    public static func name(_ c: RigLoopCall) -> String {
        switch c {
        case .configure: "configure"
        case .reportBootAfterWatchdogReset: "report_boot_after_watchdog_reset"
        case .apply(let command, _, _): "apply \(command.name)"
        case .tick: "tick"
        case .shutdown: "shutdown"
        }
    }

    /// Every field of a telemetry frame as its bit pattern, in declaration order: equal
    /// words are equal frames (padding, which a byte comparison of the struct would see,
    /// is not in them).
    public static func words(_ f: TelemetryFrame, into w: inout [UInt64]) {
        w.removeAll(keepingCapacity: true)
        w.append(f.tick); w.append(f.time.nanosecondsSinceOrigin)
        w.append(UInt64(f.state.rawValue)); w.append(UInt64(f.phase.rawValue)); w.append(UInt64(f.faultReason.rawValue))
        w.append(f.drainPressure.mmHg.bitPattern); w.append(f.preOxygenatorPressure.mmHg.bitPattern)
        w.append(f.postOxygenatorPressure.mmHg.bitPattern); w.append(f.flow.litersPerMinute.bitPattern)
        w.append(f.measuredSpeed.rpm.bitPattern); w.append(f.commandedSpeed.rpm.bitPattern)
        w.append(f.pumpEnabled ? 1 : 0); w.append(f.clampClosed ? 1 : 0); w.append(UInt64(f.invalidMask))
        w.append(UInt64(f.sensorErrors)); w.append(UInt64(f.overruns))
        w.append(UInt64(bitPattern: f.lateness.nanoseconds)); w.append(UInt64(bitPattern: f.executionTime.nanoseconds))
        w.append(UInt64(f.highestAlarm)); w.append(UInt64(f.activeAlarms)); w.append(f.speedCeiling.rpm.bitPattern)
        w.append(f.cellsDelivered.milliliters.bitPattern); w.append(f.heparinDelivered.milliliters.bitPattern)
        w.append(UInt64(UInt16(bitPattern: f.infusionItem))); w.append(UInt64(f.cellsHalt)); w.append(f.outflowClamp ? 1 : 0)
        w.append(f.setpointIsFlow ? 1 : 0); w.append(f.setpointValue.bitPattern)
        w.append(UInt64(f.alarmActiveMask)); w.append(UInt64(f.alarmLatchedMask)); w.append(UInt64(f.alarmAcknowledgedMask))
        w.append(f.alarmPriorities); w.append(UInt64(bitPattern: f.audioPauseRemaining.nanoseconds))
        w.append(f.oxygenatorResistance.bitPattern); w.append(f.oxygenatorBaseline.bitPattern)
        w.append(UInt64(f.heparinHalt)); w.append(UInt64(f.protocolFlags))
    }

    /// Names of the fields of `words`, for a divergence message.
    public static let wordNames = [
        "tick", "time", "state", "phase", "fault_reason", "P_drain", "P_pre", "P_post", "flow", "speed", "speed_cmd",
        "pump_enabled", "clamp_closed", "invalid_mask", "sensor_errors", "overruns", "lateness", "exec_time",
        "highest_alarm", "active_alarms", "speed_ceiling", "cells_ml", "heparin_ml", "infusion_item", "cells_halt",
        "outflow_clamp", "setpoint_is_flow", "setpoint", "alarm_active", "alarm_latched", "alarm_acknowledged",
        "alarm_priorities", "audio_pause", "oxy_resistance", "oxy_baseline", "heparin_halt", "protocol_flags",
    ]
}
