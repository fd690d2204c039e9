// tick-gate: the CI's deterministic check that a control tick, built with optimisation
// as it ships, allocates nothing and makes no ARC retain or release.
//
//   swift build -c release --product tick-gate && .build/release/tick-gate [--repo DIR]
//
// Debug builds cannot be the judge of retains (unoptimised code retains everywhere), and
// timing is not deterministic; counts are. Two loads: a regulating rig, and a rig
// delivering a dose with agitation (infusion engine, journal hand-off, step pulses, the
// simulated syringe). The journal writer's own work runs between ticks, uncounted: on a
// rig it has a thread of its own. Exit status 1 when any count is not zero.
import Foundation
import AllocationCounter
import ARCCounter
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMOSim
import ECMORuntime
import ECMOProtocol
import ECMOScenario
import ECMOAssembly

struct Counts { var ticks = 0; var allocations: UInt64 = 0; var retains: UInt64 = 0; var releases: UInt64 = 0 }

@inline(never)
func countedTick(_ loop: RigLoop<SimulatedBoard>, now: Instant, into c: inout Counts) {
    ecmo_alloc_counter_start()
    ecmo_arc_counter_start()
    loop.tick(now: now)
    var released: UInt64 = 0
    let retained = ecmo_arc_counter_stop(&released)
    c.allocations += ecmo_alloc_counter_stop()
    c.retains += retained
    c.releases += released
    c.ticks += 1
}

func repository() -> URL {
    var args = CommandLine.arguments.dropFirst()
    while let a = args.first {
        args = args.dropFirst()
        if a == "--repo", let d = args.first { return URL(fileURLWithPath: d) }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}

func regulating(board: BoardConfiguration, withConsoleLink: Bool = false) throws -> Counts {
    let link = withConsoleLink ? RigLink(loopPeriod: board.loopPeriod) : nil
    let rig = try RigAssembly.simulated(board: board, settings: RunSettings(mode: .constantFlow(.lpm(4)), recordEvery: 10), link: link)
    let (loop, runner, clock) = (rig.loop, rig.runner, try manualClock(rig))
    rig.boot()
    runner.run(until: clock.now() + .milliseconds(200))
    rig.apply(.activate)
    runner.run(until: clock.now() + .seconds(3))
    guard loop.controller.phase == .regulating else {
        throw GateError("the rig is not regulating after 3 s (\(loop.state), \(loop.controller.phase))")
    }
    var c = Counts()
    var now = clock.now()
    for i in 0..<20_000 {
        now = now + board.loopPeriod
        clock.advance(to: now)
        // With a console: a set-point command every 100 ticks (the link thread's side, uncounted).
        if let link, i % 100 == 0 {
            link.commands.push(RigCommand(sequence: UInt64(i), code: .setFlow, a: i % 200 == 0 ? 4.1 : 4.0))
        }
        countedTick(loop, now: now, into: &c)
        loop.telemetry.drain { _ in }
        loop.events.drain { _ in }
        if let link {
            link.telemetry.drain { _ in }
            link.replies.drain { _ in }
        }
    }
    return c
}

func dosing(board: BoardConfiguration, protocolPath: String) throws -> Counts {
    let resolved = try ProtocolPlanner.plan(try ProtocolLoader.load(path: protocolPath), board: board)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tick-gate-\(getpid())")
    defer { try? FileManager.default.removeItem(at: dir) }
    let setup = try ProtocolSetup(resolved: resolved, protocolPath: protocolPath, board: board,
                                  journalPath: dir.appendingPathComponent("gate.journal").path)
    let rig = try RigAssembly.simulated(board: board, settings: setup.settings(recordEvery: 10), protocolSetup: setup)
    let (loop, runner, clock) = (rig.loop, rig.runner, try manualClock(rig))
    guard let writer = rig.journalWriter else { throw GateError("the dosing rig has no journal writer") }
    rig.boot()
    runner.run(until: clock.now() + .milliseconds(200))
    rig.apply(.activate)
    // Into the dose (baseline 10 s), past the first agitation stroke's start.
    runner.run(until: clock.now() + .seconds(14))
    guard loop.infusion.stage == .delivering else {
        throw GateError("the protocol is not delivering after 14 s (stage \(loop.infusion.stage))")
    }
    var c = Counts()
    var now = clock.now()
    let before = loop.stepsIssued.cells
    for _ in 0..<30_000 {   // 30 s: a stretch of dosing and at least one agitation
        now = now + board.loopPeriod
        clock.advance(to: now)
        countedTick(loop, now: now, into: &c)
        writer.serviceOnce()
        loop.telemetry.drain { _ in }
        loop.events.drain { _ in }
    }
    guard loop.stepsIssued.cells > before else { throw GateError("no step was issued during the measured ticks") }
    return c
}

func manualClock(_ rig: Rig<SimulatedBoard>) throws -> ManualClock {
    guard case .lockstep(let c) = rig.runner.pacing else { throw GateError("the gate needs a lockstep rig") }
    return c
}

struct GateError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

final class Probe { var x = 0 }

func selfCheck() -> (allocation: Bool, retain: Bool) {
    ecmo_alloc_counter_start()
    let a = [Int](repeating: 1, count: Int.random(in: 100...200))
    let allocated = ecmo_alloc_counter_stop()
    var keep: [Probe] = []
    keep.reserveCapacity(2)
    let p = Probe()
    ecmo_arc_counter_start()
    keep.append(p)
    var released: UInt64 = 0
    let retained = ecmo_arc_counter_stop(&released)
    return (allocated >= 1 && a.count >= 100, retained >= 1 && keep.count == 1)
}

let repo = repository()
do {
    guard ecmo_alloc_counter_available(), ecmo_arc_counter_available() else {
        print("tick-gate: the allocation/ARC counters are not available on this platform (glibc Linux only)")
        exit(2)
    }
    let check = selfCheck()
    guard check.allocation, check.retain else {
        print("tick-gate: FAIL the counters did not see a deliberate allocation (\(check.allocation)) or retain (\(check.retain))")
        exit(1)
    }
    let board = try BoardLoader.load(path: repo.appendingPathComponent("Board/sim.yaml").path)
    let results = [
        ("regulating", try regulating(board: board)),
        ("regulating + console link (a command every 100 ticks)", try regulating(board: board, withConsoleLink: true)),
        ("dosing + agitation", try dosing(board: board, protocolPath: repo.appendingPathComponent("Protocols/agitation-short.yaml").path)),
        // The sensor-level board (sweeps, long runs): its device links and pulled inputs too.
        ("regulating on sim-fast.yaml", try regulating(board: try BoardLoader.load(path: repo.appendingPathComponent("Board/sim-fast.yaml").path))),
        ("dosing + agitation on sim-fast.yaml", try dosing(board: try BoardLoader.load(path: repo.appendingPathComponent("Board/sim-fast.yaml").path),
                                                           protocolPath: repo.appendingPathComponent("Protocols/agitation-short.yaml").path)),
    ]
    var failed = false
    print("tick-gate (release build): per-tick heap allocations and ARC traffic")
    for (name, c) in results {
        let ok = c.allocations == 0 && c.retains == 0 && c.releases == 0
        failed = failed || !ok
        print("  \(ok ? "PASS" : "FAIL") \(name): \(c.ticks) ticks, \(c.allocations) allocations, \(c.retains) retains, \(c.releases) releases")
    }
    if failed {
        print("tick-gate: find the site with ECMO_ALLOC_BACKTRACE=1 or ECMO_ARC_BACKTRACE=1 (docs/performance.md)")
        exit(1)
    }
} catch {
    print("tick-gate: error: \(error)")
    exit(2)
}
