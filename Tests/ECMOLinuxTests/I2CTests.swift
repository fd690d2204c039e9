import Testing
import CLinuxIO
import ECMOHAL
import ECMOBoard
import ECMOLinux

/// A fake i2c-dev node: answers I2C_FUNCS with `functionality`, and hands SMBus and
/// I2C_RDWR requests to the test.
final class FakeI2C {
    let kernel = FakeKernel()
    var functionality: UInt = UInt(I2C_FUNC_I2C) | smbusOnly
    var smbus: (inout i2c_smbus_ioctl_data, UnsafeMutablePointer<i2c_smbus_data>) -> Int32 = { _, _ in 0 }
    var rdwr: (UnsafeMutableBufferPointer<i2c_msg>) -> Int32 = { Int32($0.count) }
    var smbusCalls = 0
    var slaveSelects: [UInt] = []

    init(path: String = "/dev/i2c-1") {
        kernel.files[path] = ""
        kernel.ioctlHandler = { [self] _, request, arg in
            guard let arg else { return -Errno.EFAULT }
            switch request {
            case LinuxConstants.i2cFuncs:
                arg.assumingMemoryBound(to: UInt.self).pointee = functionality
                return 0
            case LinuxConstants.i2cSMBus:
                smbusCalls += 1
                let args = arg.assumingMemoryBound(to: i2c_smbus_ioctl_data.self)
                return smbus(&args.pointee, args.pointee.data)
            case LinuxConstants.i2cRdwr:
                let a = arg.assumingMemoryBound(to: i2c_rdwr_ioctl_data.self).pointee
                return rdwr(UnsafeMutableBufferPointer(start: a.msgs, count: Int(a.nmsgs)))
            default:
                return -Errno.ENOTTY
            }
        }
        kernel.ioctlValueHandler = { [self] _, request, value in
            if request == LinuxConstants.i2cSlave { slaveSelects.append(value) }
            return 0
        }
    }

    func bus(retry: RetryPolicy = .standard) throws -> LinuxI2CBus {
        try LinuxI2CBus(path: "/dev/i2c-1", syscalls: kernel.syscalls, retry: retry)
    }
}

extension Errno {
    static let EFAULT: Int32 = 14
}

@Suite struct I2COpenTests {
    @Test func openWithoutPermissionNamesTheDeviceAndTheI2CGroup() {
        let f = FakeI2C()
        f.kernel.openErrors["/dev/i2c-1"] = Errno.EACCES
        #expect {
            _ = try f.bus()
        } throws: { error in
            let e = error as? HardwareOpenError
            return e?.cause == .system(operation: "open", errno: Errno.EACCES)
                && "\(error)".contains("/dev/i2c-1") && "\(error)".contains("'i2c' group")
        }
    }

    @Test func missingBusSaysHowToEnableIt() {
        let f = FakeI2C()
        f.kernel.files = [:]
        #expect {
            _ = try f.bus()
        } throws: { "\($0)".contains("dtparam=i2c_arm=on") && "\($0)".contains("i2c-dev") }
    }

    @Test func nodeThatIsNotI2CDevIsRefusedAndClosed() {
        let f = FakeI2C()
        f.kernel.ioctlHandler = { _, _, _ in -Errno.ENOTTY }
        #expect {
            _ = try f.bus()
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "ioctl I2C_FUNCS", errno: Errno.ENOTTY) }
        #expect(f.kernel.closed == ["/dev/i2c-1"])
    }

    @Test func adapterFunctionalityIsReadAtOpen() throws {
        let f = FakeI2C()
        f.functionality = smbusOnly
        let bus = try f.bus()
        #expect(!bus.supportsRawTransfers)
        #expect(bus.supportsWordData)
    }
}

@Suite struct I2CSMBusTests {
    @Test func readWordDataIsOneSMBusWordReadAfterSelectingTheAddressOnce() throws {
        let f = FakeI2C()
        var seen: [(UInt8, UInt8, UInt32)] = []
        f.smbus = { args, data in
            seen.append((args.read_write, args.command, args.size))
            data.pointee.word = 0x3412
            return 0
        }
        let bus = try f.bus()
        let adc = bus.device(address: 0x48)
        #expect(try adc.readWordData(register: 1) == 0x3412)
        #expect(try adc.readWordData(register: 0) == 0x3412)
        #expect(f.slaveSelects == [0x48])
        #expect(seen.map(\.0) == [UInt8(I2C_SMBUS_READ), UInt8(I2C_SMBUS_READ)])
        #expect(seen.map(\.1) == [1, 0])
        #expect(seen.map(\.2) == [UInt32(I2C_SMBUS_WORD_DATA), UInt32(I2C_SMBUS_WORD_DATA)])
        _ = try bus.device(address: 0x49).readWordData(register: 0)
        _ = try adc.readWordData(register: 0)
        #expect(f.slaveSelects == [0x48, 0x49, 0x48], "I2C_SLAVE again only when the address changes")
    }

