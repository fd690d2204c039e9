import Yams
import ECMOCore
import ECMODataFile

/// Reads protocol files strictly, as board and scenario files are read: unknown keys,
/// wrong types, out-of-range numbers and contradictory keys are errors naming file, line
/// and dotted key, and every error in the file is reported in one go. Checks that need
/// the board's syringe drive are `ProtocolPlanner`'s.
public enum ProtocolLoader {
    public static func load(path: String) throws(DataFileErrors) -> ExperimentProtocol {
        let text: String
        switch DataFile.readText(path: path, kind: "protocol file") {
        case .success(let t): text = t
        case .failure(let e): throw DataFileErrors([e])
        }
        return try parse(yaml: text, file: path)
    }

    /// Validates protocol YAML held in memory; `file` names it in messages.
    public static func parse(yaml: String, file: String) throws(DataFileErrors) -> ExperimentProtocol {
        let root = try DataFile.compose(yaml: yaml, file: file, kind: "protocol file")
        var d = ProtocolDecoder(reader: YAMLReader(file: file), file: file)
        let p = d.decode(root)
        let errors = d.reader.diagnostics.errors + d.located
        guard errors.isEmpty, let p else {
            throw DataFileErrors(errors.isEmpty
                ? [DataFileError(file: file, line: 1, column: 1, keyPath: "", message: "the protocol could not be built (no specific error was recorded)")]
                : errors)
        }
        return p
    }
}

struct ProtocolDecoder {
    var reader: YAMLReader
    let file: String
    /// Errors found after decoding, at a location kept from it.
    var located: [DataFileError] = []
    /// Warning tiers `alarm_limits` did not give and `AlarmLimits.deriveWarningTiers` set.
    var derivedWarningTiers: [(key: AlarmLimitKey, value: Double, at: SourceLocation)] = []

    mutating func fail(_ at: SourceLocation, _ message: String) { located.append(at.error(message)) }

    static let topKeys = ["protocol", "patient", "circuit", "alarm_limits", "dose_limits", "syringes", "product",
                          "phases", "heparin", "monitoring"]
    static let phaseKinds = ["prime", "baseline", "infusion", "observation"]
    /// Longest wait or dose a protocol may state (`RunLimits.longestRun`).
    static let longest = RunLimits.longestRun

    func loc<V>(_ l: Located<V>) -> SourceLocation { SourceLocation(file: file, l) }
    func loc(_ e: Entry) -> SourceLocation { SourceLocation(file: file, position: e.keyPosition, path: e.path) }
    func loc(_ m: MappingView) -> SourceLocation { SourceLocation(file: file, position: m.position, path: m.path) }

    /// A number that must be greater than zero (and at most `maximum`).
    mutating func positive(_ m: MappingView, _ key: String, maximum: Double, unit: String) -> Located<Double>? {
        guard let v = reader.number(m, key, in: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) else { return nil }
        guard v.value > 0 else {
            reader.error(v.position, v.path, "must be greater than zero (got \(format(v.value))\(unit))")
            return nil
        }
        guard v.value <= maximum else {
            reader.error(v.position, v.path, "\(format(v.value))\(unit) is out of range (at most \(format(maximum))\(unit))")
            return nil
        }
        return v
    }

    mutating func positiveDuration(_ m: MappingView, _ key: String) -> Located<Duration>? {
        guard let d = reader.duration(m, key, in: .zero...Self.longest) else { return nil }
        guard d.value > .zero else {
            reader.error(d.position, d.path, "must be longer than zero")
            return nil
        }
        return d
    }

    /// Exactly one of `keys` present; reports otherwise and returns the one present.
    mutating func exactlyOne(_ m: MappingView, _ keys: [String], required: Bool = true) -> String? {
        let present = keys.filter { m.has($0) }
        if present.count > 1, let second = m.entry(present[1]) {
            reader.error(second.keyPosition, second.path, "give only one of \(keys.joined(separator: " / ")) (found \(present.joined(separator: " and ")))")
            return nil
        }
        if present.isEmpty {
            if required { reader.error(m.position, m.path, "needs one of \(keys.joined(separator: " / "))") }
            return nil
        }
        return present[0]
    }

