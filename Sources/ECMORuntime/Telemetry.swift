import ECMOCore

/// One row of the run record, copied out of the loop through an `SPSCRing`. Plain
/// values only, so a push is a memcpy.
public struct TelemetryFrame: Sendable, BitwiseCopyable {
    public var tick: UInt64
    public var time: Instant
    public var state: LifecycleState
    public var phase: RunPhase
    public var faultReason: FaultReason
    public var drainPressure: Pressure
    public var preOxygenatorPressure: Pressure
    public var postOxygenatorPressure: Pressure
    public var flow: Flow
    public var measuredSpeed: PumpSpeed
    public var commandedSpeed: PumpSpeed
    public var pumpEnabled: Bool
    public var clampClosed: Bool
    /// Bit i set: sample i (P_drain, P_pre, P_post, flow, speed) was not valid this tick.
    public var invalidMask: UInt8
    public var sensorErrors: UInt32
    public var overruns: UInt32
    /// How late the tick started relative to its deadline, and how long it ran.
    public var lateness: Duration
    public var executionTime: Duration
    /// Highest active alarm priority (0 none, 1 low, 2 medium, 3 high) and how many are active.
    public var highestAlarm: UInt8
    public var activeAlarms: UInt8
    /// Interlock speed limit in force (0: none).
    public var speedCeiling: PumpSpeed
    /// Volume the infusion engine has issued per channel (forward dose steps × µL/step).
    public var cellsDelivered: Volume
    public var heparinDelivered: Volume
    /// Cell-timeline item (protocol phase) and the cell channel's halt reason (0: none).
    public var infusionItem: Int16
    public var cellsHalt: UInt8
    public var outflowClamp: Bool
    // Filled only in frames for the console link (`RigLink.telemetry`); zero elsewhere.
    /// Set-point in force: flow (L/min) when `setpointIsFlow`, else speed (rpm).
    public var setpointIsFlow: Bool
    public var setpointValue: Double
    /// Bit `AlarmID.index`: active; active with its condition gone (latched, unacknowledged);
    /// active and acknowledged. Priorities: two bits per alarm (1 low … 3 high).
    public var alarmActiveMask: UInt32
    public var alarmLatchedMask: UInt32
    public var alarmAcknowledgedMask: UInt32
    public var alarmPriorities: UInt64
    public var audioPauseRemaining: Duration
    /// Oxygenator resistance (filtered) and its baseline, mmHg/(L/min); NaN until known.
    public var oxygenatorResistance: Double
    public var oxygenatorBaseline: Double
    public var heparinHalt: UInt8
    /// Bit 0 protocol loaded, 1 started, 2 completed, 3 heparin channel present.
    public var protocolFlags: UInt8

    public init() {
        tick = 0
        time = .origin
        state = .unconfigured
        phase = .idle
        faultReason = .none
        drainPressure = .zero
        preOxygenatorPressure = .zero
        postOxygenatorPressure = .zero
        flow = .zero
        measuredSpeed = .zero
        commandedSpeed = .zero
        pumpEnabled = false
        clampClosed = true
        invalidMask = 0
        sensorErrors = 0
        overruns = 0
        lateness = .zero
        executionTime = .zero
        highestAlarm = 0
        activeAlarms = 0
        speedCeiling = .zero
        cellsDelivered = .zero
        heparinDelivered = .zero
        infusionItem = -1
        cellsHalt = 0
        outflowClamp = false
        setpointIsFlow = false
        setpointValue = 0
        alarmActiveMask = 0
        alarmLatchedMask = 0
        alarmAcknowledgedMask = 0
        alarmPriorities = 0
        audioPauseRemaining = .zero
        oxygenatorResistance = .nan
        oxygenatorBaseline = .nan
        heparinHalt = 0
        protocolFlags = 0
    }

    public var oxygenatorPressureDrop: Pressure { preOxygenatorPressure - postOxygenatorPressure }
}
