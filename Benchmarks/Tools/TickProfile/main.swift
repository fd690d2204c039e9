// A small release executable for profilers (valgrind --tool=callgrind, perf):
//   TickProfile [ticks]            builds the rig, warms up 3 s, then runs `ticks` regulating ticks
//   TickProfile plant [steps]      CircuitModel.step only
// The measured region is `measuredTicks` / `measuredSteps` (never inlined), so callgrind can
// be told `--toggle-collect='*measuredTicks*'` to count only it. See docs/performance.md.
import ECMOCore
import ECMOSim
import ECMORuntime
import RigBenchSupport

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
if args.first == "plant" {
    let n = args.dropFirst().first.flatMap { Int($0) } ?? 1_000_000
    var model = CircuitModel()
    measuredSteps(&model, n)
    print("plant steps \(n) flow \(model.flow.litersPerMinute)")
} else {
    let n = args.first.flatMap { Int($0) } ?? 100_000
    let rig = try SimRig()
    try rig.startRegulating(warmUp: .seconds(3))
    let before = ContinuousClock.now
    measuredTicks(rig, n)
    let wall = ContinuousClock.now - before
    let ns = (Double(wall.components.seconds) * 1e9 + Double(wall.components.attoseconds) * 1e-9) / Double(n)
    print("ticks \(n) phase \(rig.loop.controller.phase) flow \(rig.loop.lastTelemetry.flow.litersPerMinute) wall \(wall) = \(ns) ns/tick")
}
