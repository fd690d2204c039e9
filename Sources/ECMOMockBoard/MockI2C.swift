import ECMOCore
import ECMOHAL

/// Register-level behaviour of one simulated I²C chip. The bus calls it once per
/// transfer half, with the caller's buffers; implementations must not allocate.
public protocol I2CDeviceModel: AnyObject {
    /// The master wrote `bytes` (may be empty: a quick write). Return `false` to NAK.
    func write(_ bytes: UnsafeRawBufferPointer, at now: Instant) -> Bool
    /// The master reads `buffer.count` bytes. Return `false` to NAK.
    func read(into buffer: UnsafeMutableRawBufferPointer, at now: Instant) -> Bool
}

/// The mock bus's reference to an address slot, used on the transfer path without ARC
/// traffic. Only the mock board's I²C bus needs it: its devices are models of different
/// types attached and detached at run time (a test double), which fixed `let` slots
/// (`FixedSlots`, what the firmware uses) cannot hold. `slots` owns every slot.
///
/// In a release build, calling a method of another module on a class reference loaded from
/// a stored property costs a retain/release pair (atomic read-modify-writes on a shared
/// cache line), even for a `let`. A tick makes dozens of such calls, and the tick must
/// be free of them. `SlotReference` holds the reference unmanaged and hands it to `with` as a
/// guaranteed reference, so no retain is made. It owns nothing: whoever builds it must keep
/// a strong reference for as long as it is used (the owners keep one beside it).
struct SlotReference<Object: AnyObject> {
    let reference: Unmanaged<Object>

    init(_ object: Object) { reference = .passUnretained(object) }

    /// Calls `body` with the object, without retaining it.
    @inline(__always)
    func with<Result>(_ body: (Object) -> Result) -> Result {
        reference._withUnsafeGuaranteedRef(body)
    }
}


private protocol ModelCall {
    static func write(_ o: Unmanaged<AnyObject>, _ bytes: UnsafeRawBufferPointer, at now: Instant) -> Bool
    static func read(_ o: Unmanaged<AnyObject>, into buffer: UnsafeMutableRawBufferPointer, at now: Instant) -> Bool
}
private enum ModelCallFor<T: I2CDeviceModel>: ModelCall {
    static func write(_ o: Unmanaged<AnyObject>, _ bytes: UnsafeRawBufferPointer, at now: Instant) -> Bool {
        o._withUnsafeGuaranteedRef { unsafeDowncast($0, to: T.self).write(bytes, at: now) }
    }
    static func read(_ o: Unmanaged<AnyObject>, into buffer: UnsafeMutableRawBufferPointer, at now: Instant) -> Bool {
        o._withUnsafeGuaranteedRef { unsafeDowncast($0, to: T.self).read(into: buffer, at: now) }
    }
}

/// A device model called on the transfer path without ARC traffic (see `SlotReference`):
/// the slot's `model` keeps it alive.
struct ModelReference {
    private let object: Unmanaged<AnyObject>
    private let call: any ModelCall.Type
    init(_ model: any I2CDeviceModel) {
        func make<T: I2CDeviceModel>(_ t: T) -> (Unmanaged<AnyObject>, any ModelCall.Type) {
            (Unmanaged.passUnretained(t as AnyObject), ModelCallFor<T>.self)
        }
        (object, call) = make(model)
    }
    @inline(__always) func write(_ bytes: UnsafeRawBufferPointer, at now: Instant) -> Bool { call.write(object, bytes, at: now) }
    @inline(__always) func read(into buffer: UnsafeMutableRawBufferPointer, at now: Instant) -> Bool { call.read(object, into: buffer, at: now) }
}

/// One I²C bus of the mock board: device models attached at 7-bit addresses, and fault
/// injection per address. Every acknowledged write is traced as `.i2cWrite`, every NAKed
/// write attempt as `.i2cNAK`. Nothing on the transfer path allocates.
public final class MockI2CBus {
    public let id: Int
    public let name: String
    private let clock: any MonotonicClock
    private let trace: MockTrace
    private var slots: [AddressSlot?] = Array(repeating: nil, count: 128)
    /// The same slots for the transfer path, without ARC traffic (`slots` owns them).
    private var hotSlots: [SlotReference<AddressSlot>?] = Array(repeating: nil, count: 128)

