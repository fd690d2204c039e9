import ECMOCore
import ECMOSim
import ECMOProtocol

/// The scenario's link to the circuit physics: presets, particles, anticoagulation and
/// the plant-level faults. Kept in one place so the scenario format does not depend on
/// the model's internals.
enum PlantSetup {
    static func circuit(for spec: CircuitSpec) -> CircuitModel {
        spec.preset.makeCircuit(membrane: spec.membrane ?? .pmp, activatedClottingTime: .seconds(spec.actSeconds ?? 200))
    }
    static func resistanceFactor(_ sim: SimulatedBoard) -> Double { sim.circuit.effectiveOxygenatorResistanceFactor }
    static func setPumpStalled(_ sim: SimulatedBoard, _ on: Bool) { sim.circuit.pumpStalled = on }
    static func setDrainageOcclusion(_ sim: SimulatedBoard, _ o: Double) { sim.circuit.drainageOcclusion = o }
    static func setReturnOcclusion(_ sim: SimulatedBoard, _ o: Double) { sim.circuit.returnOcclusion = o }
    static func setSyringeOccluded(_ sim: SimulatedBoard, _ on: Bool) { sim.syringe.occluded = on }
    static func infuse(_ sim: SimulatedBoard, count: Double, kind: ParticleKind, port: InfusionPort) {
        sim.circuit.infuse(cells: count, kind: kind, port: port)
    }
    static func setACT(_ sim: SimulatedBoard, seconds: Double) { sim.circuit.fouling.activatedClottingTime = .seconds(seconds) }
}
