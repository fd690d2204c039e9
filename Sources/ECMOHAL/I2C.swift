/// One device on an I²C bus at a fixed 7-bit address: raw transfers (what `I2C_RDWR`
/// gives on Linux) and the SMBus transactions (what every adapter, including `i2c-stub`,
/// supports). Buffers are caller-owned so that a read allocates nothing.
///
/// SMBus words are little-endian on the wire (low byte first). Devices with big-endian
/// registers (ADS1115) must swap: that is the driver's job, not the bus's.
public protocol I2CDevice: AnyObject {
    var address: UInt8 { get }
    /// Plain write of `bytes` (START, address+W, bytes, STOP).
    func write(_ bytes: UnsafeRawBufferPointer) throws(HALError)
    /// Plain read filling `buffer` (START, address+R, bytes, STOP).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(HALError)
    /// Write then read with a repeated start in between.
    func writeRead(_ bytes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) throws(HALError)

    func readByteData(register: UInt8) throws(HALError) -> UInt8
    func writeByteData(register: UInt8, value: UInt8) throws(HALError)
    /// SMBus read word data: the first byte on the wire is the low byte of the result.
    func readWordData(register: UInt8) throws(HALError) -> UInt16
    /// SMBus write word data: the low byte of `value` goes on the wire first.
    func writeWordData(register: UInt8, value: UInt16) throws(HALError)
}

extension I2CDevice {
    // SMBus transactions expressed as raw transfers, for backends that can do raw I²C.
    public func readByteData(register: UInt8) throws(HALError) -> UInt8 {
        var reg = register
        var out: UInt8 = 0
        try withUnsafeBytes(of: &reg) { (w: UnsafeRawBufferPointer) throws(HALError) in
            try withUnsafeMutableBytes(of: &out) { (r: UnsafeMutableRawBufferPointer) throws(HALError) in
                try writeRead(w, into: r)
            }
        }
        return out
    }

    public func writeByteData(register: UInt8, value: UInt8) throws(HALError) {
        var bytes = (register, value)
        try withUnsafeBytes(of: &bytes) { (w: UnsafeRawBufferPointer) throws(HALError) in try write(w) }
    }

    public func readWordData(register: UInt8) throws(HALError) -> UInt16 {
        var reg = register
        var out: (UInt8, UInt8) = (0, 0)
        try withUnsafeBytes(of: &reg) { (w: UnsafeRawBufferPointer) throws(HALError) in
            try withUnsafeMutableBytes(of: &out) { (r: UnsafeMutableRawBufferPointer) throws(HALError) in
                try writeRead(w, into: r)
            }
        }
        return UInt16(out.0) | UInt16(out.1) << 8
    }

    public func writeWordData(register: UInt8, value: UInt16) throws(HALError) {
        var bytes = (register, UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8))
        try withUnsafeBytes(of: &bytes) { (w: UnsafeRawBufferPointer) throws(HALError) in try write(w) }
    }
}
