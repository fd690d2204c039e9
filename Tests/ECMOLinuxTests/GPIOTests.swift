import Testing
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOLinux
import AllocationCounter

/// A fake libgpiod behind `GPIOLibrary`: lines in memory, scripted errors, queued edges.
final class FakeGPIO {
    struct Request: Equatable {
        var label: String
        var offset: UInt32
        var consumer: String
        var settings: GPIOLibrary.LineSettings
        var output: Bool
        var value: Bool
    }
    var requests: [Request] = []
    var requestError: Int32 = 0
    var values: [Int: Bool] = [:]          // handle id → logical value
    var setResults: [Int32] = []
    var getResults: [Int32] = []
    var edgeResults: [Int32] = []           // errors to return before edges
    var pendingEdges: [(UInt64, UInt8)] = []
    var released: [Int] = []
    var readEdgeCalls = 0
    var nextHandle = 1
    /// What the fake kernel says it debounces (µs); 0 like libgpiod v1.
    var kernelDebounceUs: UInt32 = 0

    private func handle(_ id: Int) -> OpaquePointer { OpaquePointer(bitPattern: id)! }
    private func id(_ h: OpaquePointer) -> Int { Int(bitPattern: UnsafeRawPointer(h)) }

    var library: GPIOLibrary {
        GPIOLibrary(
            requestOutput: { [self] label, offset, consumer, s, value, error in
                requests.append(Request(label: label, offset: offset, consumer: consumer, settings: s, output: true, value: value))
                if requestError != 0 { error = -requestError; return nil }
                nextHandle += 1
                values[nextHandle] = value
                return handle(nextHandle)
            },
            requestInput: { [self] label, offset, consumer, s, error in
                requests.append(Request(label: label, offset: offset, consumer: consumer, settings: s, output: false, value: false))
                if requestError != 0 { error = -requestError; return nil }
                nextHandle += 1
                values[nextHandle] = false
                return handle(nextHandle)
            },
            set: { [self] h, v in
                if !setResults.isEmpty { return setResults.removeFirst() }
                values[id(h)] = v
                return 0
            },
            get: { [self] h in
                if !getResults.isEmpty { return getResults.removeFirst() }
                return values[id(h)] == true ? 1 : 0
            },
            readEdges: { [self] _, ts, kinds, max in
                readEdgeCalls += 1
                if !edgeResults.isEmpty { return edgeResults.removeFirst() }
                let n = min(Int(max), pendingEdges.count)
                for i in 0..<n {
                    ts[i] = pendingEdges[i].0
                    kinds[i] = pendingEdges[i].1
                }
                pendingEdges.removeFirst(n)
                return Int32(n)
            },
            release: { [self] h in released.append(id(h)) },
            chipLines: { _ in 58 },
            describe: { "fake" },
            kernelDebounce: { [self] _ in kernelDebounceUs })
    }
}

@Suite struct GPIOOutputTests {
    @Test func outputIsRequestedDrivingItsSafeValueWithConsumerAndActiveLow() throws {
        let g = FakeGPIO()
        let clamp = try LinuxOutputLine(chipLabel: "pinctrl-bcm2711", offset: 24, consumer: "ecmo-rig:clamp", activeLow: true,
                                        safeValue: true, library: g.library)
        #expect(g.requests == [FakeGPIO.Request(label: "pinctrl-bcm2711", offset: 24, consumer: "ecmo-rig:clamp",
                                                settings: .init(activeLow: true), output: true, value: true)])
        #expect(try clamp.readBack() == true, "at the safe value from the request itself, no later set")
        try clamp.set(false)
        #expect(try clamp.readBack() == false)
    }

    @Test(arguments: [(Errno.EACCES, "'gpio' group"), (Errno.ENOENT, "gpiodetect"), (Errno.EBUSY, "already requested"),
                      (Errno.EINVAL, "cannot be requested"), (Errno.ENOSYS, "without libgpiod")])
    func requestFailureSaysWhatToChange(errno: Int32, hint: String) {
        let g = FakeGPIO()
        g.requestError = errno
        #expect {
            _ = try LinuxOutputLine(chipLabel: "pinctrl-rp1", offset: 23, consumer: "ecmo-rig:pump_enable", activeLow: false,
                                    safeValue: false, library: g.library)
        } throws: { error in
            (error as? HardwareOpenError)?.cause == .system(operation: "GPIO request output", errno: errno)
                && "\(error)".contains("pinctrl-rp1") && "\(error)".contains(hint)
        }
    }

    @Test func libraryWithoutLibgpiodRefusesEveryRequest() {
        #expect {
            _ = try LinuxInputLine(chipLabel: "x", offset: 1, consumer: "c", activeLow: false, bias: .none, edge: .none,
                                   library: .unavailable)
        } throws: { "\($0)".contains("built without libgpiod") }
    }

    @Test func setIsRetriedAfterAnInterruptionAndOtherErrorsKeepTheirErrno() throws {
        let g = FakeGPIO()
        let line = try LinuxOutputLine(chipLabel: "c", offset: 1, consumer: "c", activeLow: false, safeValue: false, library: g.library)
        g.setResults = [-Errno.EINTR]
        try line.set(true)
        #expect(try line.readBack())
        g.setResults = [-Errno.EIO]
        #expect(throws: HALError.system(operation: "GPIO set", errno: Errno.EIO)) { try line.set(false) }
        g.getResults = [-Errno.EIO]
        #expect(throws: HALError.system(operation: "GPIO get", errno: Errno.EIO)) { _ = try line.readBack() }
    }

    @Test func releasedLineIsDisconnectedAndReleasedOnce() throws {
        let g = FakeGPIO()
        let line = try LinuxOutputLine(chipLabel: "c", offset: 1, consumer: "c", activeLow: false, safeValue: false, library: g.library)
        line.release()
        #expect(throws: HALError.disconnected(what: "GPIO output (released)")) { try line.set(true) }
        #expect(throws: HALError.disconnected(what: "GPIO output (released)")) { _ = try line.readBack() }
        #expect(g.released.count == 1)
    }

    @Test func droppedLineIsReleased() throws {
        let g = FakeGPIO()
        do { _ = try LinuxOutputLine(chipLabel: "c", offset: 1, consumer: "c", activeLow: false, safeValue: false, library: g.library) }
        #expect(g.released.count == 1)
    }
}

