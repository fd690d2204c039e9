import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODrivers

/// Klipper's output guard, below the controller: every actuator has a safe value and a
/// maximum command age from the board file. An output the controller stops commanding
/// falls back to its safe value by itself; boot and shutdown put every output safe.
/// Whatever the controller does, nothing reaches the hardware except through here.
///
/// Values are `Double`s on the wire of this type only (rpm for the pump, 0/1 for lines);
/// the typed commands come from the controller. The per-channel state is plain values,
/// kept apart from the sinks, so the per-tick walk copies nothing that needs retaining.
public final class OutputGuard<Hardware: HardwareProvider> {
    public struct Channel: Sendable {
        public let role: ActuatorRole
        /// False where the board has no such actuator (the slot is unused).
        public let present: Bool
        public let safeValue: Double
        public let maxCommandAge: Duration
        public fileprivate(set) var commanded: Double
        public fileprivate(set) var lastCommandAt: Instant?
        /// What was last written successfully (NaN: nothing yet, or the last write failed).
        public fileprivate(set) var written: Double = .nan
        public fileprivate(set) var writeErrors: UInt32 = 0
        public fileprivate(set) var lastError: HALError?
        /// Outputs that went safe because their command aged out.
        public fileprivate(set) var expiries: UInt32 = 0
        fileprivate var expired = true
        public let isAnnunciator: Bool

        init(role: ActuatorRole, present: Bool, safeValue: Double, maxCommandAge: Duration) {
            self.role = role
            self.present = present
            self.safeValue = safeValue
            self.maxCommandAge = maxCommandAge
            commanded = safeValue
            isAnnunciator = OutputGuard.isAnnunciator(role)
        }
    }

    /// Indexed by `ActuatorRole.index`; `present` is false where the board has no such actuator.
    public private(set) var channels: [Channel]
    /// The digital lines by `ActuatorRole.index` (nil: not a line, or not on this board).
    private var lines: [Hardware.Output?]
    /// The pump's speed channel (PWM), the one analog actuator.
    private var pump: PumpSpeedOutput<Hardware.PWM>?
    /// Set while a safe state is forced (fault, E-stop, shutdown): commands are ignored.
    public private(set) var forcedSafe = false
    public private(set) var totalWriteErrors: UInt64 = 0

    public init() {
        channels = ActuatorRole.allCases.sorted { $0.index < $1.index }
            .map { Channel(role: $0, present: false, safeValue: 0, maxCommandAge: .zero) }
        lines = Array(repeating: nil, count: ActuatorRole.count)
    }

    /// The guard for a board: every digital output and the pump speed channel, each
    /// written to its safe value as it is added (outputs first, before anything else runs).
    public convenience init(board: BoardConfiguration, hardware: Hardware) throws {
        self.init()
        for role in ActuatorRole.allCases {
            guard let c = board.outputs[role] else { continue }
            add(role, line: try hardware.outputLine(c), safeValue: c.safeValue ? 1 : 0, maxCommandAge: c.maxCommandAge)
        }
        let pwm = try hardware.pwmChannel(chip: board.pump.pwmChip, channel: board.pump.channel)
        let speed: PumpSpeedOutput<Hardware.PWM>
        do throws(HALError) {
            speed = try PumpSpeedOutput(pwm: pwm, calibration: board.pump.calibration, period: board.pump.period)
        } catch {
            throw HardwareOpenError(what: "pump PWM \(board.pump.pwmChip)/\(board.pump.channel)", cause: error)
        }
        addPump(speed, safeValue: board.pump.safeSpeed.rpm, maxCommandAge: board.pump.maxCommandAge)
    }

    /// Adds a digital actuator and writes its safe value at once (boot default).
    public func add(_ role: ActuatorRole, line: Hardware.Output, safeValue: Double, maxCommandAge: Duration) {
        channels[role.index] = Channel(role: role, present: true, safeValue: safeValue, maxCommandAge: maxCommandAge)
        lines[role.index] = line
        write(role.index, safeValue)
    }

    /// Adds the pump's speed output and writes its safe speed at once.
    public func addPump(_ output: PumpSpeedOutput<Hardware.PWM>, safeValue: Double, maxCommandAge: Duration) {
        let i = ActuatorRole.pumpSpeed.index
        channels[i] = Channel(role: .pumpSpeed, present: true, safeValue: safeValue, maxCommandAge: maxCommandAge)
        pump = output
        write(i, safeValue)
    }

