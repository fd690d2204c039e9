#if os(Linux) || ECMO_LINUX_EMBEDDED
import CLinuxIO
import Glibc

/// Reads the files `rt-check` judges the machine by. Injected, so each verdict can be
/// tested with fake file contents.
public struct EnvironmentReader {
    /// The contents of a file, or nil if it is missing or unreadable.
    public var readFile: (_ path: String) -> String?
    /// The names in a directory, or nil.
    public var listDirectory: (_ path: String) -> [String]?
    public init(readFile: @escaping (String) -> String?, listDirectory: @escaping (String) -> [String]?) {
        self.readFile = readFile
        self.listDirectory = listDirectory
    }

    /// The real files, read with the backend's syscalls (sysfs and procfs files are small).
    public static var system: EnvironmentReader {
        EnvironmentReader(readFile: { path in
            let fd = path.withCString { ecmo_sys_open($0, ecmo_flag_rdonly()) }
            guard fd >= 0 else { return nil }
            defer { _ = ecmo_sys_close(fd) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while bytes.count < 1 << 20 {
                let n = chunk.withUnsafeMutableBytes { ecmo_sys_read(fd, $0.baseAddress, 4096) }
                if n <= 0 { if n < 0 && bytes.isEmpty { return nil }; break }
                bytes.append(contentsOf: chunk[0..<n])
            }
            return String(decoding: bytes, as: UTF8.self)
        }, listDirectory: { path in
            guard let dir = opendir(path) else { return nil }
            defer { closedir(dir) }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name != "." && name != ".." { names.append(name) }
            }
            return names
        })
    }
}

/// One line of `rt-check`'s environment report.
public struct EnvironmentCheck: Sendable, Equatable {
    public enum Verdict: String, Sendable, Comparable {
        case pass, warn, fail
        public static func < (a: Verdict, b: Verdict) -> Bool {
            func rank(_ v: Verdict) -> Int { switch v { case .pass: 0; case .warn: 1; case .fail: 2 } }
            return rank(a) < rank(b)
        }
    }
    public var name: String
    public var verdict: Verdict
    public var detail: String
    /// What to change (nil when it passes).
    public var fix: String?
    public init(name: String, verdict: Verdict, detail: String, fix: String? = nil) {
        self.name = name
        self.verdict = verdict
        self.detail = detail
        self.fix = fix
    }
}

/// The machine's fitness for a real-time loop: kernel preemption model, CPU governor,
/// isolated and tickless CPUs, rtprio and memlock limits, other real-time tasks, swap and
/// real-time throttling. Every verdict comes from files (procfs, sysfs), read through an
/// `EnvironmentReader`.
public struct RealtimeEnvironment {
    public var reader: EnvironmentReader
    /// Our own pid (left out of the scan for other real-time tasks).
    public var ownPID: Int
    public init(reader: EnvironmentReader = .system, ownPID: Int) {
        self.reader = reader
        self.ownPID = ownPID
    }

    /// Every check, for a loop at `priority` that may be pinned to `cpu`.
    public func checks(priority: Int32, cpu: Int32?) -> [EnvironmentCheck] {
        [preemption(), governor(), isolatedCPUs(cpu: cpu), nohzFull(cpu: cpu), rtprioLimit(priority: priority),
         memlockLimit(), otherRealtimeTasks(priority: priority), swap(), rtThrottling()]
    }

    private func read(_ path: String) -> String? {
        reader.readFile(path).map { $0.trimmed }
    }