@Suite struct GPIOInputTests {
    /// The tachometer on a kernel that debounces (v2): its edges come as the kernel gives them.
    func tach(_ g: FakeGPIO) throws -> LinuxInputLine {
        g.kernelDebounceUs = 50
        return try LinuxInputLine(chipLabel: "pinctrl-bcm2711", offset: 17, consumer: "ecmo-rig:pump_tach", activeLow: false, bias: .pullUp,
                           edge: .rising, debounce: .microseconds(50), library: g.library)
    }

    @Test func inputIsRequestedWithEdgesBiasAndDebounce() throws {
        let g = FakeGPIO()
        _ = try tach(g)
        #expect(g.requests.first?.settings == GPIOLibrary.LineSettings(activeLow: false, bias: 2, drive: 0, edge: 1, debounceMicroseconds: 50))
        #expect(g.requests.first?.output == false)
    }

    @Test func edgesCarryTheKernelTimestampsOnTheMonotonicTimeLine() throws {
        let g = FakeGPIO()
        let line = try tach(g)
        g.pendingEdges = [(5_000_000_000, 1), (5_010_000_000, 2)]
        let buffer = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 8)
        defer { buffer.deallocate() }
        #expect(try line.readEdges(into: buffer) == 2)
        #expect(buffer[0] == EdgeEvent(kind: .rising, timestamp: Instant(nanosecondsSinceOrigin: 5_000_000_000)))
        #expect(buffer[1] == EdgeEvent(kind: .falling, timestamp: Instant(nanosecondsSinceOrigin: 5_010_000_000)))
        #expect(try line.readEdges(into: buffer) == 0)
    }

    @Test func manyPendingEdgesAreReadInChunksUntilTheBufferIsFull() throws {
        let g = FakeGPIO()
        let line = try tach(g)
        g.pendingEdges = (0..<100).map { (UInt64($0) * 1000, 1) }
        let buffer = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 70)
        defer { buffer.deallocate() }
        #expect(try line.readEdges(into: buffer) == 70)
        #expect(buffer[69].timestamp.nanosecondsSinceOrigin == 69_000)
        #expect(g.pendingEdges.count == 30, "the rest stays queued in the kernel for the next tick")
        #expect(try line.readEdges(into: buffer) == 30)
    }

    @Test func edgeReadErrorIsThrownOnlyWhenNothingWasRead() throws {
        let g = FakeGPIO()
        let line = try tach(g)
        let buffer = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 64)
        defer { buffer.deallocate() }
        g.edgeResults = [-Errno.EIO]
        #expect(throws: HALError.system(operation: "GPIO read edge events", errno: Errno.EIO)) { _ = try line.readEdges(into: buffer) }
        g.edgeResults = [-Errno.EINTR]
        g.pendingEdges = [(1, 1)]
        #expect(try line.readEdges(into: buffer) == 1, "EINTR retried")
    }

    @Test func lineWithoutEdgeDetectionReadsNoEdgesAndDoesNotAskTheKernel() throws {
        let g = FakeGPIO()
        let estop = try LinuxInputLine(chipLabel: "c", offset: 22, consumer: "c", activeLow: false, bias: .pullUp, edge: .none,
                                       library: g.library)
        let buffer = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 4)
        defer { buffer.deallocate() }
        #expect(try estop.readEdges(into: buffer) == 0)
        #expect(g.readEdgeCalls == 0)
    }

    @Test func readErrorKeepsItsErrnoAndReleasedInputIsDisconnected() throws {
        let g = FakeGPIO()
        let line = try tach(g)
        g.getResults = [-Errno.EIO]
        #expect(throws: HALError.system(operation: "GPIO get", errno: Errno.EIO)) { _ = try line.read() }
        line.release()
        #expect(throws: HALError.disconnected(what: "GPIO input (released)")) { _ = try line.read() }
        let buffer = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 4)
        defer { buffer.deallocate() }
        #expect(throws: HALError.disconnected(what: "GPIO input (released)")) { _ = try line.readEdges(into: buffer) }
    }
}

