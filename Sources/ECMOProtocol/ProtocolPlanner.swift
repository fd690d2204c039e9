import ECMOCore
import ECMODataFile
import ECMOBoard

/// Something in a protocol that is allowed but deserves a second look (a heparin dose
/// outside the ELSO bands, agitation that can never run): printed by `protocol check`
/// and `protocol plan`, never a reason to refuse.
public struct ProtocolWarning: Sendable, Equatable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String
    public init(location: SourceLocation, message: String) {
        self.location = location
        self.message = message
    }
    /// Compiler style, like errors: `file:line:col: key: warning: message`.
    public var description: String {
        let key = location.keyPath.isEmpty ? "" : "\(location.keyPath): "
        return "\(location.file):\(location.line):\(location.column): \(key)warning: \(message)"
    }
}

/// One item of the cell-channel timeline with its expected times on the protocol clock
/// (assuming every earlier item runs exactly as planned; pump ramps and clamp settling
/// are not included, so a clamped dose may start a few seconds later).
///
/// A dose item starts when its clamp closes (or when its infusion starts, unclamped):
/// the clamp closes at `expectedStart`, infusion runs `infusionStart..<infusionEnd`, the
/// clamp opens at `expectedEnd`.
public struct ScheduledItem: Sendable, Equatable {
    /// Index into `InfusionPlan.items`.
    public var index: Int
    public var item: PlanItem
    /// 1-based number of the dose across the protocol, and the number of doses (nil: not a dose).
    public var doseNumber: Int?
    public var doseCount: Int
    public var earliestStart: Duration
    public var expectedStart: Duration
    public var infusionStart: Duration
    public var infusionEnd: Duration
    public var expectedEnd: Duration
    public var clampClose: Duration?
    public var clampOpen: Duration?
    public init(index: Int, item: PlanItem, doseNumber: Int?, doseCount: Int, earliestStart: Duration, expectedStart: Duration,
                infusionStart: Duration, infusionEnd: Duration, expectedEnd: Duration, clampClose: Duration?, clampOpen: Duration?) {
        self.index = index
        self.item = item
        self.doseNumber = doseNumber
        self.doseCount = doseCount
        self.earliestStart = earliestStart
        self.expectedStart = expectedStart
        self.infusionStart = infusionStart
        self.infusionEnd = infusionEnd
        self.expectedEnd = expectedEnd
        self.clampClose = clampClose
        self.clampOpen = clampOpen
    }
}

/// The heparin programme in the units people check it in.
public struct HeparinSummary: Sendable, Equatable {
    public var bolusUnits: HeparinUnits?
    public var bolus: PlannedDose?
    /// U/h for the patient's weight.
    public var infusionUnitsPerHour: Double?
    public var infusionRate: InfusionRate?
    public var infusionStepRate: Double
    public var infusionSteps: Int64
    /// How long the syringe lasts at the infusion rate after the bolus.
    public var infusionLasts: Duration?
    public init(bolusUnits: HeparinUnits?, bolus: PlannedDose?, infusionUnitsPerHour: Double?, infusionRate: InfusionRate?,
                infusionStepRate: Double, infusionSteps: Int64, infusionLasts: Duration?) {
        self.bolusUnits = bolusUnits
        self.bolus = bolus
        self.infusionUnitsPerHour = infusionUnitsPerHour
        self.infusionRate = infusionRate
        self.infusionStepRate = infusionStepRate
        self.infusionSteps = infusionSteps
        self.infusionLasts = infusionLasts
    }
}