    /// `/sys/kernel/realtime` (1 on PREEMPT_RT), else `uname -v` (= /proc/sys/kernel/version),
    /// else debugfs's `sched/preempt` ("none voluntary (full)": the model in brackets).
    public func preemption() -> EnvironmentCheck {
        let name = "kernel preemption"
        let rtFix = "install a PREEMPT_RT kernel (Debian: linux-image-rt-amd64 / linux-image-rt-arm64; Raspberry Pi: a kernel built with CONFIG_PREEMPT_RT=y, see docs/realtime.md)"
        if read("/sys/kernel/realtime") == "1" {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "PREEMPT_RT (/sys/kernel/realtime = 1)")
        }
        let version = read("/proc/sys/kernel/version") ?? ""
        if version.contains("PREEMPT_RT") {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "PREEMPT_RT (uname -v: \(version))")
        }
        if let models = read("/sys/kernel/debug/sched/preempt"),
           let open = models.firstIndex(of: "("), let close = models.firstIndex(of: ")"), open < close {
            let model = String(models[models.index(after: open)..<close])
            return EnvironmentCheck(name: name, verdict: .warn,
                                    detail: "not PREEMPT_RT; dynamic preemption model '\(model)' (uname -v: \(version)): expect maxima in milliseconds",
                                    fix: model == "full" ? rtFix : "boot with preempt=full, or better: \(rtFix)")
        }
        let model = version.contains("PREEMPT_DYNAMIC") ? "PREEMPT_DYNAMIC (model unreadable without root/debugfs)"
            : version.contains("PREEMPT") ? "PREEMPT" : "no forced preemption"
        return EnvironmentCheck(name: name, verdict: .warn, detail: "not PREEMPT_RT: \(model) (uname -v: \(version)): expect maxima in milliseconds",
                                fix: rtFix)
    }

    public func governor() -> EnvironmentCheck {
        let name = "CPU frequency governor"
        let cpus = (reader.listDirectory("/sys/devices/system/cpu") ?? [])
            .filter { $0.hasPrefix("cpu") && $0.dropFirst(3).allSatisfy(\.isNumber) && $0.count > 3 }
            .sorted { (Int($0.dropFirst(3)) ?? 0) < (Int($1.dropFirst(3)) ?? 0) }
        var governors: [(String, String)] = []
        for c in cpus {
            if let g = read("/sys/devices/system/cpu/\(c)/cpufreq/scaling_governor") { governors.append((c, g)) }
        }
        if governors.isEmpty {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "no cpufreq: the kernel does not scale the frequency here (e.g. a VM)")
        }
        let slow = governors.filter { $0.1 != "performance" }
        if slow.isEmpty {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "performance on \(governors.count) CPUs")
        }
        return EnvironmentCheck(name: name, verdict: .warn,
                                detail: slow.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + ": frequency changes add latency",
                                fix: "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor (at boot: cpufrequtils GOVERNOR=performance, or a systemd oneshot)")
    }

    /// Parses a kernel CPU list ("1-3,5") into CPU numbers; "" or "(null)" is empty.
    public static func parseCPUList(_ text: String) -> [Int32] {
        var cpus: [Int32] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-").map { Int32($0.trimmed) }
            if bounds.count == 1, let a = bounds[0] { cpus.append(a) }
            else if bounds.count == 2, let a = bounds[0], let b = bounds[1], a <= b { cpus.append(contentsOf: a...b) }
        }
        return cpus
    }

    public func isolatedCPUs(cpu: Int32?) -> EnvironmentCheck {
        let name = "isolated CPUs"
        let isolated = Self.parseCPUList(read("/sys/devices/system/cpu/isolated") ?? "")
        if isolated.isEmpty {
            return EnvironmentCheck(name: name, verdict: .warn, detail: "none: the loop shares its core with everything else",
                                    fix: "isolate a core at boot (isolcpus=3 nohz_full=3 rcu_nocbs=3 on the kernel command line) and pass --cpu 3")
        }
        let list = isolated.map(String.init).joined(separator: ",")
        guard let cpu else {
            return EnvironmentCheck(name: name, verdict: .warn, detail: "isolated \(list), but the loop is not pinned",
                                    fix: "pass --cpu \(isolated[isolated.count - 1]) (CPUAffinity= does not reach the loop thread alone)")
        }
        if isolated.contains(cpu) {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "isolated \(list); the loop runs on CPU \(cpu)")
        }
        return EnvironmentCheck(name: name, verdict: .warn, detail: "isolated \(list), but the loop is pinned to CPU \(cpu)",
                                fix: "pass --cpu \(isolated[isolated.count - 1])")
    }

    public func nohzFull(cpu: Int32?) -> EnvironmentCheck {
        let name = "nohz_full"
        let text = read("/sys/devices/system/cpu/nohz_full") ?? ""
        let cpus = Self.parseCPUList(text == "(null)" ? "" : text)
        if cpus.isEmpty {
            return EnvironmentCheck(name: name, verdict: .warn, detail: "no tickless CPU: the scheduler tick interrupts the loop's core",
                                    fix: "add nohz_full=<the isolated core> to the kernel command line (needs CONFIG_NO_HZ_FULL)")
        }
        let list = cpus.map(String.init).joined(separator: ",")
        if let cpu, !cpus.contains(cpu) {
            return EnvironmentCheck(name: name, verdict: .warn, detail: "tickless \(list), the loop is on CPU \(cpu)", fix: "pass --cpu \(cpus[cpus.count - 1])")
        }
        return EnvironmentCheck(name: name, verdict: .pass, detail: "tickless \(list)")
    }

    /// One limit from /proc/self/limits: soft value (`UInt64.max` = unlimited), nil if absent.
    public func limit(_ title: String) -> UInt64? {
        guard let text = reader.readFile("/proc/self/limits") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(title) {
            let fields = line.dropFirst(title.count).split(separator: " ", omittingEmptySubsequences: true)
            guard let soft = fields.first else { return nil }
            return soft == "unlimited" ? UInt64.max : UInt64(soft)
        }
        return nil
    }

    /// Effective capabilities from /proc/self/status (`CapEff:` in hex).
    public func hasCapability(bit: Int) -> Bool {
        guard let text = reader.readFile("/proc/self/status") else { return false }
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmed
            guard let mask = UInt64(hex, radix: 16) else { return false }
            return mask & (1 << UInt64(bit)) != 0
        }
        return false
    }
    static let capIPCLock = 14
    static let capSysNice = 23

    public func rtprioLimit(priority: Int32) -> EnvironmentCheck {
        let name = "RLIMIT_RTPRIO"
        let value = limit("Max realtime priority")
        let text = value.map { $0 == UInt64.max ? "unlimited" : "\($0)" } ?? "unknown"
        if hasCapability(bit: Self.capSysNice) {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "\(text), and the process has CAP_SYS_NICE (root)")
        }
        if let value, value >= UInt64(max(priority, 0)) {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "\(text) ≥ priority \(priority)")
        }
        return EnvironmentCheck(name: name, verdict: .fail, detail: "\(text) < priority \(priority), no CAP_SYS_NICE: SCHED_FIFO is refused",
                                fix: "LimitRTPRIO=99 in the systemd unit, 'ulimit -r \(priority)' (limits.conf '<user> - rtprio 99'), or run as root")
    }

    public func memlockLimit() -> EnvironmentCheck {
        let name = "RLIMIT_MEMLOCK"
        let value = limit("Max locked memory")
        let text = value.map { $0 == UInt64.max ? "unlimited" : "\($0 / 1024) KiB" } ?? "unknown"
        if value == UInt64.max {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "unlimited")
        }
        if hasCapability(bit: Self.capIPCLock) {
            return EnvironmentCheck(name: name, verdict: .pass, detail: "\(text), and the process has CAP_IPC_LOCK (root)")
        }
        return EnvironmentCheck(name: name, verdict: .fail, detail: "\(text): too small for mlockall of the whole process",
                                fix: "LimitMEMLOCK=infinity in the systemd unit, 'ulimit -l unlimited' (limits.conf '<user> - memlock unlimited'), or run as root")
    }

    /// A task from /proc/<pid>/stat: policy (field 41), rt_priority (40), flags (9).
    public struct Task: Sendable, Equatable {
        public var pid: Int
        public var name: String
        public var policy: Int32
        public var priority: Int32
        public var isKernelThread: Bool
    }

    /// Parses one /proc/<pid>/stat line (the command name may hold spaces and brackets).
    public static func parseStat(_ text: String) -> Task? {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
        guard let pid = Int(text[..<open].trimmed) else { return nil }
        let name = String(text[text.index(after: open)..<close])
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state): field n is fields[n - 3].
        guard fields.count > 38, let flags = UInt64(fields[6]), let prio = Int32(fields[37]), let policy = Int32(fields[38]) else { return nil }
        return Task(pid: pid, name: name, policy: policy, priority: prio, isKernelThread: flags & 0x0020_0000 != 0)
    }

    public func otherRealtimeTasks(priority: Int32) -> EnvironmentCheck {
        let name = "other real-time tasks"
        let pids = (reader.listDirectory("/proc") ?? []).compactMap(Int.init).filter { $0 != ownPID }
        var tasks: [Task] = []
        for pid in pids {
            // Threads of other processes count too: a FIFO thread is what preempts the loop.
            let threadIDs = reader.listDirectory("/proc/\(pid)/task")?.compactMap(Int.init) ?? [pid]
            for tid in threadIDs {
                guard let stat = reader.readFile("/proc/\(pid)/task/\(tid)/stat") ?? (tid == pid ? reader.readFile("/proc/\(pid)/stat") : nil),
                      let t = Self.parseStat(stat), t.policy == 1 || t.policy == 2 else { continue }
                tasks.append(t)
            }
        }
        let kernel = tasks.filter(\.isKernelThread)
        let user = tasks.filter { !$0.isKernelThread }
        let competing = user.filter { $0.priority >= priority }
        func describe(_ ts: [Task]) -> String {
            ts.sorted { $0.priority > $1.priority }.prefix(5)
                .map { "\($0.name)[\($0.pid)] \($0.policy == 1 ? "FIFO" : "RR") \($0.priority)" }.joined(separator: ", ")
                + (ts.count > 5 ? ", …" : "")
        }
        let kernelNote = kernel.isEmpty ? "" : "; \(kernel.count) kernel threads (e.g. \(describe(Array(kernel.prefix(2)))))"
        if !competing.isEmpty {
            return EnvironmentCheck(name: name, verdict: .warn,
                                    detail: "\(competing.count) user task(s) at or above priority \(priority): \(describe(competing))\(kernelNote)",
                                    fix: "stop them or lower them (chrt -p -f <prio below \(priority)> <pid>), or raise --rt-priority")
        }
        let lower = user.isEmpty ? "" : "; \(user.count) lower user task(s): \(describe(user))"
        return EnvironmentCheck(name: name, verdict: .pass, detail: "none at or above priority \(priority)\(lower)\(kernelNote)")
    }

    public func swap() -> EnvironmentCheck {
        let name = "swap"
        guard let meminfo = reader.readFile("/proc/meminfo") else {
            return EnvironmentCheck(name: name, verdict: .warn, detail: "/proc/meminfo unreadable", fix: "check that /proc is mounted")
        }
        func kb(_ key: String) -> Int? {
            for line in meminfo.split(separator: "\n") where line.hasPrefix(key + ":") {
                return Int(line.dropFirst(key.count + 1).split(separator: " ").first ?? "")
            }
            return nil
        }
        let total = kb("SwapTotal") ?? 0
        let used = total - (kb("SwapFree") ?? total)
        if total == 0 { return EnvironmentCheck(name: name, verdict: .pass, detail: "no swap") }
        if used <= 0 { return EnvironmentCheck(name: name, verdict: .pass, detail: "\(total / 1024) MiB of swap, none in use") }
        return EnvironmentCheck(name: name, verdict: .warn,
                                detail: "\(used / 1024) MiB in swap: the machine is short of memory (the loop's own pages are locked, the recorder's are not)",
                                fix: "free memory, or turn swap off (swapoff -a; on Raspberry Pi OS: sudo systemctl disable --now dphys-swapfile)")
    }

    public func rtThrottling() -> EnvironmentCheck {
        let name = "RT throttling"
        guard let runtime = read("/proc/sys/kernel/sched_rt_runtime_us").flatMap(Int.init) else {
            return EnvironmentCheck(name: name, verdict: .warn, detail: "/proc/sys/kernel/sched_rt_runtime_us unreadable", fix: "check that /proc is mounted")
        }
        let period = read("/proc/sys/kernel/sched_rt_period_us").flatMap(Int.init) ?? 1_000_000
        if runtime < 0 {
            return EnvironmentCheck(name: name, verdict: .warn, detail: "off (sched_rt_runtime_us = -1): a runaway SCHED_FIFO loop can take a core for ever",
                                    fix: "leave the default: echo 950000 | sudo tee /proc/sys/kernel/sched_rt_runtime_us")
        }
        let share = Double(runtime) / Double(max(period, 1))
        if share < 0.5 {
            return EnvironmentCheck(name: name, verdict: .fail,
                                    detail: "real-time tasks get \(Int(share * 100)) % of each \(period / 1000) ms: the loop may be stopped mid-period",
                                    fix: "echo 950000 | sudo tee /proc/sys/kernel/sched_rt_runtime_us")
        }
        return EnvironmentCheck(name: name, verdict: .pass,
                                detail: "\(runtime) of \(period) µs (\(Int(share * 100)) %): a runaway loop cannot freeze the machine; the loop needs far less")
    }
}
extension StringProtocol {
    /// Without leading and trailing blanks and newlines (no Foundation in this module).
    var trimmed: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}
#endif
