/// A message on the Pi↔co-processor link (UART, 115200 8N1 on the bench rig).
///
/// Frame: `A5 5A type seq len payload… crc16` — CRC-16/CCITT-FALSE (poly 0x1021, init
/// 0xFFFF) over type, seq, len and payload, little-endian. Each direction numbers its
/// frames (`seq`, wrapping); a receiver takes a frame only if it is newer than the last
/// it took (serial-number arithmetic), so a duplicated or replayed frame does nothing.
public enum CoProcessorMessage: Sendable, Equatable {
    /// Pi → co-processor, every 10 ms: the main controller runs, and whether it drives the pump.
    case heartbeat(pumpCommanded: Bool, lifecycle: UInt8)
    /// Pi → co-processor: give the permit back after trip number `tripCount` (sent only on
    /// the operator's clear-fault and activate).
    case rearm(tripCount: UInt16)
    /// Co-processor → Pi, every 10 ms and on every change.
    case status(CoProcessorStatus)

    public var type: UInt8 {
        switch self {
        case .heartbeat: 0x01
        case .rearm: 0x02
        case .status: 0x81
        }
    }
}

/// The co-processor's state as the Pi sees it.
public struct CoProcessorStatus: Sendable, BitwiseCopyable, Equatable {
    public var permit: Bool
    /// A re-arm would be accepted now (`ProtectiveInterlock.rearmReady`).
    public var ready: Bool
    public var trip: ProtectiveTrip
    public var tripCount: UInt16
    public var causes: ProtectiveCauses
    public var blindChannels: UInt8
    public var lastRefusal: RearmRefusal
    public init(permit: Bool, ready: Bool = false, trip: ProtectiveTrip, tripCount: UInt16, causes: ProtectiveCauses,
                blindChannels: UInt8, lastRefusal: RearmRefusal) {
        self.permit = permit
        self.ready = ready
        self.trip = trip
        self.tripCount = tripCount
        self.causes = causes
        self.blindChannels = blindChannels
        self.lastRefusal = lastRefusal
    }
    public init(_ i: ProtectiveInterlock, now: Instant) {
        self.init(permit: i.permit, ready: i.rearmReady(now: now), trip: i.trip, tripCount: i.tripCount, causes: i.causes,
                  blindChannels: i.blindChannels, lastRefusal: i.lastRefusal)
    }
}

/// Encodes and decodes link frames without allocating (a byte at a time in, a byte at a
/// time out), so the same code runs in the Pi's loop and on the co-processor.
public enum CoProcessorFrame {
    public static let sync0: UInt8 = 0xA5
    public static let sync1: UInt8 = 0x5A
    /// The longest payload any message has.
    public static let maximumPayload = 8

    /// CRC-16/CCITT-FALSE, one byte.
    @inline(__always)
    public static func crc(_ crc: UInt16, _ byte: UInt8) -> UInt16 {
        var c = crc ^ (UInt16(byte) << 8)
        for _ in 0..<8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1 }
        return c
    }

    /// Emits the frame of `message` numbered `sequence`, byte by byte.
    public static func encode(_ message: CoProcessorMessage, sequence: UInt8, _ emit: (UInt8) -> Void) {
        var payload: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
        let length: UInt8
        switch message {
        case .heartbeat(let pump, let lifecycle):
            payload.0 = pump ? 1 : 0
            payload.1 = lifecycle
            length = 2
        case .rearm(let n):
            payload.0 = UInt8(truncatingIfNeeded: n)
            payload.1 = UInt8(truncatingIfNeeded: n >> 8)
            length = 2
        case .status(let s):
            payload = ((s.permit ? 1 : 0) | (s.ready ? 2 : 0), s.trip.rawValue, UInt8(truncatingIfNeeded: s.tripCount),
                       UInt8(truncatingIfNeeded: s.tripCount >> 8), UInt8(truncatingIfNeeded: s.causes.rawValue),
                       UInt8(truncatingIfNeeded: s.causes.rawValue >> 8), s.blindChannels, s.lastRefusal.rawValue)
            length = 8
        }
        emit(sync0)
        emit(sync1)
        var c = crc(crc(crc(0xFFFF, message.type), sequence), length)
        emit(message.type)
        emit(sequence)
        emit(length)
        withUnsafeBytes(of: payload) { bytes in
            for i in 0..<Int(length) {
                c = crc(c, bytes[i])
                emit(bytes[i])
            }
        }
        emit(UInt8(truncatingIfNeeded: c))
        emit(UInt8(truncatingIfNeeded: c >> 8))
    }
}