    mutating func decode(_ root: Node) -> ExperimentProtocol? {
        guard let top = reader.mapping(root, path: [], at: .start) else { return nil }
        reader.checkKeys(top, allowed: Self.topKeys, required: ["protocol", "patient", "circuit", "phases"])

        // protocol:
        var name: Located<String>?, description: Located<String>?
        var onRestart = RestartPolicy.stop
        var start = ProtocolStart.circulation
        if let h = top.entry("protocol").flatMap({ reader.mapping($0) }) {
            reader.checkKeys(h, allowed: ["name", "description", "on_restart", "start"], required: ["name", "description"])
            if h.has("start"), let s = reader.choice(h, "start", ProtocolStart.self) { start = s.value }
            name = reader.string(h, "name")
            description = reader.string(h, "description")
            if h.has("on_restart"), let r = reader.choice(h, "on_restart", RestartPolicy.self) { onRestart = r.value }
        }

        // patient:
        var patient: ExperimentProtocol.Patient?
        if let p = top.entry("patient").flatMap({ reader.mapping($0) }) {
            reader.checkKeys(p, allowed: ["weight_kg", "circuit"], required: ["weight_kg"])
            let w = positive(p, "weight_kg", maximum: 500, unit: " kg")
            let c = p.has("circuit") ? reader.choice(p, "circuit", CircuitPreset.self) : nil
            if let w {
                patient = .init(weight: Sourced(.kg(w.value), at: loc(w)), circuit: c.map { Sourced($0.value, at: loc($0)) })
            }
        }

        // circuit:
        var pump: Sourced<PumpMode>?
        if let c = top.entry("circuit").flatMap({ reader.mapping($0) }) {
            reader.checkKeys(c, allowed: ["flow_lpm", "speed_rpm"], required: [])
            switch exactlyOne(c, ["flow_lpm", "speed_rpm"]) {
            case "flow_lpm":
                if let q = reader.number(c, "flow_lpm", in: SetpointLimits.flowLitersPerMinute, unit: " L/min") { pump = Sourced(.constantFlow(.lpm(q.value)), at: loc(q)) }
            case "speed_rpm":
                if let s = reader.number(c, "speed_rpm", in: SetpointLimits.speedRPM, unit: " rpm") { pump = Sourced(.constantSpeed(.rpm(s.value)), at: loc(s)) }
            default: break
            }
        }

        let alarmLimits = top.entry("alarm_limits").flatMap { reader.mapping($0) }.map { decodeAlarmLimits($0) } ?? AlarmLimits()
        let doseLimits = top.entry("dose_limits").flatMap { reader.mapping($0) }.map { decodeDoseLimits($0) } ?? DoseLimits()

        // syringes:
        var cellSyringe: ExperimentProtocol.SyringeSetup?, heparinSyringe: ExperimentProtocol.SyringeSetup?
        var cellsWritten = false
        if let e = top.entry("syringes"), let s = reader.mapping(e) {
            cellsWritten = s.has("cells")
            reader.checkKeys(s, allowed: ["cells", "heparin"], required: [])
            if let c = s.entry("cells") { cellSyringe = decodeSyringe(c, allowPrime: true) }
            if let h = s.entry("heparin") { heparinSyringe = decodeSyringe(h, allowPrime: false) }
        }

        // product:
        var product: ExperimentProtocol.Product?
        if let p = top.entry("product").flatMap({ reader.mapping($0) }) {
            reader.checkKeys(p, allowed: ["kind", "concentration_per_ml", "port"], required: ["kind", "concentration_per_ml", "port"])
            let k = reader.choice(p, "kind", ParticleKind.self)
            let c = positive(p, "concentration_per_ml", maximum: 1e12, unit: " /mL")
            let port = reader.choice(p, "port", InfusionPort.self)
            if let k, let c, let port {
                product = .init(kind: k.value, concentration: Sourced(CellConcentration(cellsPerMilliliter: c.value), at: loc(c)), port: port.value)
            }
        }

        // phases:
        var phases: [ExperimentProtocol.Phase] = []
        var phasesComplete = true
        if let list = reader.sequence(top, "phases") {
            if list.isEmpty, let e = top.entry("phases") { reader.error(e.keyPosition, e.path, "a protocol needs at least one phase") }
            for item in list {
                if let p = decodePhase(item.node, path: item.path, at: item.position) { phases.append(p) } else { phasesComplete = false }
            }
        }
        crossCheckPhases(phases, cellSyringe: cellSyringe, product: product, productWritten: top.has("product"),
                         cellSyringeWritten: cellsWritten)

        // heparin:
        var heparin: ExperimentProtocol.HeparinSettings?
        if let e = top.entry("heparin"), let h = reader.mapping(e) {
            heparin = decodeHeparin(h, entry: e)
            if heparinSyringe == nil {
                reader.error(e.keyPosition, e.path, "a heparin programme needs syringes.heparin (the heparin syringe it is given from)")
            }
        }

        // monitoring:
        let monitoringMap = top.entry("monitoring").flatMap { reader.mapping($0) }
        let monitoring = monitoringMap.map { decodeMonitoring($0) } ?? InfusionMonitoring()
        let fouling = monitoringMap.map { decodeFouling($0) } ?? FoulingMonitor.Configuration()

        guard let name, let description, let patient, let pump, phasesComplete else { return nil }
        var result = ExperimentProtocol(file: file, name: name.value, description: description.value, onRestart: onRestart,
                                        patient: patient, pumpMode: pump, alarmLimits: alarmLimits, doseLimits: doseLimits,
                                        cellSyringe: cellSyringe, heparinSyringe: heparinSyringe, product: product,
                                        phases: phases, heparin: heparin, monitoring: monitoring, fouling: fouling)
        result.start = start
        result.derivedLimits = derivedWarningTiers.map { ExperimentProtocol.DerivedLimit(key: $0.key, value: $0.value, location: $0.at) }
        return result
    }

