import ECMOCore
import ECMOHAL
import ECMOMockBoard

extension Instant {
    static func ms(_ v: Int64) -> Instant { .origin + .milliseconds(v) }
}

/// Calls `service` every `tick` from the clock's present up to and including `end`.
func run(_ clock: ManualClock, until end: Instant, tick: Duration, _ service: (Instant) -> Void) {
    var t = clock.now()
    while t <= end {
        clock.advance(to: t)
        service(t)
        t += tick
    }
}

/// Wraps an ADS1115 model and makes its OS bit read 0 for the first `extraBusyPolls`
/// config reads after each conversion start: a chip whose oscillator runs slow (the
/// datasheet allows ±10 %), or one that never finishes.
final class SlowReadyADS1115: I2CDeviceModel {
    let inner: ADS1115Model
    var extraBusyPolls: Int
    private var remaining = 0
    private var pointer: UInt8 = 0

    init(_ inner: ADS1115Model, extraBusyPolls: Int) {
        self.inner = inner
        self.extraBusyPolls = extraBusyPolls
    }

    func write(_ bytes: UnsafeRawBufferPointer, at now: Instant) -> Bool {
        if let p = bytes.first { pointer = p & 3 }
        if bytes.count >= 3, pointer == 1, bytes[1] & 0x80 != 0 { remaining = extraBusyPolls }
        return inner.write(bytes, at: now)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at now: Instant) -> Bool {
        guard inner.read(into: buffer, at: now) else { return false }
        if pointer == 1, remaining > 0, buffer.count > 0 {
            remaining -= 1
            buffer[0] &= 0x7F
        }
        return true
    }
}
