import ECMOCore
import ECMOProtocol

/// The calibration of each named circuit (the names are the protocol's, `CircuitPreset`
/// in ECMOProtocol): circuit parameters, the matching fouling parameters and the speed
/// the calibration refers to (see `docs/simulator-model.md`).
extension CircuitPreset {
    public var parameters: CircuitModel.Parameters {
        switch self {
        case .adultPatient: .adultPatient
        case .millarExVivo: .millarExVivo
        }
    }

    public var foulingParameters: FoulingModel.Parameters {
        switch self {
        case .adultPatient: .adultPatient
        case .millarExVivo: .exVivoLoop
        }
    }

    /// The constant pump speed the preset's calibration refers to.
    public var referenceSpeed: PumpSpeed {
        switch self {
        case .adultPatient: .rpm(3000)
        // Solves steadyStateFlow(at:) = 4.12 L/min for the clean loop (checked by a test).
        case .millarExVivo: .rpm(1893)
        }
    }

    /// A fresh circuit at rest (pump stopped, clean oxygenator, ACT 200 s, PMP membrane).
    public func makeCircuit(membrane: MembraneMaterial = .pmp,
                            activatedClottingTime: Duration = .seconds(200)) -> CircuitModel {
        CircuitModel(parameters: parameters,
                     fouling: FoulingModel(parameters: foulingParameters, membrane: membrane,
                                           activatedClottingTime: activatedClottingTime))
    }
}

extension CircuitModel.Parameters {
    /// The defaults: adult VV ECMO, 23 Fr-class drainage, 17–19 Fr-class return cannula.
    public static let adultPatient = CircuitModel.Parameters()

    /// Millar-like ex vivo loop: short 3/8" lines, no cannulae, an open reservoir that can
    /// supply far more than the pump asks (venous-return plateau 20 L/min). The pump and the
    /// clean oxygenator are the same as in the adult preset.
    public static let millarExVivo: CircuitModel.Parameters = {
        var p = CircuitModel.Parameters()
        p.drainage = .init(linear: 3.0, quadratic: 0.5)
        p.returnLine = .init(linear: 3.0, quadratic: 0.5)
        p.inertance = 6.0
        p.venousPoolPressure = .mmHg(10)     // ≈ 14 cm of blood above the pump inlet
        p.venousReturnResistance = 0.5       // reservoir outlet and connector
        p.compliance = 50                    // soft-shell reservoir bag
        p.collapsedCompliance = 0.5          // the bag sucked empty
        return p
    }()
}

extension CircuitModel {
    /// The adult preset at rest.
    public static func adultPatient() -> CircuitModel { CircuitPreset.adultPatient.makeCircuit() }
    /// The Millar ex vivo loop at rest.
    public static func millarExVivo() -> CircuitModel { CircuitPreset.millarExVivo.makeCircuit() }
}