/// A protocol planned against a board: what the infusion engine executes
/// (`plan`), how the pump runs, the alarm limits, and the expected timeline for people.
public struct ResolvedProtocol: Sendable, Equatable {
    public var experiment: ExperimentProtocol
    public var boardName: String
    public var boardFile: String
    public var plan: InfusionPlan
    public var pumpMode: PumpMode
    public var alarmLimits: AlarmLimits
    /// The fouling monitor's thresholds from the protocol.
    public var fouling: FoulingMonitor.Configuration { experiment.fouling }
    public var doseLimits: DoseLimits
    /// The simulator's circuit on a simulated board (`adult_patient` unless stated); nil on a rig.
    public var circuitPreset: CircuitPreset?
    public var product: ExperimentProtocol.Product?
    /// `plan.items` with their expected times.
    public var schedule: [ScheduledItem]
    /// Expected end of the last item.
    public var totalDuration: Duration
    public var heparin: HeparinSummary?
    public var warnings: [ProtocolWarning]

    /// Doses in the plan.
    public var doses: [ScheduledItem] { schedule.filter { $0.doseNumber != nil } }
    /// Volume the doses displace (whole steps), cells they hold, and their steps.
    public var totalDoseVolume: Volume { doses.reduce(.zero) { $0 + ($1.item.dose?.volume ?? .zero) } }
    public var totalCells: Double { doses.reduce(0) { $0 + ($1.item.dose?.cells ?? 0) } }
    public var totalDoseSteps: Int64 { doses.reduce(0) { $0 + $1.item.steps } }
}

/// Turns an `ExperimentProtocol` into an `InfusionPlan` on a board's syringe drive, and
/// refuses what cannot be delivered safely: doses outside the accepted range, doses the
/// syringe does not hold (accounted dose by dose), rates above the channel's maximum,
/// clamp windows longer than the clamp may stay shut, speeds outside the pump's limits.
/// Every refusal is a `DataFileError` at the protocol key it comes from, with the number
/// and why; all of them are collected.
public enum ProtocolPlanner {
    /// Clamp windows are never planned longer than this, whatever a file says: a centrifugal
    /// pump must not run against a shut line for long, and the circuit must not stand
    /// without flow longer than the zero-flow limit (whose longest setting this is).
    public static let clampCeiling: Duration = .seconds(30)
    /// A dose longer than this without agitation draws a warning: cells settle in minutes.
    public static let settlingWarning: Duration = .seconds(600)

    public static func plan(_ p: ExperimentProtocol, board: BoardConfiguration) throws(DataFileErrors) -> ResolvedProtocol {
        var b = Builder(p: p, board: board)
        let r = b.build()
        guard b.errors.isEmpty, let r else {
            throw DataFileErrors(b.errors.isEmpty ? [DataFileError(file: p.file, line: 1, column: 1, keyPath: "", message: "the protocol could not be planned")] : b.errors)
        }
        return r
    }

    struct Builder {
        let p: ExperimentProtocol
        let board: BoardConfiguration
        var errors: [DataFileError] = []
        var warnings: [ProtocolWarning] = []

        init(p: ExperimentProtocol, board: BoardConfiguration) {
            self.p = p
            self.board = board
        }

        mutating func fail(_ at: SourceLocation, _ message: String) { errors.append(at.error(message)) }
        mutating func warn(_ at: SourceLocation, _ message: String) { warnings.append(ProtocolWarning(location: at, message: message)) }

        var speedRange: ClosedRange<Double> { board.pump.limits.minimumSpeed.rpm...board.pump.limits.maximumSpeed.rpm }

