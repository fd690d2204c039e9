/// What a signal means on the circuit. The application names roles, never pins or
/// addresses: the board file maps each role to hardware (Zephyr's `led0`, not `GPIO17`).
public enum SensorRole: String, CaseIterable, Sendable, BitwiseCopyable {
    case drainPressure = "P_drain"
    case preOxygenatorPressure = "P_pre"
    case postOxygenatorPressure = "P_post"
    case flow = "flow"
    case pumpTachometer = "pump_tach"
    case syringeForce = "syringe_force"
    case temperature = "temperature"
}

/// Digital inputs the firmware watches.
public enum InputRole: String, CaseIterable, Sendable, BitwiseCopyable {
    case pumpTachometer = "pump_tach"
    case airDetector = "air_detector"
    case emergencyStop = "estop"
    case syringeEndEmpty = "syringe_end_empty"
    case syringeEndFull = "syringe_end_full"
    case heparinEndEmpty = "heparin_end_empty"
}

/// Actuators: everything the firmware can drive. Each has a safe value and a maximum
/// command age in the board file, enforced by the output guard below the controller.
public enum ActuatorRole: String, CaseIterable, Sendable, BitwiseCopyable {
    case pumpSpeed = "pump_speed"
    case pumpEnable = "pump_enable"
    case syringeStep = "syringe_step"
    case syringeDirection = "syringe_dir"
    case syringeEnable = "syringe_enable"
    case clamp = "clamp"
    case buzzer = "buzzer"
    case ledRed = "led_red"
    case ledYellow = "led_yellow"
    case ledGreen = "led_green"
    case heparinStep = "heparin_step"
    case heparinDirection = "heparin_dir"
    case heparinEnable = "heparin_enable"

    /// Dense index for fixed-size tables in the hot loop (no dictionaries there).
    public var index: Int {
        switch self {
        case .pumpSpeed: 0
        case .pumpEnable: 1
        case .syringeStep: 2
        case .syringeDirection: 3
        case .syringeEnable: 4
        case .clamp: 5
        case .buzzer: 6
        case .ledRed: 7
        case .ledYellow: 8
        case .ledGreen: 9
        case .heparinStep: 10
        case .heparinDirection: 11
        case .heparinEnable: 12
        }
    }
    public static let count = 13
}

// Codable is for the records and files the hosted build writes; Embedded Swift has no Codable.
#if !hasFeature(Embedded)
extension SensorRole: Codable {}
extension InputRole: Codable {}
extension ActuatorRole: Codable {}
#endif
