import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMORuntime
#if os(Linux)
import ECMOLinux
#endif

/// Opens the hardware of a `kind: rig` board: the Linux backend, never a fallback. Kept
/// out of EcmoRig.swift so that file needs only a call in its `.rig` branch.
enum HardwareSelection {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// The Linux backend for `board`, or an error that says why it cannot be had.
    static func openRig(_ board: BoardConfiguration) throws -> any HardwareProvider {
        #if os(Linux)
        if !LinuxBackend.hasGPIOD {
            throw Unavailable(description: "this ecmo-rig was built without libgpiod: install libgpiod-dev and rebuild with ECMO_LINUX_BACKEND=1")
        }
        return try LinuxHardware(board: board)
        #else
        throw Unavailable(description: "board \(board.name) is a rig board: the hardware backend runs on Linux only")
        #endif
    }

    /// The rig's hardware and its pacing (the real monotonic clock of the backend).
    static func rig(_ board: BoardConfiguration) throws -> (hardware: any HardwareProvider, pacing: Pacing) {
        let hw = try openRig(board)
        try checkRealtime(board)
        return (hw, .realtime(hw.clock))
    }

    /// After the loop is built (the watchdog is open then): a boot caused by the watchdog
    /// raises the runtime's latched alarm.
    static func loopCreated(_ loop: RigLoop, hardware: any HardwareProvider) {
        #if os(Linux)
        if let linux = hardware as? LinuxHardware, linux.openedWatchdog?.bootedAfterWatchdogReset == true {
            loop.reportBootAfterWatchdogReset()
        }
        #endif
    }

    /// `realtime: required`: refuse to run unless the process already has SCHED_FIFO (set
    /// by the systemd unit's CPUSchedulingPolicy=fifo, or `chrt -f 50`) and can lock its
    /// memory. Threads inherit the policy, so the loop thread runs SCHED_FIFO too.
    static func checkRealtime(_ board: BoardConfiguration) throws {
        guard board.realtime == .required else { return }
        #if os(Linux)
        do {
            try LinuxRealtime.system.requireRealtime()
        } catch {
            throw Unavailable(description: "board \(board.name) requires real-time scheduling: \(error); a dry bench without blood may set 'realtime: optional' in a copy of the board file")
        }
        #endif
    }

    static func describe(_ hardware: any HardwareProvider) -> String {
        #if os(Linux)
        if let linux = hardware as? LinuxHardware { return "Linux backend, \(linux.gpio.describe())" }
        #endif
        return "simulated hardware"
    }

    static func close(_ hardware: any HardwareProvider) {
        #if os(Linux)
        (hardware as? LinuxHardware)?.close()
        #endif
    }
}
