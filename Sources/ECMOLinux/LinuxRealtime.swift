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

    /// Why a board that requires real time cannot have it, with what to change.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case notRealtimeScheduled(policy: Int32)
        case memoryNotLocked(errno: Int32)
        public var description: String {
            switch self {
            case .notRealtimeScheduled(let p):
                "the process is not real-time scheduled (policy \(p)): run it under deploy/ecmo-rig.service (CPUSchedulingPolicy=fifo) or with 'chrt -f 50 ecmo-rig ...'"
            case .memoryNotLocked(let e):
                "mlockall failed (\(Errno.name(e))): raise the memory-lock limit (LimitMEMLOCK=infinity in the unit, or ulimit -l unlimited)"
            }
        }
    }

    /// For `realtime: required`: the process must already run SCHED_FIFO or SCHED_RR
    /// (threads inherit it, so the loop thread does too) and lock all its memory, present
    /// and future, so no page fault can stall a tick.
    public func requireRealtime() throws(Refusal) {
        let policy = schedulerPolicy()
        guard policy == Self.fifo || policy == Self.roundRobin else { throw .notRealtimeScheduled(policy: policy) }
        let locked = lockAllMemory()
        guard locked == 0 else { throw .memoryNotLocked(errno: -locked) }
    }
}
#endif
