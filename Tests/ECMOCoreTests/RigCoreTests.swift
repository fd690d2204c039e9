import Testing
import ECMOCore

/// The pure core step, driven with hand-made sensor frames: no board, no clock, no runtime.
/// Every safety outcome is checked in the output of the very step the fault appears in.
@Suite struct RigCoreTests {
    static let period = Duration.milliseconds(1)
    static let pump = PumpLimits(minimumSpeed: .rpm(1500), maximumSpeed: .rpm(4500), maximumRampPerSecond: .rpm(1000))

    /// A plant that does exactly what it is told: the tachometer reads the speed the
    /// outputs hold, flow follows speed, pressures are normal. Enough to drive the core.
    struct IdealPlant {
        var speed = PumpSpeed.zero
        var enabled = false
        var drain = Pressure.mmHg(-40)
        var emergencyStop = false
        var air = false
        /// The tachometer reads a valid 0 rpm whatever the pump does.
        var tachometerDead = false
        var pre = Pressure.mmHg(170)
        /// When set, P_pre is P_drain plus the head this curve gives at the speed and flow.
        var curve: PumpCurve?
        /// The drainage sensor's status (e.g. pinned at a range end) and value then.
        var drainStatus = SampleStatus.valid
        /// The flow meter reads this (with a little noise) instead of the flow.
        var flowReading: Flow?
        /// The tachometer's sample is invalid (a dropped edge window, a stale reading).
        var tachometerInvalid = false
        /// The tachometer reads this instead of the rotor's speed (a burst of late edges).
        var tachometerReading: PumpSpeed?

        func frame(at now: Instant) -> SensorFrame {
            var f = SensorFrame(at: now)
            let running = enabled ? speed.rpm : 0
            // A live signal is never perfectly flat (the validator calls a flat one stuck).
            let dither = now.nanosecondsSinceOrigin / 1_000_000 % 2 == 0 ? 0.05 : -0.05
            f.drainPressure = .init(value: drain + .mmHg(dither), timestamp: now, source: .drainPressure, status: drainStatus)
            var p = pre
            if let c = curve {
                let w = running / 1000, q = running / 750
                p = drain + .mmHg(c.headCoefficient * w * w - c.flowLoss * q * q)
            }
            f.preOxygenatorPressure = .init(value: p + .mmHg(dither), timestamp: now, source: .preOxygenatorPressure)
            f.postOxygenatorPressure = .init(value: .mmHg(150 - dither), timestamp: now, source: .postOxygenatorPressure)
            f.flow = .init(value: .lpm((flowReading?.litersPerMinute ?? running / 750) + dither / 10), timestamp: now, source: .flow)
            f.pumpSpeed = .init(value: .rpm(tachometerDead ? 0 : tachometerReading?.rpm ?? running), timestamp: now, source: .pumpTachometer,
                                status: tachometerInvalid ? .deviceFault : .valid)
            f.emergencyStop = emergencyStop
            f.airDetected = air
            return f
        }

        mutating func follow(_ out: RigTickOutput) {
            switch out.process {
            case .command(let c):
                speed = c.pumpSpeed
                enabled = c.pumpEnabled
            case .safe:
                speed = .zero
                enabled = false
            case .none:
                break
            }
        }
    }

    /// A core with its plant, a clock of its own and every event it emitted.
    struct Bench {
        var core: RigCore
        var plant = IdealPlant()
        var now = Instant.origin
        var events: [RigEvent] = []

        init(mode: PumpMode = .constantSpeed(.rpm(3000)), curve: PumpCurve? = nil, limits: AlarmLimits = AlarmLimits()) throws {
            core = try RigCore(configuration: RigCoreConfiguration(loopPeriod: RigCoreTests.period, pump: RigCoreTests.pump,
                                                                   pumpCurve: curve, mode: mode, alarmLimits: limits))
        }

        @discardableResult
        mutating func step(lateness: Duration = .zero) -> RigTickOutput {
            now = now + RigCoreTests.period
            var input = RigTickInput(now: now, frame: plant.frame(at: now))
            input.lateness = lateness
            input.heldPumpSpeed = plant.speed
            input.heldPumpEnabled = plant.enabled
            var emitted: [RigEvent] = []
            let out = core.step(input) { emitted.append($0) }
            events += emitted
            plant.follow(out)
            return out
        }

        mutating func run(_ ticks: Int) { for _ in 0..<ticks { step() } }

        mutating func command(_ c: OperatorCommand) -> CommandResult {
            var emitted: [RigEvent] = []
            let r = core.apply(c, from: .operatorPanel, now: now) { emitted.append($0) }
            events += emitted
            return r
        }

