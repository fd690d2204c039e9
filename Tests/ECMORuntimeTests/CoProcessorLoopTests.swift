import ECMOCore
import ECMOHAL
import ECMORuntime
import RigTestSupport
import Testing

/// The safety co-processor on the other end of the UART: the same `CoProcessorEndpoint` the
/// MCU image runs, stepped every millisecond of the rig's clock, with its own inputs set by
/// the test (its own transducers and contacts, independent of the rig's sensors).
final class SimulatedCoProcessor: ByteStream {
    var endpoint = CoProcessorEndpoint()
    var inputs = ProtectiveInputs(drainage: .init(mmHg: -40), preOxygenator: .init(mmHg: 180), flow: .lpm(4),
                                  pumpSpeed: .init(rpm: 3000), airDetected: false, emergencyStop: false)
    /// A dead co-processor: it sends nothing (and its permit output has fallen).
    var silent = false
    let clock: ManualClock
    private var next = Instant.origin
    private var toPi: [UInt8] = []

    init(clock: ManualClock) { self.clock = clock }

    private func catchUp() {
        while next <= clock.now() {
            let t = next
            endpoint.step(inputs, now: t) { b in if !silent { toPi.append(b) } }
            next = next + .milliseconds(1)
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(HALError) -> Int {
        catchUp()
        let n = min(buffer.count, toPi.count)
        for i in 0..<n { buffer[i] = toPi[i] }
        toPi.removeFirst(n)
        return n
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(HALError) {
        for b in bytes { endpoint.receive(b, now: clock.now()) }
    }

    var permit: Bool { !silent && endpoint.interlock.permit }
}

@Suite("The rig and its safety co-processor")
struct CoProcessorLoopTests {
    func rig() throws -> (SimRig, SimulatedCoProcessor) {
        let rig = try SimRig()
        let mcu = SimulatedCoProcessor(clock: rig.clock)
        rig.loop.coprocessor = CoProcessorChannel(port: mcu)
        rig.configure()
        return (rig, mcu)
    }

    /// Activation waits until the co-processor would give its permit, then asks for it.
    func activated() throws -> (SimRig, SimulatedCoProcessor) {
        let (rig, mcu) = try rig()
        rig.advance(.milliseconds(300))
        let early = rig.command(.activate)
        #expect(early.refusal == .causePresent, "the co-processor has not heard the Pi for its 1 s yet")
        #expect(rig.loop.core.state == .inactive)
        rig.advance(.seconds(1))
        #expect(rig.command(.activate).accepted)
        rig.advance(.seconds(5))
        return (rig, mcu)
    }

    @Test func activationAsksTheCoProcessorForItsPermitAndTheRigRunsWithIt() throws {
        let (rig, mcu) = try activated()
        #expect(mcu.permit)
        #expect(rig.loop.core.coprocessor?.permit == true)
        #expect(rig.loop.core.state == .active)
        #expect(rig.sim.mock.outputLine("pump_enable").level == true)
        #expect(!rig.loop.safety.alarms.isActive(.coprocessorLost))
        #expect(rig.loop.coprocessor?.supervisor.decoder.crcErrors == 0)
    }

    /// The co-processor's own drainage transducer sees suction the rig's does not (a stuck
    /// sensor on the Pi's side): it cuts the permit, and the rig follows in the tick it hears
    /// that, closing the return clamp behind the stopped pump.
    @Test func aCoProcessorTripFaultsTheRigAndClosesTheClampInTheTickItIsHeard() throws {
        let (rig, mcu) = try activated()
        _ = rig.events()
        mcu.inputs.drainage = .init(mmHg: -380)
        var ticks = 0
        while rig.loop.core.state == .active && ticks < 200 {
            rig.advance(.milliseconds(1))
            ticks += 1
            if !mcu.permit && rig.loop.core.state == .active {
                // The permit fell in the co-processor; the rig must follow within one tick.
                rig.advance(.milliseconds(1))
                ticks += 1
                break
            }
        }
        #expect(ticks >= 50 && ticks <= 53, "the co-processor holds the pressure 50 ms, the rig follows in a tick")
        #expect(rig.loop.core.faultReason == .protectiveTrip)
        #expect(rig.sim.mock.outputLine("pump_enable").level == false)
        #expect(rig.sim.mock.outputLine("clamp").level == true)
        rig.advance(.milliseconds(5))
        #expect(rig.loop.safety.alarms.isActive(.protectiveTrip))
        let events = rig.events()
        #expect(events.contains { $0.faultReason == .protectiveTrip })

        // Clearing the fault is refused while the co-processor still sees its cause, and the
        // rig does not come back by itself when the cause goes.
        #expect(rig.command(.clearFault).refusal == .causePresent)
        mcu.inputs.drainage = .init(mmHg: -40)
        rig.advance(.seconds(3))
        #expect(rig.loop.core.state == .fault)
        #expect(!mcu.permit)
        #expect(rig.command(.clearFault).accepted)
        #expect(rig.command(.activate).accepted)
        rig.advance(.seconds(3))
        #expect(mcu.permit)
        #expect(mcu.endpoint.interlock.tripCount == 1)
        #expect(rig.loop.core.state == .active)
    }

    @Test func aSilentCoProcessorRaisesItsAlarmAndPausesCellsButTheCircuitRuns() throws {
        let (rig, mcu) = try activated()
        mcu.silent = true
        // Status frames come every 10 ms: the last one came at most 10 ms before the silence.
        rig.advance(.milliseconds(85))
        #expect(!rig.loop.safety.alarms.isActive(.coprocessorLost))
        rig.advance(.milliseconds(30))
        #expect(rig.loop.safety.alarms.isActive(.coprocessorLost))
        #expect(rig.loop.core.state == .active)
        // It comes back: the alarm clears by itself (after its minimum on-time), no fault.
        mcu.silent = false
        rig.advance(.seconds(5))
        #expect(rig.loop.core.coprocessor?.heard == true)
        #expect(!rig.loop.safety.alarms.isActive(.coprocessorLost))
        #expect(rig.loop.core.state == .active)
    }

    @Test func theCoProcessorCutsThePermitWhenTheLoopStopsSendingHeartbeats() throws {
        let (rig, mcu) = try activated()
        // The loop hangs: its clock goes on, it sends nothing.
        let hungAt = rig.clock.now()
        rig.clock.advance(by: .milliseconds(150))
        _ = try mcu.read(into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        #expect(!mcu.permit)
        #expect(mcu.endpoint.interlock.trip == .heartbeatLost)
        #expect(rig.clock.now() - hungAt <= .milliseconds(150))
    }
}
