/// The actuator values the controller wants this tick. Plain values: copied, never allocated.
public struct ActuatorCommands: Sendable, BitwiseCopyable, Equatable {
    public var pumpSpeed: PumpSpeed
    public var pumpEnabled: Bool
    /// `true` closes (clamps) the return line.
    public var clampClosed: Bool

    /// The buzzer and lamps are not here: they belong to the alarm system, which keeps
    /// sounding in a fault when every process actuator is held safe.
    public init(pumpSpeed: PumpSpeed, pumpEnabled: Bool, clampClosed: Bool) {
        self.pumpSpeed = pumpSpeed
        self.pumpEnabled = pumpEnabled
        self.clampClosed = clampClosed
    }
}

/// What leaves the controller each tick.
public enum ControlOutput: Sendable, BitwiseCopyable, Equatable {
    /// No commands (not active): the output guard keeps outputs at their safe values.
    case none
    /// Put every actuator to its safe value now (fault, E-stop, shutdown).
    case safe
    case command(ActuatorCommands)
}

/// Where the start-up sequence is. A centrifugal pump is started against a closed
/// return clamp, brought to its minimum speed (so flow cannot run backwards through it),
/// and only then unclamped; regulation starts after that.
public enum RunPhase: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case idle = 0
    case spinUp = 1
    case regulating = 2

    public var description: String {
        switch self {
        case .idle: "idle"
        case .spinUp: "spin-up"
        case .regulating: "regulating"
        }
    }
}

/// Settings of the rig controller that come from the board and the operator.
public struct RigControllerConfiguration: Sendable, Equatable {
    public var pump: PumpLimits
    public var mode: PumpMode
    public var gains: PIController.Gains
    /// Maximum age of a sample the controller will act on.
    public var maximumSampleAge: Duration
    /// Spin-up is complete when the measured speed is within this fraction of the minimum speed.
    public var spinUpTolerance: Double
    /// How long spin-up may take beyond the ramp to the minimum speed before the rig gives up
    /// (fault `spinUpTimeout`: every output safe, TACH_LOST raised).
    public var spinUpGrace: Duration

    public init(pump: PumpLimits, mode: PumpMode, gains: PIController.Gains = PumpSpeedController.defaultGains,
                maximumSampleAge: Duration = .milliseconds(50), spinUpTolerance: Double = 0.1,
                spinUpGrace: Duration = .seconds(5)) {
        self.spinUpGrace = spinUpGrace
        self.pump = pump
        self.mode = mode
        self.gains = gains
        self.maximumSampleAge = maximumSampleAge
        self.spinUpTolerance = spinUpTolerance
    }
}

/// The rig's controller: lifecycle, start-up sequence and pump control in one pure value.
/// The runtime feeds it a `SensorFrame` and the time; it returns what the outputs should be.
/// The safety core (alarms, interlocks) sits beside it and can override; this type never
/// does I/O and never reads a clock.
public struct RigController: Sendable {
    public private(set) var lifecycle = Lifecycle()
    public private(set) var phase: RunPhase = .idle
    public private(set) var configuration: RigControllerConfiguration
    private var pump: PumpSpeedController
    private var spinUpCommand: PumpSpeed = .zero
    private var spinUpElapsed: Duration = .zero
    private var lastUpdate: Instant?

    public init(configuration: RigControllerConfiguration) {
        self.configuration = configuration
        pump = PumpSpeedController(mode: configuration.mode, limits: configuration.pump,
                                   gains: configuration.gains, initialSpeed: configuration.pump.minimumSpeed)
    }

    public var state: LifecycleState { lifecycle.state }
    public var mode: PumpMode { pump.mode }

    /// Applies a lifecycle event (from the operator, the runtime or the safety core).
    public mutating func handle(_ event: LifecycleEvent) throws(LifecycleTransitionError) {
        try lifecycle.handle(event)
        switch lifecycle.state {
        case .active:
            if case .activate = event {
                phase = .spinUp
                spinUpCommand = .zero
                spinUpElapsed = .zero
            }
        default:
            phase = .idle
        }
    }

    /// Changes the set-point or mode (bumpless).
    public mutating func setMode(_ mode: PumpMode) {
        configuration.mode = mode
        pump.setMode(mode)
    }

    /// One control step at `now` with this tick's sensor readings.
    /// `speedCeiling`: the safety layer's interlock limit (suction, over-pressure).
    /// `clampRequest`: the infusion engine's outflow clamp (honoured only while regulating;
    /// start-up keeps the clamp closed by itself).
    public mutating func update(_ frame: SensorFrame, now: Instant, speedCeiling: PumpSpeed? = nil,
                                clampRequest: Bool = false) -> ControlOutput {
        let dt = lastUpdate.map { now - $0 } ?? .zero
        lastUpdate = now
        switch lifecycle.state {
        case .unconfigured, .inactive:
            return .none
        case .fault:
            return .safe
        case .active:
            break
        }
        let limits = configuration.pump
        switch phase {
        case .idle:
            return .none
        case .spinUp:
            let step = limits.maximumRampPerSecond.rpm * dt.seconds
            spinUpCommand = PumpSpeed(rpm: min(spinUpCommand.rpm + step, limits.minimumSpeed.rpm))
            if let ceiling = speedCeiling, spinUpCommand > ceiling { spinUpCommand = ceiling }
            let measured = frame.pumpSpeed.value(at: now, maxAge: configuration.maximumSampleAge)
            let reached = spinUpCommand >= limits.minimumSpeed
                && measured.map { abs($0.rpm - limits.minimumSpeed.rpm) <= configuration.spinUpTolerance * limits.minimumSpeed.rpm } ?? false
            if reached {
                phase = .regulating
                pump.reset(to: limits.minimumSpeed)
            } else {
                // The ramp to the minimum speed, plus a grace for the motor and the
                // tachometer; beyond it the pump is not turning as commanded.
                spinUpElapsed += dt
                let ramp = limits.maximumRampPerSecond.rpm > 0 ? limits.minimumSpeed.rpm / limits.maximumRampPerSecond.rpm : 0
                if spinUpElapsed > .seconds(ramp) + configuration.spinUpGrace {
                    do { try handle(.fault(.spinUpTimeout)) } catch { return .safe }
                    return .safe
                }
            }
            return .command(ActuatorCommands(pumpSpeed: spinUpCommand, pumpEnabled: true, clampClosed: !reached))
        case .regulating:
            let flow = frame.flow.value(at: now, maxAge: configuration.maximumSampleAge)
            var speed = pump.update(measuredFlow: flow, dt: dt)
            if let ceiling = speedCeiling, speed > ceiling {
                pump.reset(to: ceiling)   // no wind-up against the interlock
                speed = ceiling
            }
            return .command(ActuatorCommands(pumpSpeed: speed, pumpEnabled: true, clampClosed: clampRequest))
        }
    }
}

// Codable is for the records and files the hosted build writes; Embedded Swift has no Codable.
#if !hasFeature(Embedded)
extension RunPhase: Codable {}
#endif
