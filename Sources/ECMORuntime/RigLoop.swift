import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODrivers

/// Settings of one run that are not in the board file.
public struct RunSettings: Sendable {
    public var mode: PumpMode
    /// Record one telemetry frame every `recordEvery` ticks (the status and the loop still
    /// run at the full rate).
    public var recordEvery: Int
    public var telemetryCapacity: Int
    public var eventCapacity: Int
    /// An overrun is a tick that started later than this after its deadline.
    public var overrunThreshold: Duration?
    /// Alarm limits (already validated against their hard bounds).
    public var alarmLimits: AlarmLimits
    public var fouling: FoulingMonitor.Configuration
    /// What the loop does about overruns (nil: the defaults for the board's period, with
    /// `overrunThreshold` as the lateness threshold when given).
    public var overrunPolicy: OverrunPolicy?

    /// The core's configuration for `board`: one place turns board and run settings into it.
    public func coreConfiguration(board: BoardConfiguration) -> RigCoreConfiguration {
        var policy = overrunPolicy ?? OverrunPolicy(period: board.loopPeriod)
        if overrunPolicy == nil, let t = overrunThreshold { policy.latenessThreshold = t }
        return RigCoreConfiguration(loopPeriod: board.loopPeriod, pump: board.pump.limits, pumpCurve: board.pump.curve,
                                    mode: mode, alarmLimits: alarmLimits, fouling: fouling, overrunPolicy: policy,
                                    maximumSampleAge: board.sensors[.flow]?.maxAge ?? .milliseconds(50))
    }
    public init(mode: PumpMode, recordEvery: Int = 10, telemetryCapacity: Int = 8192, eventCapacity: Int = 1024,
                overrunThreshold: Duration? = nil, alarmLimits: AlarmLimits = AlarmLimits(),
                fouling: FoulingMonitor.Configuration = .init()) {
        self.alarmLimits = alarmLimits
        self.fouling = fouling
        self.mode = mode
        self.recordEvery = max(1, recordEvery)
        self.telemetryCapacity = telemetryCapacity
        self.eventCapacity = eventCapacity
        self.overrunThreshold = overrunThreshold
    }
}

/// Why a tick withholds the watchdog kick (none: the loop is healthy and kicks).
///
/// A healthy loop, by definition, is one whose tick
/// 1. ran to its end: sensors read, the core's decision made, outputs written and read
///    back (a hung or crashed loop never reaches the kick; nothing else is needed for that);
/// 2. kept its budget: the previous tick ran no longer than `RigLoop.kickBudget` (ten
///    loop periods): a loop that takes that long per tick is not controlling anything;
/// 3. saw time advance since the previous tick (a frozen clock blinds every deadline and
///    command age);
/// 4. can set its process outputs: no pump speed, pump enable or return-clamp output whose
///    last write failed or whose read-back differs (`OutputGuard`, debounced 3 ticks).
///    The core alarms on these; if it cannot even make them safe, only the board's reset
///    can (its outputs fall to their boot defaults, the safe values).
/// Sensor errors are not on the list: they are alarms and interlocks, and a reset would
/// stop a circulation that is running. One withheld kick costs nothing; only a loop
/// unhealthy for the whole watchdog timeout (250 ms on the boards) is reset.
public struct LoopHealth: OptionSet, Sendable, BitwiseCopyable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let slowTick = LoopHealth(rawValue: 1)
    public static let clockStalled = LoopHealth(rawValue: 2)
    public static let outputsUnconfirmed = LoopHealth(rawValue: 4)

    /// For the run record: "slow_tick", "clock_stalled", "outputs_unconfirmed".
    public var names: [String] {
        [(LoopHealth.slowTick, "slow_tick"), (.clockStalled, "clock_stalled"), (.outputsUnconfirmed, "outputs_unconfirmed")]
            .filter { contains($0.0) }.map { $0.1 }
    }

    /// The reasons, from what the tick saw (pure: a test judges a tick by hand).
    public static func judge(previousExecution: Duration, budget: Duration, now: Instant, previousTick: Instant?,
                             outputs: OutputReport) -> LoopHealth {
        var h: LoopHealth = []
        if previousExecution > budget { h.insert(.slowTick) }
        if let p = previousTick, now <= p { h.insert(.clockStalled) }
        if outputs.processStanding { h.insert(.outputsUnconfirmed) }
        return h
    }
}

