/// Syringes and the lead-screw drive that pushes them: the numbers that turn a volume
/// into microsteps. A dose is converted to whole steps once, rounding down, so the rig
/// can under-deliver by less than one step and never over-deliver.

/// Common syringes by maker and size. Inner diameters are the ones syringe-pump makers
/// tabulate for these barrels (e.g. the New Era / Harvard syringe tables); they vary by
/// a few tenths of a millimetre between lots, so a lab that needs better than ±2 % should
/// measure its barrels and use a custom diameter.
public enum SyringePreset: String, Sendable, CaseIterable {
    case bdPlastipak5mL = "bd_plastipak_5ml"
    case bdPlastipak10mL = "bd_plastipak_10ml"
    case bdPlastipak20mL = "bd_plastipak_20ml"
    case bdPlastipak50mL = "bd_plastipak_50ml"
    case bdPlastipak60mL = "bd_plastipak_60ml"
    case terumo5mL = "terumo_5ml"
    case terumo10mL = "terumo_10ml"
    case terumo20mL = "terumo_20ml"
    case terumo50mL = "terumo_50ml"

    public var specification: SyringeSpecification {
        switch self {
        case .bdPlastipak5mL: .init(innerDiameterMillimeters: 12.06, capacity: .mL(5), deadVolume: .mL(0.07))
        case .bdPlastipak10mL: .init(innerDiameterMillimeters: 14.50, capacity: .mL(10), deadVolume: .mL(0.08))
        case .bdPlastipak20mL: .init(innerDiameterMillimeters: 19.13, capacity: .mL(20), deadVolume: .mL(0.1))
        case .bdPlastipak50mL: .init(innerDiameterMillimeters: 26.59, capacity: .mL(50), deadVolume: .mL(0.15))
        case .bdPlastipak60mL: .init(innerDiameterMillimeters: 26.59, capacity: .mL(60), deadVolume: .mL(0.15))
        case .terumo5mL: .init(innerDiameterMillimeters: 13.00, capacity: .mL(5), deadVolume: .mL(0.07))
        case .terumo10mL: .init(innerDiameterMillimeters: 15.80, capacity: .mL(10), deadVolume: .mL(0.08))
        case .terumo20mL: .init(innerDiameterMillimeters: 20.15, capacity: .mL(20), deadVolume: .mL(0.1))
        case .terumo50mL: .init(innerDiameterMillimeters: 29.00, capacity: .mL(50), deadVolume: .mL(0.15))
        }
    }
}

/// A syringe barrel: its bore sets the volume per millimetre of plunger travel.
public struct SyringeSpecification: Sendable, Equatable {
    public var innerDiameterMillimeters: Double
    /// Graduated capacity (the most it may be filled with).
    public var capacity: Volume
    /// Volume left in the nozzle and stopper cone at the empty stop: never deliverable.
    public var deadVolume: Volume
    public init(innerDiameterMillimeters: Double, capacity: Volume, deadVolume: Volume) {
        self.innerDiameterMillimeters = innerDiameterMillimeters
        self.capacity = capacity
        self.deadVolume = deadVolume
    }
    /// Plunger cross-section (mm²); 1 mm² × 1 mm = 1 µL.
    public var areaSquareMillimeters: Double {
        let r = innerDiameterMillimeters / 2
        return Double.pi * r * r
    }
}

/// The stepper and lead screw (A4988/DRV8825/TMC2209 step/dir driver).
public struct SyringeDrive: Sendable, Equatable {
    public var stepsPerRevolution: Int
    public var microsteps: Int
    /// Plunger travel per screw revolution (mm): the lead, pitch × starts.
    public var leadMillimeters: Double
    /// Fastest step rate the driver, motor and loop are trusted with.
    public var maximumStepRate: Double
    public init(stepsPerRevolution: Int, microsteps: Int, leadMillimeters: Double, maximumStepRate: Double) {
        self.stepsPerRevolution = stepsPerRevolution
        self.microsteps = microsteps
        self.leadMillimeters = leadMillimeters
        self.maximumStepRate = maximumStepRate
    }
    /// Plunger travel per microstep (mm).
    public var travelPerStepMillimeters: Double {
        leadMillimeters / Double(max(stepsPerRevolution * microsteps, 1))
    }
}

/// One syringe channel as set up for a run: which syringe, on which drive, how full.
/// Everything dose planning needs to turn millilitres into steps and to refuse what
/// the channel cannot do.
public struct SyringeChannelSpecification: Sendable, Equatable {
    public var syringe: SyringeSpecification
    public var drive: SyringeDrive
    /// Volume loaded at the start (≤ capacity).
    public var fillVolume: Volume
    /// Volume pushed into the infusion line before the first dose (fills the line; not dosed).
    public var primeVolume: Volume

    public init(syringe: SyringeSpecification, drive: SyringeDrive, fillVolume: Volume, primeVolume: Volume = .zero) {
        self.syringe = syringe
        self.drive = drive
        self.fillVolume = fillVolume
        self.primeVolume = primeVolume
    }

    /// Volume displaced by one microstep.
    public var volumePerStep: Volume { Volume(microliters: syringe.areaSquareMillimeters * drive.travelPerStepMillimeters) }
    /// Highest rate the channel can deliver.
    public var maximumRate: InfusionRate {
        .mLPerHour(volumePerStep.milliliters * drive.maximumStepRate * 3600)
    }
    /// Volume that can be dosed: the fill, less the dead volume and the prime.
    public var usableVolume: Volume { max(fillVolume - syringe.deadVolume - primeVolume, .zero) }

    /// Whole microsteps for `volume`, rounded down: never more than asked.
    public func steps(for volume: Volume) -> Int64 {
        let v = volumePerStep.microliters
        guard v > 0, volume.microliters > 0 else { return 0 }
        // The small epsilon absorbs binary round-off of volumes that are exact multiples.
        let n = (volume.microliters / v * (1 + 1e-12)).rounded(.down)
        return n >= Double(Int64.max) ? Int64.max : Int64(n)
    }
    /// Volume of `steps` microsteps.
    public func volume(steps: Int64) -> Volume { Volume(microliters: Double(steps) * volumePerStep.microliters) }
    /// Microsteps per second for a rate.
    public func stepRate(for rate: InfusionRate) -> Double {
        let v = volumePerStep.milliliters
        guard v > 0 else { return 0 }
        return rate.millilitersPerHour / 3600 / v
    }
}
