import ECMOCore

// Names that protocol and scenario files use for what is infused, where, and into which
// circuit. They are the experiment's data: the protocol loader validates them, the planner
// reasons with them, and the simulator (ECMOSim) gives them physics. So they live here and
// the simulator depends on the protocol, never the reverse.

/// What is infused into the circuit. Size decides whether a particle can stick in the
/// oxygenator's fibre bundle at all.
/// Raw values are the names scenario and protocol files use.
public enum ParticleKind: String, Sendable, Equatable, CaseIterable {
    /// Mesenchymal stromal cells, 10–30 µm: large and adhesive to PMP fibres (Millar 2019).
    case msc = "msc"
    /// MSC-derived extracellular vesicles, 30–100 nm: pass the fibre bundle (Zhang et al.
    /// as cited by Cao 2024). Their own procoagulant activity is not modelled.
    case extracellularVesicle = "ev"
}

/// Where on the circuit a syringe delivers.
/// Raw values are the names scenario and protocol files use.
public enum InfusionPort: String, Sendable, Equatable, CaseIterable {
    /// Drainage line before the pump: reaches the oxygenator within a second or two.
    case prePump = "pre_pump"
    /// Between pump and oxygenator: reaches it at once.
    case preOxygenator = "pre_oxygenator"
    /// After the oxygenator: goes to the reservoir or the patient first and comes back
    /// (if at all) only after a circuit transit.
    case postOxygenator = "post_oxygenator"
}

/// Named, calibrated circuits the simulator can run (a protocol's `patient.circuit`, a
/// scenario's `circuit`). Their parameters are ECMOSim's (`CircuitPreset.parameters`).
public enum CircuitPreset: String, Sendable, CaseIterable {
    /// Adult VV ECMO: ≈ 4 L/min at 3000 rpm with P_drain ≈ −52, P_pre ≈ 175, P_post ≈ 155,
    /// ΔP_oxy ≈ 20 mmHg; venous return plateaus at 6 L/min (suction above ≈ 4000 rpm).
    case adultPatient = "adult_patient"
    /// Millar et al. (Thorax 2019) ex vivo loop: reservoir → pump → PMP oxygenator →
    /// reservoir with 1 L of blood, run at a constant speed (`referenceSpeed`, ≈ 1890 rpm)
    /// that gives the control circuit's 4.12 L/min and ΔP_oxy ≈ 21 mmHg.
    case millarExVivo = "millar_ex_vivo"
}
