/// A field of a 16-bit device register, named as in the datasheet, in the manner of
/// apple/swift-mmio: the type carries the datasheet's name (`PGA`), its bits are given
/// once as a half-open range (`9..<12` for PGA[2:0]), and its value is a Swift enum.
/// Decoding is total: every bit pattern gives a value, so reading a register never fails.
public protocol RegisterField: Sendable, Equatable {
    /// The field's bits in the register, least significant first (half-open, as swift-mmio).
    static var bits: Range<Int> { get }
    /// The value of the field's bits, already shifted down to bit 0.
    init(fieldBits: UInt16)
    /// The bits to write, right-aligned; only the low `bits.count` bits are used.
    var fieldBits: UInt16 { get }
}

extension RegisterField {
    /// The field's bits in place in the register.
    public static var mask: UInt16 { UInt16(truncatingIfNeeded: (1 << bits.count) - 1) << UInt16(bits.lowerBound) }

    /// The field read from a whole register value.
    public init(register: UInt16) {
        self.init(fieldBits: (register & Self.mask) >> UInt16(Self.bits.lowerBound))
    }

    /// `register` with this field's bits replaced by this value.
    public func inserted(into register: UInt16) -> UInt16 {
        register & ~Self.mask | (fieldBits << UInt16(Self.bits.lowerBound)) & Self.mask
    }
}