    // MARK: Limits

    /// The same keys and hard bounds as `AlarmLimits` (`AlarmLimitKey`), then its own
    /// consistency check (low below high), located at the key that breaks it.
    mutating func decodeAlarmLimits(_ m: MappingView) -> AlarmLimits {
        reader.checkKeys(m, allowed: AlarmLimitKey.allCases.map(\.rawValue), required: [])
        var limits = AlarmLimits()
        var given = Set<AlarmLimitKey>()
        for key in AlarmLimitKey.allCases where m.has(key.rawValue) {
            if let v = reader.number(m, key.rawValue, in: key.hardBounds) { limits[key] = v.value }
            given.insert(key)
        }
        // A file that sets only an alarm tier inside the default warning tier gets a warning
        // tier the same distance inside it (the planner says so).
        derivedWarningTiers = limits.deriveWarningTiers(given: given).map { (key: $0, value: limits[$0], at: loc(m)) }
        do {
            return try limits.validated()
        } catch {
            let at = m.entry(error.key) ?? m.entry(error.mustBeBelowKey ?? "")
            let position = at?.keyPosition ?? m.position
            reader.error(position, m.path + [error.key], error.description)
            return AlarmLimits()
        }
    }

    mutating func decodeDoseLimits(_ m: MappingView) -> DoseLimits {
        reader.checkKeys(m, allowed: ["min_cells_per_kg", "max_cells_per_kg", "heparin_bolus_u_per_kg", "heparin_infusion_u_per_kg_per_h"], required: [])
        var limits = DoseLimits()
        let lo = m.has("min_cells_per_kg") ? positive(m, "min_cells_per_kg", maximum: 1e12, unit: " cells/kg") : nil
        let hi = m.has("max_cells_per_kg") ? positive(m, "max_cells_per_kg", maximum: 1e12, unit: " cells/kg") : nil
        let low = lo?.value ?? limits.cellDose.lowerBound, high = hi?.value ?? limits.cellDose.upperBound
        if low <= high {
            limits.cellDose = low...high
        } else if let at = hi ?? lo {
            reader.error(at.position, at.path, "the accepted dose range is empty: min_cells_per_kg \(sci(low)) is above max_cells_per_kg \(sci(high))")
        }
        if m.has("heparin_bolus_u_per_kg"), let b = band(m, "heparin_bolus_u_per_kg", in: 0...1000) { limits.heparinBolus = b }
        if m.has("heparin_infusion_u_per_kg_per_h"), let b = band(m, "heparin_infusion_u_per_kg_per_h", in: 0...200) { limits.heparinInfusion = b }
        return limits
    }

