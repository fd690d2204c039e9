/// One device on an I²C bus at a fixed 7-bit address: raw transfers (what `I2C_RDWR`
/// gives on Linux) and the SMBus transactions (what every adapter, including `i2c-stub`,
/// supports). Buffers are caller-owned so that a read allocates nothing.
///
/// The SMBus calls are requirements, not defaults built on raw transfers: a backend does
/// them natively (i2c-dev's SMBus ioctls, which also work on SMBus-only adapters such as
/// i2c-stub), and closure-based defaults would allocate on the hot path.
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