        mutating func build() -> ResolvedProtocol? {
            for d in p.derivedLimits {
                warn(d.location, "\(d.key.rawValue) not given; set to \(fmt(d.value)) so that the warning tier lies inside the alarm tier given")
            }
            let weight = p.patient.weight.value
            if case .constantSpeed(let s) = p.pumpMode.value, !speedRange.contains(s.rpm) {
                fail(p.pumpMode.location, "\(fmt(s.rpm)) rpm is outside the pump limits of board \(board.name) (\(fmt(speedRange.lowerBound))...\(fmt(speedRange.upperBound)) rpm, \(board.sourceFile))")
            }
            var preset: CircuitPreset?
            switch board.kind {
            case .simulated: preset = p.patient.circuit?.value ?? .adultPatient
            case .rig:
                if let c = p.patient.circuit { warn(c.location, "the circuit preset is for the simulator; board \(board.name) is a rig, so it is ignored") }
            }

            let infuses = p.phases.contains { if case .infusion = $0.kind { true } else if case .prime = $0.kind { true } else { false } }
            var drive: SyringeDrive?
            if let s = board.syringe {
                drive = s.drive
            } else if infuses || p.heparin != nil {
                errors.append(DataFileError(file: board.sourceFile, line: 1, column: 1, keyPath: "syringe",
                                            message: "board \(board.name) has no syringe section (steps_per_revolution, microsteps, lead_screw_pitch_mm, max_step_rate_hz), so protocol \(p.file) cannot be turned into steps"))
            }
            let cellChannel = drive.flatMap { d in p.cellSyringe.map { SyringeChannelSpecification(syringe: $0.syringe, drive: d, fillVolume: $0.fill, primeVolume: $0.prime) } }
            let heparinChannel = drive.flatMap { d in p.heparinSyringe.map { SyringeChannelSpecification(syringe: $0.syringe, drive: d, fillVolume: $0.fill) } }

            // The cell-channel timeline.
            var t: Duration = .zero
            var schedule: [ScheduledItem] = []
            var items: [PlanItem] = []
            var remaining = cellChannel?.usableVolume ?? .zero
            var usedByDoses: Volume = .zero
            var doseNumber = 0
            var sawBaseline = false, warnedNoBaseline = false
            var primed = false
            let doseCount = p.phases.reduce(0) { if case .infusion(let i) = $1.kind { $0 + i.doses } else { $0 } }

            func add(_ item: PlanItem, number: Int?, start: Duration, infusionStart: Duration, infusionEnd: Duration, end: Duration, clamped: Bool) {
                schedule.append(ScheduledItem(index: items.count, item: item, doseNumber: number, doseCount: doseCount,
                                              earliestStart: item.earliestStart, expectedStart: start, infusionStart: infusionStart,
                                              infusionEnd: infusionEnd, expectedEnd: end, clampClose: clamped ? start : nil,
                                              clampOpen: clamped ? end : nil))
                items.append(item)
            }

            for phase in p.phases {
                switch phase.kind {
                case .prime(let rate):
                    primed = true
                    guard let ch = cellChannel, let setup = p.cellSyringe else { continue }
                    do throws(DosePlanError) {
                        let d = try DosePlanner.volumeDose(ch.primeVolume, pace: .rate(rate.value), channel: ch,
                                                           available: ch.fillVolume - ch.syringe.deadVolume)
                        let item = PlanItem(kind: .prime, earliestStart: t, duration: d.duration, steps: d.steps, stepRate: stepRate(d))
                        add(item, number: nil, start: t, infusionStart: t, infusionEnd: t + d.duration, end: t + d.duration, clamped: false)
                        t += d.duration
                    } catch {
                        if case .rateExceedsChannel = error { fail(rate.location, "prime \(error)") } else { fail(setup.location.appending("prime_ml"), "prime \(error)") }
                    }
                case .baseline(let d), .observation(let d):
                    let isBaseline: Bool = if case .baseline = phase.kind { true } else { false }
                    sawBaseline = sawBaseline || isBaseline
                    let item = PlanItem(kind: isBaseline ? .baseline : .observation, earliestStart: t, duration: d)
                    add(item, number: nil, start: t, infusionStart: t, infusionEnd: t, end: t + d, clamped: false)
                    t += d
                case .infusion(let inf):
                    if !sawBaseline && !warnedNoBaseline {
                        warn(phase.location, "no baseline phase before the first dose: the fouling monitor's baseline is then taken while cells go in")
                        warnedNoBaseline = true
                    }
                    guard let ch = cellChannel, let setup = p.cellSyringe else { doseNumber += inf.doses; continue }
                    guard let d = planDose(inf, channel: ch, weight: weight) else { doseNumber += inf.doses; continue }
                    let clamp = clampPlan(inf, dose: d)
                    let agitation = agitationPlan(inf, dose: d, channel: ch, setup: setup)
                    if inf.agitation == nil, d.duration > ProtocolPlanner.settlingWarning, p.product != nil {
                        warn(phase.location, "each dose lasts \(clock(d.duration)) without agitation: cells settle in a syringe within minutes")
                    }
                    let spacing: Duration? = inf.spacing.map {
                        switch $0.value {
                        case .interval(let i): i
                        case .halfLife(let h): DosePlanner.interval(halfLife: h)
                        }
                    }
                    let before = inf.clamp?.before ?? .zero, after = inf.clamp?.after ?? .zero
                    var firstStart = t
                    var spacingReported = false
                    for k in 0..<inf.doses {
                        doseNumber += 1
                        if d.volume.milliliters > remaining.milliliters * (1 + 1e-12) {
                            fail(inf.amount.location, "dose \(doseNumber) of \(doseCount) needs \(ml(d.volume)) mL but only \(ml(remaining)) mL remain (usable \(ml(ch.usableVolume)) mL = fill \(ml(ch.fillVolume)) − dead volume \(ml(ch.syringe.deadVolume)) − prime \(ml(ch.primeVolume)); earlier doses use \(ml(usedByDoses)) mL)")
                        }
                        remaining = max(remaining - d.volume, .zero)
                        usedByDoses = usedByDoses + d.volume
                        let earliest: Duration
                        if k == 0 {
                            earliest = t
                            firstStart = t
                        } else {
                            earliest = firstStart + (spacing ?? .zero) * k
                        }
                        if k > 0, t > earliest, !spacingReported, let s = inf.spacing {
                            spacingReported = true
                            fail(s.location, "spacing \(clock(spacing ?? .zero)) (start to start) is shorter than one dose with its clamp window (\(clock(before + d.duration + after)))")
                        }
                        let start = max(t, earliest)
                        let item = PlanItem(kind: .dose(index: doseNumber - 1), earliestStart: earliest, duration: d.duration, steps: d.steps,
                                            stepRate: stepRate(d), dose: d, clamp: clamp, agitation: agitation)
                        let end = start + before + d.duration + after
                        add(item, number: doseNumber, start: start, infusionStart: start + before, infusionEnd: start + before + d.duration,
                            end: end, clamped: clamp != nil)
                        t = end
                    }
                }
            }
            if let s = p.cellSyringe, doseCount > 0, cellChannel != nil, remaining < p.monitoring.nearEmptyVolume {
                warn(s.location, "after the last dose \(ml(remaining)) mL remain in the cell syringe, less than the near-empty threshold \(ml(p.monitoring.nearEmptyVolume)) mL: the near-empty warning will come during the last dose")
            }
            if let s = p.cellSyringe, s.prime > .zero, !primed {
                warn(s.location.appending("prime_ml"), "prime_ml \(ml(s.prime)) mL is reserved but no prime phase drives it: prime the line by hand before the run")
            }
            if let s = p.heparinSyringe, p.heparin == nil {
                warn(s.location, "a heparin syringe is loaded but there is no heparin programme")
            }

            // A phase computed from a rate or a concentration (not stated as a duration) can
            // come out absurdly long; the whole plan must fit in one run.
            if t > RunLimits.longestRun {
                errors.append(DataFileError(file: p.file, line: 1, column: 1, keyPath: "phases",
                                            message: "the plan would last \(Int(t.seconds / 86400)) days, longer than a run may (\(Int(RunLimits.longestRun.seconds / 86400)) days): check the rates and the concentration"))
            }
            let (programme, summary) = heparinProgramme(channel: heparinChannel, weight: weight, total: t)
            var plan = InfusionPlan(channels: [cellChannel, heparinChannel], items: items, heparin: programme,
                                    onRestart: p.onRestart, monitoring: p.monitoring)
            plan.start = p.start
            guard errors.isEmpty else { return nil }
            return ResolvedProtocol(experiment: p, boardName: board.name, boardFile: board.sourceFile, plan: plan, pumpMode: p.pumpMode.value,
                                    alarmLimits: p.alarmLimits, doseLimits: p.doseLimits, circuitPreset: preset, product: p.product,
                                    schedule: schedule, totalDuration: t, heparin: summary, warnings: warnings)
        }

