import ECMOCore

/// The mechanism of a lead-screw syringe pump, step by step: what the firmware's
/// step/dir/enable lines, end-of-travel switches and force sensor see.
///
/// - volume per microstep = π·(ID/2)² × lead / (full steps per rev × microsteps);
/// - the plunger moves between the empty stop (travel 0) and the full stop (`stroke`);
///   at a stop `endEmpty`/`endFull` is set and further steps toward it stall (no motion);
/// - with `occluded` the fluid cannot leave: each forward step pushes its volume into the
///   compliance of syringe stopper and line, so the line pressure rises by
///   ΔV / `lineCompliance` per step; the motor stalls when the plunger force would pass
///   `stallForce`; clearing the occlusion delivers the stored volume as a bolus (the
///   "post-occlusion bolus" that ECRI limits to ≤ 0.5 mL);
/// - force on the plunger = friction (while moving) + line pressure × plunger area.
///
/// A value type; stepping does arithmetic on stored doubles only (no allocation).
public struct SyringeModel: Sendable, Equatable {
    public struct Parameters: Sendable, Equatable {
        /// Barrel inner diameter (mm). 26.6 mm: BD Plastipak 50/60 mL.
        public var innerDiameterMillimetres: Double
        /// Plunger stroke between the empty and full stops (mm). 50 mL / 5.557 cm² ≈ 90 mm.
        public var strokeMillimetres: Double
        /// Lead of the screw: plunger travel per revolution (mm). 1 mm: a fine lab pump.
        public var leadMillimetres: Double
        /// Motor full steps per revolution (1.8° steppers: 200).
        public var stepsPerRevolution: Int
        /// Driver microsteps per full step (A4988/DRV8825/TMC2209: 1…256).
        public var microsteps: Int
        /// Compliance of syringe stopper plus line seen on occlusion (µL per mmHg). 1.5 µL/mmHg:
        /// a 50 mL syringe at 1 mL/h reaches a 300 mmHg alarm after ≈ 27 min (makers quote
        /// tens of minutes for 50 mL syringes at low rates), then releases a 0.45 mL bolus.
        public var lineComplianceMicrolitresPerMmHg: Double
        /// Sliding friction of the stopper while moving (N); ISO 7886-1 allows a few N.
        public var frictionNewtons: Double
        /// Force above which the motor skips instead of advancing (N).
        public var stallForceNewtons: Double

        public init(innerDiameterMillimetres: Double = 26.6, strokeMillimetres: Double = 90,
                    leadMillimetres: Double = 1.0, stepsPerRevolution: Int = 200, microsteps: Int = 16,
                    lineComplianceMicrolitresPerMmHg: Double = 1.5, frictionNewtons: Double = 5,
                    stallForceNewtons: Double = 150) {
            self.innerDiameterMillimetres = innerDiameterMillimetres
            self.strokeMillimetres = strokeMillimetres
            self.leadMillimetres = leadMillimetres
            self.stepsPerRevolution = stepsPerRevolution
            self.microsteps = microsteps
            self.lineComplianceMicrolitresPerMmHg = lineComplianceMicrolitresPerMmHg
            self.frictionNewtons = frictionNewtons
            self.stallForceNewtons = stallForceNewtons
        }

        /// A 50 mL syringe (26.6 mm ID) on a 1 mm lead, 200 steps/rev, 16 microsteps.
        public static let syringe50mL = Parameters()

        /// Plunger cross-section (mm²).
        public var plungerAreaSquareMillimetres: Double {
            let r = innerDiameterMillimetres / 2
            return Double.pi * r * r
        }
        /// Plunger travel per microstep (mm).
        public var travelPerStepMillimetres: Double {
            leadMillimetres / Double(max(stepsPerRevolution * microsteps, 1))
        }
        /// Volume displaced per microstep (1 mm³ = 1 µL).
        public var volumePerStep: Volume { Volume(microliters: plungerAreaSquareMillimetres * travelPerStepMillimetres) }
        /// Volume between the stops.
        public var capacity: Volume { Volume(microliters: plungerAreaSquareMillimetres * strokeMillimetres) }
    }

