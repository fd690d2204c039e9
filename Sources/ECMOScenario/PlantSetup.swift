import ECMOCore
import ECMOSim

/// The scenario's link to the circuit physics: presets, particles, anticoagulation and
/// the plant-level faults. Kept in one place so the scenario format does not depend on
/// the model's internals.
enum PlantSetup {
    static func circuit(for spec: CircuitSpec) -> CircuitModel {
        CircuitModel()
    }
    static func resistanceFactor(_ sim: SimulatedBoard) -> Double { sim.circuit.oxygenatorResistanceFactor }
    static func setPumpStalled(_ sim: SimulatedBoard, _ on: Bool) {}
    static func setDrainageOcclusion(_ sim: SimulatedBoard, _ o: Double) {}
    static func setReturnOcclusion(_ sim: SimulatedBoard, _ o: Double) {}
    static func setSyringeOccluded(_ sim: SimulatedBoard, _ on: Bool) {}
    static func infuse(_ sim: SimulatedBoard, count: Double, kind: ParticleKind, port: InfusionPortSpec) {}
    static func setACT(_ sim: SimulatedBoard, seconds: Double) {}
}