        func stepRate(_ d: PlannedDose) -> Double {
            let s = d.duration.seconds
            return s > 0 ? Double(d.steps) / s : 0
        }

        /// One dose of an infusion phase (all its doses are alike): range and rate are checked once.
        mutating func planDose(_ inf: ExperimentProtocol.Infusion, channel: SyringeChannelSpecification, weight: BodyWeight) -> PlannedDose? {
            let unlimited = Volume(milliliters: .infinity)
            do throws(DosePlanError) {
                switch inf.amount.value {
                case .cellsPerKilogram(let dose):
                    guard let product = p.product else { return nil }
                    return try DosePlanner.cellDose(dose, weight: weight, concentration: product.concentration.value, pace: inf.pace.value,
                                                    channel: channel, available: unlimited, limits: p.doseLimits)
                case .volume(let v):
                    var d = try DosePlanner.volumeDose(v, pace: inf.pace.value, channel: channel, available: unlimited)
                    d.cells = p.product.map { $0.concentration.value.cells(in: d.volume) } ?? 0
                    return d
                }
            } catch {
                switch error {
                case .rateExceedsChannel, .notPositive: fail(inf.pace.location, error.description)
                case .doseOutOfRange, .volumeExceedsSyringe, .lessThanOneStep: fail(inf.amount.location, error.description)
                }
                return nil
            }
        }

