/// A hardware PWM channel (Linux `/sys/class/pwm`, or the mock).
public protocol PWMOutput: AnyObject {
    /// Sets the period; the duty cycle keeps its fraction.
    func setPeriod(nanoseconds: UInt64) throws(HALError)
    /// Duty cycle as a fraction of the period, 0...1.
    func setDutyCycle(_ fraction: Double) throws(HALError)
    func setEnabled(_ enabled: Bool) throws(HALError)
    /// Read back what the hardware holds (duty fraction, enabled).
    func readBack() throws(HALError) -> (dutyCycle: Double, enabled: Bool)
}
