import ECMOCore
import ECMOHAL

/// Pump speed from the tachometer's pulse edges, timed by their (kernel) timestamps,
/// not by when the loop happened to look: rpm = 60 / (period · pulses per revolution),
/// averaged over the pulses seen in a sliding window. With no pulse for `stallTimeout`
/// the pump is reported stopped (0 rpm, still a valid reading).
public final class Tachometer<Input: DigitalInput> {
    public let input: Input
    public let pulsesPerRevolution: Int
    public let stallTimeout: Duration
    public private(set) var sample: SensorSample<PumpSpeed>
    private let buffer: UnsafeMutableBufferPointer<EdgeEvent>
    private var lastEdge: Instant?
    /// Sum and count of recent periods (exponentially forgotten) for a smooth estimate.
    private var smoothedPeriodNs: Double = 0
    public private(set) var totalPulses: UInt64 = 0

    public init(input: Input, pulsesPerRevolution: Int, stallTimeout: Duration = .milliseconds(250), bufferCapacity: Int = 256) {
        self.input = input
        self.pulsesPerRevolution = max(1, pulsesPerRevolution)
        self.stallTimeout = stallTimeout
        buffer = .allocate(capacity: max(1, bufferCapacity))
        sample = SensorSample(value: .zero, timestamp: .origin, source: .pumpTachometer, status: .missing)
    }

    deinit { buffer.deallocate() }

    /// Drains pending edges and updates `sample`. Called once per tick; allocates nothing.
    public func service(now: Instant) {
        var errors = sample.errorCount
        var n = 0
        repeat {
            do {
                n = try input.readEdges(into: buffer)
            } catch {
                errors &+= 1
                sample.errorCount = errors
                sample.status = .readError
                return
            }
            for i in 0..<n {
                let t = buffer[i].timestamp
                if let previous = lastEdge, t > previous, t - previous <= stallTimeout {
                    let period = Double((t - previous).nanoseconds)
                    // First period after a stall is taken as is; then a light low-pass.
                    smoothedPeriodNs = smoothedPeriodNs == 0 ? period : smoothedPeriodNs + (period - smoothedPeriodNs) * 0.25
                }
                // A gap longer than the stall timeout is not a period (the rotor stopped, or
                // the pulses were lost): the edge after it only starts timing again. Taken as
                // a period, a 10 s gap read as 3 rpm for a tick while the pump ran at 3000.
                lastEdge = t
                totalPulses &+= 1
            }
        } while n == buffer.count
        if let last = lastEdge, now - last <= stallTimeout, smoothedPeriodNs > 0 {
            let rpm = 60e9 / (smoothedPeriodNs * Double(pulsesPerRevolution))
            sample = SensorSample(value: PumpSpeed(rpm: rpm), timestamp: last, source: .pumpTachometer, errorCount: errors)
        } else {
            // No pulses: the rotor is (nearly) stopped. Forget the period so a restart is measured afresh.
            smoothedPeriodNs = 0
            sample = SensorSample(value: .zero, timestamp: now, source: .pumpTachometer, errorCount: errors)
        }
    }
}
