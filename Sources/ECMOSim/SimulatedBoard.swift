import ECMOCore
import ECMOProtocol
import ECMOHAL
import ECMOBoard
import ECMOMockBoard

/// The simulated board: the mock board's lines, PWM and register-level I²C devices,
/// driven by the circuit model. It sits below the HAL, so the firmware under test is the
/// same code that runs on a Pi: it writes PWM duty and GPIO lines, and reads ABP2 and
/// ADS1115 registers and tachometer edges, all produced here from the physics.
///
/// Deterministic: time comes from the injected clock, noise from a seeded generator.
///
/// Two fidelities (`board.simulation`, `SimulationFidelity`): at register level every
/// device model sits on a mock I²C bus and the plant publishes noisy values to them every
/// tick; at sensor level the same models are wired straight to the drivers and ask the
/// plant for a value only when a conversion finishes. Faults, lines, PWM, watchdog,
/// syringes and tachometer are the same code in both.
public final class SimulatedBoard: HardwareProvider, ModelInputSource {
    public let board: BoardConfiguration
    public let mock: MockBoard
    public let clock: any MonotonicClock
    public var circuit: CircuitModel
    public var noise: SensorNoise
    /// The cell syringe's mechanism (plunger, end stops, occlusion force).
    public var syringe = SyringeModel(parameters: .syringe50mL, initialVolume: .mL(50))
    /// The heparin syringe's mechanism.
    public var heparinSyringe = SyringeModel(parameters: .syringe50mL, initialVolume: .mL(50))
    /// What the cell syringe holds: each millilitre it delivers puts this many particles
    /// of this kind into the circuit at this port (nil: plain fluid).
    public var syringeContents: SyringeContents?
    /// Net plunger steps that moved, per channel (cells, heparin): what the plant received.
    public private(set) var plungerSteps: (cells: Int64, heparin: Int64) = (0, 0)
    /// Optional durable copy of `plungerSteps` (two Int64s, e.g. in a shared mapping of a
    /// file) updated at each step, so a harness can read what the plant received after the
    /// firmware process was killed.
    public var plantLedger: UnsafeMutablePointer<Int64>?
    /// Injected: the end-of-travel switch reads "empty" whatever the plunger does.
    public private(set) var forcedSyringeEmpty = false
    /// The heparin syringe's empty end stop forced closed (a scenario fault).
    public private(set) var forcedHeparinEmpty = false
    private var stepLines: (cells: MockOutputLine?, cellsDir: MockOutputLine?, cellsEnable: MockOutputLine?,
                            heparin: MockOutputLine?, heparinDir: MockOutputLine?, heparinEnable: MockOutputLine?)
        = (nil, nil, nil, nil, nil, nil)
    private let emptySwitch: MockInputLine?
    private let heparinEmptySwitch: MockInputLine?
    /// The device models the board publishes to on every tick, owned here whatever the bus
    /// does (a fault may detach a model), in `let` slots so a tick calls them with no ARC
    /// traffic (see `FixedSlots`).
    private let pressureModels: FixedSlots<ABP2Model>
    private let pressureRoles: [SensorRole]
    private let adcModels: FixedSlots<ADS1115Model>
    /// Per analog input: which ADC model (slot), its input channel and calibration.
    private let analogInputs: [(role: SensorRole, slot: Int, channel: Int, calibration: AnalogCalibration)]
    private let forceInputs: [(slot: Int, channel: Int, calibration: AnalogCalibration)]
    public let simulatedWatchdog: SimulatedWatchdog
    /// Sensor level: values the device models asked the plant for (one per finished
    /// conversion and channel; each draws its noise then, and only then).
    public private(set) var inputsDrawn: UInt64 = 0
    /// Register or sensor level (from the board file).
    public let fidelity: SimulationFidelity
    /// Sensor level: each device's link to its model, by "bus/address".
    private var directLinks: [String: DirectDeviceLink] = [:]
    /// Every device model by device id, whatever the fidelity (faults reach them here).
    private var modelsByDevice: [String: any I2CDeviceModel] = [:]
    /// Sensor level: what each (device index × 4 + channel) converts; see `modelInput`.
    private var inputMap: [ModelInput] = []
    private enum ModelInput {
        case none
        case pressure(SimulatedChannel)
        case analog(SimulatedChannel, AnalogCalibration)
        case force(AnalogCalibration)
    }
    /// Every output line the board has, by role, resolved once: a harness that looks at
    /// the outputs every tick (the scenario runner) must not hash role names to find them.
    private var outputLines: [(role: ActuatorRole, line: MockOutputLine)] = []

