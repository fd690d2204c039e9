/// The linear speed ↔ duty map of a BLDC controller's PWM speed input:
/// duty = dutyAtZero + (rpm / rpmAtMaxDuty) · (dutyAtMax − dutyAtZero).
/// Controllers keep a dead band below `dutyAtZero` so that a broken wire (0 % duty) stops the motor.
public struct PumpSpeedCalibration: Sendable, Equatable {
    public var dutyAtZero: Double
    public var dutyAtMax: Double
    public var rpmAtMaxDuty: PumpSpeed
    public init(dutyAtZero: Double, dutyAtMax: Double, rpmAtMaxDuty: PumpSpeed) {
        self.dutyAtZero = dutyAtZero
        self.dutyAtMax = dutyAtMax
        self.rpmAtMaxDuty = rpmAtMaxDuty
    }
    public func duty(for speed: PumpSpeed) -> Double {
        let f = max(0, min(1, speed.rpm / rpmAtMaxDuty.rpm))
        return dutyAtZero + f * (dutyAtMax - dutyAtZero)
    }
    public func speed(forDuty duty: Double) -> PumpSpeed {
        let f = (duty - dutyAtZero) / (dutyAtMax - dutyAtZero)
        return PumpSpeed(rpm: max(0, min(1, f)) * rpmAtMaxDuty.rpm)
    }
}
