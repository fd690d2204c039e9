import Testing
import ECMOCore

extension RigCoreTests.Bench {
    /// One step with the output guard's findings of the previous write.
    @discardableResult
    mutating func step(outputFaults: OutputFaultInput) -> RigTickOutput {
        now = now + RigCoreTests.period
        var input = RigTickInput(now: now, frame: plant.frame(at: now))
        input.heldPumpSpeed = plant.speed
        input.heldPumpEnabled = plant.enabled
        input.outputFaults = outputFaults
        var emitted: [RigEvent] = []
        let out = core.step(input) { emitted.append($0) }
        events += emitted
        plant.follow(out)
        return out
    }
}

/// The core's side of issue 15 item 13: what the output guard reports becomes an alarm in
/// the step that receives it, latched, high for the pump and clamp.
@Suite struct OutputFaultAlarmTests {
    @Test func aPumpOrClampOutputFaultRaisesAHighLatchedAlarmInTheStepItIsReported() throws {
        var b = try RigCoreTests.Bench.regulating()
        #expect(!b.core.safety.alarms.isActive(.outputFault))
        b.step(outputFaults: OutputFaultInput(process: true))
        #expect(b.core.safety.alarms.isActive(.outputFault))
        #expect(b.core.safety.alarms.priority(of: .outputFault) == .high)
        #expect(b.events.contains { if case .alarm(let a) = $0.kind { a.id == .outputFault && a.kind == .raised } else { false } })
        // One report is enough: the alarm stays until acknowledged.
        for _ in 0..<500 { b.step(outputFaults: OutputFaultInput()) }
        #expect(b.core.safety.alarms.isActive(.outputFault))
        #expect(b.command(.acknowledge(.outputFault)).accepted)
        b.step(outputFaults: OutputFaultInput())
        #expect(!b.core.safety.alarms.isActive(.outputFault))
    }

    @Test func anOtherOutputFaultRaisesTheMediumAuxiliaryAlarmOnly() throws {
        var b = try RigCoreTests.Bench.regulating()
        b.step(outputFaults: OutputFaultInput(auxiliary: true))
        #expect(b.core.safety.alarms.isActive(.auxiliaryOutputFault))
        #expect(b.core.safety.alarms.priority(of: .auxiliaryOutputFault) == .medium)
        #expect(!b.core.safety.alarms.isActive(.outputFault))
        #expect(b.core.phase == .regulating, "an alarm, not a safe state")
    }
}
