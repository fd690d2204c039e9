#if os(Linux) || ECMO_LINUX_EMBEDDED
import CLinuxIO
import ECMOHAL
import ECMOBoard

/// One `/dev/i2c-N` bus through i2c-dev. Devices on the bus share its descriptor; the
/// SMBus ioctls need the target address set with `I2C_SLAVE`, which is done only when the
/// address changes. Raw transfers go through `I2C_RDWR`, which carries the address in each
/// message (and fails with `.unsupported` on SMBus-only adapters such as i2c-stub).
///
/// The ioctl argument blocks are allocated once here, so a transfer allocates nothing.
/// Not thread-safe by design: the loop thread owns the bus.
public final class LinuxI2CBus {
    public let path: String
    /// The adapter's `I2C_FUNCS` mask (raw I²C, SMBus word data...).
    public let functionality: UInt
    let syscalls: LinuxSyscalls
    let retry: RetryPolicy
    private(set) var fd: Int32
    private var selectedAddress: Int = -1
    private let smbusData: UnsafeMutablePointer<i2c_smbus_data>
    private let smbusArguments: UnsafeMutablePointer<i2c_smbus_ioctl_data>
    private let messages: UnsafeMutablePointer<i2c_msg>
    private let rdwrArguments: UnsafeMutablePointer<i2c_rdwr_ioctl_data>

    public var supportsRawTransfers: Bool { functionality & LinuxConstants.i2cFuncI2C != 0 }
    public var supportsWordData: Bool { functionality & LinuxConstants.i2cFuncWordData == LinuxConstants.i2cFuncWordData }
    public var isOpen: Bool { fd >= 0 }

    public init(path: String, syscalls: LinuxSyscalls = .system, retry: RetryPolicy = .standard) throws(HardwareOpenError) {
        self.path = path
        self.syscalls = syscalls
        self.retry = retry
        let fd = path.withPath { syscalls.open($0, LinuxConstants.readWrite) }
        guard fd >= 0 else {
            throw HardwareOpenError(what: "I2C bus \(path)", cause: .system(operation: "open", errno: -fd),
                                    detail: OpenHint.i2c(path: path, errno: -fd))
        }
        var funcs: UInt = 0
        let r = withUnsafeMutablePointer(to: &funcs) { syscalls.ioctl(fd, LinuxConstants.i2cFuncs, UnsafeMutableRawPointer($0)) }
        guard r >= 0 else {
            _ = syscalls.close(fd)
            throw HardwareOpenError(what: "I2C bus \(path)", cause: .system(operation: "ioctl I2C_FUNCS", errno: -r),
                                    detail: OpenHint.i2c(path: path, errno: -r))
        }
        self.fd = fd
        functionality = funcs
        smbusData = .allocate(capacity: 1)
        smbusData.initialize(to: i2c_smbus_data())
        smbusArguments = .allocate(capacity: 1)
        smbusArguments.initialize(to: i2c_smbus_ioctl_data())
        messages = .allocate(capacity: 2)
        messages.initialize(repeating: i2c_msg(), count: 2)
        rdwrArguments = .allocate(capacity: 1)
        rdwrArguments.initialize(to: i2c_rdwr_ioctl_data(msgs: messages, nmsgs: 0))
    }

    deinit {
        close()
        smbusData.deallocate()
        smbusArguments.deallocate()
        messages.deallocate()
        rdwrArguments.deallocate()
    }

    /// Closes the descriptor; later transfers throw `.disconnected`.
    public func close() {
        if fd >= 0 { _ = syscalls.close(fd) }
        fd = -1
        selectedAddress = -1
    }

    public func device(address: UInt8) -> LinuxI2CDevice { LinuxI2CDevice(bus: self, address: address) }

    // MARK: Transfers (called by LinuxI2CDevice)

