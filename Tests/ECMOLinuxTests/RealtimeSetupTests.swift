import Testing
import Foundation
import ECMOLinux

/// A kernel for `RealtimeSetup` whose every call can be made to fail; it logs the calls.
final class FakeRealtimeKernel {
    var fifoResult: Int32 = 0
    var lockResult: Int32 = 0
    var stackResult: Int32 = 0
    var affinityResult: Int32 = 0
    var dmaResult: Int32 = 7
    var rtprio: UInt64? = 0
    var memlock: UInt64? = 8 * 1024 * 1024
    var calls: [String] = []

    var realtimeCalls: RealtimeCalls {
        RealtimeCalls(
            setFIFO: { [self] p in calls.append("fifo \(p)"); return fifoResult },
            lockAllMemory: { [self] in calls.append("mlockall"); return lockResult },
            prefaultStack: { [self] n in calls.append("stack \(n)"); return stackResult },
            setAffinity: { [self] c in calls.append("affinity \(c)"); return affinityResult },
            rtprioLimit: { [self] in rtprio },
            memlockLimit: { [self] in memlock },
            holdDMALatencyZero: { [self] in calls.append("dma"); return dmaResult },
            cpuCount: { 2 })
    }
    func apply(_ r: RealtimeRequest = RealtimeRequest()) -> RealtimeReport {
        RealtimeSetup(calls: realtimeCalls).apply(r)
    }
}

@Suite struct RealtimeSetupTests {
    @Test func everyStepSucceedingGivesARealtimeReportAndKeepsTheLatencyFD() {
        let k = FakeRealtimeKernel()
        let r = k.apply(RealtimeRequest(priority: 80, cpu: 1))
        #expect(r.isRealtime)
        #expect(r.failures.isEmpty)
        #expect(r.dmaLatencyFD == 7)
        #expect(k.calls == ["affinity 1", "fifo 80", "mlockall", "stack 262144", "dma"], "affinity first, stack after mlockall")
    }

    @Test func affinityIsNotTouchedWithoutACPU() {
        let k = FakeRealtimeKernel()
        let r = k.apply()
        #expect(r.outcome(.affinity) == nil)
        #expect(!k.calls.contains { $0.hasPrefix("affinity") })
    }

    @Test func schedulerEPERMIsReportedWithTheRtprioLimitAndWhatToChange() throws {
        let k = FakeRealtimeKernel()
        k.fifoResult = -Errno.EPERM
        let r = k.apply(RealtimeRequest(priority: 80))
        let o = try #require(r.outcome(.scheduler))
        #expect(!o.ok && o.errno == Errno.EPERM)
        #expect(!r.isRealtime)
        let fix = try #require(o.fix)
        for needle in ["RLIMIT_RTPRIO is 0", "LimitRTPRIO=80", "ulimit -r 80", "CAP_SYS_NICE", "CPUSchedulingPolicy=fifo", "CPUSchedulingPriority="] {
            #expect(fix.contains(needle), "\(needle) missing from: \(fix)")
        }
        #expect(o.line.hasPrefix("scheduler: FAILED (EPERM)"))
        #expect(k.calls.contains("mlockall"), "the other steps are still tried, so one run names everything to change")
    }

    @Test func schedulerEINVALSaysThePriorityIsOutOfRange() throws {
        let k = FakeRealtimeKernel()
        k.fifoResult = -Errno.EINVAL
        let o = try #require(k.apply(RealtimeRequest(priority: 120)).outcome(.scheduler))
        #expect(o.fix?.contains("1...99") == true)
    }

    @Test(arguments: [Errno.ENOMEM, Errno.EPERM])
    func mlockallFailureIsReportedWithTheMemlockLimitAndWhatToChange(errno: Int32) throws {
        let k = FakeRealtimeKernel()
        k.lockResult = -errno
        let r = k.apply()
        let o = try #require(r.outcome(.memoryLock))
        #expect(!o.ok && o.errno == errno)
        #expect(!r.isRealtime)
        let fix = try #require(o.fix)
        #expect(fix.contains("LimitMEMLOCK=infinity"))
        #expect(fix.contains("ulimit -l unlimited"))
        #expect(fix.contains("8192 KiB"))
        #expect(r.outcome(.scheduler)?.ok == true)
    }

    @Test func invalidCPUIsReportedWithTheCPUsThereAreAndCPUAffinity() throws {
        let k = FakeRealtimeKernel()
        k.affinityResult = -Errno.EINVAL
        let r = k.apply(RealtimeRequest(cpu: 5))
        let o = try #require(r.outcome(.affinity))
        #expect(!o.ok && o.errno == Errno.EINVAL)
        #expect(!r.isRealtime, "a requested pin that fails is an essential failure")
        #expect(o.fix?.contains("0...1") == true)
        #expect(o.fix?.contains("CPUAffinity=") == true)
        #expect(r.outcome(.scheduler)?.ok == true, "the rest still runs")
    }

    @Test func dmaLatencyFailureIsAWarningNotARefusal() throws {
        let k = FakeRealtimeKernel()
        k.dmaResult = -Errno.EACCES
        let r = k.apply()
        #expect(r.isRealtime)
        #expect(r.failures.map(\.step) == [.cpuDMALatency])
        #expect(r.dmaLatencyFD == nil)
        #expect(r.outcome(.cpuDMALatency)?.fix?.contains("udev") == true)
    }

    @Test func stackPrefaultFailureIsEssential() {
        let k = FakeRealtimeKernel()
        k.stackResult = -Errno.EINVAL
        #expect(!k.apply().isRealtime)
    }

    @Test func disabledStepsAreNotAttempted() {
        let k = FakeRealtimeKernel()
        let r = k.apply(RealtimeRequest(lockMemory: false, stackPrefaultBytes: 0, holdDMALatencyZero: false))
        #expect(k.calls == ["fifo 80"])
        #expect(r.outcomes.map(\.step) == [.scheduler])
    }

    /// The real kernel, on a thread of its own (whatever policy it gets dies with it, never
    /// a test-pool thread): whatever the rights, every step is reported and a failure
    /// carries an errno and a fix. (Priority 1, no memory lock: harmless to the test process.)
    @Test func systemCallsReportEachStepOnTheRealKernel() {
        final class Box: @unchecked Sendable { var report: RealtimeReport? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            box.report = RealtimeSetup().apply(RealtimeRequest(priority: 1, lockMemory: false, stackPrefaultBytes: 64 * 1024, holdDMALatencyZero: false))
            done.signal()
        }
        t.stackSize = 1 << 20
        t.start()
        done.wait()
        #expect(box.report?.outcomes.map(\.step) == [.scheduler, .stack])
        #expect(box.report?.outcome(.stack)?.ok == true)
        for f in box.report?.failures ?? [] {
            #expect(f.errno > 0)
            #expect(f.fix != nil)
        }
    }
}