    @Test func writeWordDataPassesTheValueInTheDataBlock() throws {
        let f = FakeI2C()
        var written: (UInt8, UInt8, UInt32, UInt16)?
        f.smbus = { args, data in
            written = (args.read_write, args.command, args.size, data.pointee.word)
            return 0
        }
        try f.bus().device(address: 0x48).writeWordData(register: 1, value: 0x83C3)
        #expect(written?.0 == UInt8(I2C_SMBUS_WRITE))
        #expect(written?.1 == 1)
        #expect(written?.2 == UInt32(I2C_SMBUS_WORD_DATA))
        #expect(written?.3 == 0x83C3)
    }

    @Test func byteDataReadAndWriteUseTheByteDataSize() throws {
        let f = FakeI2C()
        var sizes: [UInt32] = []
        var lastWritten: UInt8 = 0
        f.smbus = { args, data in
            sizes.append(args.size)
            if args.read_write == UInt8(I2C_SMBUS_WRITE) { lastWritten = data.pointee.byte } else { data.pointee.byte = 0x5A }
            return 0
        }
        let d = try f.bus().device(address: 0x20)
        try d.writeByteData(register: 3, value: 0xA5)
        #expect(try d.readByteData(register: 3) == 0x5A)
        #expect(lastWritten == 0xA5)
        #expect(sizes == [UInt32(I2C_SMBUS_BYTE_DATA), UInt32(I2C_SMBUS_BYTE_DATA)])
    }

    @Test func i2cBlockReadAsksForTheLengthAndChecksIt() throws {
        let f = FakeI2C()
        f.smbus = { args, data in
            let block = UnsafeMutableRawPointer(data).assumingMemoryBound(to: UInt8.self)
            #expect(args.size == UInt32(I2C_SMBUS_I2C_BLOCK_DATA))
            let n = Int(block[0])
            for i in 0..<n { block[1 + i] = UInt8(10 + i) }
            return 0
        }
        let d = try f.bus().device(address: 0x20)
        var out = [UInt8](repeating: 0, count: 4)
        try out.withUnsafeMutableBytes { try d.readI2CBlock(register: 7, into: $0) }
        #expect(out == [10, 11, 12, 13])
        f.smbus = { _, data in
            UnsafeMutableRawPointer(data).assumingMemoryBound(to: UInt8.self)[0] = 2   // adapter returned fewer
            return 0
        }
        #expect(throws: HALError.deviceFault(what: "I2C block read returned a different length")) {
            try out.withUnsafeMutableBytes { try d.readI2CBlock(register: 7, into: $0) }
        }
        var written: [UInt8] = []
        f.smbus = { args, data in
            let block = UnsafeMutableRawPointer(data).assumingMemoryBound(to: UInt8.self)
            written = (0...Int(block[0])).map { block[$0] }
            #expect(args.read_write == UInt8(I2C_SMBUS_WRITE))
            return 0
        }
        try [UInt8(1), 2, 3].withUnsafeBytes { try d.writeI2CBlock(register: 7, bytes: $0) }
        #expect(written == [3, 1, 2, 3])
        #expect(throws: HALError.invalidArgument(what: "I2C block length (1...32)")) {
            try [UInt8](repeating: 0, count: 33).withUnsafeBytes { try d.writeI2CBlock(register: 7, bytes: $0) }
        }
    }
}

@Suite struct I2CErrorTests {
    @Test func interruptedTransferIsRetriedAndSucceeds() throws {
        let f = FakeI2C()
        var results: [Int32] = [-Errno.EINTR, 0]
        f.smbus = { _, data in data.pointee.word = 7; return results.removeFirst() }
        #expect(try f.bus().device(address: 0x48).readWordData(register: 0) == 7)
        #expect(f.smbusCalls == 2)
    }