    public let parameters: Parameters
    /// Plunger position measured from the empty stop (mm): volume in the barrel = area × this.
    public private(set) var plungerTravelMillimetres: Double
    /// Net volume that left the syringe into the line (withdrawals subtract).
    public private(set) var delivered: Volume = .zero
    /// Volume pushed into the line's compliance while occluded (not delivered yet).
    public private(set) var compressed: Volume = .zero
    /// Microsteps that did not move the plunger (at a stop or against `stallForce`).
    public private(set) var stalledSteps = 0
    /// Pressure the line presents downstream (the circuit at the infusion port). Settable.
    public var backPressure: Pressure = .zero
    /// Downstream occlusion fault (closed stopcock, kinked line, clotted cannula).
    public var occluded: Bool = false {
        didSet {
            // Released: the stored volume leaves at once as a bolus.
            if oldValue && !occluded {
                delivered = delivered + compressed
                compressed = .zero
            }
        }
    }
    private var moving = false

    /// A syringe filled to `initialVolume` (capped at capacity).
    public init(parameters: Parameters = .syringe50mL, initialVolume: Volume = .mL(50)) {
        self.parameters = parameters
        let area = max(parameters.plungerAreaSquareMillimetres, 1e-9)
        plungerTravelMillimetres = min(max(initialVolume.microliters / area, 0), parameters.strokeMillimetres)
    }

    /// Volume still in the barrel.
    public var remaining: Volume { Volume(microliters: plungerTravelMillimetres * parameters.plungerAreaSquareMillimetres) }
    /// The plunger rests on the empty stop.
    public var endEmpty: Bool { plungerTravelMillimetres <= 1e-9 }
    /// The plunger rests on the full stop.
    public var endFull: Bool { plungerTravelMillimetres >= parameters.strokeMillimetres - 1e-9 }

    /// Pressure in the line at the syringe tip.
    public var linePressure: Pressure {
        let c = max(parameters.lineComplianceMicrolitresPerMmHg, 1e-9)
        return backPressure + .mmHg(compressed.microliters / c)
    }

    /// Axial force on the plunger (N): the force sensor reads this.
    public var forceNewtons: Double {
        let pressureForce = max(linePressure.pascals, 0) * parameters.plungerAreaSquareMillimetres * 1e-6
        return pressureForce + (moving ? parameters.frictionNewtons : 0)
    }

    /// One microstep; `forward` infuses, backward withdraws. Returns whether the plunger moved.
    @discardableResult
    public mutating func step(forward: Bool) -> Bool {
        let dx = parameters.travelPerStepMillimetres
        let dv = parameters.volumePerStep
        if forward {
            guard !endEmpty else { return stall() }
            if occluded {
                // Would the next compression exceed what the motor can push?
                let c = max(parameters.lineComplianceMicrolitresPerMmHg, 1e-9)
                let nextP = backPressure.mmHg + (compressed + dv).microliters / c
                let nextF = Pressure.mmHg(nextP).pascals * parameters.plungerAreaSquareMillimetres * 1e-6
                    + parameters.frictionNewtons
                guard nextF <= parameters.stallForceNewtons else { return stall() }
                compressed = compressed + dv
            } else {
                delivered = delivered + dv
            }
            plungerTravelMillimetres = max(plungerTravelMillimetres - dx, 0)
        } else {
            guard !endFull else { return stall() }
            if compressed > .zero {
                compressed = max(compressed - dv, .zero)
            } else if !occluded {
                delivered = delivered - dv
            }
            plungerTravelMillimetres = min(plungerTravelMillimetres + dx, parameters.strokeMillimetres)
        }
        moving = true
        return true
    }

    /// `count` microsteps in one direction; returns how many moved the plunger.
    @discardableResult
    public mutating func step(count: Int, forward: Bool) -> Int {
        var moved = 0
        var i = 0
        while i < count {
            if step(forward: forward) { moved += 1 }
            i += 1
        }
        return moved
    }

    /// Moves the plunger forward without counting delivery (restoring a position the
    /// plant reached before a restart of the simulation).
    public mutating func advanceWithoutDelivery(steps: Int) {
        let dx = parameters.travelPerStepMillimetres * Double(max(steps, 0))
        plungerTravelMillimetres = max(plungerTravelMillimetres - dx, 0)
    }

    /// The motor stopped stepping: static, no sliding friction on the sensor.
    public mutating func stop() { moving = false }

    private mutating func stall() -> Bool {
        stalledSteps += 1
        moving = false
        return false
    }
}