    /// What the hardware holds on an output now (false for a role the board lacks).
    public func level(_ role: ActuatorRole) -> Bool {
        for i in outputLines.indices where outputLines[i].role == role { return outputLines[i].line.level }
        return false
    }

    /// Longest physics step; longer service intervals are split.
    public var maximumStep: Duration = .milliseconds(1)

    /// Sensor noise (standard deviations), applied before the device models quantise.
    public struct SensorNoise: Sendable, Equatable {
        public var pressure: Pressure
        public var flow: Flow
        public init(pressure: Pressure = .mmHg(0.3), flow: Flow = .lpm(0.01)) {
            self.pressure = pressure
            self.flow = flow
        }
        public static let none = SensorNoise(pressure: .zero, flow: .zero)
    }

    private var rng: SeededGenerator
    private let pumpPWM: MockPWMChannel
    private let pumpEnable: MockOutputLine
    private let clamp: MockOutputLine
    /// A jammed clamp mechanism (true: jammed closed). Mechanical: the line still follows
    /// its writes and reads back what was written, as a real GPIO would; only the plant
    /// (pressure, flow) shows the jam.
    private var clampJam: Bool?
    private let tach: MockInputLine
    private let pulsesPerRevolution: Int
    private var lastService: Instant
    private var tachPhase = 0.0
    /// Times the watchdog reset the board (outputs forced to their boot defaults).
    public private(set) var watchdogResets = 0
    /// Per-channel sensor faults, indexed by `SimulatedChannel.rawValue`.
    public private(set) var sensorFaults = [SensorFaultState](repeating: SensorFaultState(), count: SimulatedChannel.allCases.count)
    /// The tachometer produces no pulses (broken wire, failed sensor).
    public var tachometerLost = false
    /// Last value published per channel, for stuck faults.
    private var lastPublished = [Double](repeating: 0, count: SimulatedChannel.allCases.count)

