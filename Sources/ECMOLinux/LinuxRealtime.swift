#if os(Linux)
import CLinuxIO

/// The real-time set-up calls (scheduler policy, memory locking) as function values, so
/// the program's checks can be tested like the rest of the backend.
public struct LinuxRealtime {
    /// `sched_getscheduler(0)`: SCHED_OTHER 0, SCHED_FIFO 1, SCHED_RR 2; or -errno.
    public var schedulerPolicy: () -> Int32
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)`: 0 or -errno.
    public var lockAllMemory: () -> Int32
    public init(schedulerPolicy: @escaping () -> Int32, lockAllMemory: @escaping () -> Int32) {
        self.schedulerPolicy = schedulerPolicy
        self.lockAllMemory = lockAllMemory
    }
    public static let fifo: Int32 = 1
    public static let roundRobin: Int32 = 2
    public static var system: LinuxRealtime {
        LinuxRealtime(schedulerPolicy: { ecmo_sys_scheduler_policy() }, lockAllMemory: { ecmo_sys_lock_all_memory() })
    }
}
#endif