/// The run record's rings: telemetry frames and events, from the loop to the recorder
/// thread. Owned apart from the loop so that a firmware reboot inside one simulated run
/// (a watchdog reset in a scenario) keeps writing the same record.
public final class RigRings: Sendable {
    public let telemetry: SPSCRing<TelemetryFrame>
    public let events: SPSCRing<RigEvent>
    public init(telemetryCapacity: Int = 8192, eventCapacity: Int = 1024) {
        telemetry = SPSCRing(capacity: telemetryCapacity)
        events = SPSCRing(capacity: eventCapacity)
    }
}

/// The real-time loop: read → core step → write, once per period.
///
/// One `tick` services the board (a simulated board advances its physics), reads every
/// sensor through its driver into a frame, applies pending console commands, hands the
/// frame to `RigCore.step` (the whole decision), writes its result through the output
/// guard, kicks the watchdog if the tick was healthy, and copies a telemetry frame out
/// through a lock-free ring. A tick allocates nothing, takes no lock and never waits on
/// the consumer: the run record is written on another thread.
///
/// Generic over the board's hardware, so the compiler specialises the tick for the concrete
/// drivers and lines (the package builds with cross-module optimisation for this).
public final class RigLoop<Hardware: HardwareProvider> {
    public let board: BoardConfiguration
    public let hardware: Hardware
    public let sensors: SensorSuite<Hardware>
    public let outputs: OutputGuard<Hardware>
    public let rings: RigRings
    /// `rings`' two rings, held here too: a tick pushes through its own `let` fields.
    public let telemetry: SPSCRing<TelemetryFrame>
    public let events: SPSCRing<RigEvent>
    /// The decision of every tick (pure; see `RigCore`).
    public private(set) var core: RigCore
    public private(set) var frame: SensorFrame
    public private(set) var lastTelemetry = TelemetryFrame()
    public private(set) var tickCount: UInt64 = 0
    public private(set) var watchdogKicks: UInt64 = 0
    /// Why the last tick withheld its kick (empty: it kicked, or would have with a watchdog).
    public private(set) var health: LoopHealth = []
    /// Ticks that withheld their kick.
    public private(set) var withheldKicks: UInt64 = 0
    /// The longest a tick may run and still count as healthy (criterion 2 of `LoopHealth`).
    public let kickBudget: Duration
    private var previousTickAt: Instant?
    /// The output guard's findings of the last tick, for this tick's core step.
    private var outputFaults = OutputFaultInput()
    public private(set) var stepsIssued: (cells: Int64, heparin: Int64) = (0, 0)
    /// Steps issued in the last tick, reported to the core in the next.
    private var lastTickIssued = IssuedSteps(cells: 0, heparin: 0)
    /// Between the loop and the delivery-journal writer (nil: no journal; then nothing is
    /// ever authorized and no step is issued).
    public let journal: JournalLink?
    /// The console link (nil: none), fixed when the loop is built: its commands are applied
    /// once per tick before the core's step and its ring is fed every `link.every` ticks.
    public let link: RigLink?
    /// The safety co-processor's link (nil: the rig has none). Attached before the loop
    /// runs; each tick hears it before the core's step and sends the heartbeat after the write.
    public var coprocessor: CoProcessorChannel?
    /// Sees every call into the loop and its outcome (a HAL transcript, `ECMOTranscript`);
    /// nil, the normal case, costs a nil check per call.
    public var tap: (any RigLoopTap)?
    private let settings: RunSettings
    private let watchdog: Hardware.WatchdogDevice?
    private let cellVolumePerStep: Double
    private let heparinVolumePerStep: Double
    private let recordEvery: UInt64

