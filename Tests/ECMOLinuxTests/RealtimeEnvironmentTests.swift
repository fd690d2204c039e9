import Testing
import ECMOLinux

/// Fake procfs/sysfs for `RealtimeEnvironment`.
struct FakeFiles {
    var files: [String: String] = [:]
    var dirs: [String: [String]] = [:]
    var reader: EnvironmentReader {
        let f = files, d = dirs
        return EnvironmentReader(readFile: { f[$0] }, listDirectory: { d[$0] })
    }
    func environment(pid: Int = 999) -> RealtimeEnvironment { RealtimeEnvironment(reader: reader, ownPID: pid) }

    /// A /proc/<pid>/stat line with the given policy, rt priority and flags.
    static func stat(pid: Int, name: String, policy: Int, priority: Int, kernel: Bool = false) -> String {
        // fields 3...52 after the name; field 9 flags, 40 rt_priority, 41 policy.
        var fields = [String](repeating: "0", count: 50)
        fields[0] = "S"
        fields[9 - 3] = kernel ? "2097216" : "4194560"
        fields[40 - 3] = "\(priority)"
        fields[41 - 3] = "\(policy)"
        return "\(pid) (\(name)) " + fields.joined(separator: " ") + "\n"
    }

    mutating func addTask(pid: Int, name: String, policy: Int, priority: Int, kernel: Bool = false) {
        dirs["/proc", default: []].append("\(pid)")
        dirs["/proc/\(pid)/task"] = ["\(pid)"]
        files["/proc/\(pid)/task/\(pid)/stat"] = Self.stat(pid: pid, name: name, policy: policy, priority: priority, kernel: kernel)
    }
}

@Suite struct RealtimeEnvironmentTests {
    @Test func preemptRTFromSysKernelRealtimePasses() {
        var f = FakeFiles()
        f.files["/sys/kernel/realtime"] = "1\n"
        #expect(f.environment().preemption().verdict == .pass)
    }

    @Test func preemptRTFromUnameVersionPasses() {
        var f = FakeFiles()
        f.files["/proc/sys/kernel/version"] = "#1 SMP PREEMPT_RT Debian 6.1.0-rt\n"
        #expect(f.environment().preemption().verdict == .pass)
    }

    @Test func preemptDynamicStockKernelWarnsWithTheRTKernelToInstall() {
        var f = FakeFiles()
        f.files["/proc/sys/kernel/version"] = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.129-1\n"
        let c = f.environment().preemption()
        #expect(c.verdict == .warn)
        #expect(c.detail.contains("PREEMPT_DYNAMIC"))
        #expect(c.fix?.contains("PREEMPT_RT") == true)
    }

    @Test func debugfsVoluntaryModelSuggestsPreemptFull() {
        var f = FakeFiles()
        f.files["/proc/sys/kernel/version"] = "#1 SMP PREEMPT_DYNAMIC\n"
        f.files["/sys/kernel/debug/sched/preempt"] = "none (voluntary) full\n"
        let c = f.environment().preemption()
        #expect(c.verdict == .warn)
        #expect(c.detail.contains("'voluntary'"))
        #expect(c.fix?.contains("preempt=full") == true)
    }

    @Test func governorPowersaveWarnsAndPerformancePasses() {
        var f = FakeFiles()
        f.dirs["/sys/devices/system/cpu"] = ["cpu0", "cpu1", "cpufreq", "isolated"]
        f.files["/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"] = "performance\n"
        f.files["/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor"] = "ondemand\n"
        let c = f.environment().governor()
        #expect(c.verdict == .warn)
        #expect(c.detail.contains("cpu1 ondemand"))
        #expect(c.fix?.contains("performance") == true)
        f.files["/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor"] = "performance\n"
        #expect(f.environment().governor().verdict == .pass)
    }

    @Test func noCpufreqPasses() {
        var f = FakeFiles()
        f.dirs["/sys/devices/system/cpu"] = ["cpu0", "cpu1"]
        #expect(f.environment().governor().verdict == .pass)
    }

    @Test func cpuListsParseRangesAndNull() {
        #expect(RealtimeEnvironment.parseCPUList("1-3,5\n") == [1, 2, 3, 5])
        #expect(RealtimeEnvironment.parseCPUList("") == [])
        #expect(RealtimeEnvironment.parseCPUList("3") == [3])
    }

    @Test func isolatedCPUVerdictDependsOnWhereTheLoopIsPinned() {
        var f = FakeFiles()
        f.files["/sys/devices/system/cpu/isolated"] = "\n"
        #expect(f.environment().isolatedCPUs(cpu: nil).verdict == .warn)
        f.files["/sys/devices/system/cpu/isolated"] = "3\n"
        let unpinned = f.environment().isolatedCPUs(cpu: nil)
        #expect(unpinned.verdict == .warn)
        #expect(unpinned.fix?.contains("--cpu 3") == true)
        #expect(f.environment().isolatedCPUs(cpu: 2).verdict == .warn)
        #expect(f.environment().isolatedCPUs(cpu: 3).verdict == .pass)
    }

    @Test func nohzFullNullWarnsAndTheLoopsCPUPasses() {
        var f = FakeFiles()
        f.files["/sys/devices/system/cpu/nohz_full"] = "(null)\n"
        #expect(f.environment().nohzFull(cpu: 3).verdict == .warn)
        f.files["/sys/devices/system/cpu/nohz_full"] = "2-3\n"
        #expect(f.environment().nohzFull(cpu: 3).verdict == .pass)
        #expect(f.environment().nohzFull(cpu: 0).verdict == .warn)
    }

