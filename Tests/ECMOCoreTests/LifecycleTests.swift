import Testing
import ECMOCore

@Suite struct LifecycleTests {
    @Test func normalPathGoesUnconfiguredInactiveActiveAndBack() throws {
        var l = Lifecycle()
        #expect(l.state == .unconfigured)
        try l.handle(.configure)
        #expect(l.state == .inactive)
        #expect(!l.state.commandsAllowed && l.state.readsSensors)
        try l.handle(.activate)
        #expect(l.state == .active && l.state.commandsAllowed)
        try l.handle(.deactivate)
        #expect(l.state == .inactive)
    }

    @Test func cannotActivateBeforeConfiguring() {
        var l = Lifecycle()
        #expect(throws: LifecycleTransitionError(state: .unconfigured, event: .activate)) { try l.handle(.activate) }
        #expect(l.state == .unconfigured)
    }

    @Test func faultKeepsItsFirstCauseAndClearsOnlyToInactive() throws {
        var l = Lifecycle()
        try l.handle(.configure)
        try l.handle(.activate)
        try l.handle(.fault(.emergencyStop))
        try l.handle(.fault(.sensorInvalid))
        #expect(l.state == .fault && l.faultReason == .emergencyStop)
        #expect(throws: LifecycleTransitionError.self) { try l.handle(.activate) }
        try l.handle(.clearFault)
        #expect(l.state == .inactive && l.faultReason == .none)
    }

    @Test func shutdownIsAllowedFromEveryState() throws {
        for path: [LifecycleEvent] in [[], [.configure], [.configure, .activate], [.configure, .fault(.hardwareError)]] {
            var l = Lifecycle()
            for e in path { try l.handle(e) }
            try l.handle(.shutdown)
            #expect(l.state == .unconfigured)
        }
    }
}

@Suite struct RigControllerTests {
    let config = RigControllerConfiguration(
        pump: PumpLimits(minimumSpeed: .rpm(1500), maximumSpeed: .rpm(4500), maximumRampPerSecond: .rpm(1000)),
        mode: .constantFlow(.lpm(4)))

    func frame(speed: Double, flow: Double, at t: Instant) -> SensorFrame {
        var f = SensorFrame(at: t)
        f.pumpSpeed = .init(value: .rpm(speed), timestamp: t, source: .pumpTachometer)
        f.flow = .init(value: .lpm(flow), timestamp: t, source: .flow)
        return f
    }

    @Test func inactiveControllerCommandsNothing() throws {
        var c = RigController(configuration: config)
        try c.handle(.configure)
        #expect(c.update(frame(speed: 0, flow: 0, at: .origin), now: .origin) == .none)
    }

    @Test func activationSpinsUpAgainstAClosedClampThenOpensIt() throws {
        var c = RigController(configuration: config)
        try c.handle(.configure)
        try c.handle(.activate)
        var t = Instant.origin
        var out = c.update(frame(speed: 0, flow: 0, at: t), now: t)
        guard case .command(let first) = out else { Issue.record("expected commands"); return }
        #expect(first.clampClosed && first.pumpEnabled)
        // Ramp for 1.6 s while the pump follows.
        for _ in 0..<1600 {
            t += .milliseconds(1)
            out = c.update(frame(speed: 1500, flow: 0, at: t), now: t)
        }
        guard case .command(let later) = out else { Issue.record("expected commands"); return }
        #expect(!later.clampClosed)
        #expect(c.phase == .regulating)
    }

    @Test func spinUpWaitsForTheMeasuredSpeed() throws {
        var c = RigController(configuration: config)
        try c.handle(.configure)
        try c.handle(.activate)
        var t = Instant.origin
        for _ in 0..<3000 {
            t += .milliseconds(1)
            _ = c.update(frame(speed: 200, flow: 0, at: t), now: t)
        }
        #expect(c.phase == .spinUp, "a pump that does not turn must not be unclamped")
    }

    @Test func faultCommandsSafeOutputs() throws {
        var c = RigController(configuration: config)
        try c.handle(.configure)
        try c.handle(.activate)
        try c.handle(.fault(.emergencyStop))
        #expect(c.update(frame(speed: 3000, flow: 4, at: .origin), now: .origin) == .safe)
        #expect(c.phase == .idle)
    }
}