    public init(board: BoardConfiguration, clock: any MonotonicClock, seed: UInt64 = 1,
                circuit: CircuitModel = CircuitModel(), noise: SensorNoise = SensorNoise()) throws {
        self.board = board
        self.clock = clock
        self.circuit = circuit
        self.noise = noise
        fidelity = board.simulation
        rng = SeededGenerator(seed: seed)
        mock = MockBoard(clock: clock)
        lastService = clock.now()
        simulatedWatchdog = SimulatedWatchdog(clock: clock)

        var pressure: [(role: SensorRole, model: ABP2Model)] = []
        var adcs: [ADS1115Model] = []
        var analog: [(role: SensorRole, slot: Int, channel: Int, calibration: AnalogCalibration)] = []
        var force: [(slot: Int, channel: Int, calibration: AnalogCalibration)] = []
        var links: [String: DirectDeviceLink] = [:]
        var models: [String: any I2CDeviceModel] = [:]
        var map: [ModelInput] = []
        for (index, (id, dev)) in board.devices.sorted(by: { $0.key < $1.key }).enumerated() {
            let bus = mock.i2cBus(dev.bus)
            let model: any I2CDeviceModel
            map += [ModelInput](repeating: .none, count: 4)
            switch dev.driver {
            case .abp2(let lo, let hi, let tf):
                let abp2 = ABP2Model(clock: clock, pressureMin: lo, pressureMax: hi, transferFunction: tf)
                abp2.inputDevice = index
                model = abp2
                for (role, s) in board.sensors where s.device == id {
                    pressure.append((role, abp2))
                    if let ch = SimulatedChannel(role) { map[index * 4] = .pressure(ch) }
                }
            case .ads1115:
                let adc = ADS1115Model(clock: clock)
                adc.inputDevice = index
                model = adc
                adcs.append(adc)
                for (role, s) in board.sensors where s.device == id {
                    guard let ch = s.channel, let cal = s.analog, (0...3).contains(ch) else { continue }
                    if role == .syringeForce {
                        force.append((adcs.count - 1, ch, cal))
                        map[index * 4 + ch] = .force(cal)
                    } else {
                        analog.append((role, adcs.count - 1, ch, cal))
                        if let sc = SimulatedChannel(role) { map[index * 4 + ch] = .analog(sc, cal) }
                    }
                }
            }
            models[id] = model
            switch board.simulation {
            case .register:
                do { try bus.attach(model, at: dev.address) } catch {
                    throw HardwareOpenError(what: "simulated device \(id)", cause: error)
                }
            case .sensor:
                links[Self.linkKey(dev.bus, dev.address)] = DirectDeviceLink(address: dev.address, model: model, clock: clock)
            }
        }
        directLinks = links
        modelsByDevice = models
        inputMap = map
        pressure.sort { $0.role.rawValue < $1.role.rawValue }
        analog.sort { $0.role.rawValue < $1.role.rawValue }
        guard pressure.count <= FixedSlots<ABP2Model>.capacity, adcs.count <= FixedSlots<ADS1115Model>.capacity else {
            throw HardwareOpenError(what: "simulated board \(board.name)", detail: "more than \(FixedSlots<ABP2Model>.capacity) sensors of one kind")
        }
        pressureModels = FixedSlots(pressure.map(\.model))
        pressureRoles = pressure.map(\.role)
        adcModels = FixedSlots(adcs)
        analogInputs = analog
        forceInputs = force
        pumpPWM = mock.pwmChannel(Self.pwmName(chip: board.pump.pwmChip, channel: board.pump.channel))
        pumpEnable = mock.outputLine(ActuatorRole.pumpEnable.rawValue)
        clamp = mock.outputLine(ActuatorRole.clamp.rawValue)
        let tachConfig = board.inputs[.pumpTachometer]
        pulsesPerRevolution = tachConfig?.pulsesPerRevolution ?? 1
        tach = mock.inputLine(InputRole.pumpTachometer.rawValue, edges: Self.edges(tachConfig?.edge ?? .rising))
        // Boot defaults: every output at its safe value before the firmware runs.
        for (role, c) in board.outputs { try? mock.outputLine(role.rawValue).set(c.safeValue) }
        for role in InputRole.allCases where board.inputs[role] != nil && role != .pumpTachometer {
            _ = mock.inputLine(role.rawValue, edges: Self.edges(board.inputs[role]?.edge ?? .none))
        }
        emptySwitch = board.inputs[.syringeEndEmpty] != nil ? mock.inputLine(InputRole.syringeEndEmpty.rawValue, edges: .both) : nil
        heparinEmptySwitch = board.inputs[.heparinEndEmpty] != nil ? mock.inputLine(InputRole.heparinEndEmpty.rawValue, edges: .both) : nil
        wireSyringes()
        outputLines = ActuatorRole.allCases.filter { board.outputs[$0] != nil }.map { ($0, mock.outputLine($0.rawValue)) }
        if fidelity == .sensor {
            for i in pressure.indices { pressure[i].model.inputSource = self }
            for adc in adcs { adc.inputSource = self }
        }
        publishSensors()
    }

    static func linkKey(_ bus: String, _ address: UInt8) -> String { "\(bus)/\(address)" }

    /// A device model's input at a finished conversion (sensor level): the plant's value
    /// now, with this conversion's noise and the channel's faults.
    public func modelInput(device: Int, channel: Int, at now: Instant) -> Double {
        inputsDrawn &+= 1
        let i = device * 4 + channel
        guard i >= 0, i < inputMap.count else { return 0 }
        switch inputMap[i] {
        case .none:
            return 0
        case .pressure(let ch):
            return faulted(ch, truth(ch) + noise.pressure.mmHg * rng.nextGaussian(), now: now)
        case .analog(let ch, let cal):
            // An open analog input floats to the supply rail.
            if sensorFaults[ch.rawValue].disconnected { return 3.3 }
            let sd = ch == .flow ? noise.flow.litersPerMinute : noise.pressure.mmHg
            return cal.volts(for: faulted(ch, truth(ch) + sd * rng.nextGaussian(), now: now)).volts
        case .force(let cal):
            return cal.volts(for: syringe.forceNewtons).volts
        }
    }

    /// The plant's true value on a channel (mmHg, L/min).
    private func truth(_ ch: SimulatedChannel) -> Double {
        switch ch {
        case .drainPressure: circuit.pressures().drain.mmHg
        case .preOxygenatorPressure: circuit.pressures().preOxygenator.mmHg
        case .postOxygenatorPressure: circuit.pressures().postOxygenator.mmHg
        case .flow: circuit.flow.litersPerMinute
        }
    }