        /// Configured, activated, spun up, unclamped: regulating at 3000 rpm (or `mode`).
        static func regulating(mode: PumpMode = .constantSpeed(.rpm(3000)), curve: PumpCurve? = nil,
                               limits: AlarmLimits = AlarmLimits()) throws -> Bench {
            var b = try Bench(mode: mode, curve: curve, limits: limits)
            var sink: [RigEvent] = []
            b.core.configure(now: b.now) { sink.append($0) }
            b.run(200)
            #expect(b.command(.activate).accepted)
            var n = 0
            while b.core.phase != .regulating && n < 10_000 {
                b.step()
                n += 1
            }
            #expect(b.core.phase == .regulating, "regulating after \(n) steps")
            b.run(2000)
            return b
        }
    }

    static func isSafe(_ out: RigTickOutput) -> Bool {
        if case .safe = out.process { return out.holdSafe }
        return false
    }

    @Test func anEmergencyStopPutsEveryProcessOutputSafeInTheStepItIsSeen() throws {
        var b = try Bench.regulating()
        guard case .command(let before) = b.core.lastOutput.process else {
            Issue.record("not commanding before the fault")
            return
        }
        #expect(before.pumpEnabled && !before.clampClosed)
        b.plant.emergencyStop = true
        let out = b.step()
        #expect(Self.isSafe(out), "safe in the same step: \(out.process)")
        #expect(b.core.state == .fault && b.core.faultReason == .emergencyStop)
        #expect(b.core.safety.alarms.isActive(.emergencyStop), "the high-priority alarm is raised at once")
        #expect(b.events.contains { if case .fault(.emergencyStop) = $0.kind { true } else { false } })
        #expect(b.events.contains { if case .alarm(let a) = $0.kind { a.id == .emergencyStop && a.kind == .raised } else { false } })
        // Released, it stays safe until an operator clears the fault and activates again.
        b.plant.emergencyStop = false
        b.run(100)
        #expect(b.core.state == .fault)
        #expect(Self.isSafe(b.core.lastOutput))
        #expect(b.command(.activate).refusal == .notAllowed)
        #expect(b.command(.clearFault).accepted)
        #expect(b.core.state == .inactive)
    }

    @Test func airInTheLineStopsThePumpAndClampsInTheStepItIsSeen() throws {
        var b = try Bench.regulating()
        b.plant.air = true
        let out = b.step()
        #expect(Self.isSafe(out))
        #expect(b.core.faultReason == .airInLine)
        #expect(b.core.safety.alarms.isActive(.airInLine))
        // The air is still there: clearing the fault is refused with its reason.
        #expect(b.command(.clearFault).refusal == .causePresent)
        #expect(b.core.state == .fault)
    }

