import ECMOCore
import ECMODataFile

/// Where a value came from in a protocol file: errors found later, when the protocol is
/// planned against a board, still name the file, line and key of the number at fault.
public struct SourceLocation: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// Dotted key path, e.g. `phases.2.infusion.rate_ml_per_h`.
    public var keyPath: String
    public init(file: String, line: Int, column: Int, keyPath: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
    }
    public init<V>(file: String, _ located: Located<V>) {
        self.init(file: file, line: located.position.line, column: located.position.column, keyPath: located.dotted)
    }
    public init(file: String, position: Position, path: [String]) {
        self.init(file: file, line: position.line, column: position.column, keyPath: path.joined(separator: "."))
    }
    /// A located error with this location.
    public func error(_ message: String) -> DataFileError {
        DataFileError(file: file, line: line, column: column, keyPath: keyPath, message: message)
    }
    /// The same key path one level down (the location stays on the parent key).
    public func appending(_ key: String) -> SourceLocation {
        SourceLocation(file: file, line: line, column: column, keyPath: keyPath.isEmpty ? key : keyPath + "." + key)
    }
    public var description: String { "\(file):\(line):\(column)" + (keyPath.isEmpty ? "" : ": \(keyPath)") }
}

/// A value with its location in the protocol file.
public struct Sourced<Value: Sendable>: Sendable {
    public var value: Value
    public var location: SourceLocation
    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}
extension Sourced: Equatable where Value: Equatable {}

/// An experiment as the researcher writes it (`Protocols/*.yaml`, format in
/// `docs/protocols.md`): who the modelled patient is, how the circuit runs, what is in
/// the syringes and the sequence of phases. It holds the numbers as written, with their
/// locations; `ProtocolPlanner` turns it into steps against a board, which is where the
/// checks that need the syringe drive (volume per step, maximum rate) are made.
public struct ExperimentProtocol: Sendable, Equatable {
    /// The file it was read from (the name used in messages).
    public var file: String
    public var name: String
    public var description: String
    /// What a restart after a crash does with an unfinished plan (`stop` unless stated).
    public var onRestart: RestartPolicy
    /// What starts the plan: the circulation (default) or the operator (`start: operator`).
    public var start: ProtocolStart = .circulation
    public var patient: Patient
    /// Constant flow or constant speed, with where it was written (checked against the board's pump limits).
    public var pumpMode: Sourced<PumpMode>
    /// Defaults overridden by `alarm_limits`, already checked against the hard bounds.
    public var alarmLimits: AlarmLimits
    public var doseLimits: DoseLimits
    public var cellSyringe: SyringeSetup?
    public var heparinSyringe: SyringeSetup?
    public var product: Product?
    public var phases: [Phase]
    public var heparin: HeparinSettings?
    public var monitoring: InfusionMonitoring
    /// Fouling warning and pause thresholds (`monitoring.fouling_*_percent`), checked.
    public var fouling: FoulingMonitor.Configuration
    /// Limits the file did not give but that follow from one it did (a warning tier placed
    /// inside an alarm tier set below the default warning); the planner warns about each.
    public var derivedLimits: [DerivedLimit] = []

    public struct DerivedLimit: Sendable, Equatable {
        public var key: AlarmLimitKey
        public var value: Double
        public var location: SourceLocation
        public init(key: AlarmLimitKey, value: Double, location: SourceLocation) {
            self.key = key
            self.value = value
            self.location = location
        }
    }

    public init(file: String, name: String, description: String, onRestart: RestartPolicy, patient: Patient,
                pumpMode: Sourced<PumpMode>, alarmLimits: AlarmLimits, doseLimits: DoseLimits,
                cellSyringe: SyringeSetup?, heparinSyringe: SyringeSetup?, product: Product?, phases: [Phase],
                heparin: HeparinSettings?, monitoring: InfusionMonitoring,
                fouling: FoulingMonitor.Configuration = .init()) {
        self.fouling = fouling
        self.file = file
        self.name = name
        self.description = description
        self.onRestart = onRestart
        self.patient = patient
        self.pumpMode = pumpMode
        self.alarmLimits = alarmLimits
        self.doseLimits = doseLimits
        self.cellSyringe = cellSyringe
        self.heparinSyringe = heparinSyringe
        self.product = product
        self.phases = phases
        self.heparin = heparin
        self.monitoring = monitoring
    }

    /// The modelled patient: the weight doses per kg are multiplied by, and on a simulated
    /// board the circuit preset the simulator runs.
    public struct Patient: Sendable, Equatable {
        public var weight: Sourced<BodyWeight>
        public var circuit: Sourced<CircuitPreset>?
        public init(weight: Sourced<BodyWeight>, circuit: Sourced<CircuitPreset>?) {
            self.weight = weight
            self.circuit = circuit
        }
    }

    /// A syringe as loaded: the barrel (a preset or measured bore), how full, and how much
    /// of it the prime uses. The drive comes from the board.
    public struct SyringeSetup: Sendable, Equatable {
        public var syringe: SyringeSpecification
        /// The preset named, if any (for the plan table).
        public var preset: SyringePreset?
        public var fill: Volume
        public var prime: Volume
        /// The `syringes.cells` / `syringes.heparin` key.
        public var location: SourceLocation
        public init(syringe: SyringeSpecification, preset: SyringePreset?, fill: Volume, prime: Volume, location: SourceLocation) {
            self.syringe = syringe
            self.preset = preset
            self.fill = fill
            self.prime = prime
            self.location = location
        }
    }