    mutating func band(_ m: MappingView, _ key: String, in range: ClosedRange<Double>) -> ClosedRange<Double>? {
        guard let v = reader.numbers(m, key, count: 2) else { return nil }
        guard range.contains(v.value[0]), range.contains(v.value[1]), v.value[0] < v.value[1] else {
            reader.error(v.position, v.path, "expected [low, high] with low < high, both within \(format(range.lowerBound))...\(format(range.upperBound))")
            return nil
        }
        return v.value[0]...v.value[1]
    }

    // MARK: Syringes

    mutating func decodeSyringe(_ e: Entry, allowPrime: Bool) -> ExperimentProtocol.SyringeSetup? {
        guard let m = reader.mapping(e) else { return nil }
        let restricted = allowPrime ? [:] : ["prime_ml": "the plan primes the cell line only; prime the heparin line by hand and give fill_ml as left after priming"]
        reader.checkKeys(m, allowed: ["preset", "inner_diameter_mm", "capacity_ml", "dead_volume_ml", "fill_ml"] + (allowPrime ? ["prime_ml"] : []),
                         required: ["fill_ml"], restricted: restricted)
        var spec: SyringeSpecification?
        var preset: SyringePreset?
        if m.has("preset") {
            for k in ["inner_diameter_mm", "capacity_ml"] {
                if let x = m.entry(k) { reader.error(x.keyPosition, x.path, "give either a preset or inner_diameter_mm + capacity_ml, not both") }
            }
            if let p = reader.choice(m, "preset", SyringePreset.self) {
                preset = p.value
                spec = p.value.specification
            }
        } else {
            if !m.has("inner_diameter_mm") || !m.has("capacity_ml") {
                reader.error(m.position, m.path, "needs a preset, or inner_diameter_mm and capacity_ml for a custom barrel")
            }
            let d = m.has("inner_diameter_mm") ? reader.number(m, "inner_diameter_mm", in: 1...50, unit: " mm") : nil
            let c = m.has("capacity_ml") ? reader.number(m, "capacity_ml", in: 0.1...200, unit: " mL") : nil
            if let d, let c { spec = SyringeSpecification(innerDiameterMillimeters: d.value, capacity: .mL(c.value), deadVolume: .zero) }
        }
        if m.has("dead_volume_ml"), let dv = reader.number(m, "dead_volume_ml", in: 0...10, unit: " mL") { spec?.deadVolume = .mL(dv.value) }
        let fill = positive(m, "fill_ml", maximum: 200, unit: " mL")
        let prime = m.has("prime_ml") ? reader.number(m, "prime_ml", in: 0...50, unit: " mL") : nil
        guard let spec, let fill else { return nil }
        if fill.value > spec.capacity.milliliters {
            reader.error(fill.position, fill.path, "fill \(format(fill.value)) mL is more than the syringe holds (\(format(spec.capacity.milliliters)) mL)")
            return nil
        }
        let primeVolume = prime?.value ?? 0
        if let prime, fill.value - spec.deadVolume.milliliters - primeVolume <= 0 {
            reader.error(prime.position, prime.path, "fill \(format(fill.value)) mL less dead volume \(format(spec.deadVolume.milliliters)) mL and prime \(format(primeVolume)) mL leaves nothing to dose")
        }
        return .init(syringe: spec, preset: preset, fill: .mL(fill.value), prime: .mL(primeVolume), location: loc(e))
    }