    /// The step lines move the syringe mechanisms on each rising edge, as a stepper driver does.
    private func wireSyringes() {
        func line(_ r: ActuatorRole) -> MockOutputLine? { board.outputs[r] != nil ? mock.outputLine(r.rawValue) : nil }
        stepLines = (line(.syringeStep), line(.syringeDirection), line(.syringeEnable),
                     line(.heparinStep), line(.heparinDirection), line(.heparinEnable))
        // The board owns the mock board and its lines, so it outlives the handlers' context.
        let me = Unmanaged.passUnretained(self).toOpaque()
        stepLines.cells?.onRise({ Unmanaged<SimulatedBoard>.fromOpaque($0)._withUnsafeGuaranteedRef { $0.stepCells() } }, context: me)
        stepLines.heparin?.onRise({ Unmanaged<SimulatedBoard>.fromOpaque($0)._withUnsafeGuaranteedRef { $0.stepHeparin() } }, context: me)
    }

    private func stepCells() {
        guard stepLines.cellsEnable?.level ?? false else { return }
        // Logical DIR asserted = withdraw.
        let forward = !(stepLines.cellsDir?.level ?? false)
        let before = syringe.delivered
        guard syringe.step(forward: forward) else { return }
        plungerSteps.cells &+= forward ? 1 : -1
        plantLedger?[0] = plungerSteps.cells
        let out = syringe.delivered - before
        if out > .zero, let c = syringeContents {
            circuit.infuse(cells: out.milliliters * c.particlesPerMilliliter, kind: c.kind, port: c.port)
        }
    }

    private func stepHeparin() {
        guard stepLines.heparinEnable?.level ?? false else { return }
        let forward = !(stepLines.heparinDir?.level ?? false)
        guard heparinSyringe.step(forward: forward) else { return }
        plungerSteps.heparin &+= forward ? 1 : -1
        plantLedger?[1] = plungerSteps.heparin
    }

    /// Loads a syringe: its mechanism from the channel (bore, stroke, lead, microsteps),
    /// filled to `volume`, and what it holds.
    public func loadSyringe(_ channel: InfusionChannel, spec: SyringeChannelSpecification, volume: Volume,
                            contents: SyringeContents? = nil) {
        var p = SyringeModel.Parameters()
        p.innerDiameterMillimetres = spec.syringe.innerDiameterMillimeters
        p.strokeMillimetres = spec.syringe.capacity.microliters / max(spec.syringe.areaSquareMillimeters, 1e-9)
        p.leadMillimetres = spec.drive.leadMillimeters
        p.stepsPerRevolution = spec.drive.stepsPerRevolution
        p.microsteps = spec.drive.microsteps
        // The dead volume stays in the nozzle: the plunger's empty stop is that far from zero volume.
        let travelVolume = max(volume - spec.syringe.deadVolume, .zero)
        if channel == .cells {
            syringe = SyringeModel(parameters: p, initialVolume: travelVolume)
            syringeContents = contents
        } else {
            heparinSyringe = SyringeModel(parameters: p, initialVolume: travelVolume)
        }
    }

    /// Restores what the plant had received before a restart (the plunger stays where the
    /// motor left it when the firmware dies).
    public func restorePlunger(cells: Int64, heparin: Int64) {
        plungerSteps = (cells, heparin)
        if cells > 0 { syringe.advanceWithoutDelivery(steps: Int(cells)) }
        if heparin > 0 { heparinSyringe.advanceWithoutDelivery(steps: Int(heparin)) }
        plantLedger?[0] = cells
        plantLedger?[1] = heparin
    }

    static func pwmName(chip: String, channel: Int) -> String { "\(chip)/\(channel)" }

    static func edges(_ e: EdgeSetting) -> EdgeDetection {
        switch e {
        case .none: .none
        case .rising: .rising
        case .falling: .falling
        case .both: .both
        }
    }

    // MARK: HardwareProvider

    /// Where the firmware's HAL calls are reported (a HAL transcript, `ECMOTranscript`):
    /// attach before the loop opens its devices. Nil (the normal case) costs nothing.
    public var halTap: (any HALTap)?