    init(id: Int, name: String, clock: any MonotonicClock, trace: MockTrace) {
        self.id = id
        self.name = name
        self.clock = clock
        self.trace = trace
    }

    /// State the bus keeps for one address (the model, faults, counters).
    final class AddressSlot {
        var model: (any I2CDeviceModel)? {
            didSet { hotModel = model.map { ModelReference($0) } }
        }
        private(set) var hotModel: ModelReference?
        var naksToInject = 0
        var permanentNAK = false
        var frozen = false
        var transfers = 0
        var naks = 0
        /// The bytes of the last successful read, replayed while frozen.
        let lastRead: UnsafeMutableRawBufferPointer
        var lastReadCount = 0
        init() {
            lastRead = .allocate(byteCount: MockI2CBus.frozenReplayCapacity, alignment: 1)
            lastRead.initializeMemory(as: UInt8.self, repeating: 0xFF)
        }
        deinit { lastRead.deallocate() }
    }

    /// How many bytes of the last read a frozen device can replay.
    static let frozenReplayCapacity = 64

    private func slot(_ address: UInt8) -> AddressSlot? {
        guard address < 0x80 else { return nil }
        if let s = slots[Int(address)] { return s }
        let s = AddressSlot()
        slots[Int(address)] = s
        hotSlots[Int(address)] = SlotReference(s)
        return s
    }

    /// Puts `model` on the bus at `address` (7-bit), replacing whatever was there.
    /// Throws `.invalidArgument` for an address above 0x7F (an 8-bit address by mistake).
    public func attach(_ model: any I2CDeviceModel, at address: UInt8) throws(HALError) {
        guard let s = slot(address) else { throw .invalidArgument(what: "I2C address above 0x7F") }
        s.model = model
    }

    /// Removes the device at `address`; transfers to it NAK from now on.
    public func detach(address: UInt8) {
        guard address < 0x80 else { return }
        slots[Int(address)]?.model = nil
    }

    /// A handle for the device at `address`. Valid whether or not anything is attached:
    /// with nothing there (or an address above 0x7F) every transfer throws `.nak`.
    public func device(at address: UInt8) -> MockI2CDevice {
        _ = slot(address) // so transfers to an empty address are counted too
        return MockI2CDevice(bus: self, address: address)
    }

    /// The model attached at `address`, if any.
    public func model(at address: UInt8) -> (any I2CDeviceModel)? {
        guard address < 0x80 else { return nil }
        return slots[Int(address)]?.model
    }

    // MARK: Fault injection

    /// The next `count` transfers to `address` (write, read or write-read) are NAKed.
    public func injectNAK(address: UInt8, count: Int = 1) {
        slot(address)?.naksToInject = max(0, count)
    }

    /// While `on`, every transfer to `address` is NAKed (device off the bus).
    public func setPermanentNAK(address: UInt8, _ on: Bool) {
        slot(address)?.permanentNAK = on
    }

    /// The device at `address` keeps acknowledging, but its logic is hung: writes are
    /// ignored and every read returns the bytes of its last read before the freeze
    /// (0xFF beyond them, the idle bus level): a stuck value.
    public func freeze(address: UInt8) {
        slot(address)?.frozen = true
    }

    /// Removes injected NAKs, permanent NAK and freeze at `address`.
    public func clearFaults(address: UInt8) {
        guard address < 0x80, let s = slots[Int(address)] else { return }
        s.naksToInject = 0
        s.permanentNAK = false
        s.frozen = false
    }

    /// Transfers attempted to `address` (acknowledged or not).
    public func transferCount(address: UInt8) -> Int {
        guard address < 0x80 else { return 0 }
        return slots[Int(address)]?.transfers ?? 0
    }

    /// Transfers to `address` that were NAKed.
    public func nakCount(address: UInt8) -> Int {
        guard address < 0x80 else { return 0 }
        return slots[Int(address)]?.naks ?? 0
    }

    // MARK: Transfers (no allocation)

    /// Address phase: the slot to talk to, or `nil` for a NAK (counted).
    private func addressPhase(_ address: UInt8) -> SlotReference<AddressSlot>? {
        guard address < 0x80, let hot = hotSlots[Int(address)] else { return nil }
        let answers = hot.with { s -> Bool in
            s.transfers += 1
            guard s.hotModel != nil, !s.permanentNAK else { s.naks += 1; return false }
            if s.naksToInject > 0 {
                s.naksToInject -= 1
                s.naks += 1
                return false
            }
            return true
        }
        return answers ? hot : nil
    }

