import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOMockBoard

/// Device-level faults of one sensor channel, applied where the sensor's value is
/// published to its device model (so the firmware sees them through its drivers).
public struct SensorFaultState: Sendable, Equatable {
    /// The device stops answering (digital) or the input floats to the rail (analog).
    public var disconnected = false
    /// The value freezes at what it was when the fault began.
    public var stuckValue: Double?
    /// Offset growing at `driftPerSecond` from `driftStart`.
    public var driftPerSecond = 0.0
    public var driftStart: Instant = .origin
    /// Extra noise (standard deviation, in the channel's unit).
    public var extraNoise = 0.0
    public init() {}
    public var isClear: Bool { self == SensorFaultState() }
}

/// The simulated sensor channels that faults can target, with a dense index for the
/// per-tick publishing path (no dictionary there).
public enum SimulatedChannel: Int, CaseIterable, Sendable {
    case drainPressure = 0, preOxygenatorPressure, postOxygenatorPressure, flow
    public init?(_ role: SensorRole) {
        switch role {
        case .drainPressure: self = .drainPressure
        case .preOxygenatorPressure: self = .preOxygenatorPressure
        case .postOxygenatorPressure: self = .postOxygenatorPressure
        case .flow: self = .flow
        default: return nil
        }
    }
    public var role: SensorRole {
        switch self {
        case .drainPressure: .drainPressure
        case .preOxygenatorPressure: .preOxygenatorPressure
        case .postOxygenatorPressure: .postOxygenatorPressure
        case .flow: .flow
        }
    }
}

extension SimulatedBoard {
    /// The level of an input line as the firmware would read it (logical, asserted = true).
    public func inputLevel(_ role: String) -> Bool {
        (try? mock.inputLine(role, edges: .none).read()) ?? false
    }
}

extension SimulatedBoard {
    /// Buzzer and lamps as the hardware holds them (an alarm is only real if it reaches them).
    public var annunciators: AlarmSignals {
        AlarmSignals(buzzer: level(.buzzer), red: level(.ledRed), yellow: level(.ledYellow), green: level(.ledGreen))
    }
}

extension SimulatedBoard {
    /// The role's I²C device resets itself (brown-out): an ADS1115 returns to its
    /// power-on configuration; an ABP2 has none to lose.
    public func resetDevice(of role: SensorRole) {
        guard let s = board.sensors[role] else { return }
        if let adc = deviceModel(s.device) as? ADS1115Model { adc.powerOnReset() }
    }
}
