import Foundation
import ECMOCore
import ECMORuntime
import ECMORecord

/// The run record's writer under a 1 kHz all-channels load: a producer pushes telemetry
/// frames into the loop's `SPSCRing` (capacity as `ecmo-rig run` uses), and the real
/// `RunRecorder` thread drains them to `telemetry.csv` as in a run.
///
/// `paced: false` pushes as fast as the producer can and never waits (the loop never waits
/// for the recorder), so frames are dropped whenever the writer falls more than a ring
/// behind: the writer's throughput is the limit. `paced: true` waits when the ring is 3/4
/// full (lockstep back-pressure), which measures throughput without loss.
public enum RecordingRun {
    public struct Result: Sendable {
        public var frames: Int
        public var rowsWritten: Int
        public var dropped: Int
        public var seconds: Double
        public var bytes: Int
        public var rowsPerSecond: Double { Double(rowsWritten) / max(seconds, 1e-9) }
        public var bytesPerRow: Double { Double(bytes) / Double(max(rowsWritten, 1)) }
    }

    /// A frame with the widths of a real regulating run (every field populated).
    @inline(__always)
    public static func frame(_ i: Int) -> TelemetryFrame {
        var f = TelemetryFrame()
        let x = Double(i % 1000) * 0.001
        f.tick = UInt64(i)
        f.time = Instant(nanosecondsSinceOrigin: UInt64(i) &* 1_000_000)
        f.state = .active
        f.phase = .regulating
        f.drainPressure = .mmHg(-42.17 - x)
        f.preOxygenatorPressure = .mmHg(231.5 + x)
        f.postOxygenatorPressure = .mmHg(210.25 + x)
        f.flow = .lpm(4.0 + x * 0.01)
        f.measuredSpeed = .rpm(3012.4 + x)
        f.commandedSpeed = .rpm(3010.1)
        f.pumpEnabled = true
        f.clampClosed = false
        f.lateness = .microseconds(12)
        f.executionTime = .microseconds(3)
        f.cellsDelivered = .mL(x)
        f.infusionItem = 2
        return f
    }

    public static func run(frames: Int, capacity: Int = 8192, paced: Bool, directory: URL) throws -> Result {
        let telemetry = SPSCRing<TelemetryFrame>(capacity: capacity)
        let events = SPSCRing<RigEvent>(capacity: 64)
        let recorder = try RunRecorder(directory: directory, telemetry: telemetry, events: events)
        let start = ContinuousClock.now
        recorder.start()
        for i in 0..<frames {
            if paced {
                while telemetry.count > capacity * 3 / 4 { usleep(200) }
            }
            telemetry.push(frame(i))
        }
        try recorder.finish(summary: [:])
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let csv = directory.appendingPathComponent("telemetry.csv")
        let bytes = (try? FileManager.default.attributesOfItem(atPath: csv.path)[.size] as? Int) ?? 0
        return Result(frames: frames, rowsWritten: recorder.rowsWritten, dropped: telemetry.dropped,
                      seconds: seconds, bytes: bytes)
    }
}
