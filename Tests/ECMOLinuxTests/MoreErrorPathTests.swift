import Testing
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOLinux

/// The error paths not reached by the per-device suites: each guard of the backend has a
/// test that drives the kernel (fake) into it.
@Suite struct MoreWatchdogErrorTests {
    @Test func startWithoutOpenOpensAndReportsAMissingNode() {
        let f = FakeWatchdog()
        f.kernel.files = [:]
        #expect(throws: HALError.system(operation: "open watchdog", errno: Errno.ENOENT)) {
            try f.watchdog().start(timeout: .seconds(1))
        }
    }

    @Test func driverAnsweringZeroSecondsIsADeviceFault() {
        let f = FakeWatchdog()
        f.accept = { _ in 0 }
        #expect(throws: HALError.deviceFault(what: "watchdog accepted a different timeout than asked")) {
            try f.watchdog().start(timeout: .seconds(1))
        }
    }

    @Test func failedCloseAfterTheMagicVIsReported() throws {
        let f = FakeWatchdog()
        var sys = f.kernel.syscalls
        sys.close = { _ in -Errno.EIO }
        let v = LinuxWatchdog(path: "/dev/watchdog", syscalls: sys)
        try v.start(timeout: .seconds(1))
        #expect(throws: HALError.system(operation: "close watchdog", errno: Errno.EIO)) { try v.stop() }
        #expect(f.magicWritten)
    }

    @Test func stopBeforeStartDoesNothing() throws {
        let f = FakeWatchdog()
        try f.watchdog().stop()
        #expect(f.kernel.log.isEmpty)
    }
}

@Suite struct MorePWMErrorTests {
    let chip = "/sys/class/pwm/pwmchip0"

    @Test func exportWriteErrorOtherThanBusyFailsTheOpen() {
        let k = fakePWMChip()
        k.writeErrors["\(chip)/export"] = [Errno.EINVAL]
        #expect {
            _ = try openPWM(k)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "write export", errno: Errno.EINVAL) }
    }

    @Test func channelFileErrorOtherThanMissingOrDeniedFailsAtOnce() {
        let k = fakePWMChip(exported: true)
        k.openErrors["\(chip)/pwm0/enable"] = Errno.EIO
        #expect {
            _ = try openPWM(k)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "open enable", errno: Errno.EIO) }
        #expect(k.sleeps == 0)
    }

    @Test func deniedChannelFilesAfterTheWaitNameThePermission() {
        let k = fakePWMChip(exported: true)
        k.openErrors["\(chip)/pwm0/enable"] = Errno.EACCES
        #expect {
            _ = try openPWM(k, timeout: .milliseconds(50))
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "open enable", errno: Errno.EACCES) && "\($0)".contains("99-ecmo-rig.rules") }
    }

    @Test(arguments: ["period", "duty_cycle"])
    func periodOrDutyFileThatCannotBeOpenedFailsTheOpen(file: String) {
        let k = fakePWMChip(exported: true)
        k.openErrors["\(chip)/pwm0/\(file)"] = Errno.EACCES
        #expect {
            _ = try openPWM(k)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: file == "period" ? "open period" : "open duty_cycle", errno: Errno.EACCES) }
    }

    @Test func unreadablePeriodAtOpenFailsTheOpen() {
        let k = fakePWMChip(exported: true)
        k.readErrors["\(chip)/pwm0/period"] = [Errno.EIO]
        #expect {
            _ = try openPWM(k)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "read pwm period", errno: Errno.EIO) }
    }

    @Test func polarityFileErrorsFailTheOpenButAMissingOneIsNormal() throws {
        let k = fakePWMChip(exported: true)
        k.files["\(chip)/pwm0/polarity"] = nil
        _ = try openPWM(k)   // no polarity support: normal
        let k2 = fakePWMChip(exported: true)
        k2.openErrors["\(chip)/pwm0/polarity"] = Errno.EACCES
        #expect {
            _ = try openPWM(k2)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "open pwm polarity", errno: Errno.EACCES) }
        let k3 = fakePWMChip(exported: true)
        k3.readErrors["\(chip)/pwm0/polarity"] = [Errno.EIO]
        #expect {
            _ = try openPWM(k3)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "read pwm polarity", errno: Errno.EIO) }
    }

    @Test func shortWriteToASysfsFileIsADeviceFault() throws {
        let k = fakePWMChip(exported: true, period: "50000\n")
        var sys = k.syscalls
        let ch0 = try LinuxPWMChannel(chipPath: chip, channel: 0, syscalls: { sys.pwrite = { _, _, n, _ in n - 1 }; return sys }())
        #expect(throws: HALError.deviceFault(what: "short write to a PWM sysfs file")) { try ch0.setDutyCycle(0.5) }
    }

    @Test func numberTooLargeForUInt64IsADeviceFault() throws {
        let k = fakePWMChip(exported: true, period: "50000\n")
        let ch = try openPWM(k)
        k.files["\(chip)/pwm0/duty_cycle"] = "99999999999999999999999\n"
        #expect(throws: HALError.deviceFault(what: "PWM sysfs number out of range")) { _ = try ch.readBack() }
        k.files["\(chip)/pwm0/duty_cycle"] = "\n"
        #expect(throws: HALError.deviceFault(what: "PWM sysfs file holds no number")) { _ = try ch.readBack() }
    }
}