    @Test func endlessEINTRGivesUpAfterTheBoundedAttempts() throws {
        let f = FakeI2C()
        f.smbus = { _, _ in -Errno.EINTR }
        let d = try f.bus(retry: RetryPolicy(interruptedAttempts: 3)).device(address: 0x48)
        #expect(throws: HALError.system(operation: "I2C_SMBUS read word data", errno: Errno.EINTR)) {
            _ = try d.readWordData(register: 0)
        }
        #expect(f.smbusCalls == 3)
    }

    @Test func arbitrationLossEAGAINIsRetriedBoundedThenReported() throws {
        let f = FakeI2C()
        f.smbus = { _, _ in -Errno.EAGAIN }
        let d = try f.bus(retry: RetryPolicy(busyAttempts: 2)).device(address: 0x48)
        #expect(throws: HALError.system(operation: "I2C_SMBUS write word data", errno: Errno.EAGAIN)) {
            try d.writeWordData(register: 1, value: 0)
        }
        #expect(f.smbusCalls == 2)
        var results: [Int32] = [-Errno.EAGAIN, 0]
        f.smbus = { _, _ in results.removeFirst() }
        try d.writeWordData(register: 1, value: 0)
    }

    @Test(arguments: [Errno.ENXIO, Errno.EREMOTEIO, Errno.ENODEV])
    func notAcknowledgedIsANakOfTheAddressAndNotRetried(errno: Int32) throws {
        let f = FakeI2C()
        f.smbus = { _, _ in -errno }
        let d = try f.bus().device(address: 0x38)
        #expect(throws: HALError.nak(address: 0x38)) { _ = try d.readWordData(register: 0) }
        #expect(f.smbusCalls == 1)
        f.rdwr = { _ in -errno }
        #expect(throws: HALError.nak(address: 0x38)) {
            try [UInt8(0xAA), 0, 0].withUnsafeBytes { try d.write($0) }
        }
    }

    @Test func adapterTimeoutIsATimeout() throws {
        let f = FakeI2C()
        f.smbus = { _, _ in -Errno.ETIMEDOUT }
        #expect(throws: HALError.timeout(operation: "I2C_SMBUS read byte data")) {
            _ = try f.bus().device(address: 0x48).readByteData(register: 0)
        }
    }

    @Test func otherErrorsKeepTheirErrno() throws {
        let f = FakeI2C()
        f.smbus = { _, _ in -Errno.EIO }
        #expect(throws: HALError.system(operation: "I2C_SMBUS write byte data", errno: Errno.EIO)) {
            try f.bus().device(address: 0x48).writeByteData(register: 0, value: 1)
        }
    }

    @Test func addressClaimedByAKernelDriverFailsTheSelectAndIsTriedAgainLater() throws {
        let f = FakeI2C()
        var busy = true
        f.kernel.ioctlValueHandler = { _, _, _ in busy ? -Errno.EBUSY : 0 }
        let d = try f.bus().device(address: 0x48)
        #expect(throws: HALError.system(operation: "ioctl I2C_SLAVE", errno: Errno.EBUSY)) { _ = try d.readWordData(register: 0) }
        #expect(f.smbusCalls == 0)
        busy = false
        _ = try d.readWordData(register: 0)
        #expect(f.smbusCalls == 1)
    }

    @Test func closedBusIsDisconnected() throws {
        let f = FakeI2C()
        let bus = try f.bus()
        let d = bus.device(address: 0x48)
        bus.close()
        #expect(throws: HALError.disconnected(what: "I2C bus (closed)")) { _ = try d.readWordData(register: 0) }
        #expect(throws: HALError.disconnected(what: "I2C bus (closed)")) {
            var b = [UInt8](repeating: 0, count: 7)
            try b.withUnsafeMutableBytes { try d.read(into: $0) }
        }
    }
}

@Suite struct I2CRawTests {
    @Test func rawWriteIsOneI2CRdwrMessageCarryingTheAddress() throws {
        let f = FakeI2C()
        var got: [(UInt16, UInt16, [UInt8])] = []
        f.rdwr = { msgs in
            got = msgs.map { m in (m.addr, m.flags, (0..<Int(m.len)).map { m.buf[$0] }) }
            return Int32(msgs.count)
        }
        let d = try f.bus().device(address: 0x28)
        try [UInt8(0xAA), 0x00, 0x00].withUnsafeBytes { try d.write($0) }
        #expect(got.count == 1)
        #expect(got.first?.0 == 0x28)
        #expect(got.first?.1 == 0)
        #expect(got.first?.2 == [0xAA, 0, 0])
        #expect(f.slaveSelects.isEmpty, "I2C_RDWR needs no I2C_SLAVE")
    }