    // MARK: Phases

    mutating func decodePhase(_ node: Node, path: [String], at position: Position) -> ExperimentProtocol.Phase? {
        guard let m = reader.mapping(node, path: path, at: position) else { return nil }
        guard m.entries.count == 1, let e = m.entries.first else {
            reader.error(m.position, path, "each phase is a mapping with one key, one of: \(Self.phaseKinds.joined(separator: ", ")) (got \(m.entries.count) keys)")
            return nil
        }
        guard Self.phaseKinds.contains(e.key) else {
            reader.checkKeys(m, allowed: Self.phaseKinds, required: [])
            return nil
        }
        guard let body = reader.mapping(e) else { return nil }
        let here = loc(e)
        switch e.key {
        case "prime":
            reader.checkKeys(body, allowed: ["rate_ml_per_h"], required: ["rate_ml_per_h"])
            guard let r = positive(body, "rate_ml_per_h", maximum: 100_000, unit: " mL/h") else { return nil }
            return .init(kind: .prime(rate: Sourced(.mLPerHour(r.value), at: loc(r))), location: here)
        case "baseline", "observation":
            reader.checkKeys(body, allowed: ["duration"], required: ["duration"])
            guard let d = positiveDuration(body, "duration") else { return nil }
            return .init(kind: e.key == "baseline" ? .baseline(d.value) : .observation(d.value), location: here)
        default:
            return decodeInfusion(body).map { .init(kind: .infusion($0), location: here) }
        }
    }

    mutating func decodeInfusion(_ m: MappingView) -> ExperimentProtocol.Infusion? {
        reader.checkKeys(m, allowed: ["dose_cells_per_kg", "volume_ml", "rate_ml_per_h", "duration", "bolus", "doses",
                                      "interval", "half_life", "clamp", "agitation"], required: [])
        var amount: Sourced<ExperimentProtocol.Infusion.Amount>?
        switch exactlyOne(m, ["dose_cells_per_kg", "volume_ml"]) {
        case "dose_cells_per_kg":
            if let d = positive(m, "dose_cells_per_kg", maximum: 1e15, unit: " cells/kg") {
                amount = Sourced(.cellsPerKilogram(CellDose(cellsPerKilogram: d.value)), at: loc(d))
            }
        case "volume_ml":
            if let v = positive(m, "volume_ml", maximum: 1000, unit: " mL") { amount = Sourced(.volume(.mL(v.value)), at: loc(v)) }
        default: break
        }
        var pace: Sourced<DosePace>?
        switch exactlyOne(m, ["rate_ml_per_h", "duration", "bolus"]) {
        case "rate_ml_per_h":
            if let r = positive(m, "rate_ml_per_h", maximum: 100_000, unit: " mL/h") { pace = Sourced(.rate(.mLPerHour(r.value)), at: loc(r)) }
        case "duration":
            if let d = positiveDuration(m, "duration") { pace = Sourced(.duration(d.value), at: loc(d)) }
        case "bolus":
            if let b = reader.bool(m, "bolus") {
                if b.value { pace = Sourced(.bolus, at: loc(b)) } else {
                    reader.error(b.position, b.path, "bolus: false says nothing: give rate_ml_per_h or duration instead")
                }
            }
        default: break
        }
        let doses = m.has("doses") ? reader.int(m, "doses", in: 1...100) : Located(value: 1, position: m.position, path: m.path)
        var spacing: Sourced<ExperimentProtocol.Infusion.Spacing>?
        let spacingKey = exactlyOne(m, ["interval", "half_life"], required: false)
        if let key = spacingKey, let d = positiveDuration(m, key) {
            spacing = Sourced(key == "interval" ? .interval(d.value) : .halfLife(d.value), at: loc(d))
        }
        if let doses {
            if doses.value > 1 && spacingKey == nil && !(m.has("interval") && m.has("half_life")) {
                reader.error(doses.position, doses.path, "\(doses.value) doses need a spacing: interval (start to start) or half_life")
            }
            if doses.value == 1, let key = spacingKey, let e = m.entry(key) {
                reader.error(e.keyPosition, e.path, "\(key) spaces repeated doses; with a single dose leave it out (or set doses)")
            }
        }
        let clamp = m.entry("clamp").flatMap { reader.mapping($0) }.flatMap { decodeClamp($0) }
        let agitation = m.entry("agitation").flatMap { reader.mapping($0) }.flatMap { decodeAgitation($0) }
        if m.has("clamp") && clamp == nil || m.has("agitation") && agitation == nil { return nil }
        guard let amount, let pace, let doses else { return nil }
        return .init(amount: amount, pace: pace, doses: doses.value, spacing: spacing, clamp: clamp, agitation: agitation)
    }