        mutating func clampPlan(_ inf: ExperimentProtocol.Infusion, dose: PlannedDose) -> OutflowClampPlan? {
            guard let c = inf.clamp else { return nil }
            let rpm = c.pumpSpeed.value.rpm
            if !speedRange.contains(rpm) {
                fail(c.pumpSpeed.location, "clamp speed \(fmt(rpm)) rpm is outside the pump limits of board \(board.name) (\(fmt(speedRange.lowerBound))...\(fmt(speedRange.upperBound)) rpm)")
            }
            let window = c.before + dose.duration + c.after
            let zeroFlow = p.alarmLimits.zeroFlowLimit
            if window > c.maximumClamped || window > ProtocolPlanner.clampCeiling || window >= zeroFlow {
                let limit = min(c.maximumClamped, ProtocolPlanner.clampCeiling)
                if window >= zeroFlow && window <= limit {
                    fail(c.location, "the clamp would stay shut \(secs(window)) s (before \(secs(c.before)) s + dose \(secs(dose.duration)) s + after \(secs(c.after)) s), not less than alarm_limits.zero_flow_limit_s \(secs(zeroFlow)) s: NO_FLOW would stop the dose")
                } else {
                    fail(c.location, "the clamp would stay shut \(secs(window)) s (before \(secs(c.before)) s + dose \(secs(dose.duration)) s + after \(secs(c.after)) s), more than max_clamped \(secs(limit)) s: shorten the dose (a higher rate or a bolus) or the margins")
                }
            }
            if c.maximumPrePressure > p.alarmLimits.prePressureHigh {
                warn(c.location.appending("max_pre_pressure_mmhg"), "the clamp's P_pre limit \(fmt(c.maximumPrePressure.mmHg)) mmHg is above the P_pre alarm limit \(fmt(p.alarmLimits.prePressureHigh.mmHg)) mmHg: the alarm fires first")
            }
            return OutflowClampPlan(pumpSpeed: c.pumpSpeed.value, speedTolerance: c.speedTolerance, maximumPrePressure: c.maximumPrePressure,
                                    before: c.before, after: c.after, maximumClamped: c.maximumClamped, settleTimeout: c.settleTimeout)
        }

