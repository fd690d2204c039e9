import ECMOCore
import ECMOHAL
import Testing
import ECMOMockBoard

@Suite("Mock I2C bus: transfers, faults, SMBus")
struct MockI2CTests {
    let clock = ManualClock()

    func setUp(address: UInt8 = 0x50) throws -> (MockBoard, MockI2CBus, RegisterFileModel, MockI2CDevice) {
        let board = MockBoard(clock: clock)
        let bus = board.i2cBus("i2c-1")
        let model = RegisterFileModel()
        try bus.attach(model, at: address)
        return (board, bus, model, bus.device(at: address))
    }

    @Test func writesReachTheModelAndAreTracedWithBusAddressFirstByteLengthAndPayload() throws {
        let (board, bus, model, dev) = try setUp()
        clock.advance(to: .ms(7))
        try write(dev, [0x10, 0xAB, 0xCD])
        #expect(model.writes == [[0x10, 0xAB, 0xCD]])
        #expect(board.trace.entries == [
            TraceEntry(time: .ms(7), target: .i2cWrite(bus: bus.id, address: 0x50, firstByte: 0x10, length: 3), value: 0xABCD),
        ])
        #expect(try writeRead(dev, [0x10], count: 2) == [0xAB, 0xCD])
        #expect(board.trace.count == 2) // the write half of a write-read is traced too
    }

    @Test func anAbsentAddressNAKsEveryKindOfTransfer() throws {
        let (board, bus, _, _) = try setUp()
        let ghost = bus.device(at: 0x51)
        #expect(throws: HALError.nak(address: 0x51)) { try write(ghost, [0x00]) }
        #expect(throws: HALError.nak(address: 0x51)) { try read(ghost, count: 1) }
        #expect(throws: HALError.nak(address: 0x51)) { try writeRead(ghost, [0x00], count: 1) }
        #expect(throws: HALError.nak(address: 0x51)) { try ghost.readWordData(register: 0) }
        #expect(bus.nakCount(address: 0x51) == 4)
        #expect(board.trace.last(for: .i2cNAK(bus: bus.id, address: 0x51, firstByte: 0))?.value == 1)
        // An 8-bit address by mistake is refused at attach and NAKs as a device handle.
        #expect(throws: HALError.self) { try bus.attach(RegisterFileModel(), at: 0xA0) }
        #expect(throws: HALError.nak(address: 0xA0)) { try read(bus.device(at: 0xA0), count: 1) }
    }

    @Test func injectedNAKsFailExactlyTheNextNTransfersThenTheDeviceAnswersAgain() throws {
        let (_, bus, model, dev) = try setUp()
        model.registers[0] = 0x42
        bus.injectNAK(address: 0x50, count: 2)
        #expect(throws: HALError.nak(address: 0x50)) { try writeRead(dev, [0], count: 1) }
        #expect(throws: HALError.nak(address: 0x50)) { try write(dev, [0, 1]) }
        #expect(model.writes.isEmpty) // NAKed writes never reach the model
        #expect(try writeRead(dev, [0], count: 1) == [0x42])
        #expect(bus.nakCount(address: 0x50) == 2)
        #expect(bus.transferCount(address: 0x50) == 3)
    }

    @Test func permanentNAKLastsUntilTurnedOffAndDetachMakesTheAddressNAK() throws {
        let (_, bus, _, dev) = try setUp()
        bus.setPermanentNAK(address: 0x50, true)
        for _ in 0..<5 {
            #expect(throws: HALError.nak(address: 0x50)) { try read(dev, count: 1) }
        }
        bus.setPermanentNAK(address: 0x50, false)
        _ = try read(dev, count: 1)
        bus.detach(address: 0x50)
        #expect(throws: HALError.nak(address: 0x50)) { try read(dev, count: 1) }
    }

    @Test func frozenDeviceAcknowledgesButRepeatsItsLastReadWhateverIsAsked() throws {
        let (_, bus, model, dev) = try setUp()
        model.registers[0] = 0x11
        model.registers[1] = 0x22
        model.registers[5] = 0x55
        #expect(try writeRead(dev, [0], count: 2) == [0x11, 0x22])
        bus.freeze(address: 0x50)
        #expect(try writeRead(dev, [5], count: 1) == [0x11]) // stuck value, not 0x55
        #expect(try read(dev, count: 3) == [0x11, 0x22, 0xFF])
        try write(dev, [5, 0x99])
        #expect(model.registers[5] == 0x55) // the hung chip ignored the write
        bus.clearFaults(address: 0x50)
        #expect(try writeRead(dev, [5], count: 1) == [0x55])
    }

    @Test func smbusWordsGoLowByteFirstOnTheWireThroughAModel() throws {
        let (_, _, model, dev) = try setUp()
        try dev.writeWordData(register: 0x20, value: 0x1234)
        #expect(model.writes.last == [0x20, 0x34, 0x12])
        #expect(model.registers[0x20] == 0x34)
        #expect(model.registers[0x21] == 0x12)
        model.registers[0x30] = 0xCD
        model.registers[0x31] = 0xAB
        #expect(try dev.readWordData(register: 0x30) == 0xABCD)
        try dev.writeByteData(register: 0x40, value: 0x7E)
        #expect(try dev.readByteData(register: 0x40) == 0x7E)
    }

    @Test func smbusWordThroughTheADS1115ModelNeedsAByteSwapForItsBigEndianRegisters() throws {
        let board = MockBoard(clock: clock)
        let bus = board.i2cBus("i2c-1")
        try bus.attach(ADS1115Model(clock: clock), at: 0x48)
        let dev = bus.device(at: 0x48)
        // Reset value 0x8583 is sent MSB first: SMBus reads it as 0x8385.
        #expect(try dev.readWordData(register: 1) == 0x8385)
        #expect(try dev.readWordData(register: 1).byteSwapped == 0x8583)
        try dev.writeWordData(register: 3, value: UInt16(0x1234).byteSwapped)
        #expect(try writeRead(dev, [3], count: 2) == [0x12, 0x34])
        #expect(board.trace.lastValue(for: .i2cWrite(bus: bus.id, address: 0x48, firstByte: 3, length: 3)) == 0x1234)
    }
}