    private func traceWrite(_ address: UInt8, _ bytes: UnsafeRawBufferPointer, acknowledged: Bool, at now: Instant) {
        let first: UInt8 = bytes.count > 0 ? bytes[0] : 0 // not `.first`: allocates unoptimised
        if acknowledged {
            var payload: UInt64 = 0
            var i = 1
            while i < bytes.count && i <= 6 {
                payload = payload << 8 | UInt64(bytes[i])
                i += 1
            }
            trace.append(TraceEntry(time: now, target: .i2cWrite(bus: id, address: address, firstByte: first, length: bytes.count),
                                    value: Double(payload)))
        } else {
            trace.append(TraceEntry(time: now, target: .i2cNAK(bus: id, address: address, firstByte: first),
                                    value: Double(bytes.count)))
        }
    }

    /// Address and write phase, shared by a plain write and the first half of a
    /// write-then-read: NAK (traced) when nothing answers or the model refuses.
    private func writePhase(_ address: UInt8, _ bytes: UnsafeRawBufferPointer,
                            at now: Instant) throws(HALError) -> (SlotReference<AddressSlot>, ModelReference) {
        guard let hot = addressPhase(address), let model = hot.with({ $0.hotModel }) else {
            traceWrite(address, bytes, acknowledged: false, at: now)
            throw .nak(address: address)
        }
        let accepted = hot.with { s -> Bool in
            if s.frozen { return true }
            guard model.write(bytes, at: now) else { s.naks += 1; return false }
            return true
        }
        guard accepted else {
            traceWrite(address, bytes, acknowledged: false, at: now)
            throw .nak(address: address)
        }
        traceWrite(address, bytes, acknowledged: true, at: now)
        return (hot, model)
    }

    func write(_ address: UInt8, _ bytes: UnsafeRawBufferPointer) throws(HALError) {
        _ = try writePhase(address, bytes, at: clock.now())
    }

    private func readPhase(_ hot: SlotReference<AddressSlot>, _ model: ModelReference, _ address: UInt8,
                           _ buffer: UnsafeMutableRawBufferPointer, at now: Instant) throws(HALError) {
        let ok = hot.with { s -> Bool in
            if s.frozen {
                for i in 0..<buffer.count {
                    buffer[i] = i < s.lastReadCount ? s.lastRead[i] : 0xFF
                }
                return true
            }
            guard model.read(into: buffer, at: now) else {
                s.naks += 1
                return false
            }
            let n = min(buffer.count, s.lastRead.count)
            for i in 0..<n { s.lastRead[i] = buffer[i] }
            s.lastReadCount = n
            return true
        }
        if !ok { throw .nak(address: address) }
    }

    func read(_ address: UInt8, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        let now = clock.now()
        guard let hot = addressPhase(address), let model = hot.with({ $0.hotModel }) else { throw .nak(address: address) }
        try readPhase(hot, model, address, buffer, at: now)
    }

    func writeRead(_ address: UInt8, _ bytes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        let now = clock.now()
        let (s, model) = try writePhase(address, bytes, at: now)
        try readPhase(s, model, address, buffer, at: now)
    }

}

/// The `I2CDevice` handle the drivers get: one address on a `MockI2CBus`.
///
/// The SMBus methods put exactly the bytes of the HAL's default implementations on the
/// wire (register, then the word low byte first), but through a scratch buffer
/// preallocated here instead of `withUnsafeBytes` closures: those closures are
/// `rethrows`, so a typed `HALError` thrown through them is boxed (one allocation per
/// error), and in debug builds the closures themselves allocate. The control loop runs
/// through this handle, so it must allocate nothing, error or not.
public final class MockI2CDevice: I2CDevice {
    public let bus: MockI2CBus
    public let address: UInt8
    /// Set on a sensor-level board: transfers go straight to the device model, with no
    /// bus in between (no address decoding, no trace, no replay buffer).
    public let direct: DirectDeviceLink?
    /// [0..<3]: bytes to write; [4..<6]: bytes read.
    private let scratch: UnsafeMutableRawBufferPointer

