import ECMOCore
import ECMOHAL
import Testing
import ECMOMockBoard

@Suite("Mock board: lookups, trace, lines, PWM")
struct MockBoardTests {
    let clock = ManualClock()

    @Test func lookupsReturnTheSameObjectForTheSameNameAndIdsMapBackToNames() {
        let board = MockBoard(clock: clock)
        let a = board.outputLine("clamp")
        let p = board.pwmChannel("pump")
        let b = board.i2cBus("i2c-1")
        let i = board.inputLine("estop", edges: .both)
        #expect(board.outputLine("clamp") === a)
        #expect(board.pwmChannel("pump") === p)
        #expect(board.i2cBus("i2c-1") === b)
        #expect(board.inputLine("estop", edges: .rising) === i)
        #expect(i.edges == .both) // first creation wins
        #expect(Set([a.id, p.id, b.id, i.id]).count == 4)
        #expect(board.name(of: a.id) == "clamp")
        #expect(board.name(of: b.id) == "i2c-1")
        #expect(board.name(of: 99) == nil)
        #expect(board.name(of: -1) == nil)
    }

    @Test func traceRecordsEveryWriteWithTheClockTimeInOrder() throws {
        let board = MockBoard(clock: clock)
        let clamp = board.outputLine("clamp")
        let pump = board.pwmChannel("pump")
        clock.advance(to: .ms(1))
        try clamp.set(true)
        clock.advance(to: .ms(2))
        try pump.setPeriod(nanoseconds: 50_000)
        try pump.setDutyCycle(0.25)
        clock.advance(to: .ms(3))
        try pump.setEnabled(true)
        try clamp.set(false)

        let e = board.trace.entries
        #expect(e == [
            TraceEntry(time: .ms(1), target: .line(clamp.id), value: 1),
            TraceEntry(time: .ms(2), target: .pwmPeriod(pump.id), value: 50_000),
            TraceEntry(time: .ms(2), target: .pwmDuty(pump.id), value: 0.25),
            TraceEntry(time: .ms(3), target: .pwmEnabled(pump.id), value: 1),
            TraceEntry(time: .ms(3), target: .line(clamp.id), value: 0),
        ])
        #expect(board.trace.count == 5)
        #expect(board.trace.totalWrites == 5)
        #expect(board.trace.lastValue(for: .line(clamp.id)) == 0)
        #expect(board.trace.last(for: .pwmDuty(pump.id))?.time == .ms(2))
        #expect(board.trace.lastValue(for: .line(12345)) == nil)
    }

    @Test func traceRingOverwritesTheOldestWhenFullAndCountsWhatItLost() throws {
        let board = MockBoard(clock: clock, traceCapacity: 4)
        let line = board.outputLine("led")
        for k in 0..<10 {
            clock.advance(to: .ms(Int64(k)))
            try line.set(k % 2 == 0)
        }
        #expect(board.trace.count == 4)
        #expect(board.trace.totalWrites == 10)
        #expect(board.trace.overwritten == 6)
        #expect(board.trace.entries.map(\.time) == [.ms(6), .ms(7), .ms(8), .ms(9)])
        #expect(board.trace[0]?.time == .ms(6))
        #expect(board.trace[4] == nil)
        #expect(board.trace.lastValue(for: .line(line.id)) == 0) // k = 9 wrote false

        board.trace.clear()
        #expect(board.trace.count == 0)
        #expect(board.trace.entries.isEmpty)
        #expect(board.trace.overwritten == 0)
        try line.set(true)
        #expect(board.trace.entries.map(\.value) == [1])
    }

    @Test func stuckOutputTracesTheWriteButKeepsItsLevelAndReadBackShowsTheRealLevel() throws {
        let board = MockBoard(clock: clock)
        let clamp = board.outputLine("clamp")
        clamp.stuck(at: false)
        try clamp.set(true)
        #expect(clamp.level == false)
        #expect(clamp.commanded == true)
        #expect(try clamp.readBack() == false)
        #expect(board.trace.lastValue(for: .line(clamp.id)) == 1)

        clamp.clearFault()
        #expect(clamp.level == true) // takes the last command again
        #expect(try clamp.readBack() == true)
    }

    @Test func disconnectedOutputThrowsOnSetAndReadBackAndTracesNothing() throws {
        let board = MockBoard(clock: clock)
        let buzzer = board.outputLine("buzzer")
        buzzer.disconnect()
        #expect(throws: HALError.disconnected(what: "output line")) { try buzzer.set(true) }
        #expect(throws: HALError.disconnected(what: "output line")) { try buzzer.readBack() }
        #expect(board.trace.count == 0)
        #expect(buzzer.level == false)
        buzzer.clearFault()
        try buzzer.set(true)
        #expect(try buzzer.readBack() == true)
    }

    @Test func inputEdgesCarryTheDriveTimestampsAndAreDrainedOldestFirst() throws {
        let board = MockBoard(clock: clock)
        let tach = board.inputLine("tach", edges: .both)
        tach.drive(true, at: .ms(1))
        tach.drive(true, at: .ms(2)) // no change, no edge
        tach.drive(false, at: .ms(3))
        tach.drive(true, at: .ms(4))
        #expect(try tach.read() == true)

        var buffer = [EdgeEvent](repeating: EdgeEvent(kind: .rising, timestamp: .origin), count: 2)
        let n1 = try buffer.withUnsafeMutableBufferPointer { try tach.readEdges(into: $0) }
        #expect(n1 == 2)
        #expect(buffer == [EdgeEvent(kind: .rising, timestamp: .ms(1)), EdgeEvent(kind: .falling, timestamp: .ms(3))])
        let n2 = try buffer.withUnsafeMutableBufferPointer { try tach.readEdges(into: $0) }
        #expect(n2 == 1)
        #expect(buffer[0] == EdgeEvent(kind: .rising, timestamp: .ms(4)))
        let n3 = try buffer.withUnsafeMutableBufferPointer { try tach.readEdges(into: $0) }
        #expect(n3 == 0)
    }

    @Test(arguments: [
        (EdgeDetection.none, [EdgeEvent.Kind]()),
        (.rising, [.rising, .rising]),
        (.falling, [.falling, .falling]),
        (.both, [.rising, .falling, .rising, .falling]),
    ])
    func edgeDetectionKeepsOnlyTheRequestedEdges(edges: EdgeDetection, expected: [EdgeEvent.Kind]) throws {
        let board = MockBoard(clock: clock)
        let line = board.inputLine("in", edges: edges)
        for (k, level) in [true, false, true, false].enumerated() { line.drive(level, at: .ms(Int64(k))) }
        var buffer = [EdgeEvent](repeating: EdgeEvent(kind: .rising, timestamp: .origin), count: 8)
        let n = try buffer.withUnsafeMutableBufferPointer { try line.readEdges(into: $0) }
        #expect(buffer.prefix(n).map(\.kind) == expected)
    }

    @Test func fullEdgeRingDropsTheOldestAndCountsDroppedEvents() throws {
        let board = MockBoard(clock: clock)
        let line = board.inputLine("tach", edges: .rising, edgeCapacity: 3)
        for k in 0..<5 {
            line.drive(true, at: .ms(Int64(2 * k)))
            line.drive(false, at: .ms(Int64(2 * k + 1)))
        }
        #expect(line.droppedEvents == 2)
        var buffer = [EdgeEvent](repeating: EdgeEvent(kind: .falling, timestamp: .origin), count: 8)
        let n = try buffer.withUnsafeMutableBufferPointer { try line.readEdges(into: $0) }
        #expect(n == 3)
        #expect(buffer.prefix(n).map(\.timestamp) == [.ms(4), .ms(6), .ms(8)])
    }

    @Test func stuckInputReadsTheStuckLevelAndProducesNoEdges() throws {
        let board = MockBoard(clock: clock)
        let air = board.inputLine("air", edges: .both)
        air.stuck(at: false)
        air.drive(true, at: .ms(1))
        #expect(try air.read() == false)
        var buffer = [EdgeEvent](repeating: EdgeEvent(kind: .falling, timestamp: .origin), count: 4)
        #expect(try buffer.withUnsafeMutableBufferPointer { try air.readEdges(into: $0) } == 0)
        air.clearFault()
        #expect(try air.read() == true)
        air.drive(false, at: .ms(2))
        #expect(try buffer.withUnsafeMutableBufferPointer { try air.readEdges(into: $0) } == 1)
        #expect(buffer[0] == EdgeEvent(kind: .falling, timestamp: .ms(2)))
    }

    @Test func disconnectedInputThrowsOnReadAndReadEdges() {
        let board = MockBoard(clock: clock)
        let estop = board.inputLine("estop", edges: .both)
        estop.disconnect()
        #expect(throws: HALError.disconnected(what: "input line")) { try estop.read() }
        var buffer = [EdgeEvent](repeating: EdgeEvent(kind: .falling, timestamp: .origin), count: 1)
        #expect(throws: HALError.self) {
            try buffer.withUnsafeMutableBufferPointer { try estop.readEdges(into: $0) }
        }
    }

    @Test(arguments: [-0.01, 1.0001, Double.nan, Double.infinity, -Double.infinity])
    func pwmRejectsDutyOutsideZeroToOneOrNonFinite(duty: Double) throws {
        let board = MockBoard(clock: clock)
        let pump = board.pwmChannel("pump")
        try pump.setDutyCycle(0.5)
        #expect(throws: HALError.invalidArgument(what: "PWM duty cycle outside 0...1")) { try pump.setDutyCycle(duty) }
        #expect(pump.dutyCycle == 0.5)
        #expect(board.trace.count == 1) // the rejected write is not traced
    }

    @Test func pwmAcceptsTheBoundsAndReadsBackWhatItHolds() throws {
        let board = MockBoard(clock: clock)
        let pump = board.pwmChannel("pump")
        try pump.setDutyCycle(0)
        try pump.setDutyCycle(1)
        try pump.setEnabled(true)
        let rb = try pump.readBack()
        #expect(rb.dutyCycle == 1)
        #expect(rb.enabled)
        #expect(throws: HALError.self) { try pump.setPeriod(nanoseconds: 0) }
    }

    @Test func stuckPWMKeepsItsOutputWhileWritesAreTracedAndDisconnectedPWMThrows() throws {
        let board = MockBoard(clock: clock)
        let pump = board.pwmChannel("pump")
        pump.stuck(dutyCycle: 0.8, enabled: true)
        try pump.setDutyCycle(0.1)
        try pump.setEnabled(false)
        let rb = try pump.readBack()
        #expect(rb.dutyCycle == 0.8)
        #expect(rb.enabled == true)
        #expect(board.trace.lastValue(for: .pwmDuty(pump.id)) == 0.1)
        pump.clearFault()
        #expect(pump.dutyCycle == 0.1)
        #expect(pump.enabled == false)

        pump.disconnect()
        #expect(throws: HALError.disconnected(what: "PWM channel")) { try pump.setEnabled(true) }
        #expect(throws: HALError.disconnected(what: "PWM channel")) { try pump.readBack() }
    }
}