    /// What the cell syringe holds and where it goes in: the simulator needs the kind
    /// (MSCs foul PMP fibres, EVs pass) and the port.
    public struct Product: Sendable, Equatable {
        public var kind: ParticleKind
        public var concentration: Sourced<CellConcentration>
        public var port: InfusionPort
        public init(kind: ParticleKind, concentration: Sourced<CellConcentration>, port: InfusionPort) {
            self.kind = kind
            self.concentration = concentration
            self.port = port
        }
    }

    /// One entry of `phases`, with the location of its key (`phases.3.infusion`).
    public struct Phase: Sendable, Equatable {
        public var kind: Kind
        public var location: SourceLocation
        public init(kind: Kind, location: SourceLocation) {
            self.kind = kind
            self.location = location
        }
        public enum Kind: Sendable, Equatable {
            /// Fill the infusion line with `syringes.cells.prime_ml` at this rate.
            case prime(rate: Sourced<InfusionRate>)
            /// Circuit runs, nothing infused; the fouling baseline is taken here.
            case baseline(Duration)
            case infusion(Infusion)
            /// Circuit runs, nothing infused, after the doses.
            case observation(Duration)
        }
    }

    /// One or more doses of the same size and pace.
    public struct Infusion: Sendable, Equatable {
        public var amount: Sourced<Amount>
        public var pace: Sourced<DosePace>
        public var doses: Int
        /// Start-to-start spacing; nil for a single dose.
        public var spacing: Sourced<Spacing>?
        public var clamp: ClampSettings?
        public var agitation: AgitationSettings?
        public init(amount: Sourced<Amount>, pace: Sourced<DosePace>, doses: Int, spacing: Sourced<Spacing>?,
                    clamp: ClampSettings?, agitation: AgitationSettings?) {
            self.amount = amount
            self.pace = pace
            self.doses = doses
            self.spacing = spacing
            self.clamp = clamp
            self.agitation = agitation
        }
        public enum Amount: Sendable, Equatable {
            /// Cells per kg of the patient's weight, at the product's concentration.
            case cellsPerKilogram(CellDose)
            /// A plain volume (a vehicle control, or product dosed by volume).
            case volume(Volume)
        }
        public enum Spacing: Sendable, Equatable {
            case interval(Duration)
            /// The interval is one that lets the previous dose fall to half (`DosePlanner.interval(halfLife:)`).
            case halfLife(Duration)
        }
    }

    /// Outflow clamp settings as written; becomes an `OutflowClampPlan`.
    public struct ClampSettings: Sendable, Equatable {
        public var pumpSpeed: Sourced<PumpSpeed>
        public var speedTolerance: PumpSpeed
        public var maximumPrePressure: Pressure
        public var before: Duration
        public var after: Duration
        public var maximumClamped: Duration
        public var settleTimeout: Duration
        public var location: SourceLocation
        public init(pumpSpeed: Sourced<PumpSpeed>, speedTolerance: PumpSpeed, maximumPrePressure: Pressure, before: Duration,
                    after: Duration, maximumClamped: Duration, settleTimeout: Duration, location: SourceLocation) {
            self.pumpSpeed = pumpSpeed
            self.speedTolerance = speedTolerance
            self.maximumPrePressure = maximumPrePressure
            self.before = before
            self.after = after
            self.maximumClamped = maximumClamped
            self.settleTimeout = settleTimeout
            self.location = location
        }
    }

    /// Agitation settings as written; becomes an `AgitationPlan` once the volume is in steps.
    public struct AgitationSettings: Sendable, Equatable {
        public var every: Duration
        public var volume: Sourced<Volume>
        public var strokes: Int
        public var rate: Sourced<InfusionRate>
        public var location: SourceLocation
        public init(every: Duration, volume: Sourced<Volume>, strokes: Int, rate: Sourced<InfusionRate>, location: SourceLocation) {
            self.every = every
            self.volume = volume
            self.strokes = strokes
            self.rate = rate
            self.location = location
        }
    }

    /// Heparin programme as written: a bolus in U/kg and an infusion in U/kg/h, at a
    /// concentration in U/mL, with the ACT band the operator's readings are compared to.
    public struct HeparinSettings: Sendable, Equatable {
        public var concentration: HeparinConcentration
        public var bolus: Sourced<HeparinDose>?
        /// Bolus rate; nil: the channel's maximum.
        public var bolusRate: Sourced<InfusionRate>?
        public var infusion: Sourced<HeparinRate>?
        public var actTarget: ClosedRange<Double>
        public var adviceStep: Double
        public var location: SourceLocation
        public init(concentration: HeparinConcentration, bolus: Sourced<HeparinDose>?, bolusRate: Sourced<InfusionRate>?,
                    infusion: Sourced<HeparinRate>?, actTarget: ClosedRange<Double>, adviceStep: Double, location: SourceLocation) {
            self.concentration = concentration
            self.bolus = bolus
            self.bolusRate = bolusRate
            self.infusion = infusion
            self.actTarget = actTarget
            self.adviceStep = adviceStep
            self.location = location
        }
    }
}