    /// The HAL error for a failed transfer. NAKs: ENXIO (address not acknowledged),
    /// EREMOTEIO (data not acknowledged), ENODEV (i2c-stub: no chip at the address), as
    /// in the kernel's Documentation/i2c/fault-codes.rst.
    @inline(__always)
    static func transferError(_ result: Int, address: UInt8, operation: StaticString) -> HALError {
        let e = Int32(truncatingIfNeeded: -result)
        switch e {
        case Errno.ENXIO, Errno.EREMOTEIO, Errno.ENODEV: return .nak(address: address)
        case Errno.ETIMEDOUT: return .timeout(operation: operation)
        case Errno.EOPNOTSUPP: return .unsupported(what: operation)
        default: return .system(operation: operation, errno: e)
        }
    }

    private func select(_ address: UInt8) throws(HALError) {
        guard fd >= 0 else { throw .disconnected(what: "I2C bus (closed)") }
        if selectedAddress == Int(address) { return }
        let fd = self.fd
        let sys = syscalls
        let r = retry.run { Int(sys.ioctlValue(fd, LinuxConstants.i2cSlave, UInt(address))) }
        guard r >= 0 else {
            selectedAddress = -1
            // EBUSY: a kernel driver has claimed the address (unbind it, or fix the board).
            throw .system(operation: "ioctl I2C_SLAVE", errno: Int32(truncatingIfNeeded: -r))
        }
        selectedAddress = Int(address)
    }

    /// One SMBus transaction; `data` holds the value in and out.
    private func smbus(address: UInt8, read: Bool, command: UInt8, size: Int32, operation: StaticString) throws(HALError) {
        try select(address)
        smbusArguments.pointee.read_write = read ? UInt8(I2C_SMBUS_READ) : UInt8(I2C_SMBUS_WRITE)
        smbusArguments.pointee.command = command
        smbusArguments.pointee.size = UInt32(size)
        smbusArguments.pointee.data = smbusData
        let fd = self.fd
        let sys = syscalls
        let args = UnsafeMutableRawPointer(smbusArguments)
        let r = retry.run { Int(sys.ioctl(fd, LinuxConstants.i2cSMBus, args)) }
        if r < 0 { throw Self.transferError(r, address: address, operation: operation) }
    }

    func readByteData(address: UInt8, register: UInt8) throws(HALError) -> UInt8 {
        try smbus(address: address, read: true, command: register, size: I2C_SMBUS_BYTE_DATA, operation: "I2C_SMBUS read byte data")
        return smbusData.pointee.byte
    }

    func writeByteData(address: UInt8, register: UInt8, value: UInt8) throws(HALError) {
        smbusData.pointee.byte = value
        try smbus(address: address, read: false, command: register, size: I2C_SMBUS_BYTE_DATA, operation: "I2C_SMBUS write byte data")
    }

    func readWordData(address: UInt8, register: UInt8) throws(HALError) -> UInt16 {
        try smbus(address: address, read: true, command: register, size: I2C_SMBUS_WORD_DATA, operation: "I2C_SMBUS read word data")
        return smbusData.pointee.word
    }

    func writeWordData(address: UInt8, register: UInt8, value: UInt16) throws(HALError) {
        smbusData.pointee.word = value
        try smbus(address: address, read: false, command: register, size: I2C_SMBUS_WORD_DATA, operation: "I2C_SMBUS write word data")
    }

    /// SMBus "I²C block data": register byte, then up to 32 bytes (block[0] is the length).
    func readI2CBlock(address: UInt8, register: UInt8, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        guard buffer.count >= 1, buffer.count <= Int(I2C_SMBUS_BLOCK_MAX) else { throw .invalidArgument(what: "I2C block length (1...32)") }
        let block = UnsafeMutableRawPointer(smbusData).assumingMemoryBound(to: UInt8.self)
        block[0] = UInt8(buffer.count)
        try smbus(address: address, read: true, command: register, size: I2C_SMBUS_I2C_BLOCK_DATA, operation: "I2C_SMBUS read i2c block")
        let got = Int(block[0])
        guard got == buffer.count else { throw .deviceFault(what: "I2C block read returned a different length") }
        for i in 0..<got { buffer[i] = block[1 + i] }
    }