@Suite struct MoreGPIOErrorTests {
    @Test func inputRequestFailureSaysWhatToChange() {
        let g = FakeGPIO()
        g.requestError = Errno.EBUSY
        #expect {
            _ = try LinuxInputLine(chipLabel: "pinctrl-bcm2711", offset: 17, consumer: "ecmo-rig:pump_tach", activeLow: false,
                                   bias: .pullUp, edge: .rising, library: g.library)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "GPIO request input", errno: Errno.EBUSY) && "\($0)".contains("gpioinfo") }
    }

    @Test func negativeOffsetIsRefusedBeforeTheLibrary() {
        let g = FakeGPIO()
        #expect {
            _ = try LinuxOutputLine(chipLabel: "c", offset: -1, consumer: "c", activeLow: false, safeValue: false, library: g.library)
        } throws: { ($0 as? HardwareOpenError)?.cause == .invalidArgument(what: "line offset") }
        #expect {
            _ = try LinuxInputLine(chipLabel: "c", offset: -1, consumer: "c", activeLow: false, bias: .none, edge: .none, library: g.library)
        } throws: { ($0 as? HardwareOpenError)?.cause == .invalidArgument(what: "line offset") }
        #expect(g.requests.isEmpty)
    }

    @Test func requestFailingWithoutAnErrnoIsReportedAsEIO() {
        var lib = FakeGPIO().library
        lib.requestOutput = { _, _, _, _, _, _ in nil }
        #expect {
            _ = try LinuxOutputLine(chipLabel: "c", offset: 1, consumer: "c", activeLow: false, safeValue: false, library: lib)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "GPIO request output", errno: Errno.EIO) }
    }
}

@Suite struct MoreI2CErrorTests {
    @Test func i2cBlockReadOfABadLengthIsRefusedWithoutAnIoctl() throws {
        let f = FakeI2C()
        let d = try f.bus().device(address: 0x20)
        var none = [UInt8]()
        #expect(throws: HALError.invalidArgument(what: "I2C block length (1...32)")) {
            try none.withUnsafeMutableBytes { try d.readI2CBlock(register: 0, into: $0) }
        }
        #expect(f.smbusCalls == 0)
    }

    @Test func busClosedByTheProviderIsReopenedOnTheNextRequest() throws {
        let f = FakeI2C()
        let board = try BoardLoader.load(path: boardFile("rpi4-bench.yaml"))
        let hw = try LinuxHardware(board: board, syscalls: f.kernel.syscalls, gpio: FakeGPIO().library)
        _ = try hw.i2cDevice(bus: "i2c1", address: 0x28)
        hw.close()
        _ = try hw.i2cDevice(bus: "i2c1", address: 0x28)
        #expect(f.kernel.log.filter { $0 == "open /dev/i2c-1" }.count == 2)
    }
}