    /// Reports an open to the tap and hands the device its id there.
    private func tapped<D: AnyObject>(_ device: D, _ what: HALTapOpen, existing: UInt16?, assign: (D, any HALTap, UInt16) -> Void) -> D {
        guard let t = halTap else { return device }
        let id = t.opened(what, existing: existing, error: nil)
        assign(device, t, id)
        return device
    }

    private func tapRefusal(_ what: HALTapOpen, _ error: HardwareOpenError) -> HardwareOpenError {
        _ = halTap?.opened(what, existing: nil, error: error)
        return error
    }

    public func i2cDevice(bus: String, address: UInt8) throws(HardwareOpenError) -> MockI2CDevice {
        let d = try openI2CDevice(bus: bus, address: address)
        return tapped(d, .i2c(bus: bus, address: address), existing: d.tap != nil ? d.tapID : nil) { $0.tap = $1; $0.tapID = $2 }
    }

    private func openI2CDevice(bus: String, address: UInt8) throws(HardwareOpenError) -> MockI2CDevice {
        guard board.i2cBuses[bus] != nil else {
            throw tapRefusal(.i2c(bus: bus, address: address), HardwareOpenError(what: "I2C bus \(bus)", detail: "not on board \(board.name)"))
        }
        switch fidelity {
        case .register:
            return mock.i2cBus(bus).device(at: address)
        case .sensor:
            let key = Self.linkKey(bus, address)
            // Nothing at the address: a link without a model, which never acknowledges.
            let link = directLinks[key] ?? DirectDeviceLink(address: address, model: nil, clock: clock)
            directLinks[key] = link
            return MockI2CDevice(bus: mock.i2cBus(bus), link: link)
        }
    }

    /// The device model behind a device id (both fidelities).
    public func deviceModel(_ id: String) -> (any I2CDeviceModel)? { modelsByDevice[id] }

    /// The device at `bus`/`address` stops acknowledging (or answers again), whichever
    /// way it is wired.
    func setPermanentNAK(bus: String, address: UInt8, _ active: Bool) {
        switch fidelity {
        case .register: mock.i2cBus(bus).setPermanentNAK(address: address, active)
        case .sensor: directLinks[Self.linkKey(bus, address)]?.permanentNAK = active
        }
    }

    public func outputLine(_ configuration: OutputLineConfiguration) throws(HardwareOpenError) -> MockOutputLine {
        let c = configuration
        let what = HALTapOpen.output(role: c.role.rawValue, chip: c.chip, line: c.line, safeValue: c.safeValue)
        let line = mock.outputLine(configuration.role.rawValue)
        // The line is requested driving its safe value (the kernel does it in the request).
        let wasTapped = line.tap != nil
        let tap = line.tap
        line.tap = nil
        defer { if wasTapped { line.tap = tap } }
        do { try line.set(configuration.safeValue) } catch {
            throw tapRefusal(what, HardwareOpenError(what: "output \(configuration.role.rawValue)", cause: error))
        }
        return tapped(line, what, existing: wasTapped ? line.tapID : nil) { $0.tap = $1; $0.tapID = $2 }
    }

    public func inputLine(_ configuration: InputLineConfiguration) throws(HardwareOpenError) -> MockInputLine {
        let line = mock.inputLine(configuration.role.rawValue, edges: Self.edges(configuration.edge))
        return tapped(line, .input(role: configuration.role.rawValue, chip: configuration.chip, line: configuration.line),
                      existing: line.tap != nil ? line.tapID : nil) { $0.tap = $1; $0.tapID = $2 }
    }

    public func pwmChannel(chip: String, channel: Int) throws(HardwareOpenError) -> MockPWMChannel {
        guard board.pwmChips[chip] != nil else {
            throw tapRefusal(.pwm(chip: chip, channel: channel), HardwareOpenError(what: "PWM chip \(chip)", detail: "not on board \(board.name)"))
        }
        let ch = mock.pwmChannel(Self.pwmName(chip: chip, channel: channel))
        return tapped(ch, .pwm(chip: chip, channel: channel), existing: ch.tap != nil ? ch.tapID : nil) { $0.tap = $1; $0.tapID = $2 }
    }

    public func watchdog(_ configuration: WatchdogConfiguration) throws(HardwareOpenError) -> SimulatedWatchdog {
        let wd = simulatedWatchdog
        return tapped(wd, .watchdog(device: configuration.device), existing: wd.tap != nil ? wd.tapID : nil) { $0.tap = $1; $0.tapID = $2 }
    }