    /// Records a command for `role`; written at the next `enforce`.
    @inline(__always)
    public func command(_ role: ActuatorRole, _ value: Double, now: Instant) {
        let i = role.index
        guard channels[i].present, !forcedSafe || channels[i].isAnnunciator else { return }
        channels[i].commanded = value
        channels[i].lastCommandAt = now
    }

    public func command(_ commands: ActuatorCommands, now: Instant) {
        command(.pumpSpeed, commands.pumpSpeed.rpm, now: now)
        command(.pumpEnable, commands.pumpEnabled ? 1 : 0, now: now)
        command(.clamp, commands.clampClosed ? 1 : 0, now: now)
    }

    /// Alarm annunciators (buzzer, lamps) keep working in a forced safe state: a fault is
    /// exactly when the alarm must sound. They still age out if the loop stops commanding.
    public static func isAnnunciator(_ role: ActuatorRole) -> Bool {
        role == .buzzer || role == .ledRed || role == .ledYellow || role == .ledGreen
    }

    public func annunciate(_ s: AlarmSignals, now: Instant) {
        command(.buzzer, s.buzzer ? 1 : 0, now: now)
        command(.ledRed, s.red ? 1 : 0, now: now)
        command(.ledYellow, s.yellow ? 1 : 0, now: now)
        command(.ledGreen, s.green ? 1 : 0, now: now)
    }

    /// Puts every output to its safe value now, and ignores commands until `release`.
    /// Annunciators keep sounding unless `includingAnnunciators` (shutdown).
    public func forceSafe(includingAnnunciators: Bool = false) {
        forcedSafe = true
        for i in channels.indices where channels[i].present && (includingAnnunciators || !channels[i].isAnnunciator) {
            channels[i].lastCommandAt = nil
            write(i, channels[i].safeValue)
        }
    }

    /// Accepts commands again (after the operator cleared the cause).
    public func release() { forcedSafe = false }

    /// Writes what each output should hold at `now`: its command while fresh, else its
    /// safe value. Writes only what changed (each write may be a system call).
    public func enforce(now: Instant) {
        for i in 0..<channels.count where channels[i].present {
            let exempt = !forcedSafe || channels[i].isAnnunciator
            let fresh = exempt && channels[i].lastCommandAt.map { now - $0 <= channels[i].maxCommandAge } ?? false
            if !fresh && !channels[i].expired && channels[i].lastCommandAt != nil { channels[i].expiries &+= 1 }
            channels[i].expired = !fresh
            let target = fresh ? channels[i].commanded : channels[i].safeValue
            if target != channels[i].written { write(i, target) }
        }
    }

    /// Issues `count` step pulses on a digital output (high then low each), now, unless a
    /// safe state is forced or `enable` is not asserted. Returns the pulses issued. The
    /// line ends low, its safe value. Each edge is a write (a syscall on Linux).
    @discardableResult
    public func pulse(_ role: ActuatorRole, count: Int, requiring enable: ActuatorRole) -> Int {
        let i = role.index
        guard count > 0, channels[i].present, !forcedSafe, channels[enable.index].written == 1, let line = lines[i] else { return 0 }
        var issued = 0
        while issued < count {
            do {
                try line.set(true)
                try line.set(false)
            } catch {
                channels[i].writeErrors &+= 1
                channels[i].lastError = error
                totalWriteErrors &+= 1
                break
            }
            issued += 1
        }
        channels[i].written = 0
        return issued
    }

    /// The value an output holds now (what was last written); nil if the board has none.
    public func value(of role: ActuatorRole) -> Double? {
        channels[role.index].present ? channels[role.index].written : nil
    }

    private func write(_ i: Int, _ value: Double) {
        do throws(HALError) {
            if i == ActuatorRole.pumpSpeed.index {
                guard let pump else { return }
                try pump.set(PumpSpeed(rpm: value))
            } else {
                guard let line = lines[i] else { return }
                try line.set(value != 0)
            }
            channels[i].written = value
        } catch {
            channels[i].written = .nan
            channels[i].writeErrors &+= 1
            channels[i].lastError = error
            totalWriteErrors &+= 1
        }
    }
}
