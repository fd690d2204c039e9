import ECMOCore
import ECMOHAL
import ECMOSim
import ECMORuntime
import ECMOMockBoard

/// Interlock latency on the simulated board, in loop ticks, from a fault's onset in the
/// plant to the outputs on the (mock) wire.
///
/// For each fault the rig regulates at 4 L/min, the fault is applied to the plant between
/// two ticks, and the harness records, tick by tick, when the loop first *saw* it (the
/// fault state, or the measured pressure over its limit) and when the outputs on the wire
/// first showed the protective action (pump disabled and clamp closed; for a pressure
/// interlock, the pump command reduced). Detection and action in the same tick is the
/// target: `actionAfterDetection == 0`.
public enum InterlockLatency {
    public struct Result: Sendable {
        public var fault: String
        /// Ticks after onset until the loop saw the fault (0 = the first tick after onset).
        public var detectedAfter: Int?
        /// Ticks after onset until the wire showed the protective action.
        public var actedAfter: Int?
        public var actionAfterDetection: Int? {
            guard let d = detectedAfter, let a = actedAfter else { return nil }
            return a - d
        }
    }

    public enum Fault: String, CaseIterable, Sendable {
        case emergencyStop = "E-stop pressed"
        case air = "air in the line"
        case returnOcclusion = "return line occluded (P_post interlock)"
    }

    public static func measure(_ fault: Fault, maximumTicks: Int = 10_000) throws -> Result {
        let rig = try SimRig(recordEvery: 100)
        try rig.startRegulating(warmUp: .seconds(3))
        let pumpEnable = rig.sim.mock.outputLine(ActuatorRole.pumpEnable.rawValue)
        let clamp = rig.sim.mock.outputLine(ActuatorRole.clamp.rawValue)
        let limit = RunSettingsDefaults.postPressureHigh
        var previousCommand = rig.loop.lastTelemetry.commandedSpeed
        switch fault {
        case .emergencyStop: rig.sim.setEmergencyStop(true)
        case .air: rig.sim.setAirDetected(true)
        case .returnOcclusion: rig.sim.circuit.returnOcclusion = 1.0
        }
        var result = Result(fault: fault.rawValue)
        for k in 0..<maximumTicks {
            rig.tick()
            let t = rig.loop.lastTelemetry
            if result.detectedAfter == nil {
                switch fault {
                case .emergencyStop, .air:
                    if rig.loop.state == .fault { result.detectedAfter = k }
                case .returnOcclusion:
                    if t.postOxygenatorPressure > limit { result.detectedAfter = k }
                }
            }
            if result.actedAfter == nil {
                switch fault {
                case .emergencyStop, .air:
                    if !pumpEnable.commanded && clamp.commanded { result.actedAfter = k }
                case .returnOcclusion:
                    // The interlock's ceiling is in force and the pump command went down.
                    if t.speedCeiling > .zero && t.commandedSpeed <= t.speedCeiling && t.commandedSpeed < previousCommand {
                        result.actedAfter = k
                    }
                }
            }
            previousCommand = t.commandedSpeed
            if k % 1000 == 999 { rig.drain() }
            if result.detectedAfter != nil && result.actedAfter != nil { break }
        }
        return result
    }
}

/// The defaults the loop runs with when a run names no limits.
enum RunSettingsDefaults {
    static var postPressureHigh: Pressure { AlarmLimits().postPressureHigh }
}
