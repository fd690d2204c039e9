import ECMOCore
import ECMOBoard

/// How the virtual board (the QEMU lane, `HIL/virtual`) makes each step of a scenario.
/// The firmware there runs on the real Linux backend against kernel devices; the lane's
/// bridge plays the plant (the simulator's circuit model) and makes each fault where a
/// real one would show: a gpio-sim line's pull, the ABP2 stub adapter not acknowledging,
/// a value the bridge stops updating in a stub register, the tachometer's edge generator
/// stopping, a reset register file on i2c-stub. A fault no device can produce is refused
/// with the reason, so the lane reports the scenario as skipped, never as passed.
///
/// The table depends on the board, since a sensor's device decides what it can do (an
/// ABP2 on the stub adapter can stop acknowledging; an ADS1115 on i2c-stub cannot).
public enum VirtualBoardSteps {
    public enum Mechanism: Sendable, Equatable {
        /// Sent as the operator command, as in a drill.
        case operatorCommand
        /// Made by the bridge at the devices or in the plant (how, in words).
        case device(String)
        /// No kernel device here can make it (why).
        case impossible(String)
    }

    public static func mechanism(of action: ScenarioAction, board: BoardConfiguration) -> Mechanism {
        switch action {
        case .fault(let f): return mechanism(of: f, board: board)
        case .infuseParticles: return .device("the bridge's circuit model takes the bolus")
        case .setACT: return .device("the bridge's circuit model takes the clotting time")
        case .crash: return .impossible("killing the firmware ends the lane's run; the simulator's crash drills cover it")
        default:
            return ScenarioSteps.operatorCommand(action) != nil ? .operatorCommand : .impossible("no way to perform it")
        }
    }

    static func mechanism(of f: Fault, board: BoardConfiguration) -> Mechanism {
        func line(_ role: InputRole, _ what: String) -> Mechanism {
            guard let i = board.inputs[role] else { return .impossible("\(board.name) has no \(role.rawValue) input") }
            return .device("gpio-sim pull on line \(i.line) (\(what))")
        }
        switch f {
        case .emergencyStop: return line(.emergencyStop, "the E-stop button")
        case .airInLine: return line(.airDetector, "the bubble detector")
        case .syringeEmpty(let c):
            return line(c == .cells ? .syringeEndEmpty : .heparinEndEmpty, "the \(c) syringe's empty end stop")
        case .sensorDisconnect(let r):
            switch driver(of: r, board) {
            case .abp2: return .device("the ABP2 stub stops acknowledging \(address(of: r, board)) (nak_mask)")
            case .ads1115: return .device("the bridge writes the open input's rail voltage (3.3 V) into the ADS1115's conversion register on i2c-stub")
            case nil: return .impossible("\(board.name) has no \(r.rawValue) sensor")
            }
        case .i2cNAKBurst(let r):
            switch driver(of: r, board) {
            case .abp2: return .device("the ABP2 stub stops acknowledging \(address(of: r, board)) (nak_mask)")
            case .ads1115: return .impossible("i2c-stub cannot stop acknowledging a chip it was loaded with (NAKs are made on the ABP2 stub)")
            case nil: return .impossible("\(board.name) has no \(r.rawValue) sensor")
            }
        case .sensorStuck(let r), .sensorDrift(let r, _), .sensorNoiseBurst(let r, _):
            guard driver(of: r, board) != nil else { return .impossible("\(board.name) has no \(r.rawValue) sensor") }
            let what = switch f {
            case .sensorStuck: "stops updating"
            case .sensorDrift: "drifts"
            default: "adds noise to"
            }
            return .device("the bridge \(what) the \(r.rawValue) value it writes into the stub device")
        case .deviceReset(let r):
            guard driver(of: r, board) == .ads1115 else {
                return .impossible("only the ADS1115 holds settings a reset loses (the \(r.rawValue) sensor's device has none)")
            }
            return .device("the bridge writes the ADS1115's power-on register values into i2c-stub")
        case .tachometerLoss:
            guard board.inputs[.pumpTachometer] != nil else { return .impossible("\(board.name) has no tachometer input") }
            return .device("the bridge's tachometer edge generator stops")
        case .pumpStall: return .device("the circuit model's rotor locks: tachometer edges stop, flow falls")
        case .drainageKink: return .device("the circuit model's drainage line is occluded")
        case .returnKink, .handClamp: return .device("the circuit model's return line is occluded")
        case .clampStuck: return .device("the circuit model ignores the clamp line gpio-sim holds (a jammed clamp)")
        case .syringeOcclusion:
            return .impossible("the virtual board's plant has no syringe line to occlude")
        case .outputStuck, .outputWriteFailure:
            return .impossible("gpio-sim lines and the PWM stub always take what is written; a failing output needs the simulator")
        case .loopOverrun, .watchdogStarved:
            return .impossible("the loop's own timing faults are the simulator's (the lane's watchdog reset is its own check)")
        case .journalStall: return .impossible("a stalling disk needs the simulator")
        case .powerLoss: return .impossible("a power cut ends the guest; the simulator's power-loss drills cover it")
        }
    }

    enum SensorDriver { case abp2, ads1115 }

    static func driver(of role: SensorRole, _ board: BoardConfiguration) -> SensorDriver? {
        guard let s = board.sensors[role], let d = board.devices[s.device] else { return nil }
        switch d.driver {
        case .abp2: return .abp2
        case .ads1115: return s.analog != nil ? .ads1115 : nil
        }
    }

    static func address(of role: SensorRole, _ board: BoardConfiguration) -> String {
        guard let s = board.sensors[role], let d = board.devices[s.device] else { return role.rawValue }
        return "\(role.rawValue) at 0x\(String(d.address, radix: 16))"
    }
}