        mutating func agitationPlan(_ inf: ExperimentProtocol.Infusion, dose: PlannedDose, channel: SyringeChannelSpecification,
                                    setup: ExperimentProtocol.SyringeSetup) -> AgitationPlan? {
            guard let a = inf.agitation else { return nil }
            let steps = channel.steps(for: a.volume.value)
            if steps < 1 {
                fail(a.volume.location, DosePlanError.lessThanOneStep(volume: a.volume.value, volumePerStep: channel.volumePerStep).description)
            }
            if a.rate.value > channel.maximumRate {
                fail(a.rate.location, DosePlanError.rateExceedsChannel(rate: a.rate.value, maximum: channel.maximumRate).description)
            }
            if setup.fill + a.volume.value > setup.syringe.capacity {
                fail(a.volume.location, "agitation draws back \(fmt(a.volume.value.microliters)) µL first, but the syringe is filled to \(ml(setup.fill)) of its \(ml(setup.syringe.capacity)) mL: fill less or agitate with less")
            }
            let strokeTime = Duration.seconds(2 * Double(a.strokes) * a.volume.value.milliliters / max(a.rate.value.millilitersPerHour, 1e-9) * 3600)
            if strokeTime >= a.every {
                fail(a.rate.location, "\(a.strokes) back-and-forth strokes of \(fmt(a.volume.value.microliters)) µL at \(fmt(a.rate.value.millilitersPerHour)) mL/h take \(secs(strokeTime)) s, not less than their interval \(clock(a.every))")
            }
            if a.every >= dose.duration {
                warn(a.location, "agitation every \(clock(a.every)) never runs during a dose of \(clock(dose.duration))")
            }
            return AgitationPlan(interval: a.every, steps: max(steps, 0), strokes: a.strokes, stepRate: channel.stepRate(for: a.rate.value))
        }

        mutating func heparinProgramme(channel: SyringeChannelSpecification?, weight: BodyWeight, total: Duration) -> (HeparinProgramme?, HeparinSummary?) {
            guard let h = p.heparin, let ch = channel else { return (nil, nil) }
            let limits = p.doseLimits
            var bolusUnits: HeparinUnits?
            var bolus: PlannedDose?
            if let b = h.bolus {
                let u = b.value.units(for: weight)
                bolusUnits = u
                let v = h.concentration.volume(holding: u)
                do throws(DosePlanError) {
                    bolus = try DosePlanner.volumeDose(v, pace: h.bolusRate.map { .rate($0.value) } ?? .bolus, channel: ch, available: ch.usableVolume)
                } catch {
                    if case .rateExceedsChannel = error, let r = h.bolusRate {
                        fail(r.location, "heparin bolus \(error)")
                    } else {
                        fail(b.location, "heparin bolus \(fmt(b.value.unitsPerKilogram)) U/kg × \(fmt(weight.kilograms)) kg = \(fmt(u.units)) U at \(fmt(h.concentration.unitsPerMilliliter)) U/mL: \(error)")
                    }
                }
                if !limits.heparinBolus.contains(b.value.unitsPerKilogram) {
                    warn(b.location, "heparin bolus \(fmt(b.value.unitsPerKilogram)) U/kg is outside the ELSO band \(fmt(limits.heparinBolus.lowerBound))–\(fmt(limits.heparinBolus.upperBound)) U/kg")
                }
            }
            var rate: InfusionRate?
            var stepRate = 0.0
            var steps: Int64 = 0
            var lasts: Duration?
            var unitsPerHour: Double?
            if let r = h.infusion {
                let q = h.concentration.infusionRate(for: r.value, weight: weight)
                rate = q
                unitsPerHour = r.value.unitsPerKilogramPerHour * weight.kilograms
                if q.millilitersPerHour > ch.maximumRate.millilitersPerHour * (1 + 1e-9) {
                    fail(r.location, "heparin infusion \(DosePlanError.rateExceedsChannel(rate: q, maximum: ch.maximumRate))")
                }
                stepRate = ch.stepRate(for: q)
                let left = max(ch.usableVolume - (bolus?.volume ?? .zero), .zero)
                steps = ch.steps(for: left)
                let l = Duration.seconds(min(left.milliliters / max(q.millilitersPerHour, 1e-12) * 3600, 1e9))
                lasts = l
                if l < total {
                    warn(r.location, "at \(fmt3(q.millilitersPerHour)) mL/h the heparin syringe (\(ml(left)) mL after the bolus) runs out after \(clock(l)), before the protocol ends at \(clock(total)): plan a refill")
                }
                if !limits.heparinInfusion.contains(r.value.unitsPerKilogramPerHour) {
                    warn(r.location, "heparin infusion \(fmt(r.value.unitsPerKilogramPerHour)) U/kg/h is outside the ELSO band \(fmt(limits.heparinInfusion.lowerBound))–\(fmt(limits.heparinInfusion.upperBound)) U/kg/h")
                }
            }
            let bolusStepRate = bolus.map { $0.duration.seconds > 0 ? Double($0.steps) / $0.duration.seconds : 0 } ?? 0
            let programme = HeparinProgramme(bolusSteps: bolus?.steps ?? 0, bolusStepRate: bolusStepRate, infusionStepRate: stepRate,
                                             infusionSteps: steps, bolus: h.bolus?.value, infusion: h.infusion?.value,
                                             concentration: h.concentration, weight: weight, actTarget: h.actTarget, adviceStep: h.adviceStep)
            let summary = HeparinSummary(bolusUnits: bolusUnits, bolus: bolus, infusionUnitsPerHour: unitsPerHour, infusionRate: rate,
                                         infusionStepRate: stepRate, infusionSteps: steps, infusionLasts: lasts)
            return (programme, summary)
        }
    }
}

