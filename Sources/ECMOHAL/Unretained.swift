/// A reference that the control loop uses without ARC traffic.
///
/// In a release build, calling a method of another module on a class reference loaded from
/// a stored property costs a retain/release pair (atomic read-modify-writes on a shared
/// cache line), even for a `let`. A tick makes dozens of such calls, and the tick must
/// be free of them. `Unretained` holds the reference unmanaged and hands it to `with` as a
/// guaranteed reference, so no retain is made. It owns nothing: whoever builds it must keep
/// a strong reference for as long as it is used (the owners keep one beside it).
@frozen
public struct Unretained<Object: AnyObject> {
    @usableFromInline let reference: Unmanaged<Object>

    @inlinable
    public init(_ object: Object) { reference = .passUnretained(object) }

    /// Calls `body` with the object, without retaining it.
    @inlinable @inline(__always)
    public func with<Result>(_ body: (Object) -> Result) -> Result {
        reference._withUnsafeGuaranteedRef(body)
    }
}

extension Unretained: @unchecked Sendable where Object: Sendable {}

// Existentials (`any DigitalInput`...) cannot be `Unmanaged`, and `unowned(unsafe)` still
// copies on load. These hold the object unmanaged beside a metatype that knows its
// concrete type: calling through a metatype costs no reference counting.

private protocol InputCall { static func read(_ o: Unmanaged<AnyObject>) throws(HALError) -> Bool }
private enum InputCallFor<T: DigitalInput>: InputCall {
    static func read(_ o: Unmanaged<AnyObject>) throws(HALError) -> Bool {
        var failure: HALError?
        let value = o._withUnsafeGuaranteedRef { object -> Bool in
            do throws(HALError) { return try unsafeDowncast(object, to: T.self).read() } catch { failure = error; return true }
        }
        if let failure { throw failure }
        return value
    }
}

/// A digital input read by the loop without ARC traffic (see `Unretained`): the owner
/// keeps the line strongly referenced elsewhere.
public struct UnretainedInput {
    private let object: Unmanaged<AnyObject>
    private let call: any InputCall.Type
    public init(_ line: any DigitalInput) {
        func make<T: DigitalInput>(_ t: T) -> (Unmanaged<AnyObject>, any InputCall.Type) {
            (Unmanaged.passUnretained(t as AnyObject), InputCallFor<T>.self)
        }
        (object, call) = make(line)
    }
    @inline(__always)
    public func read() throws(HALError) -> Bool { try call.read(object) }
}

private protocol OutputCall { static func set(_ o: Unmanaged<AnyObject>, _ asserted: Bool) throws(HALError) }
private enum OutputCallFor<T: DigitalOutput>: OutputCall {
    static func set(_ o: Unmanaged<AnyObject>, _ asserted: Bool) throws(HALError) {
        var failure: HALError?
        o._withUnsafeGuaranteedRef { object in
            do throws(HALError) { try unsafeDowncast(object, to: T.self).set(asserted) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// A digital output written by the loop without ARC traffic (see `Unretained`).
public struct UnretainedOutput {
    private let object: Unmanaged<AnyObject>
    private let call: any OutputCall.Type
    public init(_ line: any DigitalOutput) {
        func make<T: DigitalOutput>(_ t: T) -> (Unmanaged<AnyObject>, any OutputCall.Type) {
            (Unmanaged.passUnretained(t as AnyObject), OutputCallFor<T>.self)
        }
        (object, call) = make(line)
    }
    @inline(__always)
    public func set(_ asserted: Bool) throws(HALError) { try call.set(object, asserted) }
}

private protocol WatchdogCall { static func kick(_ o: Unmanaged<AnyObject>) throws(HALError) }
private enum WatchdogCallFor<T: Watchdog>: WatchdogCall {
    static func kick(_ o: Unmanaged<AnyObject>) throws(HALError) {
        var failure: HALError?
        o._withUnsafeGuaranteedRef { object in
            do throws(HALError) { try unsafeDowncast(object, to: T.self).kick() } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// A watchdog kicked by the loop without ARC traffic (see `Unretained`).
public struct UnretainedWatchdog {
    private let object: Unmanaged<AnyObject>
    private let call: any WatchdogCall.Type
    public init(_ watchdog: any Watchdog) {
        func make<T: Watchdog>(_ t: T) -> (Unmanaged<AnyObject>, any WatchdogCall.Type) {
            (Unmanaged.passUnretained(t as AnyObject), WatchdogCallFor<T>.self)
        }
        (object, call) = make(watchdog)
    }
    @inline(__always)
    public func kick() throws(HALError) { try call.kick(object) }
}