    init(bus: MockI2CBus, address: UInt8) {
        self.bus = bus
        self.address = address
        direct = nil
        scratch = .allocate(byteCount: 8, alignment: 1)
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
    }

    /// A device wired straight to its model (`link`); `bus` is only its name's owner.
    public init(bus: MockI2CBus, link: DirectDeviceLink) {
        self.bus = bus
        address = link.address
        direct = link
        scratch = .allocate(byteCount: 8, alignment: 1)
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { scratch.deallocate() }

    // Optional chaining calls the `let` link in place: an `if let` binding around a
    // throwing call costs a retain per transfer (see FixedSlots).
    @inline(__always)
    private func send(_ bytes: UnsafeRawBufferPointer) throws(HALError) {
        if direct != nil { try direct?.write(bytes); return }
        try bus.write(address, bytes)
    }

    @inline(__always)
    private func exchange(_ bytes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        if direct != nil { try direct?.writeRead(bytes, into: buffer); return }
        try bus.writeRead(address, bytes, into: buffer)
    }

    /// Where this device's calls are reported (a HAL transcript), and its id there.
    public var tap: (any HALTap)?
    public var tapID: UInt16 = 0

    public func write(_ bytes: UnsafeRawBufferPointer) throws(HALError) {
        if tap == nil { return try send(bytes) }
        do throws(HALError) { try send(bytes) } catch { report(.i2cWrite, bytes, nil, error); throw error }
        report(.i2cWrite, bytes, nil, nil)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        if tap == nil { return try receive(into: buffer) }
        let n = UInt64(buffer.count).littleEndian
        var failure: HALError?
        do throws(HALError) { try receive(into: buffer) } catch { failure = error }
        withUnsafeBytes(of: n) { report(.i2cRead, $0, failure == nil ? UnsafeRawBufferPointer(buffer) : nil, failure) }
        if let failure { throw failure }
    }

    public func writeRead(_ bytes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        if tap == nil { return try exchange(bytes, into: buffer) }
        do throws(HALError) { try exchange(bytes, into: buffer) } catch { report(.i2cWriteRead, bytes, nil, error); throw error }
        report(.i2cWriteRead, bytes, UnsafeRawBufferPointer(buffer), nil)
    }

    public func readByteData(register: UInt8) throws(HALError) -> UInt8 {
        scratch[0] = register
        try transfer(.i2cReadByteData, write: 0..<1, read: 4..<5)
        return scratch[4]
    }

    public func writeByteData(register: UInt8, value: UInt8) throws(HALError) {
        scratch[0] = register
        scratch[1] = value
        try transfer(.i2cWriteByteData, write: 0..<2, read: nil)
    }

    /// SMBus read word: the first byte on the wire is the low byte of the result.
    public func readWordData(register: UInt8) throws(HALError) -> UInt16 {
        scratch[0] = register
        try transfer(.i2cReadWordData, write: 0..<1, read: 4..<6)
        return UInt16(scratch[4]) | UInt16(scratch[5]) << 8
    }

    /// SMBus write word: the low byte of `value` goes on the wire first.
    public func writeWordData(register: UInt8, value: UInt16) throws(HALError) {
        scratch[0] = register
        scratch[1] = UInt8(truncatingIfNeeded: value)
        scratch[2] = UInt8(truncatingIfNeeded: value >> 8)
        try transfer(.i2cWriteWordData, write: 0..<3, read: nil)
    }

    @inline(__always)
    private func receive(into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        if direct != nil { try direct?.read(into: buffer); return }
        try bus.read(address, into: buffer)
    }

    /// An SMBus transfer through the scratch buffer: the written bytes, then (`read`) the
    /// answer, reported to the tap when there is one.
    @inline(__always)
    private func transfer(_ op: HALTapOp, write w: Range<Int>, read r: Range<Int>?) throws(HALError) {
        let out = UnsafeRawBufferPointer(rebasing: scratch[w])
        if tap == nil {
            if let r { try exchange(out, into: UnsafeMutableRawBufferPointer(rebasing: scratch[r])) } else { try send(out) }
            return
        }
        do throws(HALError) {
            if let r { try exchange(out, into: UnsafeMutableRawBufferPointer(rebasing: scratch[r])) } else { try send(out) }
        } catch {
            report(op, out, nil, error)
            throw error
        }
        report(op, out, r.map { UnsafeRawBufferPointer(rebasing: scratch[$0]) }, nil)
    }

    private func report(_ op: HALTapOp, _ arguments: UnsafeRawBufferPointer, _ results: UnsafeRawBufferPointer?, _ error: HALError?) {
        tap?.call(tapID, op, arguments: arguments, results: results ?? UnsafeRawBufferPointer(start: nil, count: 0), error: error)
    }
}

/// One device model wired straight to its driver, for the sensor-level simulated board.
///
/// What a bus adds that the firmware can see is kept: a device that does not answer
/// (NAK, for a fault or an empty address) and a burst of NAKs. What only a bus test
/// needs is left out: address decoding, the transaction trace, the frozen-device replay.
public final class DirectDeviceLink {
    public let address: UInt8
    private let model: ModelReference?
    /// Keeps the model alive (`model` holds it unretained for the hot path).
    public let owner: (any I2CDeviceModel)?
    private let clock: any MonotonicClock
    /// The device stops acknowledging until cleared (a disconnected sensor).
    public var permanentNAK = false
    /// The next `naksToInject` transfers are not acknowledged.
    public var naksToInject = 0
    public private(set) var transfers = 0
    public private(set) var naks = 0

