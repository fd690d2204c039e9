import ECMOPosix

/// The real monotonic clock lives in ECMOPosix (the one module with system calls besides
/// ECMOLinux). The runtime names it here so its files and its users need no import of
/// their own for it; remove this alias once every user imports ECMOPosix.
public typealias SystemMonotonicClock = ECMOPosix.SystemMonotonicClock
