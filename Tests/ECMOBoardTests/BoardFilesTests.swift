import ECMOBoard
import ECMOCore
import Foundation  // only to list Board/ next to the sources
import Testing

/// `Board/`, found from this file's path so that the tests do not depend on the working directory.
let boardDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // ECMOBoardTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // package root
    .appendingPathComponent("Board")

func shippedBoardFiles() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: boardDirectory.path)) ?? []
    return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
}

func loadShipped(_ name: String) throws -> BoardConfiguration {
    try BoardLoader.load(path: boardDirectory.appendingPathComponent(name).path)
}

@Suite("Shipped board files")
struct BoardFilesTests {
    @Test func theBoardFolderHoldsTheSimulatedAndBothPiBoards() {
        let files = shippedBoardFiles()
        #expect(files.contains("sim.yaml"))
        #expect(files.contains("rpi4-bench.yaml"))
        #expect(files.contains("rpi5-bench.yaml"))
    }

    @Test(arguments: shippedBoardFiles())
    func everyShippedBoardFileLoadsAndValidates(_ name: String) throws {
        do {
            let board = try loadShipped(name)
            #expect(board.sourceFile.hasSuffix("Board/\(name)"))
            let stem = name.split(separator: ".").first.map(String.init)
            #expect(board.name == stem, "board name should match the file name")
        } catch {
            Issue.record("\(name) does not load:\n\(error)")
        }
    }

    @Test func simBoardIsASimulatedOneKilohertzBoardWithOptionalRealtime() throws {
        let board = try loadShipped("sim.yaml")
        #expect(board.kind == .simulated)
        #expect(board.realtime == .optional)
        #expect(board.loopPeriod == .milliseconds(1))
        #expect(board.watchdog.device == "sim")
        #expect(board.watchdog.timeout >= board.loopPeriod * 5)
    }