    /// True once the simulated watchdog has reset the board: the firmware that boots next
    /// finds it here, as the Linux backend finds `WDIOF_CARDRESET`.
    public var bootedAfterWatchdogReset: Bool { watchdogResets > 0 }

    /// Advances the physics to `now` and publishes it to the device models.
    public func service(now: Instant) {
        if simulatedWatchdog.hasExpired(at: now) {
            // The board resets: outputs fall to their boot defaults (safe values).
            watchdogResets += 1
            cutPower()
        }
        var t = lastService
        while t < now {
            let step = min(maximumStep, now - t)
            let start = t
            t = t + step
            circuit.step(currentDrive(), dt: step)
            if !tachometerLost { emitTachometerEdges(from: start, to: t) }
        }
        lastService = now
        // The syringe line sees the circuit pressure at its port.
        let port = syringeContents?.port ?? .preOxygenator
        let p = circuit.pressures()
        switch port {
        case .prePump: syringe.backPressure = p.drain
        case .preOxygenator: syringe.backPressure = p.preOxygenator
        case .postOxygenator: syringe.backPressure = p.postOxygenator
        }
        syringe.stop()
        heparinSyringe.stop()
        publishSensors()
    }

    /// What the actuators ask of the plant right now.
    public func currentDrive() -> CircuitModel.Drive {
        let speed = pumpPWM.enabled ? board.pump.speed(for: pumpPWM.dutyCycle) : .zero
        return CircuitModel.Drive(commandedSpeed: speed, pumpEnabled: pumpEnable.level, clampClosed: clampJam ?? clamp.level)
    }

    /// The pressures the plant has now (truth, before sensor noise).
    public var truePressures: CircuitModel.Pressures { circuit.pressures() }

    private func publishSensors() {
        // Optional chaining calls through the `let` fields in place (no retain).
        if emptySwitch != nil { emptySwitch?.drive(forcedSyringeEmpty || syringe.endEmpty) }
        if heparinEmptySwitch != nil { heparinEmptySwitch?.drive(forcedHeparinEmpty || heparinSyringe.endEmpty) }
        // Sensor level: the models ask for their inputs when a conversion finishes.
        if fidelity == .sensor { return }
        let p = circuit.pressures()
        let now = clock.now()
        for i in forceInputs.indices {
            let (slot, channel, cal) = forceInputs[i]
            let volts = cal.volts(for: syringe.forceNewtons)
            adcModels.with(slot) { $0.setInput(channel: channel, voltage: volts) }
        }
        // Index loops: destructuring for-in over tuple arrays allocates in debug builds.
        for i in pressureRoles.indices {
            guard let channel = SimulatedChannel(pressureRoles[i]) else { continue }
            let truth: Pressure
            switch channel {
            case .drainPressure: truth = p.drain
            case .preOxygenatorPressure: truth = p.preOxygenator
            case .postOxygenatorPressure: truth = p.postOxygenator
            case .flow: continue
            }
            let v = faulted(channel, truth.mmHg + noise.pressure.mmHg * rng.nextGaussian(), now: now)
            pressureModels.with(i) { $0.setPressure(.mmHg(v)) }
        }
        for i in analogInputs.indices {
            let (role, slot, channel, cal) = analogInputs[i]
            guard let ch = SimulatedChannel(role) else { continue }
            let truth: Double
            switch ch {
            case .flow: truth = circuit.flow.litersPerMinute + noise.flow.litersPerMinute * rng.nextGaussian()
            case .drainPressure: truth = p.drain.mmHg + noise.pressure.mmHg * rng.nextGaussian()
            case .preOxygenatorPressure: truth = p.preOxygenator.mmHg + noise.pressure.mmHg * rng.nextGaussian()
            case .postOxygenatorPressure: truth = p.postOxygenator.mmHg + noise.pressure.mmHg * rng.nextGaussian()
            }
            if sensorFaults[ch.rawValue].disconnected {
                // An open analog input floats to the supply rail.
                adcModels.with(slot) { $0.setInput(channel: channel, voltage: Voltage(volts: 3.3)) }
                continue
            }
            let volts = cal.volts(for: faulted(ch, truth, now: now))
            adcModels.with(slot) { $0.setInput(channel: channel, voltage: volts) }
        }
    }

