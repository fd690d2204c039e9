// A small release executable for profilers (valgrind --tool=callgrind, perf):
//   TickProfile [ticks]            builds the rig, warms up 3 s, then runs `ticks` regulating ticks
//                                  (ECMO_BOARD=sim-fast.yaml: on the sensor-level board)
//   TickProfile plant [steps]      CircuitModel.step only
//   TickProfile record [frames] [--free]
//                                  the run record's writer: frames through the ring to
//                                  telemetry.csv (86400000 = 24 h at 1 kHz); --free: the
//                                  producer never waits, so a slow writer drops frames
//   TickProfile steps [--jitter US] step generation at every preset's rates: error and timing
//   TickProfile interlock          ticks from a fault's onset to the safe outputs
// The measured region is `measuredTicks` / `measuredSteps` (never inlined), so callgrind can
// be told `--toggle-collect='*measuredTicks*'` to count only it. See docs/performance.md.
import Foundation
import ECMOCore
import ECMOSim
import ECMORuntime
import RigBenchSupport
import ARCCounter

@inline(never)
func measuredTicks(_ rig: SimRig, _ n: Int) {
    for i in 0..<n {
        rig.tick()
        if i % 1000 == 999 { rig.drain() }
    }
}

@inline(never)
func measuredSteps(_ model: inout CircuitModel, _ n: Int) {
    let drive = CircuitModel.Drive(commandedSpeed: .rpm(3000), pumpEnabled: true, clampClosed: false)
    for _ in 0..<n { model.step(drive, dt: .milliseconds(1)) }
}

let args = CommandLine.arguments.dropFirst()
if args.first == "record" {
    let n = args.dropFirst().first.flatMap { Int($0) } ?? 1_000_000
    let paced = !args.contains("--free")
    let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("tickprofile-record-\(getpid())")
    defer { try? FileManager.default.removeItem(at: dir) }
    let r = try RecordingRun.run(frames: n, paced: paced, directory: dir)
    let simulated = Double(n) / 1000
    print("record \(paced ? "paced" : "free") frames \(n) (\(simulated) s at 1 kHz) rows \(r.rowsWritten) dropped \(r.dropped) "
        + "wall \(r.seconds) s = \(Int(r.rowsPerSecond)) rows/s, \(Int(r.bytesPerRow)) B/row, \(r.bytes / 1_000_000) MB; "
        + "writer busy \(String(format: "%.2f", 1000 / r.rowsPerSecond * 100)) % of real time at 1 kHz")
} else if args.first == "steps" {
    let jitter = args.firstIndex(of: "--jitter").flatMap { i in args.index(after: i) < args.endIndex ? Int(args[args.index(after: i)]) : nil } ?? 0
    print("preset               mL/h   steps/s   steps  final_err  worst_track  early  late_mean_us  late_max_us  (tick 1 ms, jitter \(jitter) us)")
    for preset in SyringePreset.allCases {
        for rate in StepTiming.rates(for: preset) {
            // 10 minutes of delivery, or the whole syringe at its fastest.
            let volume = Volume(milliliters: min(rate.millilitersPerHour / 6, preset.specification.capacity.milliliters * 0.9))
            let r = StepTiming.run(preset, rate: rate, volume: volume, tickJitter: .microseconds(jitter))
            func col(_ v: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - v.count)) + v }
            print(preset.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)
                + col(String(format: "%.1f", r.rateMLPerHour), 8) + col(String(format: "%.1f", r.stepsPerSecond), 10)
                + col("\(r.steps)", 8) + col("\(r.finalError)", 11) + col("\(r.worstTrackingError)", 13) + col("\(r.earlySteps)", 7)
                + col(String(format: "%.1f", r.meanLatenessMicroseconds), 14) + col(String(format: "%.1f", r.maxLatenessMicroseconds), 13))
        }
    }
} else if args.first == "interlock" {
    for fault in InterlockLatency.Fault.allCases {
        let r = try InterlockLatency.measure(fault)
        print("\(fault.rawValue): detected in tick +\(r.detectedAfter.map(String.init) ?? "never"), "
            + "outputs acted in tick +\(r.actedAfter.map(String.init) ?? "never"), "
            + "action after detection: \(r.actionAfterDetection.map { "\($0) ticks" } ?? "n/a")")
    }
} else if args.first == "plant" {
    let n = args.dropFirst().first.flatMap { Int($0) } ?? 1_000_000
    var model = CircuitModel()
    measuredSteps(&model, n)
    print("plant steps \(n) flow \(model.flow.litersPerMinute)")
} else {
    let n = args.first.flatMap { Int($0) } ?? 100_000
    // ECMO_BOARD=sim-fast.yaml profiles the sensor-level board (default: Board/sim.yaml).
    let boardName = ProcessInfo.processInfo.environment["ECMO_BOARD"] ?? "sim.yaml"
    let rig = try SimRig(boardFile: RepositoryPaths.board(boardName))
    try rig.startRegulating(warmUp: .seconds(3))
    if ecmo_arc_counter_available() {
        var released: UInt64 = 0
        ecmo_arc_counter_start()
        measuredTicks(rig, 1000)
        let retained = ecmo_arc_counter_stop(&released)
        print("ARC in 1000 ticks: \(retained) retains, \(released) releases")
    }
    let before = ContinuousClock.now
    measuredTicks(rig, n)
    let wall = ContinuousClock.now - before
    let ns = (Double(wall.components.seconds) * 1e9 + Double(wall.components.attoseconds) * 1e-9) / Double(n)
    print("ticks \(n) phase \(rig.loop.controller.phase) flow \(rig.loop.lastTelemetry.flow.litersPerMinute) wall \(wall) = \(ns) ns/tick")
}