    func writeI2CBlock(address: UInt8, register: UInt8, bytes: UnsafeRawBufferPointer) throws(HALError) {
        guard bytes.count >= 1, bytes.count <= Int(I2C_SMBUS_BLOCK_MAX) else { throw .invalidArgument(what: "I2C block length (1...32)") }
        let block = UnsafeMutableRawPointer(smbusData).assumingMemoryBound(to: UInt8.self)
        block[0] = UInt8(bytes.count)
        for i in 0..<bytes.count { block[1 + i] = bytes[i] }
        try smbus(address: address, read: false, command: register, size: I2C_SMBUS_I2C_BLOCK_DATA, operation: "I2C_SMBUS write i2c block")
    }

    /// A raw transfer of one or two messages through `I2C_RDWR` (repeated start between them).
    func rdwr(address: UInt8, write: UnsafeRawBufferPointer?, read: UnsafeMutableRawBufferPointer?,
              operation: StaticString) throws(HALError) {
        guard fd >= 0 else { throw .disconnected(what: "I2C bus (closed)") }
        guard supportsRawTransfers else { throw .unsupported(what: "raw I2C transfer (the adapter is SMBus-only)") }
        var count: UInt32 = 0
        if let write {
            guard let base = write.baseAddress, write.count > 0, write.count <= 8192 else { throw .invalidArgument(what: "I2C write length (1...8192)") }
            messages[0] = i2c_msg(addr: UInt16(address), flags: 0, len: UInt16(write.count),
                                  buf: UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self)))
            count = 1
        }
        if let read {
            guard let base = read.baseAddress, read.count > 0, read.count <= 8192 else { throw .invalidArgument(what: "I2C read length (1...8192)") }
            messages[Int(count)] = i2c_msg(addr: UInt16(address), flags: UInt16(I2C_M_RD), len: UInt16(read.count),
                                           buf: base.assumingMemoryBound(to: UInt8.self))
            count += 1
        }
        rdwrArguments.pointee.msgs = messages
        rdwrArguments.pointee.nmsgs = count
        let fd = self.fd
        let sys = syscalls
        let args = UnsafeMutableRawPointer(rdwrArguments)
        let r = retry.run { Int(sys.ioctl(fd, LinuxConstants.i2cRdwr, args)) }
        if r < 0 { throw Self.transferError(r, address: address, operation: operation) }
        // The ioctl returns the number of messages done; fewer is a transfer cut short.
        guard r == Int(count) else { throw .deviceFault(what: "I2C_RDWR transferred fewer messages than asked") }
    }
}

/// One device on a `LinuxI2CBus` (the HAL's `I2CDevice`).
public final class LinuxI2CDevice: I2CDevice {
    public let bus: LinuxI2CBus
    public let address: UInt8

    init(bus: LinuxI2CBus, address: UInt8) {
        self.bus = bus
        self.address = address
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(HALError) {
        try bus.rdwr(address: address, write: bytes, read: nil, operation: "I2C_RDWR write")
    }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        try bus.rdwr(address: address, write: nil, read: buffer, operation: "I2C_RDWR read")
    }
    public func writeRead(_ bytes: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        try bus.rdwr(address: address, write: bytes, read: buffer, operation: "I2C_RDWR write+read")
    }
    public func readByteData(register: UInt8) throws(HALError) -> UInt8 {
        try bus.readByteData(address: address, register: register)
    }
    public func writeByteData(register: UInt8, value: UInt8) throws(HALError) {
        try bus.writeByteData(address: address, register: register, value: value)
    }
    public func readWordData(register: UInt8) throws(HALError) -> UInt16 {
        try bus.readWordData(address: address, register: register)
    }
    public func writeWordData(register: UInt8, value: UInt16) throws(HALError) {
        try bus.writeWordData(address: address, register: register, value: value)
    }
    /// SMBus I²C block read (not in the HAL: no driver needs it yet; `board probe` and
    /// tools do).
    public func readI2CBlock(register: UInt8, into buffer: UnsafeMutableRawBufferPointer) throws(HALError) {
        try bus.readI2CBlock(address: address, register: register, into: buffer)
    }
    public func writeI2CBlock(register: UInt8, bytes: UnsafeRawBufferPointer) throws(HALError) {
        try bus.writeI2CBlock(address: address, register: register, bytes: bytes)
    }
}
#endif
