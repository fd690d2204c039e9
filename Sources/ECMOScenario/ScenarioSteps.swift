import ECMOCore
import ECMOSim
import ECMOMockBoard

/// What the scenario harness and the drill runner share: how a scenario's operator action
/// becomes the operator command a person would give, how a refusal reads, and how a fault
/// is made real on the simulated board (the harness does it on time; a drill's scripted
/// person does it when asked). One definition, so a drill on the simulated board acts
/// exactly as the harness does.
public enum ScenarioSteps {
    /// The operator command of an action, nil for plant actions (`infuse_particles`,
    /// `set_act`), `crash` and faults.
    public static func operatorCommand(_ a: ScenarioAction) -> OperatorCommand? {
        switch a {
        case .setFlow(let q): .setFlow(q)
        case .setSpeed(let s): .setSpeed(s)
        case .clearFault: .clearFault
        case .activate: .activate
        case .acknowledgeAlarm(let id): .acknowledge(id)
        case .audioPause: .pauseAudio
        case .resumeInfusion(let c): .resumeInfusion(c)
        case .pauseInfusion(let c): .pauseInfusion(c)
        case .abortProtocol: .abortProtocol
        case .enterACT(let s): .enterACT(.seconds(s))
        case .setHeparinRate(let r): .setHeparinRate(HeparinRate(unitsPerKilogramPerHour: r))
        case .resumeAfterFouling(let nb): .resumeAfterFouling(newBaseline: nb)
        case .fault, .infuseParticles, .setACT, .crash: nil
        }
    }

    /// A refused command in words: "at 60.0 s: clear_fault refused (cause_present)".
    public static func refusal(_ c: OperatorCommand, _ r: CommandResult, at t: Duration) -> String? {
        guard !r.accepted else { return nil }
        var why = r.refusal.description
        if r.refusal == .belowMinimum { why = "below the minimum \(r.limit)" }
        if r.refusal == .aboveMaximum { why = "above the maximum \(r.limit)" }
        return "at \(t.seconds) s: \(c.name) refused (\(why))"
    }

    /// Makes a fault real on the simulated board (starts or ends it). Returns false for
    /// the faults that are not the board's but the loop's or the run's (`loop_overrun`,
    /// `watchdog_starved`, `journal_stall`, `power_loss`): their caller handles those.
    @discardableResult
    public static func perform(_ f: Fault, on sim: SimulatedBoard, start: Bool) -> Bool {
        switch f {
        case .sensorDisconnect(let r): sim.setSensorDisconnected(r, start)
        case .sensorStuck(let r): sim.setSensorStuck(r, start)
        case .sensorDrift(let r, let rate): sim.setSensorDrift(r, perMinute: start ? rate : 0)
        case .sensorNoiseBurst(let r, let sd): sim.setSensorNoise(r, standardDeviation: start ? sd : 0)
        case .i2cNAKBurst(let r): sim.setI2CNAK(r, start)
        case .pumpStall: PlantSetup.setPumpStalled(sim, start)
        case .tachometerLoss: sim.tachometerLost = start
        case .drainageKink(let o): PlantSetup.setDrainageOcclusion(sim, start ? o : 0)
        case .returnKink(let o): PlantSetup.setReturnOcclusion(sim, start ? o : 0)
        case .clampStuck(let closed): sim.setClampStuck(closed: start ? closed : nil)
        case .syringeOcclusion(let c):
            if c == .cells { PlantSetup.setSyringeOccluded(sim, start) } else { sim.heparinSyringe.occluded = start }
        case .syringeEmpty(let c): if c == .cells { sim.setSyringeEmpty(start) } else { sim.setHeparinEmpty(start) }
        case .handClamp: PlantSetup.setReturnOcclusion(sim, start ? 1 : 0)
        case .airInLine: sim.setAirDetected(start)
        case .emergencyStop: sim.setEmergencyStop(start)
        case .deviceReset(let r): if start { sim.resetDevice(of: r) }
        case .outputStuck(let role, let level):
            if role == .pumpSpeed {
                let ch = sim.pumpSpeedChannel
                if start { ch.stuck(dutyCycle: level, enabled: true) } else { ch.clearFault() }
            } else {
                let line = sim.mock.outputLine(role.rawValue)
                if start { line.stuck(at: level >= 0.5) } else { line.clearFault() }
            }
        case .outputWriteFailure(let role):
            if role == .pumpSpeed {
                if start { sim.pumpSpeedChannel.disconnect() } else { sim.pumpSpeedChannel.clearFault() }
            } else {
                let line = sim.mock.outputLine(role.rawValue)
                if start { line.disconnect() } else { line.clearFault() }
            }
        case .loopOverrun, .watchdogStarved, .journalStall, .powerLoss:
            return false
        }
        return true
    }
}
