/// What the alarm outputs (buzzer, red / yellow / green lamps) should be at an instant,
/// IEC 60601-1-8 as implemented by conforming devices.
///
/// Visual (the highest ACTIVE priority, acknowledged or not):
///   high   = red flashing 2 Hz, 50 % duty (standard: 1.4–2.8 Hz)
///   medium = yellow flashing 0.6 Hz, 50 % duty (standard: 0.4–0.8 Hz)
///   low    = yellow steady
///   none   = green steady
/// Only the highest priority's lamp is driven. The flash phase starts on, at the moment
/// that priority became the highest active one.
///
/// Audio (the highest SOUNDING priority: active, unacknowledged, not audio-paused):
///   high   = 10-pulse burst every 8 s: pulses 150 ms on / 100 ms off, grouped 3+2+3+2,
///            350 ms silence after the last pulse of each group. Pulse onsets (ms):
///            0, 250, 500, 1000, 1250, 1750, 2000, 2250, 2750, 3000.
///   medium = 3 pulses (200 ms on / 150 ms off) every 15 s: onsets 0, 350, 700 ms.
///   low    = 1 pulse of 250 ms every 30 s.
/// Timing is measured from when that priority began sounding (raise, escalation, a
/// higher one ending, or the end of an audio pause).
public struct AlarmSignals: Sendable, BitwiseCopyable, Equatable, CustomStringConvertible {
    public var buzzer: Bool
    public var red: Bool
    public var yellow: Bool
    public var green: Bool

    public init(buzzer: Bool = false, red: Bool = false, yellow: Bool = false, green: Bool = false) {
        self.buzzer = buzzer
        self.red = red
        self.yellow = yellow
        self.green = green
    }

    /// Green only: no alarm active.
    public static let allClear = AlarmSignals(green: true)

    public var description: String {
        "buzzer \(buzzer ? "on" : "off"), red \(red ? "on" : "off"), yellow \(yellow ? "on" : "off"), green \(green ? "on" : "off")"
    }
}

/// The presentation patterns as pure functions of the time since a priority began
/// showing / sounding (the numbers documented on `AlarmSignals`).
public enum AlarmPattern {
    static let ms: UInt64 = 1_000_000

    /// Whether the lamp of `priority` is lit `elapsed` ns after it began showing.
    @inline(__always)
    public static func lamp(_ priority: AlarmPriority, elapsedNanoseconds e: UInt64) -> Bool {
        switch priority {
        case .high:
            return e % (500 * ms) < 250 * ms
        case .medium:
            // Period 5/3 s: phase = (e mod 5 s) · 3 mod 5 s, lit for the first half.
            let fiveSeconds: UInt64 = 5_000 * ms
            let phase = ((e % fiveSeconds) * 3) % fiveSeconds
            return phase < 2_500 * ms
        case .low:
            return true
        }
    }

    /// Whether the buzzer of `priority` is on `elapsed` ns after it began sounding.
    @inline(__always)
    public static func buzzer(_ priority: AlarmPriority, elapsedNanoseconds e: UInt64) -> Bool {
        switch priority {
        case .high:
            let t = e % (8_000 * ms)
            var onset: UInt64 = 0
            for group in 0..<4 {
                let pulses = group % 2 == 0 ? 3 : 2
                for _ in 0..<pulses {
                    if t < onset { return false }
                    if t < onset + 150 * ms { return true }
                    onset += 250 * ms                       // 150 on + 100 off
                }
                onset += 250 * ms                           // last pulse: 150 on + 350 gap = 500
            }
            return false
        case .medium:
            let t = e % (15_000 * ms)
            for k in 0..<3 {
                let onset = UInt64(k) * 350 * ms
                if t >= onset && t < onset + 200 * ms { return true }
            }
            return false
        case .low:
            return e % (30_000 * ms) < 250 * ms
        }
    }
}

extension AlarmSystem {
    /// The alarm outputs at `now`, from the state of the last `evaluate` / `acknowledge` /
    /// `pauseAudio` (call `evaluate` first each tick). Does not allocate.
    public func signals(at now: Instant) -> AlarmSignals {
        var s = AlarmSignals()
        if let v = visualPriority {
            let e = Self.elapsed(now, since: visualSince)
            let lit = AlarmPattern.lamp(v, elapsedNanoseconds: e)
            if v == .high { s.red = lit } else { s.yellow = lit }
        } else {
            s.green = true
        }
        if let p = soundingPriority {
            s.buzzer = AlarmPattern.buzzer(p, elapsedNanoseconds: Self.elapsed(now, since: soundingSince))
        }
        return s
    }

    @inline(__always) static func elapsed(_ now: Instant, since start: Instant) -> UInt64 {
        now.nanosecondsSinceOrigin >= start.nanosecondsSinceOrigin
            ? now.nanosecondsSinceOrigin - start.nanosecondsSinceOrigin : 0
    }
}
