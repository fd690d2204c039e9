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
        // `realtime: required` is enforced on the control-loop thread itself, which sets
        // SCHED_FIFO and mlockall (LoopThreadSetup, RealtimeRun.swift): no longer a
        // process-wide policy the unit or `chrt` must set beforehand.
        let hw = try openRig(board)
        return (hw, .realtime(hw.clock))
    }

    static func describe(_ hardware: any HardwareProvider) -> String {
        #if os(Linux)
        if let linux = hardware as? LinuxHardware { return "Linux backend, \(linux.gpio.describe())" }
        #endif
        return "simulated hardware"
    }

    /// The safety co-processor's link, when the board has one (`coprocessor:`): its UART
    /// opened in raw mode and attached to the loop before it runs. A board that says it has
    /// a co-processor and whose UART cannot be opened does not run: the error names the UART.
    static func attachCoProcessor<H: HardwareProvider>(_ loop: RigLoop<H>, board: BoardConfiguration) throws {
        guard let c = board.coprocessor else { return }
        #if os(Linux)
        let uart = try LinuxUART(path: c.uart, baud: c.baud)
        loop.coprocessor = CoProcessorChannel(port: uart, silenceTimeout: c.silenceTimeout, heartbeatEvery: c.heartbeatEvery)
        #else
        throw Unavailable(description: "board \(board.name) has a safety co-processor on \(c.uart): the UART backend runs on Linux only")
        #endif
    }

    static func close(_ hardware: any HardwareProvider) {
        #if os(Linux)
        (hardware as? LinuxHardware)?.close()
        #endif
    }
}
