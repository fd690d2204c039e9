import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODrivers

/// Klipper's output guard, below the controller: every actuator has a safe value and a
/// maximum command age from the board file. An output the controller stops commanding
/// falls back to its safe value by itself; boot and shutdown put every output safe.
/// Whatever the controller does, nothing reaches the hardware except through here.
///
/// It also checks what it wrote: a failed write, a command that aged out while the core
/// meant to command the output, and a read-back that differs from what was written (every
/// output that can be read back, each tick, debounced over `readBackDebounceTicks`) are
/// collected in an `OutputReport`, which the loop turns into events, alarms (through the
/// core) and the watchdog's health test.
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
        /// `maxCommandAge` in nanoseconds (negative: never fresh), so the per-tick age check
        /// is an integer compare, not `Duration` arithmetic on every channel every tick.
        let maxCommandAgeNanoseconds: Int64
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
        /// The last write failed (the output holds an unknown value until a write succeeds).
        public fileprivate(set) var failing = false
        /// Consecutive ticks whose read-back differed from `written` (or could not be read).
        public fileprivate(set) var mismatchTicks: UInt32 = 0
        /// Read-backs that found the output other than written, debounced (onsets).
        public fileprivate(set) var mismatches: UInt32 = 0
        /// The core said "no commands" (`relinquish`): the coming age-out is by design.
        fileprivate var relinquished = false

        init(role: ActuatorRole, present: Bool, safeValue: Double, maxCommandAge: Duration) {
            self.role = role
            self.present = present
            self.safeValue = safeValue
            self.maxCommandAge = maxCommandAge
            maxCommandAgeNanoseconds = maxCommandAge.nanoseconds
            commanded = safeValue
            isAnnunciator = OutputGuard.isAnnunciator(role)
        }
    }

    /// Indexed by `ActuatorRole.index`; `present` is false where the board has no such actuator.
    public private(set) var channels: [Channel]
    /// The digital lines by `ActuatorRole.index` (empty: not a line, or not on this board).
    private let lines: FixedSlots<Hardware.Output>
    /// The pump's speed channel (PWM), the one analog actuator.
    private let pump: PumpSpeedOutput<Hardware.PWM>?
    /// Set while a safe state is forced (fault, E-stop, shutdown): commands are ignored.
    public private(set) var forcedSafe = false
    public private(set) var totalWriteErrors: UInt64 = 0
    /// What went wrong since the last `report(now:into:)`.
    public private(set) var pending = OutputReport()

    /// Consecutive ticks a read-back must differ before it counts as a mismatch. Three
    /// ticks (3 ms at 1 kHz): the read-back follows its write in the same tick, so only an
    /// output that settles slower than the write call can differ once (an open-drain
    /// line's RC edge, a PWM controller that applies a new duty at the end of its running
    /// period, 50 µs at the pump's 20 kHz); two more ticks give a margin for a tick that
    /// lands on such an edge. A stuck line or a hung PWM differs for as long as it is stuck.
    /// Short against every physical time constant of the circuit (the clamp travels in 0.5 s).
    public static var readBackDebounceTicks: UInt32 { 3 }
    /// Duty-cycle read-back tolerance: sysfs holds the duty in whole nanoseconds.
    public static var dutyTolerance: Double { 1e-3 }

    /// One digital actuator: its line, the value it falls back to, its maximum command age.
    public struct Line {
        public var role: ActuatorRole
        public var line: Hardware.Output
        public var safeValue: Double
        public var maxCommandAge: Duration
        public init(_ role: ActuatorRole, line: Hardware.Output, safeValue: Double, maxCommandAge: Duration) {
            self.role = role
            self.line = line
            self.safeValue = safeValue
            self.maxCommandAge = maxCommandAge
        }
    }

    /// The guard over `lines` and the pump's speed output, each written to its safe value
    /// at once (boot default), lines in role order, then the pump.
    public init(lines: [Line], pump: (output: PumpSpeedOutput<Hardware.PWM>, safeValue: Double, maxCommandAge: Duration)?) {
        var channels = ActuatorRole.allCases.sorted { $0.index < $1.index }
            .map { Channel(role: $0, present: false, safeValue: 0, maxCommandAge: .zero) }
        var slots = [Hardware.Output?](repeating: nil, count: ActuatorRole.count)
        for l in lines where l.role != .pumpSpeed {
            channels[l.role.index] = Channel(role: l.role, present: true, safeValue: l.safeValue, maxCommandAge: l.maxCommandAge)
            slots[l.role.index] = l.line
        }
        if let p = pump {
            channels[ActuatorRole.pumpSpeed.index] = Channel(role: .pumpSpeed, present: true, safeValue: p.safeValue,
                                                             maxCommandAge: p.maxCommandAge)
        }
        self.channels = channels
        self.lines = FixedSlots(slots)
        self.pump = pump?.output
        for role in ActuatorRole.allCases.sorted(by: { $0.index < $1.index }) where role != .pumpSpeed && channels[role.index].present {
            write(role.index, channels[role.index].safeValue)
        }
        if pump != nil { write(ActuatorRole.pumpSpeed.index, channels[ActuatorRole.pumpSpeed.index].safeValue) }
    }

    /// The guard for a board: every digital output and the pump speed channel, each
    /// written to its safe value as it is opened (outputs first, before anything else runs).
    public convenience init(board: BoardConfiguration, hardware: Hardware) throws(HardwareOpenError) {
        var lines: [Line] = []
        for role in ActuatorRole.allCases {
            guard let c = board.outputs[role] else { continue }
            lines.append(Line(role, line: try hardware.outputLine(c), safeValue: c.safeValue ? 1 : 0, maxCommandAge: c.maxCommandAge))
        }
        let pwm = try hardware.pwmChannel(chip: board.pump.pwmChip, channel: board.pump.channel)
        let speed: PumpSpeedOutput<Hardware.PWM>
        do throws(HALError) {
            speed = try PumpSpeedOutput(pwm: pwm, calibration: board.pump.calibration, period: board.pump.period)
        } catch {
            throw HardwareOpenError(what: "pump PWM \(board.pump.pwmChip)/\(board.pump.channel)", cause: error)
        }
        self.init(lines: lines, pump: (speed, board.pump.safeSpeed.rpm, board.pump.maxCommandAge))
    }

    /// Records a command for `role`; written at the next `enforce`.
    @inline(__always)
    public func command(_ role: ActuatorRole, _ value: Double, now: Instant) {
        let i = role.index
        guard channels[i].present, !forcedSafe || channels[i].isAnnunciator else { return }
        channels[i].commanded = value
        channels[i].lastCommandAt = now
        channels[i].relinquished = false
    }

    /// The core commands nothing for `role` on purpose (the rig is not running): the
    /// output still falls back to its safe value after its command age, as always, but that
    /// is no fault and raises nothing.
    public func relinquish(_ role: ActuatorRole) {
        channels[role.index].relinquished = true
    }

    /// Direction lines are commanded only while their syringe steps: falling back between
    /// moves is their design, not a lost command.
    public static func agesOutByDesign(_ role: ActuatorRole) -> Bool {
        role == .syringeDirection || role == .heparinDirection
    }

    /// Step lines are pulsed, and end each pulse train low: there is no level to check.
    public static func isReadBack(_ role: ActuatorRole) -> Bool {
        role != .syringeStep && role != .heparinStep
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
    /// safe value. Writes only what changed (each write may be a system call). Then reads
    /// back every output that can be (see `verify`).
    public func enforce(now: Instant) {
        for i in 0..<channels.count where channels[i].present {
            let exempt = !forcedSafe || channels[i].isAnnunciator
            let fresh = exempt && channels[i].lastCommandAt.map { Self.age(now, since: $0) <= channels[i].maxCommandAgeNanoseconds } ?? false
            if !fresh && !channels[i].expired && channels[i].lastCommandAt != nil {
                channels[i].expiries &+= 1
                if !channels[i].relinquished && !Self.agesOutByDesign(channels[i].role) {
                    pending.expired |= OutputReport.bit(i)
                }
            }
            channels[i].expired = !fresh
            let target = fresh ? channels[i].commanded : channels[i].safeValue
            if target != channels[i].written { write(i, target) }
        }
        verify()
    }

    /// Signed nanoseconds from `then` to `now` (as `now - then`, without a `Duration`).
    @inline(__always)
    static func age(_ now: Instant, since then: Instant) -> Int64 {
        now >= then ? Int64(clamping: now.nanosecondsSinceOrigin - then.nanosecondsSinceOrigin)
                    : -Int64(clamping: then.nanosecondsSinceOrigin - now.nanosecondsSinceOrigin)
    }

    /// Reads back every present output that has a known written value and compares: a
    /// line's level, the pump PWM's duty and enable. A read that differs, or fails, for
    /// `readBackDebounceTicks` ticks in a row is a mismatch (one onset per episode).
    private func verify() {
        for i in 0..<channels.count where channels[i].present && Self.isReadBack(channels[i].role) {
            let w = channels[i].written
            guard !w.isNaN else { channels[i].mismatchTicks = 0; continue }
            var ok = false
            if i == ActuatorRole.pumpSpeed.index {
                guard pump != nil else { continue }
                do throws(HALError) {
                    if let back = try pump?.pwm.readBack(), let duty = pump?.lastDuty {
                        ok = back.enabled && abs(back.dutyCycle - duty) <= Self.dutyTolerance
                    }
                } catch { ok = false }
            } else {
                lines.with(i) { line in
                    do throws(HALError) { ok = try line.readBack() == (w != 0) } catch { ok = false }
                }
            }
            if ok {
                channels[i].mismatchTicks = 0
            } else {
                channels[i].mismatchTicks &+= 1
                if channels[i].mismatchTicks == Self.readBackDebounceTicks {
                    channels[i].mismatches &+= 1
                    pending.mismatch |= OutputReport.bit(i)
                }
            }
        }
    }

    /// Hands out what went wrong since the last call (and what stands now), pushing one
    /// event per onset: `outputWriteError`, `outputExpired`, `outputMismatch`.
    public func report(now: Instant, into events: SPSCRing<RigEvent>) -> OutputReport {
        var r = pending
        pending = OutputReport()
        for i in 0..<channels.count where channels[i].present {
            let b = OutputReport.bit(i)
            if channels[i].failing || channels[i].mismatchTicks >= Self.readBackDebounceTicks { r.standing |= b }
            if r.writeFailed & b != 0 { events.push(RigEvent(.outputWriteError(channels[i].role), at: now)) }
            if r.expired & b != 0 { events.push(RigEvent(.outputExpired(channels[i].role), at: now)) }
            if r.mismatch & b != 0 { events.push(RigEvent(.outputMismatch(channels[i].role), at: now)) }
        }
        return r
    }

    /// Issues `count` step pulses on a digital output (high then low each), now, unless a
    /// safe state is forced or `enable` is not asserted. Returns the pulses issued. The
    /// line ends low, its safe value. Each edge is a write (a syscall on Linux).
    @discardableResult
    public func pulse(_ role: ActuatorRole, count: Int, requiring enable: ActuatorRole) -> Int {
        let i = role.index
        guard count > 0, channels[i].present, !forcedSafe, channels[enable.index].written == 1 else { return 0 }
        var issued = 0
        var failure: HALError?
        lines.with(i) { line in
            while issued < count {
                do throws(HALError) {
                    try line.set(true)
                    try line.set(false)
                } catch {
                    failure = error
                    break
                }
                issued += 1
            }
        }
        if let failure {
            channels[i].writeErrors &+= 1
            channels[i].lastError = failure
            totalWriteErrors &+= 1
            if !channels[i].failing { pending.writeFailed |= OutputReport.bit(i) }
        }
        channels[i].failing = failure != nil
        channels[i].written = 0
        return issued
    }

    /// The value an output holds now (what was last written); nil if the board has none.
    public func value(of role: ActuatorRole) -> Double? {
        channels[role.index].present ? channels[role.index].written : nil
    }

    private func write(_ i: Int, _ value: Double) {
        var failure: HALError?
        if i == ActuatorRole.pumpSpeed.index {
            guard pump != nil else { return }
            // Optional chaining calls through the field in place (an `if let` or `switch`
            // binding would copy the reference around a throwing call: a retain).
            do throws(HALError) { try pump?.set(PumpSpeed(rpm: value)) } catch { failure = error }
        } else {
            var present = false
            lines.with(i) { line in
                present = true
                do throws(HALError) { try line.set(value != 0) } catch { failure = error }
            }
            if !present { return }
        }
        if let failure {
            channels[i].written = .nan
            channels[i].writeErrors &+= 1
            channels[i].lastError = failure
            totalWriteErrors &+= 1
            // One onset per episode: the guard retries every tick while it fails.
            if !channels[i].failing { pending.writeFailed |= OutputReport.bit(i) }
            channels[i].failing = true
        } else {
            channels[i].written = value
            channels[i].failing = false
        }
    }
}