/// The hot-path calls allocate nothing (the loop's rule): I²C transfers, line set/get,
/// edge reads and the watchdog kick, on fakes that themselves allocate nothing.
@Suite struct LinuxHotPathAllocationTests {
    @Test(.enabled(if: ecmo_alloc_counter_available(), "needs the glibc allocation counter"))
    func transfersLinesEdgesAndKicksAllocateNothing() throws {
        let k = FakeKernel()
        k.logging = false
        k.files["/dev/i2c-1"] = ""
        k.files["/dev/watchdog"] = ""
        k.ioctlHandler = { _, request, arg in
            if request == LinuxConstants.i2cFuncs { arg?.assumingMemoryBound(to: UInt.self).pointee = LinuxConstants.i2cFuncI2C | LinuxConstants.i2cFuncWordData }
            if request == LinuxConstants.i2cRdwr { return 1 }
            return 0
        }
        let bus = try LinuxI2CBus(path: "/dev/i2c-1", syscalls: k.syscalls)
        let adc = bus.device(address: 0x48)
        let abp = bus.device(address: 0x28)
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 7, alignment: 1)
        defer { raw.deallocate() }
        let lib = GPIOLibrary(requestOutput: { _, _, _, _, _, _ in OpaquePointer(bitPattern: 8) },
                              requestInput: { _, _, _, _, _ in OpaquePointer(bitPattern: 16) },
                              set: { _, _ in 0 }, get: { _ in 1 },
                              readEdges: { _, ts, kinds, max in ts[0] = 1; kinds[0] = 1; return max > 0 ? 1 : 0 },
                              release: { _ in }, chipLines: { _ in 1 }, describe: { "" })
        let out = try LinuxOutputLine(chipLabel: "c", offset: 1, consumer: "c", activeLow: false, safeValue: false, library: lib)
        let input = try LinuxInputLine(chipLabel: "c", offset: 2, consumer: "c", activeLow: false, bias: .none, edge: .both, library: lib)
        let edges = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 16)
        defer { edges.deallocate() }
        let wd = LinuxWatchdog(path: "/dev/watchdog", syscalls: k.syscalls)
        try wd.start(timeout: .seconds(1))
        func work(_ n: Int) throws {
            for i in 0..<n {
                try adc.writeWordData(register: 1, value: UInt16(truncatingIfNeeded: i))
                _ = try adc.readWordData(register: 0)
                try abp.write(UnsafeRawBufferPointer(rebasing: raw[0..<3]))
                try abp.read(into: raw)
                try out.set(i & 1 == 0)
                _ = try out.readBack()
                _ = try input.read()
                _ = try input.readEdges(into: edges)
                try wd.kick()
            }
        }
        try work(10)   // warm up (lazy metadata, first-use caches)
        ecmo_alloc_counter_start()
        try work(1000)
        let n = ecmo_alloc_counter_stop()
        #expect(n == 0, "allocations in 1000 rounds of hot-path calls: \(n)")
    }

    /// A failed transfer adds no allocation of its own. Under Swift Testing every `throw`
    /// costs one allocation that is not ours: the harness installs the runtime's
    /// will-throw hook to record backtraces. So the backend's throw path is compared with a
    /// bare `throw HALError` in the same process: equal counts mean the backend adds none.
    @Test(.enabled(if: ecmo_alloc_counter_available(), "needs the glibc allocation counter"))
    func failedTransferAllocatesNoMoreThanABareThrow() throws {
        let k = FakeKernel()
        k.logging = false
        k.files["/dev/i2c-1"] = ""
        k.ioctlHandler = { _, request, _ in request == LinuxConstants.i2cSMBus ? -Errno.ENXIO : 0 }
        let adc = try LinuxI2CBus(path: "/dev/i2c-1", syscalls: k.syscalls).device(address: 0x48)
        var naks = 0
        func work(_ n: Int) {
            for _ in 0..<n {
                do throws(HALError) { _ = try adc.readWordData(register: 0) } catch { if case .nak = error { naks += 1 } }
            }
        }
        func bare(_ n: Int) {
            for _ in 0..<n {
                do throws(HALError) { try bareThrow() } catch { if case .nak = error { naks += 1 } }
            }
        }
        work(10)
        bare(10)
        ecmo_alloc_counter_start()
        work(1000)
        let backend = ecmo_alloc_counter_stop()
        ecmo_alloc_counter_start()
        bare(1000)
        let baseline = ecmo_alloc_counter_stop()
        #expect(backend == baseline, "1000 failed transfers: \(backend) allocations; 1000 bare throws: \(baseline)")
        #expect(naks == 2020)
    }
}