    /// Applies drift, noise and stuck faults of `channel` to a published value.
    @inline(__always)
    private func faulted(_ channel: SimulatedChannel, _ value: Double, now: Instant) -> Double {
        let f = sensorFaults[channel.rawValue]
        var v = value
        if f.driftPerSecond != 0 { v += f.driftPerSecond * now.seconds(since: f.driftStart) }
        if f.extraNoise != 0 { v += f.extraNoise * rng.nextGaussian() }
        if let stuck = f.stuckValue { v = stuck }
        lastPublished[channel.rawValue] = v
        return v
    }

    // MARK: Fault injection (the catalogue's device- and plant-level effects)

    /// Starts (`active: true`) or ends a device-level fault on a sensor channel.
    public func setSensorDisconnected(_ role: SensorRole, _ active: Bool) {
        guard let ch = SimulatedChannel(role) else { return }
        sensorFaults[ch.rawValue].disconnected = active
        if let (bus, address) = digitalDevice(of: role) { setPermanentNAK(bus: bus, address: address, active) }
    }

    public func setSensorStuck(_ role: SensorRole, _ active: Bool) {
        guard let ch = SimulatedChannel(role) else { return }
        sensorFaults[ch.rawValue].stuckValue = active ? lastPublished[ch.rawValue] : nil
    }

    public func setSensorDrift(_ role: SensorRole, perMinute: Double) {
        guard let ch = SimulatedChannel(role) else { return }
        sensorFaults[ch.rawValue].driftPerSecond = perMinute / 60
        sensorFaults[ch.rawValue].driftStart = clock.now()
    }

    public func setSensorNoise(_ role: SensorRole, standardDeviation: Double) {
        guard let ch = SimulatedChannel(role) else { return }
        sensorFaults[ch.rawValue].extraNoise = standardDeviation
    }

    /// The sensor's I²C device stops acknowledging (or answers again).
    public func setI2CNAK(_ role: SensorRole, _ active: Bool) {
        if let (bus, address) = i2cDevice(of: role) { setPermanentNAK(bus: bus, address: address, active) }
    }

    /// The bus and address of a role's device when it is a digital (single-channel) sensor.
    private func digitalDevice(of role: SensorRole) -> (String, UInt8)? {
        guard let s = board.sensors[role], s.channel == nil, let d = board.devices[s.device] else { return nil }
        return (d.bus, d.address)
    }

    private func i2cDevice(of role: SensorRole) -> (String, UInt8)? {
        guard let s = board.sensors[role], let d = board.devices[s.device] else { return nil }
        return (d.bus, d.address)
    }

    /// The clamp's mechanism sticks (closed: true = clamped) or works again (`nil`).
    public func setClampStuck(closed: Bool?) {
        clampJam = closed
    }

    /// Syringe at its empty end stop (the end-of-travel switch closes).
    public func setSyringeEmpty(_ empty: Bool) {
        forcedSyringeEmpty = empty
        mock.inputLine(InputRole.syringeEndEmpty.rawValue, edges: .both).drive(empty || syringe.endEmpty)
    }

    /// Heparin syringe at its empty end stop (its end-of-travel switch closes).
    public func setHeparinEmpty(_ empty: Bool) {
        forcedHeparinEmpty = empty
        heparinEmptySwitch?.drive(empty || heparinSyringe.endEmpty)
    }

    /// Downstream occlusion of the cell line (closed stopcock, kinked line).
    public func setSyringeOccluded(_ occluded: Bool) { syringe.occluded = occluded }

    /// Power fails: every output falls to its hardware default (the safe value).
    public func cutPower() {
        // A hung PWM controller (`MockPWMChannel.stuck`) is silicon state: losing power,
        // or the watchdog's board reset, re-initialises it. A stuck line (welded relay,
        // shorted driver) stays stuck.
        if case .stuck = pumpPWM.fault { pumpPWM.clearFault() }
        for (role, c) in board.outputs { try? mock.outputLine(role.rawValue).set(c.safeValue) }
        try? pumpPWM.setDutyCycle(board.pump.duty(for: board.pump.safeSpeed))
    }

    /// The pump's speed channel (for output fault injection).
    public var pumpSpeedChannel: MockPWMChannel { pumpPWM }