    public init(board: BoardConfiguration, hardware: Hardware, settings: RunSettings, useWatchdog: Bool = true,
                infusion: InfusionEngine? = nil, journal: JournalLink? = nil, rings: RigRings? = nil,
                link: RigLink? = nil) throws(RigLoopOpenError) {
        self.board = board
        self.link = link
        self.hardware = hardware
        self.settings = settings
        self.journal = journal
        // Limits beyond their hard bounds and set-points out of range are refused here,
        // whoever built the settings.
        do {
            core = try RigCore(configuration: settings.coreConfiguration(board: board), infusion: infusion)
        } catch {
            throw .settings(RunSettingsError(description: error.description))
        }
        cellVolumePerStep = infusion?.plan.channel(.cells)?.volumePerStep.milliliters ?? 0
        heparinVolumePerStep = infusion?.plan.channel(.heparin)?.volumePerStep.milliliters ?? 0
        recordEvery = UInt64(max(1, settings.recordEvery))
        kickBudget = board.loopPeriod * 10
        // Outputs first, so that every actuator holds its safe value before anything else happens.
        do throws(HardwareOpenError) {
            outputs = try OutputGuard(board: board, hardware: hardware)
            sensors = try SensorSuite(board: board, hardware: hardware)
        } catch { throw .hardware(error) }
        let rings = rings ?? RigRings(telemetryCapacity: settings.telemetryCapacity, eventCapacity: settings.eventCapacity)
        self.rings = rings
        telemetry = rings.telemetry
        events = rings.events
        frame = SensorFrame(at: hardware.clock.now())
        if useWatchdog {
            let wd: Hardware.WatchdogDevice
            do throws(HardwareOpenError) { wd = try hardware.watchdog(board.watchdog) } catch { throw .hardware(error) }
            do throws(HALError) { try wd.start(timeout: board.watchdog.timeout) } catch {
                throw .hardware(HardwareOpenError(what: "watchdog \(board.watchdog.device)", cause: error))
            }
            watchdog = wd
        } else {
            watchdog = nil
        }
    }

    public var state: LifecycleState { core.state }
    public var controller: RigController { core.controller }
    public var safety: SafetySupervisor { core.safety }
    public var infusion: InfusionEngine { core.infusion }
    public var hasInfusionPlan: Bool { core.hasInfusionPlan }
    public var overruns: UInt32 { core.overruns }
    public var lastOverrunStatus: OverrunMonitor.Status { core.lastOutput.overrun }

    // MARK: Boot, commands, shutdown (between ticks, on the loop thread)

    /// Hardware open, every output safe: read sensors, command nothing (`inactive`).
    public func configure(now: Instant) {
        tap?.loopWillRun(.configure(now: now))
        let ring = events
        core.configure(now: now) { ring.push($0) }
        tap?.loopDidRun(.configure(now: now), telemetry: lastTelemetry, result: nil)
    }

    /// The board started after its watchdog reset it: raises the latched WATCHDOG_RESET alarm.
    public func reportBootAfterWatchdogReset() {
        tap?.loopWillRun(.reportBootAfterWatchdogReset)
        core.reportBootAfterWatchdogReset()
        tap?.loopDidRun(.reportBootAfterWatchdogReset, telemetry: lastTelemetry, result: nil)
    }

    /// An operator command from any source, validated by the core (`RigCore.apply`).
    @discardableResult
    public func apply(_ command: OperatorCommand, from source: AlarmActor, now: Instant) -> CommandResult {
        tap?.loopWillRun(.apply(command, from: source, now: now))
        let ring = events
        let result = core.apply(command, from: source, now: now) { ring.push($0) }
        followLifecycle()
        tap?.loopDidRun(.apply(command, from: source, now: now), telemetry: lastTelemetry, result: result)
        return result
    }

    /// Puts every output safe, leaves the lifecycle, and disarms the watchdog (clean exit only).
    public func shutdown(now: Instant) {
        tap?.loopWillRun(.shutdown(now: now))
        let ring = events
        core.shutdown(now: now) { ring.push($0) }
        outputs.forceSafe(includingAnnunciators: true)
        ring.push(RigEvent(.outputsSafe, at: now))
        if let wd = watchdog { try? wd.stop() }
        tap?.loopDidRun(.shutdown(now: now), telemetry: lastTelemetry, result: nil)
    }

    /// The output guard follows the lifecycle: held safe in fault and before configuration,
    /// released once the operator cleared the cause or activated.
    @inline(__always)
    private func followLifecycle() {
        let hold = core.state == .fault || core.state == .unconfigured
        if hold && !outputs.forcedSafe { outputs.forceSafe() } else if !hold && outputs.forcedSafe { outputs.release() }
    }