    mutating func decodeClamp(_ m: MappingView) -> ExperimentProtocol.ClampSettings? {
        reader.checkKeys(m, allowed: ["pump_rpm", "before", "after", "max_pre_pressure_mmhg", "max_clamped", "speed_tolerance_rpm", "settle_timeout"],
                         required: ["pump_rpm"])
        let defaults = OutflowClampPlan(pumpSpeed: .rpm(0))
        let rpm = reader.number(m, "pump_rpm", in: 500...6000, unit: " rpm")
        let before = m.has("before") ? reader.duration(m, "before", in: .zero...Duration.seconds(120)) : Located(value: defaults.before, position: m.position, path: m.path)
        let after = m.has("after") ? reader.duration(m, "after", in: .zero...Duration.seconds(120)) : Located(value: defaults.after, position: m.position, path: m.path)
        let pre = m.has("max_pre_pressure_mmhg") ? reader.number(m, "max_pre_pressure_mmhg", in: 50...600, unit: " mmHg")?.value : defaults.maximumPrePressure.mmHg
        // A centrifugal pump must not run against a closed line for long: `clampCeiling`.
        let maxClamped = m.has("max_clamped") ? reader.duration(m, "max_clamped", in: .seconds(1)...ProtocolPlanner.clampCeiling)?.value : defaults.maximumClamped
        let tolerance = m.has("speed_tolerance_rpm") ? reader.number(m, "speed_tolerance_rpm", in: 10...1000, unit: " rpm")?.value : defaults.speedTolerance.rpm
        let settle = m.has("settle_timeout") ? reader.duration(m, "settle_timeout", in: .seconds(1)...Duration.seconds(600))?.value : defaults.settleTimeout
        guard let rpm, let before, let after, let pre, let maxClamped, let tolerance, let settle else { return nil }
        return .init(pumpSpeed: Sourced(.rpm(rpm.value), at: loc(rpm)), speedTolerance: .rpm(tolerance), maximumPrePressure: .mmHg(pre),
                     before: before.value, after: after.value, maximumClamped: maxClamped, settleTimeout: settle, location: loc(m))
    }

    mutating func decodeAgitation(_ m: MappingView) -> ExperimentProtocol.AgitationSettings? {
        reader.checkKeys(m, allowed: ["every", "volume_ul", "strokes", "rate_ml_per_h"], required: ["every", "volume_ul", "rate_ml_per_h"])
        let every = reader.duration(m, "every", in: .seconds(1)...Duration.seconds(24 * 3600))
        let volume = positive(m, "volume_ul", maximum: 5000, unit: " µL")
        let strokes = m.has("strokes") ? reader.int(m, "strokes", in: 1...20)?.value : 1
        let rate = positive(m, "rate_ml_per_h", maximum: 100_000, unit: " mL/h")
        guard let every, let volume, let strokes, let rate else { return nil }
        return .init(every: every.value, volume: Sourced(Volume(microliters: volume.value), at: loc(volume)), strokes: strokes,
                     rate: Sourced(.mLPerHour(rate.value), at: loc(rate)), location: loc(m))
    }

