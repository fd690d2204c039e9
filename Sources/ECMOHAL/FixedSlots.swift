/// Up to 16 objects, each in a `let` field of its own, for the tick path.
///
/// Why not an array: an array element of class type is loaded as an owned copy, so calling
/// a method on `drivers[i]` costs a retain/release pair (atomic read-modify-writes) per call;
/// a `let` field of a value the caller holds is borrowed in place. `with` hands the object
/// to `body` as a guaranteed reference, so a tick calls its drivers and lines with no
/// reference counting. The slots own their objects (strong `let`s, filled once, never
/// changed); nothing else holds a second, unowned copy of them.
public struct FixedSlots<Object: AnyObject> {
    private let s0: Object?
    private let s1: Object?
    private let s2: Object?
    private let s3: Object?
    private let s4: Object?
    private let s5: Object?
    private let s6: Object?
    private let s7: Object?
    private let s8: Object?
    private let s9: Object?
    private let s10: Object?
    private let s11: Object?
    private let s12: Object?
    private let s13: Object?
    private let s14: Object?
    private let s15: Object?
    /// How many slots are filled (from index 0).
    public let count: Int

    /// The capacity: more objects than this is an error the builder reports.
    public static var capacity: Int { 16 }

    /// `objects[i]` goes to slot `i` (nil leaves it empty); at most `capacity` of them.
    public init(_ objects: [Object?]) {
        s0 = 0 < objects.count ? objects[0] : nil
        s1 = 1 < objects.count ? objects[1] : nil
        s2 = 2 < objects.count ? objects[2] : nil
        s3 = 3 < objects.count ? objects[3] : nil
        s4 = 4 < objects.count ? objects[4] : nil
        s5 = 5 < objects.count ? objects[5] : nil
        s6 = 6 < objects.count ? objects[6] : nil
        s7 = 7 < objects.count ? objects[7] : nil
        s8 = 8 < objects.count ? objects[8] : nil
        s9 = 9 < objects.count ? objects[9] : nil
        s10 = 10 < objects.count ? objects[10] : nil
        s11 = 11 < objects.count ? objects[11] : nil
        s12 = 12 < objects.count ? objects[12] : nil
        s13 = 13 < objects.count ? objects[13] : nil
        s14 = 14 < objects.count ? objects[14] : nil
        s15 = 15 < objects.count ? objects[15] : nil
        count = min(objects.count, 16)
    }

    public init() { self.init([]) }

    /// Calls `body` with the object in slot `i`, if there is one.
    @inline(__always)
    public func with(_ i: Int, _ body: (Object) -> Void) {
        let unmanaged: Unmanaged<Object>
        switch i {
        case 0: switch s0 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 1: switch s1 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 2: switch s2 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 3: switch s3 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 4: switch s4 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 5: switch s5 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 6: switch s6 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 7: switch s7 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 8: switch s8 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 9: switch s9 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 10: switch s10 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 11: switch s11 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 12: switch s12 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 13: switch s13 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 14: switch s14 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        case 15: switch s15 { case .some(let o): unmanaged = .passUnretained(o); case .none: return }
        default: return
        }
        // The slot owns the object for as long as `self` lives, and `self` outlives this
        // call: the reference is guaranteed, so the call needs no retain. (Without this the
        // sixteen slots' paths merge into one call, and merging borrowed references makes
        // the compiler copy them.)
        unmanaged._withUnsafeGuaranteedRef(body)
    }

    /// Calls `body` with every filled slot, in index order.
    @inline(__always)
    public func forEach(_ body: (Object) -> Void) {
        var i = 0
        while i < count {
            with(i, body)
            i += 1
        }
    }

    /// The object in slot `i` (an owned reference: for set-up and tests, not for the tick).
    public subscript(i: Int) -> Object? {
        var found: Object?
        with(i) { found = $0 }
        return found
    }
}