    static let limitsUser = """
    Limit                     Soft Limit           Hard Limit           Units
    Max locked memory         8388608              8388608              bytes
    Max realtime priority     0                    0
    """
    static let limitsUnit = """
    Limit                     Soft Limit           Hard Limit           Units
    Max locked memory         unlimited            unlimited            bytes
    Max realtime priority     99                   99
    """

    @Test func ordinaryUserFailsRtprioAndMemlockWithTheUnitSettings() {
        var f = FakeFiles()
        f.files["/proc/self/limits"] = Self.limitsUser
        f.files["/proc/self/status"] = "Name:\tx\nCapEff:\t0000000000000000\n"
        let rt = f.environment().rtprioLimit(priority: 80)
        #expect(rt.verdict == .fail)
        #expect(rt.fix?.contains("LimitRTPRIO=99") == true)
        let mem = f.environment().memlockLimit()
        #expect(mem.verdict == .fail)
        #expect(mem.detail.contains("8192 KiB"))
        #expect(mem.fix?.contains("LimitMEMLOCK=infinity") == true)
    }

    @Test func unitLimitsPass() {
        var f = FakeFiles()
        f.files["/proc/self/limits"] = Self.limitsUnit
        f.files["/proc/self/status"] = "CapEff:\t0000000000000000\n"
        #expect(f.environment().rtprioLimit(priority: 80).verdict == .pass)
        #expect(f.environment().rtprioLimit(priority: 99).verdict == .pass)
        #expect(f.environment().memlockLimit().verdict == .pass)
    }

    @Test func rootCapabilitiesPassDespiteZeroLimits() {
        var f = FakeFiles()
        f.files["/proc/self/limits"] = Self.limitsUser
        f.files["/proc/self/status"] = "CapEff:\t000001ffffffffff\n"
        #expect(f.environment().rtprioLimit(priority: 80).verdict == .pass)
        #expect(f.environment().memlockLimit().verdict == .pass)
    }

    @Test func statLineWithSpacesAndBracketsInTheNameParses() throws {
        let t = try #require(RealtimeEnvironment.parseStat(FakeFiles.stat(pid: 42, name: "my (odd) task", policy: 1, priority: 90)))
        #expect(t.pid == 42 && t.name == "my (odd) task" && t.policy == 1 && t.priority == 90 && !t.isKernelThread)
    }

    @Test func userFIFOTaskAtOrAboveOurPriorityWarnsAndKernelThreadsDoNot() {
        var f = FakeFiles()
        f.addTask(pid: 18, name: "migration/0", policy: 1, priority: 99, kernel: true)
        f.addTask(pid: 500, name: "bash", policy: 0, priority: 0)
        f.addTask(pid: 999, name: "ecmo-rig", policy: 1, priority: 80)   // ourselves
        #expect(f.environment(pid: 999).otherRealtimeTasks(priority: 80).verdict == .pass)
        f.addTask(pid: 600, name: "pipewire", policy: 2, priority: 88)
        let c = f.environment(pid: 999).otherRealtimeTasks(priority: 80)
        #expect(c.verdict == .warn)
        #expect(c.detail.contains("pipewire[600] RR 88"))
        #expect(!c.detail.contains("ecmo-rig"))
    }

    @Test func swapInUseWarnsAndUnusedSwapPasses() {
        var f = FakeFiles()
        f.files["/proc/meminfo"] = "MemTotal: 4000000 kB\nSwapTotal:       1048576 kB\nSwapFree:        1048576 kB\n"
        #expect(f.environment().swap().verdict == .pass)
        f.files["/proc/meminfo"] = "SwapTotal:       1048576 kB\nSwapFree:         524288 kB\n"
        let c = f.environment().swap()
        #expect(c.verdict == .warn)
        #expect(c.detail.contains("512 MiB"))
        #expect(c.fix?.contains("dphys-swapfile") == true)
        f.files["/proc/meminfo"] = "SwapTotal: 0 kB\nSwapFree: 0 kB\n"
        #expect(f.environment().swap().verdict == .pass)
    }

    @Test func rtThrottlingDefaultPassesOffWarnsAndTinyBudgetFails() {
        var f = FakeFiles()
        f.files["/proc/sys/kernel/sched_rt_period_us"] = "1000000\n"
        f.files["/proc/sys/kernel/sched_rt_runtime_us"] = "950000\n"
        #expect(f.environment().rtThrottling().verdict == .pass)
        f.files["/proc/sys/kernel/sched_rt_runtime_us"] = "-1\n"
        #expect(f.environment().rtThrottling().verdict == .warn)
        f.files["/proc/sys/kernel/sched_rt_runtime_us"] = "100000\n"
        #expect(f.environment().rtThrottling().verdict == .fail)
    }

    @Test func everyCheckIsProducedEvenWithNoFilesAtAll() {
        let checks = FakeFiles().environment().checks(priority: 80, cpu: nil)
        #expect(checks.count == 9)
        #expect(Set(checks.map(\.name)).count == 9)
    }

    @Test func systemReaderReadsProcfs() {
        let r = EnvironmentReader.system
        #expect(r.readFile("/proc/meminfo")?.contains("MemTotal") == true)
        #expect(r.listDirectory("/proc")?.contains("self") == true)
        #expect(r.readFile("/nonexistent/file") == nil)
    }
}
