#if os(Linux) || ECMO_LINUX_EMBEDDED
import CLinuxIO

/// The calls the control thread makes to become real time, as function values (the
/// `LinuxSyscalls` pattern), so a test can make each one fail with any errno and check
/// the report. Each acts on the calling thread and returns 0 (or a value) or -errno.
public struct RealtimeCalls {
    /// `pthread_setschedparam(self, SCHED_FIFO, priority)`.
    public var setFIFO: (_ priority: Int32) -> Int32
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)`.
    public var lockAllMemory: () -> Int32
    /// Touch this many bytes of stack below the caller.
    public var prefaultStack: (_ bytes: Int) -> Int32
    /// `pthread_setaffinity_np(self)` to one CPU.
    public var setAffinity: (_ cpu: Int32) -> Int32
    /// Soft RLIMIT_RTPRIO / RLIMIT_MEMLOCK (`UInt64.max` = unlimited), nil if unreadable.
    public var rtprioLimit: () -> UInt64?
    public var memlockLimit: () -> UInt64?
    /// Opens `/dev/cpu_dma_latency` and writes 0: the fd to keep open, or -errno.
    public var holdDMALatencyZero: () -> Int32
    /// CPUs configured on the machine (for the affinity message).
    public var cpuCount: () -> Int32

    public init(setFIFO: @escaping (Int32) -> Int32, lockAllMemory: @escaping () -> Int32,
                prefaultStack: @escaping (Int) -> Int32, setAffinity: @escaping (Int32) -> Int32,
                rtprioLimit: @escaping () -> UInt64?, memlockLimit: @escaping () -> UInt64?,
                holdDMALatencyZero: @escaping () -> Int32, cpuCount: @escaping () -> Int32) {
        self.setFIFO = setFIFO
        self.lockAllMemory = lockAllMemory
        self.prefaultStack = prefaultStack
        self.setAffinity = setAffinity
        self.rtprioLimit = rtprioLimit
        self.memlockLimit = memlockLimit
        self.holdDMALatencyZero = holdDMALatencyZero
        self.cpuCount = cpuCount
    }

    /// The kernel.
    public static var system: RealtimeCalls {
        RealtimeCalls(
            setFIFO: { ecmo_rt_set_fifo($0) },
            lockAllMemory: { ecmo_sys_lock_all_memory() },
            prefaultStack: { ecmo_rt_prefault_stack($0) },
            setAffinity: { ecmo_rt_set_affinity($0) },
            rtprioLimit: { var v: UInt64 = 0; return ecmo_rt_rlimit_rtprio(&v) == 0 ? v : nil },
            memlockLimit: { var v: UInt64 = 0; return ecmo_rt_rlimit_memlock(&v) == 0 ? v : nil },
            holdDMALatencyZero: { ecmo_rt_hold_dma_latency_zero() },
            cpuCount: { ecmo_rt_cpu_count() })
    }
}

/// What the control thread asks for.
public struct RealtimeRequest: Sendable, Equatable {
    /// SCHED_FIFO priority, 1...99. 80 by default: above the kernel's threaded IRQs (50 on
    /// PREEMPT_RT) so a storm of ordinary interrupts cannot delay a tick, below the
    /// kernel's own 99 (migration, watchdog).
    public var priority: Int32
    /// Pin the thread to this CPU (an isolated core on a Pi), or leave it where it is.
    public var cpu: Int32?
    public var lockMemory: Bool
    /// Stack touched before the first tick (so no tick takes a page fault on it).
    public var stackPrefaultBytes: Int
    /// Hold `/dev/cpu_dma_latency` at 0 for the life of the process: measured here to halve
    /// the typical wake-up (deep idle states cost the most); cyclictest does the same.
    public var holdDMALatencyZero: Bool

    public init(priority: Int32 = 80, cpu: Int32? = nil, lockMemory: Bool = true,
                stackPrefaultBytes: Int = 256 * 1024, holdDMALatencyZero: Bool = true) {
        self.priority = priority
        self.cpu = cpu
        self.lockMemory = lockMemory
        self.stackPrefaultBytes = stackPrefaultBytes
        self.holdDMALatencyZero = holdDMALatencyZero
    }
}

/// What the set-up could and could not do, each step with its errno and what to change.
public struct RealtimeReport: Sendable, Equatable, CustomStringConvertible {
    public enum Step: String, Sendable, CaseIterable {
        case affinity, scheduler, memoryLock = "memory-lock", stack, cpuDMALatency = "cpu-dma-latency"
        /// Steps a `realtime: required` board cannot do without. The DMA-latency hold is
        /// an improvement, not a condition: a Pi user may lack the udev rule for it.
        public var isEssential: Bool { self != .cpuDMALatency }
    }
    public struct Outcome: Sendable, Equatable {
        public var step: Step
        public var ok: Bool
        /// 0 when ok.
        public var errno: Int32
        /// What was done or tried ("SCHED_FIFO priority 80").
        public var detail: String
        /// What to change when it failed.
        public var fix: String?
        public var line: String {
            ok ? "\(step.rawValue): ok: \(detail)"
               : "\(step.rawValue): FAILED (\(Errno.name(errno))): \(detail)" + (fix.map { "; \($0)" } ?? "")
        }
    }
    public var request: RealtimeRequest
    public var outcomes: [Outcome]
    /// The open `/dev/cpu_dma_latency` descriptor (closing it gives the idle states back).
    public var dmaLatencyFD: Int32?

    public func outcome(_ step: Step) -> Outcome? { outcomes.first { $0.step == step } }
    public var failures: [Outcome] { outcomes.filter { !$0.ok } }
    /// Failures a `realtime: required` board refuses to start with.
    public var essentialFailures: [Outcome] { failures.filter { $0.step.isEssential } }
    public var isRealtime: Bool { essentialFailures.isEmpty }
    public var description: String { outcomes.map(\.line).joined(separator: "\n") }
}

/// Makes the calling thread the control loop's real-time thread: CPU affinity (optional),
/// SCHED_FIFO, `mlockall(MCL_CURRENT|MCL_FUTURE)`, a pre-faulted stack, and
/// `/dev/cpu_dma_latency` held at 0. It tries every step even after one fails and
/// reports each, so one run tells a person everything to change, not one thing per try.
/// The policy is per thread: the recorder, status line and console stay ordinary.
public struct RealtimeSetup {
    public var calls: RealtimeCalls
    public init(calls: RealtimeCalls = .system) { self.calls = calls }

    public func apply(_ request: RealtimeRequest) -> RealtimeReport {
        var outcomes: [RealtimeReport.Outcome] = []
        // Affinity first: the pages touched below are then local to the core that runs the loop.
        if let cpu = request.cpu {
            let r = calls.setAffinity(cpu)
            outcomes.append(.init(step: .affinity, ok: r == 0, errno: -min(r, 0), detail: "pinned to CPU \(cpu)",
                                  fix: r == 0 ? nil : affinityFix(cpu: cpu, errno: -r)))
        }
        let s = calls.setFIFO(request.priority)
        outcomes.append(.init(step: .scheduler, ok: s == 0, errno: -min(s, 0), detail: "SCHED_FIFO priority \(request.priority)",
                              fix: s == 0 ? nil : schedulerFix(priority: request.priority, errno: -s)))
        if request.lockMemory {
            let m = calls.lockAllMemory()
            outcomes.append(.init(step: .memoryLock, ok: m == 0, errno: -min(m, 0), detail: "mlockall(MCL_CURRENT|MCL_FUTURE)",
                                  fix: m == 0 ? nil : memoryFix(errno: -m)))
        }
        if request.stackPrefaultBytes > 0 {
            let p = calls.prefaultStack(request.stackPrefaultBytes)
            outcomes.append(.init(step: .stack, ok: p == 0, errno: -min(p, 0), detail: "\(request.stackPrefaultBytes / 1024) KiB of stack pre-faulted",
                                  fix: p == 0 ? nil : "give the control thread a larger stack, or pre-fault less (at most 8 MiB)"))
        }
        var fd: Int32?
        if request.holdDMALatencyZero {
            let d = calls.holdDMALatencyZero()
            if d >= 0 { fd = d }
            outcomes.append(.init(step: .cpuDMALatency, ok: d >= 0, errno: -min(d, 0), detail: "/dev/cpu_dma_latency held at 0 µs (no deep idle states)",
                                  fix: d >= 0 ? nil : "run as root, or give the service's group write access with a udev rule: KERNEL==\"cpu_dma_latency\", GROUP=\"ecmo\", MODE=\"0660\" (deploy/99-ecmo-rig.rules)"))
        }
        return RealtimeReport(request: request, outcomes: outcomes, dmaLatencyFD: fd)
    }

    private func limitText(_ v: UInt64?) -> String {
        guard let v else { return "unknown" }
        return v == UInt64.max ? "unlimited" : "\(v)"
    }

    func schedulerFix(priority: Int32, errno: Int32) -> String {
        if errno == Errno.EINVAL {
            return "priority \(priority) is outside 1...99: pass --rt-priority between 1 and 99 (80 recommended)"
        }
        // EPERM: neither CAP_SYS_NICE nor an RLIMIT_RTPRIO at least the priority, or an
        // RT-group cgroup with no real-time budget.
        return "RLIMIT_RTPRIO is \(limitText(calls.rtprioLimit())) (needs ≥ \(priority)) and the process has no CAP_SYS_NICE: "
            + "in the systemd unit set LimitRTPRIO=\(priority) or higher (deploy/ecmo-rig.service has LimitRTPRIO=99; "
            + "CPUSchedulingPolicy=fifo with CPUSchedulingPriority= would make every thread real time instead); "
            + "from a shell 'ulimit -r \(priority)' (hard limit in /etc/security/limits.conf: '<user> - rtprio 99'), "
            + "or run as root / with CAP_SYS_NICE; with CONFIG_RT_GROUP_SCHED also give the cgroup cpu.rt_runtime_us"
    }

    func memoryFix(errno: Int32) -> String {
        let limit = calls.memlockLimit()
        let text = limit.map { $0 == UInt64.max ? "unlimited" : "\($0 / 1024) KiB" } ?? "unknown"
        if errno == Errno.ENOMEM {
            return "RLIMIT_MEMLOCK is \(text), smaller than the process: set LimitMEMLOCK=infinity in the systemd unit, "
                + "'ulimit -l unlimited' in a shell ('<user> - memlock unlimited' in /etc/security/limits.conf), or give CAP_IPC_LOCK"
        }
        return "not allowed to lock memory (RLIMIT_MEMLOCK \(text), no CAP_IPC_LOCK): set LimitMEMLOCK=infinity in the systemd unit "
            + "or 'ulimit -l unlimited', or give CAP_IPC_LOCK"
    }

    func affinityFix(cpu: Int32, errno: Int32) -> String {
        let n = calls.cpuCount()
        if errno == Errno.EINVAL {
            return "CPU \(cpu) is not one this process may run on (the machine has CPUs 0...\(max(0, n - 1)); the unit's CPUAffinity= or the cgroup's cpuset may exclude it): pass --cpu with an allowed CPU, or widen CPUAffinity= / taskset"
        }
        return "cannot set the affinity: check CPUAffinity= in the unit and the cgroup's cpuset"
    }
}
#endif
