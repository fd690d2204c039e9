import Testing
import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOLinux

/// A fake /sys/class/pwm/pwmchip0 whose `export` creates the channel's files.
func fakePWMChip(exported: Bool = false, period: String = "0\n", duty: String = "0\n") -> FakeKernel {
    let k = FakeKernel()
    let chip = "/sys/class/pwm/pwmchip0"
    k.files["\(chip)/export"] = ""
    func create() {
        k.files["\(chip)/pwm0/enable"] = "0\n"
        k.files["\(chip)/pwm0/period"] = period
        k.files["\(chip)/pwm0/duty_cycle"] = duty
        k.files["\(chip)/pwm0/polarity"] = "normal\n"
    }
    if exported { create() } else { k.onWrite["\(chip)/export"] = { if $0 == "0" { create() } } }
    return k
}

func openPWM(_ k: FakeKernel, timeout: Duration = .seconds(2)) throws -> LinuxPWMChannel {
    try LinuxPWMChannel(chipPath: "/sys/class/pwm/pwmchip0", channel: 0, syscalls: k.syscalls, exportTimeout: timeout)
}

@Suite struct PWMOpenTests {
    @Test func unexportedChannelIsExportedThenOpened() throws {
        let k = fakePWMChip()
        let ch = try openPWM(k)
        #expect(k.writes.first?.path == "/sys/class/pwm/pwmchip0/export")
        #expect(k.writes.first?.text == "0")
        #expect(ch.periodNanoseconds == 0)
    }

    @Test func alreadyExportedChannelIsNotExportedAgain() throws {
        let k = fakePWMChip(exported: true, period: "50000\n", duty: "25000\n")
        let ch = try openPWM(k)
        #expect(k.writes.isEmpty)
        #expect(ch.periodNanoseconds == 50000)
        #expect(try ch.readBack().dutyCycle == 0.5)
    }

    @Test func exportRaceWithEBUSYIsNotAnError() throws {
        let k = fakePWMChip()
        k.writeErrors["/sys/class/pwm/pwmchip0/export"] = [Errno.EBUSY]
        k.onSleep = { k.files["/sys/class/pwm/pwmchip0/pwm0/enable"] = "0\n"
            k.files["/sys/class/pwm/pwmchip0/pwm0/period"] = "0\n"
            k.files["/sys/class/pwm/pwmchip0/pwm0/duty_cycle"] = "0\n" }
        _ = try openPWM(k)
    }

    @Test func exportWithoutPermissionPointsAtTheUdevRule() {
        let k = fakePWMChip()
        k.openErrors["/sys/class/pwm/pwmchip0/export"] = Errno.EACCES
        #expect {
            _ = try openPWM(k)
        } throws: { "\($0)".contains("99-ecmo-rig.rules") && ($0 as? HardwareOpenError)?.cause == .system(operation: "open export", errno: Errno.EACCES) }
    }

    @Test func missingChipPointsAtTheOverlay() {
        let k = FakeKernel()
        #expect {
            _ = try openPWM(k)
        } throws: { "\($0)".contains("dtoverlay=pwm") }
    }

    @Test func channelFilesWaitedForWhileUdevFixesTheirGroup() throws {
        let k = fakePWMChip(exported: true)
        k.openErrorQueue["/sys/class/pwm/pwmchip0/pwm0/enable"] = [Errno.EACCES, Errno.EACCES, Errno.EACCES]
        _ = try openPWM(k)
        #expect(k.sleeps == 3)
    }

    @Test func channelThatNeverAppearsTimesOutBounded() {
        let k = fakePWMChip()
        k.onWrite = [:]   // export "works" but nothing appears
        let start = k.now
        #expect {
            _ = try openPWM(k, timeout: .milliseconds(200))
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "open enable", errno: Errno.ETIMEDOUT) && "\($0)".contains("did not appear") }
        #expect(k.now - start >= 200_000_000 && k.now - start < 300_000_000)
        #expect(k.sleeps >= 20 && k.sleeps <= 21)
    }

    @Test func inversedPolarityIsSetNormalAfterDisabling() throws {
        let k = fakePWMChip(exported: true, period: "1000\n")
        k.files["/sys/class/pwm/pwmchip0/pwm0/polarity"] = "inversed\n"
        k.files["/sys/class/pwm/pwmchip0/pwm0/enable"] = "1\n"
        _ = try openPWM(k)
        #expect(k.writes.map(\.text) == ["0", "normal"])
        #expect(k.writes.map(\.path) == ["/sys/class/pwm/pwmchip0/pwm0/enable", "/sys/class/pwm/pwmchip0/pwm0/polarity"])
    }

    @Test func polarityTheChipRefusesFailsTheOpen() {
        let k = fakePWMChip(exported: true, period: "1000\n")
        k.files["/sys/class/pwm/pwmchip0/pwm0/polarity"] = "inversed\n"
        k.writeErrors["/sys/class/pwm/pwmchip0/pwm0/polarity"] = [Errno.EINVAL]
        #expect {
            _ = try openPWM(k)
        } throws: { ($0 as? HardwareOpenError)?.cause == .system(operation: "write pwm polarity", errno: Errno.EINVAL) }
    }
}

@Suite struct PWMWriteTests {
    @Test func growingPeriodWritesPeriodBeforeDuty() throws {
        let k = fakePWMChip(exported: true, period: "1000\n", duty: "500\n")
        let ch = try openPWM(k)
        try ch.setPeriod(nanoseconds: 50_000)
        #expect(k.writes.map(\.path).map { $0.split(separator: "/").last.map(String.init) ?? "" } == ["period", "duty_cycle"])
        #expect(k.writes.map(\.text) == ["50000", "25000"], "the duty keeps its fraction")
    }

