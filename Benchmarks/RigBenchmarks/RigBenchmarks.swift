// Benchmarks of the rig on the simulated board. Run from Benchmarks/:
//   swift package benchmark                  (all)
//   swift package benchmark --filter RigTick (one)
// Commands, baselines and measured figures: docs/performance.md.
import Benchmark
import Foundation
import ECMOCore
import ECMOSim
import ECMORuntime
import RigBenchSupport
import ARCCounter

/// Custom metrics of the simulated-hour benchmark (reported per run, not per tick).
enum RigMetrics {
    /// Loop time / wall time (×). 3600 means one simulated hour per wall second.
    static let realTimeFactor = BenchmarkMetric.custom("realTimeFactor (x)", polarity: .prefersLarger, useScalingFactor: false)
    /// Wall nanoseconds per loop tick, amortised over the hour (including ring draining).
    static let nanosecondsPerTick = BenchmarkMetric.custom("ns/tick (amortised)", polarity: .prefersSmaller, useScalingFactor: false)
    /// Thread CPU time per inner-loop step (tick / service / plant step), in ns. The package's
    /// own `cpuTotal` has 10 ms resolution on Linux, useless for a 1000-tick iteration.
    static let cpuPerStep = BenchmarkMetric.custom("thread CPU (ns) per step", polarity: .prefersSmaller, useScalingFactor: false)
    /// Swift retains per iteration (ARCCounter: swift_retain & co. defined in this
    /// executable). The package's own retain metrics need its ARC interposer, which this
    /// toolchain's package mirror does not have.
    static let retains = BenchmarkMetric.custom("retains", polarity: .prefersSmaller, useScalingFactor: true)
    static let releases = BenchmarkMetric.custom("releases", polarity: .prefersSmaller, useScalingFactor: true)
    /// Run-record writer: rows per second written to telemetry.csv, and frames lost.
    static let rowsPerSecond = BenchmarkMetric.custom("rows/s written", polarity: .prefersLarger, useScalingFactor: false)
    static let framesLost = BenchmarkMetric.custom("frames lost", polarity: .prefersSmaller, useScalingFactor: false)
    /// Interlock: ticks from the loop seeing a fault to the protective outputs on the wire.
    static let ticksToAction = BenchmarkMetric.custom("ticks detection→outputs", polarity: .prefersSmaller, useScalingFactor: false)
    /// Step generation: |steps issued − prescribed| summed over all presets and rates, and
    /// steps issued before their ideal instant.
    static let stepError = BenchmarkMetric.custom("step error (steps)", polarity: .prefersSmaller, useScalingFactor: false)
    static let earlySteps = BenchmarkMetric.custom("early steps", polarity: .prefersSmaller, useScalingFactor: false)
    static let maxStepLateness = BenchmarkMetric.custom("max step lateness (us)", polarity: .prefersSmaller, useScalingFactor: false)
}

/// Runs `body` and reports its retains and releases (calling thread only).
@inline(__always)
func measuringARC(_ benchmark: Benchmark, _ body: () -> Void) {
    ecmo_arc_counter_start()
    body()
    var released: UInt64 = 0
    let retained = ecmo_arc_counter_stop(&released)
    benchmark.measurement(RigMetrics.retains, Int(retained))
    benchmark.measurement(RigMetrics.releases, Int(released))
}

/// Runs `body` and reports its thread CPU time divided by `steps` as `RigMetrics.cpuPerStep`.
@inline(__always)
func measuringCPU(_ benchmark: Benchmark, steps: Int, _ body: () -> Void) {
    let c0 = threadCPUNanoseconds()
    body()
    let c1 = threadCPUNanoseconds()
    benchmark.measurement(RigMetrics.cpuPerStep, Int((c1 &- c0) / UInt64(max(1, steps))))
}