/// Turns a byte stream into messages: resynchronises on the sync bytes after noise, drops
/// frames with a bad CRC, an unknown type or a wrong length, and counts each.
public struct CoProcessorFrameDecoder: Sendable {
    private enum State: Sendable { case sync0, sync1, type, sequence, length, payload, crc0, crc1 }
    private var state = State.sync0
    private var type: UInt8 = 0
    private var sequence: UInt8 = 0
    private var length = 0
    private var received = 0
    private var crc: UInt16 = 0xFFFF
    private var crcLow: UInt8 = 0
    private var payload: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Frames dropped for a bad CRC.
    public private(set) var crcErrors = 0
    /// Frames dropped for an unknown type, a wrong length or a bad field.
    public private(set) var malformed = 0
    /// Frames decoded.
    public private(set) var frames = 0

    public init() {}

    /// Feeds one byte; returns a message (and its sequence number) when a frame completes.
    public mutating func feed(_ byte: UInt8) -> (message: CoProcessorMessage, sequence: UInt8)? {
        switch state {
        case .sync0:
            if byte == CoProcessorFrame.sync0 { state = .sync1 }
        case .sync1:
            state = byte == CoProcessorFrame.sync1 ? .type : (byte == CoProcessorFrame.sync0 ? .sync1 : .sync0)
        case .type:
            type = byte
            crc = CoProcessorFrame.crc(0xFFFF, byte)
            state = .sequence
        case .sequence:
            sequence = byte
            crc = CoProcessorFrame.crc(crc, byte)
            state = .length
        case .length:
            crc = CoProcessorFrame.crc(crc, byte)
            guard Int(byte) <= CoProcessorFrame.maximumPayload else {
                malformed += 1
                state = .sync0
                return nil
            }
            length = Int(byte)
            received = 0
            state = length == 0 ? .crc0 : .payload
        case .payload:
            crc = CoProcessorFrame.crc(crc, byte)
            let i = received
            withUnsafeMutableBytes(of: &payload) { $0[i] = byte }
            received += 1
            if received == length { state = .crc0 }
        case .crc0:
            crcLow = byte
            state = .crc1
        case .crc1:
            state = .sync0
            guard UInt16(crcLow) | (UInt16(byte) << 8) == crc else {
                crcErrors += 1
                return nil
            }
            guard let m = message() else {
                malformed += 1
                return nil
            }
            frames += 1
            return (m, sequence)
        }
        return nil
    }

    private func message() -> CoProcessorMessage? {
        let p = payload
        switch (type, length) {
        case (0x01, 2):
            guard p.0 <= 1 else { return nil }
            return .heartbeat(pumpCommanded: p.0 == 1, lifecycle: p.1)
        case (0x02, 2):
            return .rearm(tripCount: UInt16(p.0) | UInt16(p.1) << 8)
        case (0x81, 8):
            guard p.0 <= 3, let trip = ProtectiveTrip(rawValue: p.1), let refusal = RearmRefusal(rawValue: p.7) else { return nil }
            return .status(CoProcessorStatus(permit: p.0 & 1 != 0, ready: p.0 & 2 != 0, trip: trip, tripCount: UInt16(p.2) | UInt16(p.3) << 8,
                                             causes: ProtectiveCauses(rawValue: UInt16(p.4) | UInt16(p.5) << 8),
                                             blindChannels: p.6, lastRefusal: refusal))
        default:
            return nil
        }
    }
}

/// Sequence numbers, one direction: a frame is taken only if newer than the last taken.
/// After a silence (the sender restarted) the first valid frame resynchronises.
public struct LinkSequence: Sendable {
    public private(set) var last: UInt8?
    /// Frames refused as duplicates or replays.
    public private(set) var stale = 0
    public init() {}

    public mutating func accept(_ s: UInt8, resynchronise: Bool = false) -> Bool {
        if let l = last, !resynchronise {
            let d = s &- l
            guard d != 0 && d < 128 else {
                stale += 1
                return false
            }
        }
        last = s
        return true
    }
}

/// The co-processor's side of the link: decodes the Pi's frames into the interlock, and
/// answers with status frames every `statusEvery` steps and on every change.
///
/// When the Pi goes silent, the heartbeat cause withdraws the permit after
/// `ProtectiveLimits.heartbeatTimeout` (the pump stops even if the Pi still drives its
/// enable), and the next valid heartbeat resynchronises the sequence. The Pi's side
/// (`CoProcessorSupervisor`) alarms when status frames stop.
public struct CoProcessorEndpoint: Sendable {
    public var interlock: ProtectiveInterlock
    public var decoder = CoProcessorFrameDecoder()
    public var sequence = LinkSequence()
    private var outgoing: UInt8 = 0
    private var stepsSinceStatus = 0
    private var lastSent: CoProcessorStatus?
    public let statusEvery: Int

    public init(limits: ProtectiveLimits = ProtectiveLimits(), statusEvery: Int = 10) {
        interlock = ProtectiveInterlock(limits: limits)
        self.statusEvery = max(1, statusEvery)
    }