@inline(never) func bareThrow() throws(HALError) { throw .nak(address: 0x48) }

/// Item 14 of issue 15: `debounce_us` is honoured on libgpiod v1 (no kernel debounce) by
/// debouncing in software on the input path, on the backend's monotonic clock.
@Suite struct GPIOSoftwareDebounceTests {
    func estop(_ g: FakeGPIO, _ k: FakeKernel, debounce: Duration = .milliseconds(1)) throws -> LinuxInputLine {
        try LinuxInputLine(chipLabel: "c", offset: 22, consumer: "ecmo-rig:estop", activeLow: false, bias: .pullUp, edge: .none,
                           debounce: debounce, library: g.library, time: k.syscalls)
    }
    func set(_ g: FakeGPIO, _ level: Bool) { for h in g.values.keys { g.values[h] = level } }

    @Test func withoutKernelDebounceABounceShorterThanTheWindowIsNotSeen() throws {
        let g = FakeGPIO()
        let k = FakeKernel()
        let line = try estop(g, k)
        #expect(line.softwareDebounce != nil, "v1: the kernel debounces nothing")
        #expect(try line.read() == false)
        // Contact bounce: high for 0.4 ms, then low again.
        set(g, true)
        k.now += 100_000
        #expect(try line.read() == false)
        k.now += 300_000
        #expect(try line.read() == false)
        set(g, false)
        k.now += 100_000
        #expect(try line.read() == false)
        k.now += 2_000_000
        #expect(try line.read() == false)
    }

    @Test func aRealChangeIsSeenOnceItHeldForTheWindow() throws {
        let g = FakeGPIO()
        let k = FakeKernel()
        let line = try estop(g, k)
        _ = try line.read()
        set(g, true)                       // pressed, and held
        #expect(try line.read() == false)
        k.now += 999_000
        #expect(try line.read() == false, "0.999 ms: still inside the 1 ms window")
        k.now += 1_000
        #expect(try line.read() == true, "seen at 1 ms")
    }

    @Test func aKernelThatDebouncesLeavesTheLineAlone() throws {
        let g = FakeGPIO()
        g.kernelDebounceUs = 1000          // v2 with kernel debounce
        let k = FakeKernel()
        let line = try estop(g, k)
        #expect(line.softwareDebounce == nil)
        #expect(g.requests.last?.settings.debounceMicroseconds == 1000, "asked of the kernel")
        _ = try line.read()
        set(g, true)
        #expect(try line.read() == true, "the kernel's level, as it comes")
    }

    @Test func bouncingTachEdgesWithinTheWindowAreDropped() throws {
        let g = FakeGPIO()
        let k = FakeKernel()
        let line = try LinuxInputLine(chipLabel: "c", offset: 17, consumer: "ecmo-rig:pump_tach", activeLow: false, bias: .pullUp,
                                      edge: .rising, debounce: .microseconds(50), library: g.library, time: k.syscalls)
        let buffer = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 8)
        defer { buffer.deallocate() }
        // A pulse at 1 ms with two bounce edges 10 and 30 µs after it, the next pulse at 2 ms.
        g.pendingEdges = [(1_000_000, 1), (1_010_000, 1), (1_030_000, 1), (2_000_000, 1)]
        #expect(try line.readEdges(into: buffer) == 2)
        #expect(buffer[0].timestamp == Instant(nanosecondsSinceOrigin: 1_000_000))
        #expect(buffer[1].timestamp == Instant(nanosecondsSinceOrigin: 2_000_000))
    }
}