    // MARK: The tick

    /// One period of the loop. `lateness`: how long after its deadline the tick started;
    /// `previousExecution`: how long the previous tick ran (the runner measures both).
    public func tick(now: Instant, lateness: Duration = .zero, previousExecution: Duration = .zero) {
        if tap == nil { return runTick(now: now, lateness: lateness, previousExecution: previousExecution) }
        let call = RigLoopCall.tick(now: now, lateness: lateness, previousExecution: previousExecution,
                                    journalGrant: journal.map { JournalGrant(cells: $0.granted.0, heparin: $0.granted.1) })
        tap?.loopWillRun(call)
        runTick(now: now, lateness: lateness, previousExecution: previousExecution)
        tap?.loopDidRun(call, telemetry: lastTelemetry, result: nil)
    }

    @inline(__always)
    private func runTick(now: Instant, lateness: Duration, previousExecution: Duration) {
        tickCount &+= 1
        let ring = events

        // Read.
        hardware.service(now: now)
        sensors.read(into: &frame, now: now)

        // Console commands, validated by the core before this tick's decision.
        if link != nil { applyLinkCommands(now: now) }

        // Decide.
        var input = RigTickInput(now: now, frame: frame)
        input.lateness = lateness
        input.previousExecution = previousExecution
        input.heldPumpSpeed = PumpSpeed(rpm: outputs.value(of: .pumpSpeed) ?? 0)
        input.heldPumpEnabled = (outputs.value(of: .pumpEnable) ?? 0) != 0
        input.configMismatches = sensors.configMismatchCount
        if let g = journal?.granted { input.journalGrant = JournalGrant(cells: g.0, heparin: g.1) }
        input.outputFaults = outputFaults
        input.stepsIssued = lastTickIssued
        input.coprocessor = coprocessor?.poll(now: now)
        let out = core.step(input) { ring.push($0) }

        // Write.
        followLifecycle()
        switch out.process {
        case .none:
            // Not running: the core commands nothing, on purpose (no output fault when these age out).
            outputs.relinquish(.pumpSpeed)
            outputs.relinquish(.pumpEnable)
            outputs.relinquish(.clamp)
        case .safe: if !outputs.forcedSafe { outputs.forceSafe() }
        case .command(let c): outputs.command(c, now: now)
        }
        outputs.annunciate(out.signals, now: now)
        let hasPlan = core.hasInfusionPlan
        if hasPlan { commandSyringes(out.syringes, now: now) }
        outputs.enforce(now: now)
        coprocessor?.send(now: now, pumpCommanded: (outputs.value(of: .pumpEnable) ?? 0) != 0, lifecycle: core.state,
                          rearm: out.requestRearm)
        if hasPlan {
            pulseSyringes(out.syringes)
            journal?.offer(core.infusion.journalSnapshot)   // optional chaining borrows too
        }

        // Check: what the outputs did (events now, alarms through the core next tick).
        let report = outputs.report(now: now, into: ring)
        outputFaults = OutputFaultInput(process: report.processFault, auxiliary: report.auxiliaryFault)

        // A healthy tick kicks the watchdog (`LoopHealth`); a hung loop never gets here.
        let h = LoopHealth.judge(previousExecution: previousExecution, budget: kickBudget, now: now,
                                 previousTick: previousTickAt, outputs: report)
        previousTickAt = now
        if h != health {
            health = h
            ring.push(RigEvent(.watchdogWithheld(reasons: h.rawValue), at: now))
        }
        if !h.isEmpty { withheldKicks &+= 1 }
        if watchdog != nil && h.isEmpty {
            // Optional chaining calls through the field in place (a binding would copy the
            // reference around the throwing call: a retain).
            do throws(HALError) {
                try watchdog?.kick()
                watchdogKicks &+= 1
            } catch {
                ring.push(RigEvent(.fault(.watchdog), at: now))
            }
        }
        record(out, now: now, lateness: lateness, previousExecution: previousExecution)
    }

