import ECMOCore
import ECMOHAL

/// The pump's speed command through a hardware PWM channel. Writes only on change (a
/// sysfs write is a system call), and can read back what the channel holds.
public final class PumpSpeedOutput<PWM: PWMOutput> {
    public let pwm: PWM
    public let calibration: PumpSpeedCalibration
    public private(set) var lastDuty: Double = .nan

    public init(pwm: PWM, calibration: PumpSpeedCalibration, period: Duration) throws(HALError) {
        self.pwm = pwm
        self.calibration = calibration
        let ns = period.nanoseconds
        guard ns > 0 else { throw .invalidArgument(what: "pump PWM period") }
        try pwm.setPeriod(nanoseconds: UInt64(ns))
    }

    /// Commands `speed` (0 rpm gives the zero-speed duty; the enable line stops the motor).
    public func set(_ speed: PumpSpeed) throws(HALError) {
        let duty = calibration.duty(for: speed)
        if duty != lastDuty {
            try pwm.setDutyCycle(duty)
            if lastDuty.isNaN { try pwm.setEnabled(true) }
            lastDuty = duty
        }
    }

    /// The speed the hardware is commanded to right now (register read-back).
    public func readBack() throws(HALError) -> PumpSpeed {
        let (duty, enabled) = try pwm.readBack()
        return enabled ? calibration.speed(forDuty: duty) : .zero
    }
}