    @Test func simBoardMapsEveryRequiredRoleAndTheOptionalOnes() throws {
        let board = try loadShipped("sim.yaml")
        for role in BoardConfiguration.requiredSensors { #expect(board.sensors[role] != nil, "sensor \(role.rawValue)") }
        for role in BoardConfiguration.requiredInputs { #expect(board.inputs[role] != nil, "input \(role.rawValue)") }
        for role in BoardConfiguration.requiredOutputs { #expect(board.outputs[role] != nil, "output \(role.rawValue)") }
        for role: ActuatorRole in [.ledRed, .ledYellow, .ledGreen, .heparinStep, .heparinDirection, .heparinEnable] {
            #expect(board.outputs[role] != nil, "output \(role.rawValue)")
        }
        #expect(board.inputs[.heparinEndEmpty] != nil)
        #expect(board.outputs[.pumpSpeed] == nil, "pump speed lives in pump:, not outputs")
        #expect(board.syringe != nil)
    }

    @Test func simBoardOutputsFallBackToSafeValues() throws {
        let board = try loadShipped("sim.yaml")
        // Clamped when safe: a stopped centrifugal pump lets blood run backwards.
        #expect(board.outputs[.clamp]?.safeValue == true)
        let offWhenSafe: [ActuatorRole] = [.pumpEnable, .syringeEnable, .syringeStep, .buzzer, .ledRed, .ledYellow, .ledGreen,
                                           .heparinEnable, .heparinStep]
        for role in offWhenSafe {
            #expect(board.outputs[role]?.safeValue == false, "\(role.rawValue) must be false when safe")
        }
        #expect(board.pump.safeSpeed == .rpm(0))
        for (role, output) in board.outputs {
            #expect(output.maxCommandAge >= board.loopPeriod * 2, "\(role.rawValue)")
        }
    }

    @Test func simBoardSensorsAreTheThreeABP2sAndTheFlowMeterOnTheADS1115() throws {
        let board = try loadShipped("sim.yaml")
        let addresses = [SensorRole.drainPressure, .preOxygenatorPressure, .postOxygenatorPressure]
            .compactMap { board.sensors[$0].flatMap { board.devices[$0.device] }?.address }
        #expect(addresses == [0x28, 0x38, 0x58])
        let drain = try #require(board.sensors[.drainPressure].flatMap { board.devices[$0.device] })
        guard case let .abp2(low, high, transfer) = drain.driver else {
            Issue.record("P_drain is not on an ABP2"); return
        }
        #expect(low.mmHg <= -300 && high.mmHg >= 300)
        #expect(transfer == .a)

        let flow = try #require(board.sensors[.flow])
        #expect(flow.channel == 0)
        #expect(flow.analog == AnalogCalibration(offset: .zero, unitsPerVolt: 2.5))
        #expect(flow.analog?.convert(Voltage(volts: 4)) == 10, "0–4 V is 0–10 L/min")
        let adc = try #require(board.devices[flow.device])
        #expect(adc.address == 0x48)
        #expect(adc.driver == .ads1115(fullScale: .fsr4_096, dataRate: .sps860))
    }

    @Test(arguments: ["rpi4-bench.yaml", "rpi5-bench.yaml"])
    func piBoardsAreRealtimeRigsThatLeaveI2CUARTAndPWMPinsFree(_ name: String) throws {
        let board = try loadShipped(name)
        #expect(board.kind == .rig)
        #expect(board.realtime == .required)
        #expect(board.watchdog.device == "/dev/watchdog")
        #expect(board.i2cBuses.values.map(\.path) == ["/dev/i2c-1"])
        let reserved: Set<Int> = [0, 1, 2, 3, 14, 15, 18]  // ID EEPROM, I2C1, UART, PWM0
        let used = board.inputs.values.map(\.line) + board.outputs.values.map(\.line)
        #expect(Set(used).isDisjoint(with: reserved), "plain lines on reserved pins: \(Set(used).intersection(reserved).sorted())")
        #expect(used.allSatisfy { $0 <= 27 }, "header GPIOs are 0...27")
        #expect(board.outputs[.clamp]?.safeValue == true)
        #expect(board.outputs[.pumpEnable]?.safeValue == false)
        #expect(board.pump.safeSpeed == .rpm(0))
    }

    @Test func piBoardsNameTheirGPIOChipsAndPWMByTheExpectedLabelsAndPaths() throws {
        let pi4 = try loadShipped("rpi4-bench.yaml")
        #expect(pi4.gpioChips.values.map(\.label) == ["pinctrl-bcm2711"])
        #expect(pi4.gpioChips.values.map(\.lineCount) == [58])
        #expect(pi4.pwmChips[pi4.pump.pwmChip]?.path == "/sys/class/pwm/pwmchip0")
        #expect(pi4.pump.channel == 0)

        let pi5 = try loadShipped("rpi5-bench.yaml")
        #expect(pi5.gpioChips.values.map(\.label) == ["pinctrl-rp1"])
        #expect(pi5.gpioChips.values.map(\.lineCount) == [54])
        #expect(pi5.pwmChips[pi5.pump.pwmChip]?.path == "/sys/class/pwm/pwmchip2")
        #expect(pi5.pump.channel == 2, "GPIO18 is RP1 PWM0 channel 2")
    }

    @Test func aMissingFileIsABoardFileErrorNamingThePath() {
        let path = boardDirectory.appendingPathComponent("no-such-board.yaml").path
        #expect {
            try BoardLoader.load(path: path)
        } throws: { error in
            guard let errors = error as? BoardFileErrors, let first = errors.errors.first else { return false }
            return errors.errors.count == 1 && first.file == path && first.line == 1
                && first.message.contains("no such file") && first.description.hasPrefix("\(path):1:1: ")
        }
    }

    @Test func aDirectoryIsNotABoardFile() {
        #expect(throws: BoardFileErrors.self) { try BoardLoader.load(path: boardDirectory.path) }
    }
}