let benchmarks: @Sendable () -> Void = {
    // Time and CPU wander on a shared 2-core VM: consecutive runs of the same binary differed
    // by up to 40 % at p50 (thread CPU time too, so not only preemption). A median 50 % slower
    // than the baseline fails; finer gates are allocations (exact) and instructions (perf
    // counters where available, else `scripts/bench icount`, callgrind).
    let timeTolerance = BenchmarkThresholds(relative: [.p50: 50.0])
    let throughputTolerance = BenchmarkThresholds(relative: [.p50: 50.0])
    let instructionTolerance = BenchmarkThresholds(relative: [.p50: 3.0, .p90: 5.0])
    // The tick must allocate nothing: any allocation above the (zero) baseline is a regression.
    let noAllocations = BenchmarkThresholds(absolute: [.p50: 0, .p90: 0, .p99: 0])

    Benchmark.defaultConfiguration.timeUnits = .nanoseconds

    // One full control tick in the regulating phase: board service (physics, tachometer,
    // device models), drivers over the mock I²C bus, controller, output guard, watchdog,
    // telemetry frame. Reported per tick (1000 ticks per iteration).
    Benchmark(
        "RigTick",
        configuration: .init(
            metrics: [.wallClock, RigMetrics.cpuPerStep, .throughput, .mallocCountTotal, .instructions,
                      RigMetrics.retains, RigMetrics.releases],
            warmupIterations: 50,
            scalingFactor: .kilo,
            maxDuration: .seconds(5),
            maxIterations: 5_000,
            thresholds: [
                .wallClock: timeTolerance,
                RigMetrics.cpuPerStep: timeTolerance,
                .throughput: throughputTolerance,
                .instructions: instructionTolerance,
                .mallocCountTotal: noAllocations,
                RigMetrics.retains: noAllocations,
                RigMetrics.releases: noAllocations,
            ]
        )
    ) { (benchmark: Benchmark, rig: SimRig) in
        measuringCPU(benchmark, steps: benchmark.scaledIterations.count) {
            measuringARC(benchmark) {
                for _ in benchmark.scaledIterations {
                    rig.tick()
                }
            }
        }
        benchmark.stopMeasurement()
        rig.drain()   // the 10 Hz recorder's share (10 frames), outside the measurement
    } setup: {
        let rig = try SimRig()
        try rig.startRegulating(warmUp: .seconds(3))
        return rig
    }

    // The simulated board's service alone (what `hardware.service(now:)` costs in a tick):
    // 1 ms of physics, tachometer edges, and publishing noisy truth to the ABP2/ADS1115 models.
    Benchmark(
        "BoardService",
        configuration: .init(
            metrics: [.wallClock, RigMetrics.cpuPerStep, .throughput, .mallocCountTotal, .instructions],
            warmupIterations: 50,
            scalingFactor: .kilo,
            maxDuration: .seconds(3),
            maxIterations: 5_000,
            thresholds: [
                .wallClock: timeTolerance,
                RigMetrics.cpuPerStep: timeTolerance,
                .throughput: throughputTolerance,
                .instructions: instructionTolerance,
                .mallocCountTotal: noAllocations,
            ]
        )
    ) { (benchmark: Benchmark, rig: SimRig) in
        let sim = rig.sim
        var t = rig.now.nanosecondsSinceOrigin
        measuringCPU(benchmark, steps: benchmark.scaledIterations.count) {
            for _ in benchmark.scaledIterations {
                t &+= rig.periodNanoseconds
                let now = Instant(nanosecondsSinceOrigin: t)
                rig.clock.advance(to: now)
                sim.service(now: now)
            }
        }
        blackHole(sim.circuit.flow)
    } setup: {
        let rig = try SimRig()
        try rig.startRegulating(warmUp: .seconds(3))
        // Nobody kicks the simulated watchdog from here on: disarm it so the board keeps the
        // outputs the controller last wrote (pump at speed, clamp open) instead of resetting.
        try rig.sim.simulatedWatchdog.stop()
        return rig
    }

    // The circuit model alone: one 1 ms step at the regulating operating point.
    Benchmark(
        "PlantStep",
        configuration: .init(
            metrics: [.wallClock, RigMetrics.cpuPerStep, .throughput, .mallocCountTotal, .instructions],
            warmupIterations: 50,
            scalingFactor: .kilo,
            maxDuration: .seconds(3),
            maxIterations: 10_000,
            thresholds: [
                .wallClock: timeTolerance,
                RigMetrics.cpuPerStep: timeTolerance,
                .throughput: throughputTolerance,
                .instructions: instructionTolerance,
                .mallocCountTotal: noAllocations,
            ]
        )
    ) { benchmark in
        var model = CircuitModel()
        let drive = CircuitModel.Drive(commandedSpeed: .rpm(3000), pumpEnabled: true, clampClosed: false)
        let dt: Duration = .milliseconds(1)
        benchmark.startMeasurement()
        measuringCPU(benchmark, steps: benchmark.scaledIterations.count) {
            for _ in benchmark.scaledIterations {
                model.step(drive, dt: dt)
            }
        }
        benchmark.stopMeasurement()
        blackHole(model.flow)
    }

    // One simulated hour of the full rig: the real LoopRunner in lockstep at 1 kHz
    // (3.6 M ticks), telemetry recorded at 10 Hz and drained every simulated second
    // (frames read, no files written). The rig is regulating before the clock starts.
    Benchmark(
        "SimulatedHour",
        configuration: .init(
            metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions,
                      RigMetrics.realTimeFactor, RigMetrics.nanosecondsPerTick],
            warmupIterations: 0,
            maxDuration: .seconds(60),
            maxIterations: 3,
            thresholds: [
                .wallClock: timeTolerance,
                .cpuTotal: timeTolerance,
                .instructions: instructionTolerance,
                // A few allocations per run come from outside the tick; one per tick would be millions.
                .mallocCountTotal: .init(absolute: [.p90: 100]),
                RigMetrics.realTimeFactor: throughputTolerance,
                RigMetrics.nanosecondsPerTick: timeTolerance,
            ]
        )
    ) { benchmark in
        let rig: SimRig
        do {
            rig = try SimRig()
            try rig.startRegulating(warmUp: .seconds(3))
        } catch {
            fatalError("\(error)")
        }
        let ticksBefore = rig.loop.tickCount
        let start = ContinuousClock.now
        benchmark.startMeasurement()
        rig.runLockstep(for: .seconds(3600))
        benchmark.stopMeasurement()
        let wall = ContinuousClock.now - start
        let ticks = rig.loop.tickCount - ticksBefore
        let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18
        precondition(ticks == 3_600_000, "expected 3.6 M ticks, ran \(ticks)")
        precondition(rig.loop.controller.phase == .regulating, "rig left regulating: \(rig.loop.state)")
        benchmark.measurement(RigMetrics.realTimeFactor, Int((3600 / wallSeconds).rounded()))
        benchmark.measurement(RigMetrics.nanosecondsPerTick, Int((wallSeconds * 1e9 / Double(ticks)).rounded()))
        blackHole(rig.flowSum)
    }

    // The run record's writer at 1 kHz, all channels: 100 000 frames (100 s of loop time)
    // through the ring to telemetry.csv on disk, waiting for the writer as lockstep does.
    // Rows per second is the writer's throughput; lost frames must be 0. 24 h at 1 kHz is
    // 86.4 M rows: `.build/release/TickProfile record 86400000` (docs/performance.md).
    Benchmark(
        "RecorderThroughput",
        configuration: .init(
            metrics: [RigMetrics.rowsPerSecond, RigMetrics.framesLost],
            warmupIterations: 1,
            maxDuration: .seconds(20),
            maxIterations: 5,
            thresholds: [
                RigMetrics.rowsPerSecond: throughputTolerance,
                RigMetrics.framesLost: noAllocations,
            ]
        )
    ) { benchmark in
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("rig-bench-record-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let r = try RecordingRun.run(frames: 100_000, paced: true, directory: dir)
            benchmark.measurement(RigMetrics.rowsPerSecond, Int(r.rowsPerSecond))
            benchmark.measurement(RigMetrics.framesLost, r.dropped + (r.frames - r.rowsWritten))
        } catch {
            benchmark.error("recording failed: \(error)")
        }
    }

    // Interlock latency in ticks on the simulated board: E-stop, air, and the P_post
    // over-pressure interlock (return line occluded). The protective outputs must be on
    // the wire in the tick that detects the fault: 0 ticks, an exact threshold.
    Benchmark(
        "InterlockLatency",
        configuration: .init(
            metrics: [RigMetrics.ticksToAction],
            warmupIterations: 0,
            maxIterations: 1,
            thresholds: [RigMetrics.ticksToAction: noAllocations]
        )
    ) { benchmark in
        var worst = 0
        for fault in InterlockLatency.Fault.allCases {
            do {
                let r = try InterlockLatency.measure(fault)
                guard let d = r.actionAfterDetection else {
                    benchmark.error("\(fault.rawValue): detected \(String(describing: r.detectedAfter)), acted \(String(describing: r.actedAfter))")
                    return
                }
                worst = max(worst, d)
            } catch {
                benchmark.error("\(fault.rawValue): \(error)")
                return
            }
        }
        benchmark.measurement(RigMetrics.ticksToAction, worst)
    }

    // Step generation at every syringe preset's rates (1, 10, 60 mL/h and the drive's
    // maximum), ticks at 1 ms with up to 300 µs of random lateness: cumulative error and
    // early steps must be 0 (exact thresholds); the worst lateness is reported (< 1 period
    // + jitter by design).
    Benchmark(
        "StepGeneration",
        configuration: .init(
            metrics: [RigMetrics.stepError, RigMetrics.earlySteps, RigMetrics.maxStepLateness],
            warmupIterations: 0,
            maxIterations: 1,
            thresholds: [
                RigMetrics.stepError: noAllocations,
                RigMetrics.earlySteps: noAllocations,
                RigMetrics.maxStepLateness: .init(absolute: [.p100: 1_300]),
            ]
        )
    ) { benchmark in
        var error: Int64 = 0
        var early: Int64 = 0
        var late = 0.0
        for preset in SyringePreset.allCases {
            for rate in StepTiming.rates(for: preset) {
                let volume = Volume(milliliters: min(rate.millilitersPerHour / 6, preset.specification.capacity.milliliters * 0.9))
                let r = StepTiming.run(preset, rate: rate, volume: volume, tickJitter: .microseconds(300))
                error += abs(r.finalError) + r.worstTrackingError
                early += r.earlySteps
                late = max(late, r.maxLatenessMicroseconds)
            }
        }
        benchmark.measurement(RigMetrics.stepError, Int(error))
        benchmark.measurement(RigMetrics.earlySteps, Int(early))
        benchmark.measurement(RigMetrics.maxStepLateness, Int(late.rounded(.up)))
    }
}