    @Test func suctionTakesSpeedAwayInTheStepItIsSeen() throws {
        var b = try Bench.regulating()
        let held = b.plant.speed
        #expect(b.core.lastOutput.speedCeiling == nil)
        // A kink develops over 110 ms (a step of 110 mmHg in 1 ms fails plausibility) past
        // the alarm tier (−150 mmHg by default); the warning tier (−100) only holds speed.
        let limit = b.core.safety.limits.drainPressureLow
        var out = b.core.lastOutput
        while b.plant.drain > limit - .mmHg(1) {
            b.plant.drain = b.plant.drain - .mmHg(1)
            out = b.step()
            if b.plant.drain > limit { #expect(out.speedCeiling.map { $0 >= held } ?? true, "no reduction above the alarm tier") }
        }
        // The step that sees the suction first:
        let ceiling = try #require(out.speedCeiling, "the interlock's ceiling is in force in the step the suction is seen")
        #expect(ceiling < held)
        guard case .command(let c) = out.process else {
            Issue.record("the pump keeps running (at a lower speed) under suction")
            return
        }
        #expect(c.pumpSpeed <= ceiling, "commanded \(c.pumpSpeed.rpm) rpm under the ceiling \(ceiling.rpm)")
        #expect(c.pumpEnabled)
        // Held for a while: the speed goes down toward the floor, never below it, and the alarm sounds.
        while b.plant.drain > .mmHg(-200) {
            b.plant.drain = b.plant.drain - .mmHg(1)
            b.step()
        }
        b.run(2000)
        #expect(b.plant.speed >= Self.pump.minimumSpeed)
        #expect(b.plant.speed.rpm < held.rpm - 500)
        #expect(b.core.safety.alarms.isActive(.drainPressureLow))
    }

    @Test func aLoopThatLosesItsDeadlineGoesSafeOnTheThirdLateStep() throws {
        var b = try Bench.regulating()
        let late = Self.period * 60
        #expect(!Self.isSafe(b.step(lateness: late)))
        #expect(!Self.isSafe(b.step(lateness: late)))
        let out = b.step(lateness: late)
        #expect(Self.isSafe(out), "safe in the step the deadline is lost for the third time")
        #expect(b.core.faultReason == .loopOverrun)
        #expect(out.overrun.safeState)
        #expect(b.core.overruns == 3)
        #expect(b.events.filter { if case .overrun = $0.kind { true } else { false } }.count == 3)
    }

    @Test func oneLongStallRaisesALatchedAlarmThatOutlivesTheStall() throws {
        var b = try Bench.regulating()
        b.step(lateness: Self.period * 30)
        #expect(b.core.safety.alarms.isActive(.loopOverrun), "LOOP_OVERRUN in the step after a 30 ms stall")
        #expect(b.core.state == .active, "one stall does not stop the circuit")
        b.run(1000)
        #expect(b.core.safety.alarms.isActive(.loopOverrun), "latched until an operator acknowledges it")
        #expect(b.command(.acknowledge(.loopOverrun)).accepted)
        b.run(10)
        #expect(!b.core.safety.alarms.isActive(.loopOverrun))
    }

    @Test func aSpinUpThatNeverSeesTheMinimumSpeedTimesOutToTheSafeState() throws {
        var b = try Bench()
        b.plant.tachometerDead = true
        var sink: [RigEvent] = []
        b.core.configure(now: b.now) { sink.append($0) }
        b.run(200)
        #expect(b.command(.activate).accepted)
        // Ramp to 1500 rpm at 1000 rpm/s (1.5 s) plus the 5 s grace: 6.5 s of commands, then safe.
        var safeAt: Int?
        for k in 1...8000 {
            let out = b.step()
            if Self.isSafe(out) { safeAt = k; break }
            if case .command(let c) = out.process { #expect(c.clampClosed, "never unclamped without a measured speed") }
        }
        let k = try #require(safeAt, "spin-up must give up")
        #expect((6490...6510).contains(k), "gave up after ramp + grace: step \(k)")
        #expect(b.core.faultReason == .spinUpTimeout)
        #expect(b.events.contains { if case .fault(.spinUpTimeout) = $0.kind { true } else { false } })
        b.run(600)
        #expect(b.core.safety.alarms.isActive(.tachometerLost), "TACH_LOST says why")
        #expect(Self.isSafe(b.core.lastOutput), "and it stays safe")
    }

    @Test func aSpinUpThatSeesItsSpeedIsNotTimedOut() throws {
        var b = try Bench.regulating()
        b.run(10_000)
        #expect(b.core.state == .active && b.core.phase == .regulating)
    }

    @Test func everyCommandSourceMeetsTheSameSetpointLimits() throws {
        var b = try Bench.regulating()
        // Flow: the hard range and the run's flow alarm limits (default 1…7 L/min).
        let high = b.command(.setFlow(.lpm(9)))
        #expect(high.refusal == .aboveMaximum && high.limit == 7)
        let low = b.command(.setFlow(.lpm(0.2)))
        #expect(low.refusal == .belowMinimum && low.limit == 1)
        #expect(b.command(.setFlow(.lpm(.nan))).refusal == .belowMinimum)
        #expect(b.core.controller.mode == .constantSpeed(.rpm(3000)), "refusals change nothing")
        // Speed: the board's pump limits.
        #expect(b.command(.setSpeed(.rpm(4600))).refusal == .aboveMaximum)
        #expect(b.command(.setSpeed(.rpm(3500))).accepted)
        #expect(b.core.controller.mode == .constantSpeed(.rpm(3500)))
        #expect(b.events.contains { if case .setpoint(.constantSpeed(let s)) = $0.kind { s == .rpm(3500) } else { false } })
        // A run cannot even be configured with a set-point out of range.
        #expect(throws: RigCoreConfigurationError.self) {
            try RigCore(configuration: RigCoreConfiguration(loopPeriod: Self.period, pump: Self.pump, pumpCurve: nil,
                                                            mode: .constantFlow(.lpm(12))))
        }
    }

    @Test func activationIsRefusedWhileASensorIsNotValid() throws {
        var b = try Bench()
        var sink: [RigEvent] = []
        b.core.configure(now: b.now) { sink.append($0) }
        // Nothing read yet: every sample is missing.
        #expect(b.command(.activate).refusal == .sensorsNotReady)
        b.run(10)
        #expect(b.command(.activate).accepted)
        #expect(b.core.state == .active)
    }

    @Test func commandsWithoutAProtocolAreRefusedAsSuch() throws {
        var b = try Bench.regulating()
        for c: OperatorCommand in [.pauseInfusion(.cells), .resumeInfusion(.cells), .abortProtocol, .startProtocol,
                                   .enterACT(.seconds(180)), .setHeparinRate(HeparinRate(unitsPerKilogramPerHour: 10))] {
            #expect(b.command(c).refusal == .noProtocol, "\(c.name)")
        }
        #expect(b.command(.acknowledge(.airInLine)).refusal == .alarmNotActive)
        #expect(b.command(.stop).accepted)
        #expect(b.core.stopRequested)
        #expect(b.command(.stop).refusal == .notAllowed, "a second stop is refused")
    }
}
