import Testing
import AllocationCounter
import ARCCounter
import ECMOCore
import ECMORuntime
import RigTestSupport

@Suite struct AllocationTests {
    /// Counts heap allocations across `n` regulating ticks of the full loop on the
    /// simulated board (physics, device models, drivers, controller, guard, telemetry).
    func allocations(ticks n: Int, rig: SimRig) -> UInt64 {
        var now = rig.clock.now()
        ecmo_alloc_counter_start()
        for _ in 0..<n {
            now = now + rig.board.loopPeriod
            rig.clock.advance(to: now)
            rig.loop.tick(now: now)
            _ = rig.loop.telemetry.pop()   // keep the ring from filling; pop does not allocate either
        }
        return ecmo_alloc_counter_stop()
    }

    @Test(.enabled(if: ecmo_alloc_counter_available(), "needs the glibc allocation counter"))
    func tickAllocatesNothingInNAndTenNTicks() throws {
        let rig = try SimRig(recordEvery: 1)
        rig.startAndRun(for: .seconds(3))
        rig.drain()
        #expect(rig.loop.controller.phase == .regulating)
        let n = allocations(ticks: 1_000, rig: rig)
        let tenN = allocations(ticks: 10_000, rig: rig)
        #expect(n == 0, "allocations in 1 000 ticks: \(n)")
        #expect(tenN == 0, "allocations in 10 000 ticks: \(tenN)")
    }

    /// The tick while a dose runs: infusion engine, journal hand-off, step pulses, the
    /// simulated syringe moving on each step edge, and an agitation stroke.
    @Test(.enabled(if: ecmo_alloc_counter_available(), "needs the glibc allocation counter"))
    func tickAllocatesNothingWhileDosingAndAgitating() throws {
        let agitation = AgitationPlan(interval: .seconds(1), steps: 100, strokes: 1, stepRate: 2000)
        let rig = try InfusionRig(plan: try testPlan(dose: .mL(1), over: .seconds(30), agitation: agitation),
                                  journalPath: temporaryPath("j"))
        rig.start()
        _ = rig.run(.seconds(5))
        #expect(rig.loop.infusion.stage == .delivering)
        var now = rig.clock.now()
        var total: UInt64 = 0
        let before = rig.sim.plungerSteps.cells
        for _ in 0..<5_000 {
            now = now + rig.board.loopPeriod
            rig.clock.advance(to: now)
            ecmo_alloc_counter_start()
            rig.loop.tick(now: now)
            total += ecmo_alloc_counter_stop()
            rig.runner.journalWriter?.serviceOnce()   // the writer's own thread in real time: not counted
            _ = rig.loop.telemetry.drain { _ in }
            _ = rig.loop.events.drain { _ in }
        }
        #expect(rig.sim.plungerSteps.cells > before, "the syringe moved during the measured ticks")
        #expect(total == 0, "allocations in 5 000 dosing ticks: \(total)")
    }

    @Test(.enabled(if: ecmo_alloc_counter_available(), "needs the glibc allocation counter"))
    func allocationCounterSeesAnAllocation() {
        ecmo_alloc_counter_start()
        let a = [Int](repeating: 1, count: Int.random(in: 100...200))
        let n = ecmo_alloc_counter_stop()
        #expect(a.count >= 100)
        #expect(n >= 1, "the counter must be able to fail the zero-allocation test")
    }

    // Retains are judged in a release build (`tick-gate`, run by CI): unoptimised code
    // retains on nearly every access. This checks that the counter it uses can fail.
    final class Box { var value = 0 }

    @Test(.enabled(if: ecmo_arc_counter_available(), "needs the Swift runtime's retain/release hooks"))
    func retainCounterSeesARetain() {
        let box = Box()
        var keep: [Box] = []
        keep.reserveCapacity(4)
        ecmo_arc_counter_start()
        keep.append(box)   // storing a second reference retains
        var released: UInt64 = 0
        let retained = ecmo_arc_counter_stop(&released)
        #expect(keep.count == 1)
        #expect(retained >= 1, "the counter must be able to fail the zero-retain test")
    }
}