/// What the output guard found wrong, as bit sets over `ActuatorRole.index`.
/// `writeFailed`, `expired` and `mismatch` are onsets since the last report (one per
/// episode); `standing` holds the outputs failing or mismatched right now.
public struct OutputReport: Sendable, BitwiseCopyable, Equatable {
    public var writeFailed: UInt32 = 0
    public var expired: UInt32 = 0
    public var mismatch: UInt32 = 0
    public var standing: UInt32 = 0
    public init() {}

    @inline(__always) public static func bit(_ index: Int) -> UInt32 { UInt32(1) << UInt32(index) }
    @inline(__always) public static func bit(_ role: ActuatorRole) -> UInt32 { bit(role.index) }
    /// Pump speed, pump enable and the return clamp: what drives (or stops) the blood.
    public static var processRoles: UInt32 { bit(.pumpSpeed) | bit(.pumpEnable) | bit(.clamp) }

    public var all: UInt32 { writeFailed | expired | mismatch | standing }
    /// A pump or clamp output failed (alarm OUTPUT_FAULT, high, latched).
    public var processFault: Bool { all & Self.processRoles != 0 }
    /// Any other output failed (AUX_OUTPUT_FAULT).
    public var auxiliaryFault: Bool { all & ~Self.processRoles != 0 }
    /// A pump or clamp output cannot be set or confirmed now (the watchdog's health test).
    public var processStanding: Bool { standing & Self.processRoles != 0 }
}
