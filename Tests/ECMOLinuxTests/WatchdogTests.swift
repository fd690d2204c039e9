import Testing
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOLinux

/// A fake /dev/watchdog: records ioctls, holds a boot status and a timeout.
final class FakeWatchdog {
    let kernel = FakeKernel()
    var bootStatus: Int32 = 0
    var bootStatusError: Int32 = 0
    var timeout: Int32 = 15
    /// What the driver makes of a requested timeout (the driver may round).
    var accept: (Int32) -> Int32 = { $0 }
    var setTimeoutError: Int32 = 0
    var keepAliveResults: [Int32] = []
    var keepAlives = 0

    init() {
        kernel.files["/dev/watchdog"] = ""
        kernel.ioctlHandler = { [self] _, request, arg in
            let value = arg?.assumingMemoryBound(to: Int32.self)
            switch request {
            case LinuxConstants.wdiocGetBootStatus:
                if bootStatusError != 0 { return -bootStatusError }
                value?.pointee = bootStatus
                return 0
            case LinuxConstants.wdiocSetTimeout:
                if setTimeoutError != 0 { return -setTimeoutError }
                timeout = accept(value?.pointee ?? 0)
                value?.pointee = timeout
                return 0
            case LinuxConstants.wdiocKeepAlive:
                keepAlives += 1
                return keepAliveResults.isEmpty ? 0 : keepAliveResults.removeFirst()
            default:
                return -Errno.ENOTTY
            }
        }
    }

    func watchdog() -> LinuxWatchdog { LinuxWatchdog(path: "/dev/watchdog", syscalls: kernel.syscalls) }
    var magicWritten: Bool { kernel.writes.contains { $0.path == "/dev/watchdog" && $0.text == "V" } }
}

@Suite struct WatchdogTests {
    @Test(arguments: [(Errno.EACCES, "udev rule"), (Errno.ENOENT, "dtparam=watchdog=on"), (Errno.EBUSY, "RuntimeWatchdogSec")])
    func openFailureSaysWhatToChange(errno: Int32, hint: String) {
        let f = FakeWatchdog()
        f.kernel.openErrors["/dev/watchdog"] = errno
        #expect {
            try f.watchdog().open()
        } throws: { error in
            (error as? HardwareOpenError)?.cause == .system(operation: "open watchdog", errno: errno)
                && "\(error)".contains("/dev/watchdog") && "\(error)".contains(hint)
        }
    }

    @Test func startSetsTheTimeoutInWholeSeconds() throws {
        let f = FakeWatchdog()
        let w = f.watchdog()
        try w.start(timeout: .seconds(1))
        #expect(f.timeout == 1)
        #expect(w.timeoutSeconds == 1)
        #expect(w.isArmed)
    }

    @Test func timeoutThatIsNotWholeSecondsIsRefusedBeforeOpening() {
        let f = FakeWatchdog()
        #expect(throws: HALError.invalidArgument(what: "watchdog timeout (whole seconds)")) {
            try f.watchdog().start(timeout: .milliseconds(1500))
        }
        #expect(!f.kernel.log.contains("open /dev/watchdog"))
    }

    @Test func driverThatLengthensTheTimeoutIsADeviceFault() {
        let f = FakeWatchdog()
        f.accept = { $0 + 1 }
        #expect(throws: HALError.deviceFault(what: "watchdog accepted a different timeout than asked")) {
            try f.watchdog().start(timeout: .seconds(1))
        }
    }

    @Test func setTimeoutFailureIsReportedWithItsErrno() {
        let f = FakeWatchdog()
        f.setTimeoutError = Errno.EINVAL
        #expect(throws: HALError.system(operation: "ioctl WDIOC_SETTIMEOUT", errno: Errno.EINVAL)) {
            try f.watchdog().start(timeout: .seconds(60))
        }
    }

    @Test func cardResetInTheBootStatusMeansTheWatchdogResetTheBoard() throws {
        let f = FakeWatchdog()
        f.bootStatus = LinuxConstants.wdiofCardReset
        let w = f.watchdog()
        #expect(w.bootedAfterWatchdogReset == nil)
        try w.open()
        #expect(w.bootedAfterWatchdogReset == true)
        let g = FakeWatchdog()
        let v = g.watchdog()
        try v.open()
        #expect(v.bootedAfterWatchdogReset == false)
    }

    @Test func driverWithoutBootStatusIsNoError() throws {
        let f = FakeWatchdog()
        f.bootStatusError = Errno.ENOTTY
        let w = f.watchdog()
        try w.start(timeout: .seconds(1))
        #expect(w.bootedAfterWatchdogReset == false)
    }

    @Test func kickIsOneKeepAliveAndRetriesAnInterruption() throws {
        let f = FakeWatchdog()
        let w = f.watchdog()
        try w.start(timeout: .seconds(1))
        try w.kick()
        #expect(f.keepAlives == 1)
        f.keepAliveResults = [-Errno.EINTR, 0]
        try w.kick()
        #expect(f.keepAlives == 3)
    }

    @Test func failedKickIsReported() throws {
        let f = FakeWatchdog()
        let w = f.watchdog()
        try w.start(timeout: .seconds(1))
        f.keepAliveResults = [-Errno.EIO]
        #expect(throws: HALError.system(operation: "ioctl WDIOC_KEEPALIVE", errno: Errno.EIO)) { try w.kick() }
    }

    @Test func kickBeforeStartIsDisconnected() {
        let f = FakeWatchdog()
        #expect(throws: HALError.disconnected(what: "watchdog (not started)")) { try f.watchdog().kick() }
    }

    @Test func cleanStopWritesTheMagicVThenCloses() throws {
        let f = FakeWatchdog()
        let w = f.watchdog()
        try w.start(timeout: .seconds(1))
        try w.stop()
        #expect(f.magicWritten)
        let v = f.kernel.log.lastIndex(of: "write /dev/watchdog V")
        let c = f.kernel.log.lastIndex(of: "close /dev/watchdog")
        #expect(v != nil && c != nil && v! < c!)
        #expect(!w.isArmed)
        #expect(throws: HALError.disconnected(what: "watchdog (not started)")) { try w.kick() }
    }

    @Test func failedMagicWriteIsReportedAndTheNodeStillClosed() throws {
        let f = FakeWatchdog()
        let w = f.watchdog()
        try w.start(timeout: .seconds(1))
        f.kernel.writeErrors["/dev/watchdog"] = [Errno.EIO]
        #expect(throws: HALError.system(operation: "watchdog magic close write", errno: Errno.EIO)) { try w.stop() }
        #expect(f.kernel.closed.contains("/dev/watchdog"))
    }

    @Test func droppingAStartedWatchdogClosesWithoutTheMagicV() throws {
        let f = FakeWatchdog()
        do {
            let w = f.watchdog()
            try w.start(timeout: .seconds(1))
        }
        #expect(f.kernel.closed == ["/dev/watchdog"])
        #expect(!f.magicWritten, "a crash or an unclean exit must leave the watchdog running")
    }
}
