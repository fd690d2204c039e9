/// What the operator asks the pump for. Centrifugal consoles offer both: a speed the
/// pump holds whatever the circuit does (the Millar protocol: fouling shows as falling
/// flow), or a flow the controller holds by changing speed.
public enum PumpMode: Sendable, Equatable, BitwiseCopyable {
    case constantSpeed(PumpSpeed)
    case constantFlow(Flow)
}

/// Limits of the pump channel, from the board file.
public struct PumpLimits: Sendable, Equatable {
    /// Lowest speed the pump may run at while enabled (below it a centrifugal pump
    /// recirculates and haemolyses, and a stopped pump lets flow run backwards).
    public var minimumSpeed: PumpSpeed
    public var maximumSpeed: PumpSpeed
    /// Largest change of the speed command per second.
    public var maximumRampPerSecond: PumpSpeed

    public init(minimumSpeed: PumpSpeed, maximumSpeed: PumpSpeed, maximumRampPerSecond: PumpSpeed) {
        self.minimumSpeed = minimumSpeed
        self.maximumSpeed = maximumSpeed
        self.maximumRampPerSecond = maximumRampPerSecond
    }
}

/// Pump speed control: constant speed, or constant flow by PI on measured flow, with the
/// speed bounds and ramp rate of the board. A speed set-point is also ramp limited, so a
/// step from the operator never becomes a step on the pump.
public struct PumpSpeedController: Sendable {
    public private(set) var mode: PumpMode
    public let limits: PumpLimits
    private var pi: PIController

    /// Default gains: 1 L/min of error moves speed by 150 rpm at once and by 300 rpm
    /// per second through the integrator. Tuned on the simulated circuit, whose flow
    /// gain near 3000 rpm is about 1.5 L/min per 1000 rpm and settles in well under a second.
    public static let defaultGains = PIController.Gains(proportional: 150, integral: 300)

    public init(mode: PumpMode, limits: PumpLimits, gains: PIController.Gains = defaultGains, initialSpeed: PumpSpeed) {
        self.mode = mode
        self.limits = limits
        pi = PIController(
            gains: gains,
            outputRange: limits.minimumSpeed.rpm...limits.maximumSpeed.rpm,
            maxSlewPerSecond: limits.maximumRampPerSecond.rpm,
            initialOutput: initialSpeed.rpm)
    }

    /// The last speed command.
    public var command: PumpSpeed { PumpSpeed(rpm: pi.lastOutput) }

    /// Changes mode without a bump: the controller continues from the present command.
    public mutating func setMode(_ newMode: PumpMode) {
        mode = newMode
        pi.reset(to: pi.lastOutput)
    }

    /// Restart from `speed` (e.g. on activation, from the speed the pump is at).
    public mutating func reset(to speed: PumpSpeed) { pi.reset(to: speed.rpm) }

    /// One control step. `measuredFlow` is `nil` when the flow sample is not valid: the
    /// controller then holds its last command (never controls on stale data).
    public mutating func update(measuredFlow: Flow?, dt: Duration) -> PumpSpeed {
        let seconds = dt.seconds
        switch mode {
        case .constantSpeed(let target):
            let t = target.clamped(to: limits.minimumSpeed...limits.maximumSpeed).rpm
            let step = limits.maximumRampPerSecond.rpm * seconds
            let next = min(max(t, pi.lastOutput - step), pi.lastOutput + step)
            pi.reset(to: next)
            return PumpSpeed(rpm: next)
        case .constantFlow(let target):
            guard let q = measuredFlow else { return command }
            return PumpSpeed(rpm: pi.update(error: (target - q).litersPerMinute, dt: seconds))
        }
    }
}