    /// Order and presence rules that need the whole list: at most one prime, before any
    /// dose; a cell syringe for any prime or dose; a product for doses per kg.
    /// (A section that is written but invalid has been reported already: no second error for it.)
    mutating func crossCheckPhases(_ phases: [ExperimentProtocol.Phase], cellSyringe: ExperimentProtocol.SyringeSetup?,
                                   product: ExperimentProtocol.Product?, productWritten: Bool, cellSyringeWritten: Bool) {
        var seenPrime = false, seenInfusion = false
        for p in phases {
            let at = p.location
            switch p.kind {
            case .prime:
                if seenPrime { fail(at, "a protocol primes the line once") }
                if seenInfusion { fail(at, "the prime must come before the first infusion") }
                seenPrime = true
                if cellSyringe == nil {
                    if !cellSyringeWritten { fail(at, "a prime needs syringes.cells") }
                } else if let s = cellSyringe, s.prime <= .zero {
                    fail(at, "a prime phase needs syringes.cells.prime_ml (the volume that fills the line)")
                }
            case .infusion(let i):
                seenInfusion = true
                if cellSyringe == nil && !cellSyringeWritten { fail(at, "an infusion needs syringes.cells") }
                if case .cellsPerKilogram = i.amount.value, product == nil, !productWritten {
                    fail(i.amount.location, "a dose in cells/kg needs the product section (its concentration_per_ml)")
                }
            case .baseline, .observation: break
            }
        }
    }

    // MARK: Heparin, monitoring

    mutating func decodeHeparin(_ m: MappingView, entry: Entry) -> ExperimentProtocol.HeparinSettings? {
        reader.checkKeys(m, allowed: ["concentration_u_per_ml", "bolus_u_per_kg", "bolus_rate_ml_per_h", "infusion_u_per_kg_per_h",
                                      "act_target_s", "advice_step"], required: ["concentration_u_per_ml"])
        let c = positive(m, "concentration_u_per_ml", maximum: 50_000, unit: " U/mL")
        let bolus = m.has("bolus_u_per_kg") ? positive(m, "bolus_u_per_kg", maximum: 1000, unit: " U/kg") : nil
        let bolusRate = m.has("bolus_rate_ml_per_h") ? positive(m, "bolus_rate_ml_per_h", maximum: 100_000, unit: " mL/h") : nil
        let infusion = m.has("infusion_u_per_kg_per_h") ? positive(m, "infusion_u_per_kg_per_h", maximum: 200, unit: " U/kg/h") : nil
        if !m.has("bolus_u_per_kg") && !m.has("infusion_u_per_kg_per_h") {
            reader.error(entry.keyPosition, entry.path, "a heparin programme needs bolus_u_per_kg, infusion_u_per_kg_per_h or both")
        }
        if let r = bolusRate, !m.has("bolus_u_per_kg") {
            reader.error(r.position, r.path, "bolus_rate_ml_per_h without bolus_u_per_kg")
        }
        var act: ClosedRange<Double> = 180...220
        if m.has("act_target_s") {
            if let v = reader.numbers(m, "act_target_s", count: 2) {
                if v.value[0] >= 60, v.value[1] <= 1500, v.value[0] < v.value[1] {
                    act = v.value[0]...v.value[1]
                } else {
                    reader.error(v.position, v.path, "expected [low, high] seconds with low < high, within 60...1500 s")
                }
            }
        }
        let step = m.has("advice_step") ? reader.number(m, "advice_step", in: 0.01...0.5)?.value : 0.1
        guard let c, let step else { return nil }
        return .init(concentration: HeparinConcentration(unitsPerMilliliter: c.value),
                     bolus: bolus.map { Sourced(HeparinDose(unitsPerKilogram: $0.value), at: loc($0)) },
                     bolusRate: bolusRate.map { Sourced(.mLPerHour($0.value), at: loc($0)) },
                     infusion: infusion.map { Sourced(HeparinRate(unitsPerKilogramPerHour: $0.value), at: loc($0)) },
                     actTarget: act, adviceStep: step, location: loc(entry))
    }