    /// Bytes from the UART, as they arrive.
    public mutating func receive(_ byte: UInt8, now: Instant) {
        guard let (m, seq) = decoder.feed(byte) else { return }
        guard sequence.accept(seq, resynchronise: !interlock.heartbeatFresh(now: now)) else { return }
        switch m {
        case .heartbeat(let pump, _): interlock.heartbeat(pumpCommanded: pump, now: now)
        case .rearm(let n): interlock.rearm(tripCount: n, now: now)
        case .status: break
        }
    }

    /// One step of the interlock; emits a status frame when due or changed. Returns the permit.
    @discardableResult
    public mutating func step(_ inputs: ProtectiveInputs, now: Instant, transmit: (UInt8) -> Void) -> Bool {
        let permit = interlock.step(inputs, now: now)
        let s = CoProcessorStatus(interlock, now: now)
        stepsSinceStatus += 1
        if stepsSinceStatus >= statusEvery || lastSent != s {
            stepsSinceStatus = 0
            lastSent = s
            CoProcessorFrame.encode(.status(s), sequence: outgoing, transmit)
            outgoing &+= 1
        }
        return permit
    }
}

/// What the Pi's loop knows of the co-processor in a tick (`CoProcessorSupervisor.view`).
public struct CoProcessorView: Sendable, BitwiseCopyable, Equatable {
    /// A status frame arrived within the silence timeout.
    public var heard: Bool
    /// Its last status: the permit is given.
    public var permit: Bool
    /// It would give the permit back on a re-arm now.
    public var ready: Bool
    public var trip: ProtectiveTrip
    public var tripCount: UInt16
    /// Causes present at the co-processor now (its own inputs).
    public var causes: ProtectiveCauses
    public init(heard: Bool, permit: Bool, ready: Bool = false, trip: ProtectiveTrip = .none, tripCount: UInt16 = 0,
                causes: ProtectiveCauses = []) {
        self.heard = heard
        self.permit = permit
        self.ready = ready
        self.trip = trip
        self.tripCount = tripCount
        self.causes = causes
    }
}

/// The Pi's side of the link: heartbeats out, status frames in, and a verdict on the
/// co-processor the main loop acts on.
///
/// Status frames stop for `silenceTimeout` (100 ms): the co-processor is lost. The Pi then
/// treats the permit as withdrawn (a co-processor that cannot be heard cannot be trusted to
/// protect, and its output may have fallen to "no permit" already): it stops infusion and
/// alarms, and re-arms only through the operator sequence once status frames return.
public struct CoProcessorSupervisor: Sendable {
    public var decoder = CoProcessorFrameDecoder()
    public var sequence = LinkSequence()
    public let silenceTimeout: Duration
    public let heartbeatEvery: Duration
    public private(set) var status: CoProcessorStatus?
    private var lastStatus: Instant?
    private var lastHeartbeat: Instant?
    private var outgoing: UInt8 = 0

    public init(silenceTimeout: Duration = .milliseconds(100), heartbeatEvery: Duration = .milliseconds(10)) {
        self.silenceTimeout = silenceTimeout
        self.heartbeatEvery = heartbeatEvery
    }

    public mutating func receive(_ byte: UInt8, now: Instant) {
        guard let (m, seq) = decoder.feed(byte), case .status(let s) = m else { return }
        guard sequence.accept(seq, resynchronise: silent(now: now)) else { return }
        status = s
        lastStatus = now
    }

    /// No status frame for longer than `silenceTimeout` (or none yet).
    public func silent(now: Instant) -> Bool {
        lastStatus.map { now - $0 > silenceTimeout } ?? true
    }

    /// The pump may run as far as the co-processor is concerned: heard, and permitting.
    public func permits(now: Instant) -> Bool {
        !silent(now: now) && (status?.permit ?? false)
    }

    /// This tick's view for the core.
    public func view(now: Instant) -> CoProcessorView {
        let s = status
        return CoProcessorView(heard: !silent(now: now), permit: s?.permit ?? false, ready: s?.ready ?? false,
                               trip: s?.trip ?? .powerOn,
                               tripCount: s?.tripCount ?? 0, causes: s?.causes ?? [])
    }

    /// Called every tick: sends a heartbeat when one is due.
    public mutating func tick(now: Instant, pumpCommanded: Bool, lifecycle: UInt8, transmit: (UInt8) -> Void) {
        if let l = lastHeartbeat, now - l < heartbeatEvery { return }
        lastHeartbeat = now
        CoProcessorFrame.encode(.heartbeat(pumpCommanded: pumpCommanded, lifecycle: lifecycle), sequence: outgoing, transmit)
        outgoing &+= 1
    }

    /// The operator cleared the fault and activated: ask for the permit back, naming the trip.
    public mutating func requestRearm(transmit: (UInt8) -> Void) -> Bool {
        guard let s = status, !s.permit else { return false }
        CoProcessorFrame.encode(.rearm(tripCount: s.tripCount), sequence: outgoing, transmit)
        outgoing &+= 1
        return true
    }
}