    @Test func rawReadFillsTheCallersBuffer() throws {
        let f = FakeI2C()
        f.rdwr = { msgs in
            #expect(msgs[0].flags == UInt16(I2C_M_RD))
            for i in 0..<Int(msgs[0].len) { msgs[0].buf[i] = UInt8(0x40 + i) }
            return 1
        }
        var b = [UInt8](repeating: 0, count: 7)
        try b.withUnsafeMutableBytes { try f.bus().device(address: 0x28).read(into: $0) }
        #expect(b == [0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46])
    }

    @Test func writeReadIsTwoMessagesWithARepeatedStart() throws {
        let f = FakeI2C()
        var flags: [UInt16] = []
        f.rdwr = { msgs in
            flags = msgs.map(\.flags)
            msgs[1].buf[0] = 9
            return 2
        }
        var out = [UInt8](repeating: 0, count: 1)
        try [UInt8(5)].withUnsafeBytes { w in try out.withUnsafeMutableBytes { try f.bus().device(address: 0x28).writeRead(w, into: $0) } }
        #expect(flags == [0, UInt16(I2C_M_RD)])
        #expect(out == [9])
    }

    @Test func rawTransferOnAnSMBusOnlyAdapterIsUnsupportedWithoutAnIoctl() throws {
        let f = FakeI2C()
        f.functionality = smbusOnly
        var calls = 0
        f.rdwr = { _ in calls += 1; return 1 }
        #expect(throws: HALError.unsupported(what: "raw I2C transfer (the adapter is SMBus-only)")) {
            try [UInt8(0xAA)].withUnsafeBytes { try f.bus().device(address: 0x28).write($0) }
        }
        #expect(calls == 0)
    }

    @Test func adapterRefusingI2CRdwrIsUnsupported() throws {
        let f = FakeI2C()
        f.rdwr = { _ in -Errno.EOPNOTSUPP }
        #expect(throws: HALError.unsupported(what: "I2C_RDWR read")) {
            var b = [UInt8](repeating: 0, count: 7)
            try b.withUnsafeMutableBytes { try f.bus().device(address: 0x28).read(into: $0) }
        }
    }

    @Test func transferCutShortIsADeviceFault() throws {
        let f = FakeI2C()
        f.rdwr = { _ in 1 }
        #expect(throws: HALError.deviceFault(what: "I2C_RDWR transferred fewer messages than asked")) {
            var out = [UInt8](repeating: 0, count: 1)
            try [UInt8(5)].withUnsafeBytes { w in try out.withUnsafeMutableBytes { try f.bus().device(address: 0x28).writeRead(w, into: $0) } }
        }
    }

    @Test func emptyTransferIsAnInvalidArgument() throws {
        let f = FakeI2C()
        let d = try f.bus().device(address: 0x28)
        #expect(throws: HALError.invalidArgument(what: "I2C write length (1...8192)")) {
            try [UInt8]().withUnsafeBytes { try d.write($0) }
        }
        #expect(throws: HALError.invalidArgument(what: "I2C read length (1...8192)")) {
            var b = [UInt8]()
            try b.withUnsafeMutableBytes { try d.read(into: $0) }
        }
    }

    @Test func interruptedRawTransferIsRetried() throws {
        let f = FakeI2C()
        var results: [Int32] = [-Errno.EINTR, -Errno.EINTR, 1]
        f.rdwr = { _ in results.removeFirst() }
        try [UInt8(0xAA)].withUnsafeBytes { try f.bus().device(address: 0x28).write($0) }
        #expect(results.isEmpty)
    }
}

/// What i2c-stub reports: SMBus byte, byte data, word data and I²C block; no raw I²C.
let smbusOnly = UInt(I2C_FUNC_SMBUS_QUICK | I2C_FUNC_SMBUS_READ_BYTE | I2C_FUNC_SMBUS_WRITE_BYTE
    | I2C_FUNC_SMBUS_READ_BYTE_DATA | I2C_FUNC_SMBUS_WRITE_BYTE_DATA
    | I2C_FUNC_SMBUS_READ_WORD_DATA | I2C_FUNC_SMBUS_WRITE_WORD_DATA
    | I2C_FUNC_SMBUS_READ_I2C_BLOCK | I2C_FUNC_SMBUS_WRITE_I2C_BLOCK)
