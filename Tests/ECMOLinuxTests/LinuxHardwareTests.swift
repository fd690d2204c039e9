import Testing
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOPosix
import ECMOLinux

func boardFile(_ name: String) -> String {
    // Tests/ECMOLinuxTests/LinuxHardwareTests.swift → package root
    var url = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
    url = "/" + url + "/Board/" + name
    return url
}

@Suite struct LinuxHardwareTests {
    func rig(_ kernel: FakeKernel = FakeKernel(), gpio: FakeGPIO = FakeGPIO()) throws -> LinuxHardware {
        let board = try BoardLoader.load(path: boardFile("rpi4-bench.yaml"))
        return try LinuxHardware(board: board, syscalls: kernel.syscalls, gpio: gpio.library)
    }

    @Test func simulatedBoardIsRefusedNotFakedWithHardware() throws {
        let board = try BoardLoader.load(path: boardFile("sim.yaml"))
        #expect { _ = try LinuxHardware(board: board) } throws: { "\($0)".contains("simulated board") }
    }

    @Test func devicesOnOneBusShareOneDescriptor() throws {
        let f = FakeI2C()
        let hw = try rig(f.kernel)
        _ = try hw.i2cDevice(bus: "i2c1", address: 0x28)
        _ = try hw.i2cDevice(bus: "i2c1", address: 0x48)
        #expect(f.kernel.log.filter { $0 == "open /dev/i2c-1" }.count == 1)
        #expect { _ = try hw.i2cDevice(bus: "i2c9", address: 0x28) } throws: { "\($0)".contains("not on board rpi4-bench") }
    }

    @Test func outputsAreRequestedOnTheLabelledChipAtTheirSafeValues() throws {
        let g = FakeGPIO()
        let hw = try rig(gpio: g)
        let board = hw.board
        for role in [ActuatorRole.clamp, .pumpEnable, .syringeEnable] {
            _ = try hw.outputLine(try #require(board.outputs[role]))
        }
        #expect(g.requests.map(\.label) == ["pinctrl-bcm2711", "pinctrl-bcm2711", "pinctrl-bcm2711"])
        #expect(g.requests.map(\.consumer) == ["ecmo-rig:clamp", "ecmo-rig:pump_enable", "ecmo-rig:syringe_enable"])
        #expect(g.requests.map(\.offset) == [24, 23, 20])
        #expect(g.requests.map(\.value) == [true, false, false], "logical safe values: clamp closed, pump and syringe off")
        #expect(g.requests.map(\.settings.activeLow) == [true, false, true])
        _ = try hw.outputLine(try #require(board.outputs[.clamp]))
        #expect(g.requests.count == 3, "a line is requested once")
    }

    @Test func tachometerInputGetsItsEdgesBiasAndDebounce() throws {
        let g = FakeGPIO()
        let hw = try rig(gpio: g)
        _ = try hw.inputLine(try #require(hw.board.inputs[.pumpTachometer]))
        _ = try hw.inputLine(try #require(hw.board.inputs[.emergencyStop]))
        #expect(g.requests.map(\.settings) == [
            GPIOLibrary.LineSettings(activeLow: false, bias: 2, edge: 1, debounceMicroseconds: 0),
            GPIOLibrary.LineSettings(activeLow: false, bias: 2, edge: 3, debounceMicroseconds: 1000),
        ])
    }

    @Test func unknownChipIdIsAnErrorNamingTheBoard() throws {
        let hw = try rig()
        let bad = OutputLineConfiguration(role: .buzzer, chip: "gpio7", line: 1, activeLow: false, safeValue: false, maxCommandAge: .milliseconds(100))
        #expect { _ = try hw.outputLine(bad) } throws: { "\($0)".contains("GPIO chip gpio7") }
    }

    @Test func watchdogIsOpenedOnceThroughTheProviderWithItsBootStatus() throws {
        let w = FakeWatchdog()
        w.bootStatus = LinuxConstants.wdiofCardReset
        let hw = try rig(w.kernel)
        let a = try hw.watchdog(hw.board.watchdog)
        let b = try hw.watchdog(hw.board.watchdog)
        #expect(a === b)
        #expect(hw.openedWatchdog?.bootedAfterWatchdogReset == true)
        #expect(w.kernel.log.filter { $0 == "open /dev/watchdog" }.count == 1)
    }

    @Test func pumpPWMIsTheBoardsChipPath() throws {
        let k = fakePWMChip(exported: true, period: "50000\n")
        let hw = try rig(k)
        let pwm = try hw.pwmChannel(chip: "pwm", channel: 0)
        try pwm.setDutyCycle(0.5)
        #expect(k.writes.last?.path == "/sys/class/pwm/pwmchip0/pwm0/duty_cycle")
        #expect { _ = try hw.pwmChannel(chip: "pwm9", channel: 0) } throws: { "\($0)".contains("PWM chip pwm9") }
    }

    @Test func closeReleasesEveryLine() throws {
        let g = FakeGPIO()
        let hw = try rig(gpio: g)
        _ = try hw.outputLine(try #require(hw.board.outputs[.clamp]))
        _ = try hw.inputLine(try #require(hw.board.inputs[.airDetector]))
        hw.close()
        #expect(g.released.count == 2)
    }

    @Test func clockReadsTheMonotonicClockAndSleepsAgainAfterASignal() {
        let k = FakeKernel()
        var results: [Int32] = [-Errno.EINTR, -Errno.EINTR, 0]
        var sys = k.syscalls
        var sleeps = 0
        sys.sleepUntil = { _ in sleeps += 1; return results.removeFirst() }
        let clock = PosixMonotonicClock(source: sys)
        #expect(clock.now() == Instant(nanosecondsSinceOrigin: k.now))
        clock.sleep(until: Instant(nanosecondsSinceOrigin: 5))
        #expect(sleeps == 3)
    }
}

#if !ECMO_NO_GPIOD
/// The real C shim and libgpiod of this machine (no GPIO chip is needed for these).
@Suite struct RealLibgpiodTests {
    @Test func unknownChipLabelIsNotFound() {
        #expect(GPIOLibrary.libgpiod.chipLines("ecmo-no-such-chip") == -Errno.ENOENT)
    }

    @Test func requestOnAnUnknownChipFailsWithAMessageNotACrash() {
        #expect {
            _ = try LinuxOutputLine(chipLabel: "ecmo-no-such-chip", offset: 0, consumer: "ecmo-rig:test", activeLow: false,
                                    safeValue: false, library: .libgpiod)
        } throws: { error in
            (error as? HardwareOpenError)?.cause == .system(operation: "GPIO request output", errno: Errno.ENOENT)
                && "\(error)".contains("gpiodetect")
        }
    }

    @Test func shimAPIMatchesTheLibraryMajorVersion() {
        #expect(LibGPIOD.apiVersion == LibGPIOD.majorVersion || (LibGPIOD.apiVersion == 1 && LibGPIOD.majorVersion == 1),
                "\(GPIOLibrary.libgpiod.describe())")
    }
}
#endif