    @Test func shrinkingPeriodWritesDutyBeforePeriod() throws {
        let k = fakePWMChip(exported: true, period: "50000\n", duty: "40000\n")
        let ch = try openPWM(k)
        try ch.setPeriod(nanoseconds: 1000)
        #expect(k.writes.map(\.text) == ["800", "1000"])
        #expect(k.writes.first?.path.hasSuffix("duty_cycle") == true)
    }

    @Test func dutyAndEnableAreWrittenAsDecimalText() throws {
        let k = fakePWMChip(exported: true, period: "50000\n")
        let ch = try openPWM(k)
        try ch.setDutyCycle(0.1)
        try ch.setEnabled(true)
        #expect(k.writes.map(\.text) == ["5000", "1"])
        let r = try ch.readBack()
        #expect(r.enabled)
        #expect(abs(r.dutyCycle - 0.1) < 1e-12)
    }

    @Test func dutyOutsideZeroToOneIsRefusedWithoutAWrite() throws {
        let k = fakePWMChip(exported: true, period: "50000\n")
        let ch = try openPWM(k)
        for bad in [-0.1, 1.01, Double.nan] {
            #expect(throws: HALError.invalidArgument(what: "PWM duty cycle (0...1)")) { try ch.setDutyCycle(bad) }
        }
        #expect(throws: HALError.invalidArgument(what: "PWM period")) { try ch.setPeriod(nanoseconds: 0) }
        #expect(k.writes.isEmpty)
    }

    @Test func dutyBeforeAnyPeriodIsRefused() throws {
        let ch = try openPWM(fakePWMChip(exported: true))
        #expect(throws: HALError.invalidArgument(what: "PWM duty cycle before a period")) { try ch.setDutyCycle(0.5) }
    }

    @Test func writeTheKernelRefusesKeepsItsErrnoAndEINTRIsRetried() throws {
        let k = fakePWMChip(exported: true, period: "50000\n")
        let ch = try openPWM(k)
        k.writeErrors["/sys/class/pwm/pwmchip0/pwm0/duty_cycle"] = [Errno.EINTR]
        try ch.setDutyCycle(0.5)
        k.writeErrors["/sys/class/pwm/pwmchip0/pwm0/duty_cycle"] = [Errno.EINVAL]
        #expect(throws: HALError.system(operation: "write pwm duty_cycle", errno: Errno.EINVAL)) { try ch.setDutyCycle(0.5) }
        k.writeErrors["/sys/class/pwm/pwmchip0/pwm0/enable"] = [Errno.EIO]
        #expect(throws: HALError.system(operation: "write pwm enable", errno: Errno.EIO)) { try ch.setEnabled(true) }
    }

    @Test func readBackOfGarbageOrAnImpossibleDutyIsADeviceFault() throws {
        let k = fakePWMChip(exported: true, period: "50000\n")
        let ch = try openPWM(k)
        k.files["/sys/class/pwm/pwmchip0/pwm0/duty_cycle"] = "abc\n"
        #expect(throws: HALError.deviceFault(what: "PWM sysfs file holds no number")) { _ = try ch.readBack() }
        k.files["/sys/class/pwm/pwmchip0/pwm0/duty_cycle"] = "60000\n"
        #expect(throws: HALError.deviceFault(what: "PWM duty cycle longer than its period")) { _ = try ch.readBack() }
        k.files["/sys/class/pwm/pwmchip0/pwm0/period"] = "0\n"
        #expect(throws: HALError.deviceFault(what: "PWM period not set (0 ns)")) { _ = try ch.readBack() }
        k.files["/sys/class/pwm/pwmchip0/pwm0/period"] = "50000\n"
        k.readErrors["/sys/class/pwm/pwmchip0/pwm0/enable"] = [Errno.EIO]
        k.files["/sys/class/pwm/pwmchip0/pwm0/duty_cycle"] = "1\n"
        #expect(throws: HALError.system(operation: "read pwm enable", errno: Errno.EIO)) { _ = try ch.readBack() }
    }

    /// The real system calls on real files laid out like sysfs: what the kernel path does.
    @Test func realSyscallsOnASysfsLikeDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-pwm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ch0 = dir.appendingPathComponent("pwm0")
        try FileManager.default.createDirectory(at: ch0, withIntermediateDirectories: true)
        for (name, text) in [("enable", "0\n"), ("period", "0\n"), ("duty_cycle", "0\n"), ("polarity", "normal\n")] {
            try text.write(to: ch0.appendingPathComponent(name), atomically: false, encoding: .utf8)
        }
        try "".write(to: dir.appendingPathComponent("export"), atomically: false, encoding: .utf8)
        let ch = try LinuxPWMChannel(chipPath: dir.path, channel: 0)
        try ch.setPeriod(nanoseconds: 50_000)
        try ch.setDutyCycle(0.42)
        try ch.setEnabled(true)
        // A regular file keeps the longer old text after a shorter write; sysfs would not.
        // Each write here is at least as long as the one before, so the file holds it exactly.
        #expect(try String(contentsOf: ch0.appendingPathComponent("period"), encoding: .utf8) == "50000")
        #expect(try String(contentsOf: ch0.appendingPathComponent("duty_cycle"), encoding: .utf8) == "21000")
        let r = try ch.readBack()
        #expect(r.enabled && abs(r.dutyCycle - 0.42) < 1e-9)
    }
}