    /// The actuator levels the plant sees now (for scenario expectations).
    public var pumpEnableLevel: Bool { pumpEnable.level }
    /// Where the clamp really is (its mechanism, jammed or following its line).
    public var clampLevel: Bool { clampJam ?? clamp.level }
    public var commandedPumpSpeed: PumpSpeed { pumpPWM.enabled ? board.pump.speed(for: pumpPWM.dutyCycle) : .zero }

    /// Tachometer pulses for the rotor's revolutions in [start, end), each timestamped
    /// where it falls inside the step (the kernel timestamps edges, not the loop).
    private func emitTachometerEdges(from start: Instant, to end: Instant) {
        let dt = (end - start).seconds
        let pulsesPerSecond = circuit.speed.rpm / 60 * Double(pulsesPerRevolution)
        guard pulsesPerSecond > 0, dt > 0 else { return }
        // Two edges per pulse: rising at phase 0, falling at phase 0.5.
        var phase = tachPhase
        let advance = pulsesPerSecond * dt
        var next = (phase * 2).rounded(.down) / 2 + 0.5
        while next <= phase + advance {
            let frac = (next - phase) / advance
            let when = start + .seconds(frac * dt)
            let rising = next.truncatingRemainder(dividingBy: 1) == 0
            tach.drive(rising, at: when)
            next += 0.5
        }
        phase += advance
        tachPhase = phase.truncatingRemainder(dividingBy: 1)
    }

    // MARK: Operator-side events (the physical world)

    /// Presses or releases the emergency stop button.
    public func setEmergencyStop(_ pressed: Bool) { mock.inputLine(InputRole.emergencyStop.rawValue, edges: .both).drive(pressed) }
    /// Air in front of the bubble detector.
    public func setAirDetected(_ air: Bool) {
        circuit.airInLine = air
        mock.inputLine(InputRole.airDetector.rawValue, edges: .both).drive(air)
    }
}

/// The simulated board's watchdog: expires if not kicked within its timeout, which the
/// board turns into a reset of every output to its boot default.
public final class SimulatedWatchdog: Watchdog {
    private let clock: any MonotonicClock
    public private(set) var timeout: Duration = .zero
    public private(set) var armed = false
    public private(set) var lastKick: Instant = .origin
    public private(set) var expiries = 0
    public private(set) var kicks: UInt64 = 0

    init(clock: any MonotonicClock) { self.clock = clock }

    /// Where the watchdog's calls are reported (a HAL transcript), and its id there.
    public var tap: (any HALTap)?
    public var tapID: UInt16 = 0

    public func start(timeout: Duration) throws(HALError) {
        guard timeout > .zero else {
            HALCallBytes.with(UInt64(bitPattern: timeout.nanoseconds)) { tap?.call(tapID, .watchdogStart, arguments: $0, results: .init(start: nil, count: 0), error: .invalidArgument(what: "watchdog timeout")) }
            throw .invalidArgument(what: "watchdog timeout")
        }
        if tap != nil { HALCallBytes.with(UInt64(bitPattern: timeout.nanoseconds)) { tap?.call(tapID, .watchdogStart, arguments: $0, results: .init(start: nil, count: 0), error: nil) } }
        self.timeout = timeout
        armed = true
        lastKick = clock.now()
    }

    public func kick() throws(HALError) {
        tap?.call(tapID, .watchdogKick, arguments: .init(start: nil, count: 0), results: .init(start: nil, count: 0), error: nil)
        lastKick = clock.now()
        kicks &+= 1
    }

    public func stop() throws(HALError) {
        tap?.call(tapID, .watchdogStop, arguments: .init(start: nil, count: 0), results: .init(start: nil, count: 0), error: nil)
        armed = false
    }

    /// True once per expiry (then it re-arms from `now`, as a reset board would boot).
    public func hasExpired(at now: Instant) -> Bool {
        guard armed, now - lastKick > timeout else { return false }
        expiries += 1
        lastKick = now
        return true
    }
}

/// What a simulated syringe holds: particles per millilitre, of which kind, entering the
/// circuit at which port.
public struct SyringeContents: Sendable, Equatable {
    public var kind: ParticleKind
    public var particlesPerMilliliter: Double
    public var port: InfusionPort
    public init(kind: ParticleKind, particlesPerMilliliter: Double, port: InfusionPort) {
        self.kind = kind
        self.particlesPerMilliliter = particlesPerMilliliter
        self.port = port
    }
}