    private func record(_ out: RigTickOutput, now: Instant, lateness: Duration, previousExecution: Duration) {
        let f = core.frame
        var t = TelemetryFrame()
        t.tick = tickCount
        t.time = now
        t.state = core.state
        t.phase = core.phase
        t.faultReason = core.faultReason
        t.drainPressure = f.drainPressure.value
        t.preOxygenatorPressure = f.preOxygenatorPressure.value
        t.postOxygenatorPressure = f.postOxygenatorPressure.value
        t.flow = f.flow.value
        t.measuredSpeed = f.pumpSpeed.value
        t.commandedSpeed = PumpSpeed(rpm: outputs.value(of: .pumpSpeed) ?? 0)
        t.pumpEnabled = (outputs.value(of: .pumpEnable) ?? 0) != 0
        t.clampClosed = (outputs.value(of: .clamp) ?? 1) != 0
        t.invalidMask = RigCore.invalidMask(f)
        t.sensorErrors = f.drainPressure.errorCount &+ f.preOxygenatorPressure.errorCount
            &+ f.postOxygenatorPressure.errorCount &+ f.flow.errorCount &+ f.pumpSpeed.errorCount
        t.overruns = core.overruns
        t.highestAlarm = core.safety.alarms.highestActivePriority?.rawValue ?? 0
        t.activeAlarms = UInt8(clamping: core.safety.alarms.activeCount)
        t.speedCeiling = out.speedCeiling ?? .zero
        t.cellsDelivered = Volume(milliliters: Double(core.infusion.cells.delivered) * cellVolumePerStep)
        t.heparinDelivered = Volume(milliliters: Double(core.infusion.heparin.delivered) * heparinVolumePerStep)
        t.infusionItem = Int16(clamping: core.infusion.itemIndex)
        t.cellsHalt = core.infusion.cells.halt.rawValue
        t.outflowClamp = out.syringes.clampClosed
        t.lateness = lateness
        // The runner measures a tick's execution after it returns: this frame carries the
        // previous tick's, which is what the overrun policy judged this tick by.
        t.executionTime = previousExecution
        lastTelemetry = t
        // Shedding: the run record is the first thing to go (one row in ten) while the loop is late.
        let every = recordEvery * (core.shedding ? 10 : 1)
        if tickCount % every == 0 {
            telemetry.push(t)
        }
        if let every = link?.every, tickCount % UInt64(every) == 0 {
            fillLinkFields(&t, now: now)
            link?.send(t)
        }
    }

    // MARK: Infusion outputs

    private func commandSyringes(_ c: InfusionOutput, now: Instant) {
        outputs.command(.syringeEnable, c.cellsEnabled ? 1 : 0, now: now)
        // Logical DIR asserted = withdraw (the board file's active_low flips the wire).
        if c.cellSteps != 0 { outputs.command(.syringeDirection, c.cellSteps < 0 ? 1 : 0, now: now) }
        outputs.command(.heparinEnable, c.heparinEnabled ? 1 : 0, now: now)
        if c.heparinSteps != 0 { outputs.command(.heparinDirection, c.heparinSteps < 0 ? 1 : 0, now: now) }
    }

    private func pulseSyringes(_ c: InfusionOutput) {
        lastTickIssued = IssuedSteps(cells: 0, heparin: 0)
        if c.cellSteps != 0 {
            let n = outputs.pulse(.syringeStep, count: Int(c.cellSteps.magnitude), requiring: .syringeEnable)
            stepsIssued.cells &+= Int64(n)
            lastTickIssued.cells = Int64(n)
        }
        if c.heparinSteps != 0 {
            let n = outputs.pulse(.heparinStep, count: Int(c.heparinSteps.magnitude), requiring: .heparinEnable)
            stepsIssued.heparin &+= Int64(n)
            lastTickIssued.heparin = Int64(n)
        }
    }
}

/// Run settings the core refuses (a set-point out of range, a limit beyond its hard bounds).
public struct RunSettingsError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Why a loop could not be built: its settings, or its hardware. Typed, because Embedded
/// Swift (the Pi image) has only typed throws; `error` gives the hosted callers the cause.
public enum RigLoopOpenError: Error, CustomStringConvertible {
    case settings(RunSettingsError)
    case hardware(HardwareOpenError)
    public var description: String {
        switch self {
        case .settings(let e): e.description
        case .hardware(let e): e.description
        }
    }
}