    /// `model` nil: nothing at this address (every transfer is a NAK).
    public init(address: UInt8, model: (any I2CDeviceModel)?, clock: any MonotonicClock) {
        self.address = address
        self.model = model.map { ModelReference($0) }
        owner = model
        self.clock = clock
    }

    @inline(__always)
    private func answers() -> Bool {
        transfers &+= 1
        guard model != nil, !permanentNAK else { naks &+= 1; return false }
        if naksToInject > 0 {
            naksToInject -= 1
            naks &+= 1
            return false
        }
        return true
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(HALError) {
        guard answers(), model?.write(bytes, at: clock.now()) == true else { throw .nak(address: address) }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        guard answers(), model?.read(into: buffer, at: clock.now()) == true else { throw .nak(address: address) }
    }

    func writeRead(_ bytes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        let now = clock.now()
        guard answers(), model?.write(bytes, at: now) == true, model?.read(into: buffer, at: now) == true else {
            throw .nak(address: address)
        }
    }
}

/// Where a device model gets the quantity it converts when the simulator hands it over
/// on demand (sensor level) instead of publishing it every tick: asked once per
/// finished conversion, so noise is drawn only when a conversion is due.
public protocol ModelInputSource: AnyObject {
    /// Device `device`'s input `channel` at `now`: a pressure in mmHg for an ABP2
    /// (channel 0), an input voltage in volts for an ADC channel.
    func modelInput(device: Int, channel: Int, at now: Instant) -> Double
}

private protocol InputSourceCall {
    static func input(_ o: Unmanaged<AnyObject>, device: Int, channel: Int, at now: Instant) -> Double
}
private enum InputSourceCallFor<T: ModelInputSource>: InputSourceCall {
    static func input(_ o: Unmanaged<AnyObject>, device: Int, channel: Int, at now: Instant) -> Double {
        o._withUnsafeGuaranteedRef { unsafeDowncast($0, to: T.self).modelInput(device: device, channel: channel, at: now) }
    }
}

/// A model's input source held without reference counting (like `ModelReference`): a
/// call through an existential loaded from a weak or unowned field costs a retain, and
/// the models call it at every conversion. (The field is `unowned(unsafe)`, not `weak`:
/// a weak reference gives the board a side table, which sends every retain of it down
/// the slow path: 3 % of a scenario tick.) The simulated board owns its models.
struct InputSourceReference {
    private let object: Unmanaged<AnyObject>
    private let call: any InputSourceCall.Type
    init(_ source: any ModelInputSource) {
        func make<T: ModelInputSource>(_ t: T) -> (Unmanaged<AnyObject>, any InputSourceCall.Type) {
            (Unmanaged.passUnretained(t as AnyObject), InputSourceCallFor<T>.self)
        }
        (object, call) = make(source)
    }
    @inline(__always) func input(device: Int, channel: Int, at now: Instant) -> Double {
        call.input(object, device: device, channel: channel, at: now)
    }
}
