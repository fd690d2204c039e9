/// The hardware lifecycle of ros2_control: the rig may only command actuators when
/// `active`; `inactive` reads sensors so the operator can check them before starting;
/// `fault` holds every output at its safe value until the cause is cleared.
public enum LifecycleState: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case unconfigured = 0
    case inactive = 1
    case active = 2
    case fault = 3

    public var description: String {
        switch self {
        case .unconfigured: "unconfigured"
        case .inactive: "inactive"
        case .active: "active"
        case .fault: "fault"
        }
    }
    /// Whether actuator commands other than safe values may leave the controller.
    public var commandsAllowed: Bool { self == .active }
    /// Whether sensors are read in this state.
    public var readsSensors: Bool { self != .unconfigured }
}

/// Why the rig entered `fault`. A small closed set so it fits in a telemetry frame.
public enum FaultReason: UInt8, Sendable, BitwiseCopyable, CustomStringConvertible {
    case none = 0
    case emergencyStop = 1
    case airInLine = 2
    case sensorInvalid = 3
    case hardwareError = 4
    case loopOverrun = 5
    case watchdog = 6
    case operatorRequest = 7
    /// The pump did not reach its minimum speed within the spin-up time-out (a dead
    /// tachometer, a stalled or disconnected motor): it must not turn against the closed
    /// clamp indefinitely.
    case spinUpTimeout = 8
    /// The safety co-processor withdrew the pump permit: the pump has stopped, so the rig
    /// closes the return clamp (a stopped centrifugal pump lets blood run backwards).
    case protectiveTrip = 9

    public var description: String {
        switch self {
        case .none: "none"
        case .emergencyStop: "emergency stop"
        case .airInLine: "air in line"
        case .sensorInvalid: "sensor invalid"
        case .hardwareError: "hardware error"
        case .loopOverrun: "loop overrun"
        case .watchdog: "watchdog"
        case .operatorRequest: "operator request"
        case .spinUpTimeout: "spin-up timeout"
        case .protectiveTrip: "protective trip"
        }
    }
}

public enum LifecycleEvent: Sendable, Equatable {
    case configure
    case activate
    case deactivate
    case fault(FaultReason)
    /// Operator clears a fault after its cause is gone; the rig returns to `inactive`,
    /// never straight to `active` (a restart is an explicit second step).
    case clearFault
    case shutdown
}

/// A refused transition, with the state it was refused in.
public struct LifecycleTransitionError: Error, Equatable, CustomStringConvertible {
    public let state: LifecycleState
    public let event: LifecycleEvent
    public init(state: LifecycleState, event: LifecycleEvent) {
        self.state = state
        self.event = event
    }
    public var description: String { "lifecycle: cannot \(event) while \(state)" }
}

/// The lifecycle state machine. Pure: the caller records transitions.
public struct Lifecycle: Sendable {
    public private(set) var state: LifecycleState = .unconfigured
    public private(set) var faultReason: FaultReason = .none

    public init() {}

    /// Applies `event`; returns the previous state, or throws if the transition is not allowed.
    @discardableResult
    public mutating func handle(_ event: LifecycleEvent) throws(LifecycleTransitionError) -> LifecycleState {
        let previous = state
        switch (state, event) {
        case (.unconfigured, .configure):
            state = .inactive
        case (.inactive, .activate):
            state = .active
        case (.active, .deactivate):
            state = .inactive
        case (.inactive, .fault(let r)), (.active, .fault(let r)):
            state = .fault
            faultReason = r
        case (.fault, .fault):
            break // already safe; keep the first cause
        case (.fault, .clearFault):
            state = .inactive
            faultReason = .none
        case (_, .shutdown):
            state = .unconfigured
        default:
            throw LifecycleTransitionError(state: state, event: event)
        }
        return previous
    }
}

// Codable is for the records and files the hosted build writes; Embedded Swift has no Codable.
#if !hasFeature(Embedded)
extension LifecycleState: Codable {}
extension FaultReason: Codable {}
#endif
