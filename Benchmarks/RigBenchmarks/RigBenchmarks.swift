// Benchmarks of the rig on the simulated board. Run from Benchmarks/:
//   swift package benchmark                  (all)
//   swift package benchmark --filter RigTick (one)
// Commands, baselines and measured figures: docs/performance.md.
import Benchmark
import ECMOCore
import ECMOSim
import ECMORuntime
import RigBenchSupport

/// Custom metrics of the simulated-hour benchmark (reported per run, not per tick).
enum RigMetrics {
    /// Loop time / wall time (×). 3600 means one simulated hour per wall second.
    static let realTimeFactor = BenchmarkMetric.custom("realTimeFactor (x)", polarity: .prefersLarger, useScalingFactor: false)
    /// Wall nanoseconds per loop tick, amortised over the hour (including ring draining).
    static let nanosecondsPerTick = BenchmarkMetric.custom("ns/tick (amortised)", polarity: .prefersSmaller, useScalingFactor: false)
    /// Thread CPU time per inner-loop step (tick / service / plant step), in ns. The package's
    /// own `cpuTotal` has 10 ms resolution on Linux, useless for a 1000-tick iteration.
    static let cpuPerStep = BenchmarkMetric.custom("thread CPU (ns) per step", polarity: .prefersSmaller, useScalingFactor: false)
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
            metrics: [.wallClock, RigMetrics.cpuPerStep, .throughput, .mallocCountTotal, .instructions],
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
            ]
        )
    ) { (benchmark: Benchmark, rig: SimRig) in
        measuringCPU(benchmark, steps: benchmark.scaledIterations.count) {
            for _ in benchmark.scaledIterations {
                rig.tick()
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
}
