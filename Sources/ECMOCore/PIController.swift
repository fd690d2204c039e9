/// A discrete PI controller with output limits, conditional-integration anti-windup and
/// an output slew limit. Works in plain `Double`s so the same law serves any quantity;
/// the typed wrapper (`PumpSpeedController`) keeps units at the boundary.
///
/// Anti-windup: the integrator only moves when the output is not pinned at a limit in the
/// direction the error pushes (neither the range limit nor the slew limit), and it is
/// clamped to the output range. After a long saturation the output leaves the limit as
/// soon as the error changes sign, without the overshoot a wound-up integrator gives.
public struct PIController: Sendable {
    public struct Gains: Sendable, Equatable {
        /// Output units per error unit.
        public var proportional: Double
        /// Output units per (error unit · second).
        public var integral: Double
        public init(proportional: Double, integral: Double) {
            self.proportional = proportional
            self.integral = integral
        }
    }

    public var gains: Gains
    public var outputRange: ClosedRange<Double>
    /// Largest change of output per second (both directions); `nil` for none.
    public var maxSlewPerSecond: Double?

    public private(set) var integrator: Double
    public private(set) var lastOutput: Double

    public init(gains: Gains, outputRange: ClosedRange<Double>, maxSlewPerSecond: Double?, initialOutput: Double) {
        self.gains = gains
        self.outputRange = outputRange
        self.maxSlewPerSecond = maxSlewPerSecond
        let start = min(max(initialOutput, outputRange.lowerBound), outputRange.upperBound)
        integrator = start
        lastOutput = start
    }

    /// Restarts from `output` without a bump (used on mode changes and activation).
    public mutating func reset(to output: Double) {
        let start = min(max(output, outputRange.lowerBound), outputRange.upperBound)
        integrator = start
        lastOutput = start
    }

    /// One step: `error = setpoint − measurement`, `dt` the time since the last step.
    public mutating func update(error: Double, dt: Double) -> Double {
        guard dt > 0, error.isFinite else { return lastOutput }
        let p = gains.proportional * error
        let candidateIntegrator = integrator + gains.integral * error * dt
        let unclamped = candidateIntegrator + p
        var output = min(max(unclamped, outputRange.lowerBound), outputRange.upperBound)
        if let slew = maxSlewPerSecond {
            let step = slew * dt
            output = min(max(output, lastOutput - step), lastOutput + step)
        }
        // Integrate only if that does not push further into a limit.
        let limitedHigh = output < unclamped && error > 0
        let limitedLow = output > unclamped && error < 0
        if !(limitedHigh || limitedLow) {
            integrator = min(max(candidateIntegrator, outputRange.lowerBound), outputRange.upperBound)
        }
        lastOutput = output
        return output
    }
}