    mutating func decodeMonitoring(_ m: MappingView) -> InfusionMonitoring {
        reader.checkKeys(m, allowed: ["occlusion_pressure_mmhg", "friction_n", "near_empty_ml", "near_empty_time",
                                      "deviation_fraction", "deviation_delay", "journal_lookahead_ms",
                                      "circulation_resume", "fouling_warning_percent", "fouling_pause_percent"], required: [])
        var mon = InfusionMonitoring()
        if m.has("occlusion_pressure_mmhg"), let v = reader.number(m, "occlusion_pressure_mmhg", in: 100...1000, unit: " mmHg") { mon.occlusionPressure = .mmHg(v.value) }
        if m.has("friction_n"), let v = reader.number(m, "friction_n", in: 0...100, unit: " N") { mon.frictionNewtons = v.value }
        if m.has("near_empty_ml"), let v = reader.number(m, "near_empty_ml", in: 0...50, unit: " mL") { mon.nearEmptyVolume = .mL(v.value) }
        if m.has("near_empty_time"), let v = reader.duration(m, "near_empty_time", in: .zero...Duration.seconds(3600)) { mon.nearEmptyTime = v.value }
        if m.has("deviation_fraction"), let v = reader.number(m, "deviation_fraction", in: 0.001...0.5) { mon.deviationFraction = v.value }
        if m.has("deviation_delay"), let v = reader.duration(m, "deviation_delay", in: .milliseconds(100)...Duration.seconds(600)) { mon.deviationDelay = v.value }
        // `operator` (default) or a duration: how a circulation pause of the cell syringe ends.
        if let e = m.entry("circulation_resume") {
            if case let .scalar(text) = e.value, text.string == "operator" {
                mon.circulationResumeAfter = nil
            } else if let v = reader.duration(m, "circulation_resume", in: .seconds(1)...Duration.seconds(600)) {
                mon.circulationResumeAfter = v.value
            }
        }
        if m.has("journal_lookahead_ms"), let v = reader.number(m, "journal_lookahead_ms", in: 1...1000, unit: " ms") {
            mon.journalLookahead = .seconds(v.value / 1000)
        }
        return mon
    }
}

extension ProtocolDecoder {
    /// The fouling thresholds (`monitoring.fouling_warning_percent`, `fouling_pause_percent`:
    /// rise of R = ΔP/Q over its baseline), each within its hard bounds and the pause above
    /// the warning; refused otherwise, naming the key.
    mutating func decodeFouling(_ m: MappingView) -> FoulingMonitor.Configuration {
        var f = FoulingMonitor.Configuration()
        let wb = FoulingMonitor.Configuration.warningRiseBounds, pb = FoulingMonitor.Configuration.pauseRiseBounds
        let w = reader.number(m, "fouling_warning_percent", in: (wb.lowerBound * 100)...(wb.upperBound * 100), unit: " %")
        let p = reader.number(m, "fouling_pause_percent", in: (pb.lowerBound * 100)...(pb.upperBound * 100), unit: " %")
        if let w { f.warningRise = w.value / 100 }
        if let p { f.pauseRise = p.value / 100 }
        if f.pauseRise <= f.warningRise, let at = p ?? w {
            reader.error(at.position, at.path, "the fouling pause (\(format(f.pauseRise * 100)) %) must be above the fouling warning (\(format(f.warningRise * 100)) %)")
        }
        return f
    }
}

/// `2e6` style for messages (ECMOCore's formatter is internal).
func sci(_ v: Double) -> String {
    guard v != 0, v.isFinite else { return format(v) }
    var e = 0
    var m = abs(v)
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    var r = (m * 1000).rounded() / 1000
    if r >= 10 { r /= 10; e += 1 }
    let mant = format(r)
    return (v < 0 ? "-" : "") + (e == 0 ? mant : "\(mant)e\(e)")
}