// MARK: Formatting for messages and tables

/// Up to three decimals, no trailing zeros: `28`, `0.347`, `6246.976`.
func fmt(_ v: Double) -> String { fmtDigits(v, 3) }
func fmt3(_ v: Double) -> String { fmtDigits(v, 3) }
/// Millilitres for messages (three decimals).
func ml(_ v: Volume) -> String { fmtDigits(v.milliliters, 3) }
/// Seconds with one decimal.
func secs(_ d: Duration) -> String { fmtDigits(d.seconds, 1) }

func fmtDigits(_ v: Double, _ digits: Int) -> String {
    // Beyond 1e15 the fixed-point text below would overflow Int64 (a trap): plain digits instead.
    guard v.isFinite, abs(v) < 1e15 else { return String(v) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (v * scale).rounded() / scale
    if r == r.rounded(), abs(r) < 1e15 { return String(Int64(r)) }
    var s = String(format: r, digits: digits)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}

extension String {
    /// Fixed-point text without Foundation.
    init(format v: Double, digits: Int) {
        let negative = v < 0
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        // Not finite, or too large for Int64 units of the last digit: plain digits, no trap.
        guard let total = Int64(exactly: (abs(v) * Double(scale)).rounded()) else { self = "\(v)"; return }
        let whole = total / scale
        var frac = String(total % scale)
        while frac.count < digits { frac = "0" + frac }
        self = (negative ? "-" : "") + String(whole) + (digits > 0 ? "." + frac : "")
    }
}

/// `h:mm:ss`, with tenths when the duration is not whole seconds: `0:35:00`, `0:00:56.3`.
public func clock(_ d: Duration) -> String {
    let tenths = (d.seconds * 10).rounded()
    // A duration beyond Int64 tenths of a second (~29 000 years) is no plan's; no trap for it.
    guard let totalTenths = Int64(exactly: tenths) else { return "\(d.seconds) s" }
    let negative = totalTenths < 0
    let t = abs(totalTenths)
    let h = t / 36000, m = (t / 600) % 60, s = (t / 10) % 60, tenth = t % 10
    let mm = m < 10 ? "0\(m)" : "\(m)", ss = s < 10 ? "0\(s)" : "\(s)"
    return (negative ? "-" : "") + "\(h):\(mm):\(ss)" + (tenth == 0 ? "" : ".\(tenth)")
}
