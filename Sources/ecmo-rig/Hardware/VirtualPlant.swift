import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODevices
import ECMODrivers
import ECMOSim
import ECMOScenario
import ECMOProtocol
#if os(Linux)
import ECMOLinux
import ECMOPosix

/// The moving plant of the virtual board: the simulator's circuit model, driven by what
/// the firmware commands *as the kernel devices hold it* (the PWM stub's duty and enable,
/// the pump-enable and clamp lines on gpio-sim), writing what the sensors would read into
/// the stub devices (ABP2 counts, the ADS1115 conversion register) and turning the
/// tachometer at the model's rotor speed. So a run in the guest closes the loop through
/// the real backend and kernel drivers, not through the mock board.
final class CircuitBridge: @unchecked Sendable {
    let board: BoardConfiguration
    let gpioSim: String
    let clock = SystemMonotonicClock()
    private var circuit: CircuitModel
    private let lock = NSLock()
    private var rotorRPM = 0.0
    private var running = true
    private var tachThread: Thread?
    private var loopDone = true
    /// The faults the lane's scenarios make (`BridgeFaults`), under `lock`.
    private var faults = BridgeFaults()
    private var truthNow = CircuitTruth()
    /// Sensor values as last written (for a stuck sensor), by role.
    private var lastWritten: [SensorRole: Double] = [:]
    private var pulls: [InputRole: AttributeFile] = [:]
    private var adcs: [(dev: any I2CDevice, fs: ADS1115.PGA, cal: AnalogCalibration, role: SensorRole)] = []
    private var abp: [(id: String, dev: I2CDeviceConfiguration)] = []
    private var countsFile: AttributeFile?
    private var nakFile: AttributeFile?
    private var statusFile: AttributeFile?
    private var lastStatus = ""

    private var hardware: LinuxHardware?
    let abp2Parameters = "/sys/module/ecmo_abp2_stub/parameters"

    init(board: BoardConfiguration, gpioSim: String, circuit: CircuitModel = CircuitModel()) {
        self.board = board
        self.gpioSim = gpioSim
        self.circuit = circuit
    }

    /// sysfs files stay open and are re-read at offset 0: the guest is slow enough under
    /// TCG that an open/close per read starves the firmware and the tachometer thread.
    private var readFiles: [String: AttributeFile] = [:]
    func read(_ path: String) -> String? {
        if let f = readFiles[path] { return f.read() }
        guard let f = AttributeFile(path: path, access: .read) else { return nil }
        readFiles[path] = f
        return f.read()
    }

    func openPull(_ line: Int) -> AttributeFile? { AttributeFile(path: "\(gpioSim)/sim_gpio\(line)/pull", access: .write) }

    /// Logical level of an output line as driven on gpio-sim (physical XOR active-low).
    func output(_ role: ActuatorRole) -> Bool? {
        guard let c = board.outputs[role], let v = read("\(gpioSim)/sim_gpio\(c.line)/value") else { return nil }
        return (v == "1") != c.activeLow
    }

    /// The pump PWM as the stub chip holds it: enabled, and the duty as a fraction.
    func pwm() -> (enabled: Bool, duty: Double) {
        let p = "/sys/module/ecmo_pwm_stub/parameters"
        let period = Double(read("\(p)/period_ns") ?? "") ?? 0
        let dutyNs = Double(read("\(p)/duty_ns") ?? "") ?? 0
        return (read("\(p)/enabled") == "1", period > 0 ? dutyNs / period : 0)
    }

    /// The plant's truth after the last step (for the `true_*` expectations).
    func truth() -> CircuitTruth {
        lock.lock(); defer { lock.unlock() }
        return truthNow
    }

    /// Runs the plant for `seconds` (the `hil bridge` command).
    func run(seconds: Double) throws {
        try start()
        let until = clock.now() + .seconds(seconds)
        while clock.now() < until && step() {}
        stop()
    }

    /// Opens the devices and starts the tachometer thread; then `step()` until `stop()`.
    func start() throws {
        let hw = try LinuxHardware(board: board)
        hardware = hw
        abp = board.devices.filter { if case .abp2 = $0.value.driver { true } else { false } }
            .sorted { $0.value.address < $1.value.address }.map { ($0.key, $0.value) }
        for (id, dev) in board.devices {
            guard case let .ads1115(fs, _) = dev.driver else { continue }
            for (role, s) in board.sensors where s.device == id {
                if let cal = s.analog { adcs.append((try hw.i2cDevice(bus: dev.bus, address: dev.address), fs, cal, role)) }
            }
        }
        countsFile = AttributeFile(path: "\(abp2Parameters)/counts", access: .write)
        nakFile = AttributeFile(path: "\(abp2Parameters)/nak_mask", access: .write)
        nakFile?.write(Array("0".utf8))
        statusFile = AttributeFile(path: "\(abp2Parameters)/status_or", access: .write)
        statusFile?.write(Array("0,0,0,0".utf8))
        lastStatus = ""
        for role in [InputRole.airDetector, .emergencyStop, .syringeEndEmpty, .syringeEndFull, .heparinEndEmpty] {
            if let c = board.inputs[role], let f = openPull(c.line) { pulls[role] = f }
        }
        lock.lock(); running = true; loopDone = false; lock.unlock()
        // The tachometer on its own thread, paced by absolute deadlines at the rotor's speed.
        if let tach = board.inputs[.pumpTachometer], let pull = openPull(tach.line) {
            let ppr = Double(tach.pulsesPerRevolution ?? 1)
            let down = Array("pull-down".utf8), up = Array("pull-up".utf8)
            let t = Thread { [self] in
                var level = false
                var next = clock.now()
                while true {
                    lock.lock()
                    let rpm = faults.tachometerDead ? 0 : rotorRPM
                    let go = running
                    lock.unlock()
                    if !go { break }
                    if rpm < 30 {
                        // A still rotor or a dead sensor: the line holds still.
                        if level { level = false; pull.write(down) }
                        next = clock.now() + .milliseconds(10)
                        clock.sleep(until: next)
                        continue
                    }
                    level.toggle()
                    pull.write(level ? up : down)
                    let half = Duration.seconds(30 / (rpm * ppr))
                    next = next + half
                    // Late by a little (TCG): keep the schedule, so the mean rate stays right.
                    // Late by more than two half periods: start afresh rather than burst.
                    let now = clock.now()
                    if now - next > half * 2 { next = now }
                    clock.sleep(until: next)
                }
            }
            tachThread = t
            t.start()
        }
        startTime = clock.now()
        lastStep = startTime
        print("BRIDGE: circuit plant, \(abp.count) ABP2 + \(adcs.count) ADC channels")
    }

    private var startTime = Instant.origin
    private var lastStep = Instant.origin
    private var steps = 0
    private var rng = SystemRandomNumberGenerator()
    /// Gaussian, as the simulator's sensor noise (Box–Muller): a noise burst's range is a
    /// statistic the scenarios check.
    private func noise(_ sd: Double) -> Double {
        guard sd > 0 else { return 0 }
        let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
        return sd * (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// One plant step (about 10 ms): read what the firmware commands as the devices hold
    /// it, advance the circuit, write what the sensors read, then wait for the next. False
    /// once stopped.
    @discardableResult
    func step() -> Bool {
        guard advance() else { return false }
        clock.sleep(until: sleepUntil)
        return true
    }

    private func advance() -> Bool {
        lock.lock()
        let go = running
        lock.unlock()
        guard go else { return false }
        let (enabled, duty) = pwm()
        let now = clock.now()
        lock.lock()
        let f = faults
        let drive = CircuitModel.Drive(commandedSpeed: enabled ? board.pump.speed(for: duty) : .zero,
                                       pumpEnabled: output(.pumpEnable) ?? false,
                                       clampClosed: f.clampJam ?? output(.clamp) ?? true)
        // Physics up to now in 1 ms steps.
        var t = lastStep
        while t < now {
            let dt = min(Duration.milliseconds(1), now - t)
            circuit.step(drive, dt: dt)
            t = t + dt
        }
        lastStep = now
        rotorRPM = circuit.pumpStalled ? 0 : circuit.speed.rpm
        let p = circuit.pressures()
        let flow = circuit.flow.litersPerMinute
        truthNow = CircuitTruth(flow: flow, drain: p.drain.mmHg, pre: p.preOxygenator.mmHg,
                                post: p.postOxygenator.mmHg, speed: rotorRPM, clampClosed: f.clampJam)
        // The devices are written under the lock too, so a fault made meanwhile
        // (`perform`) is never overwritten by a step that began before it.
        defer { lock.unlock() }
        // What the sensors read: the truth, with the sensor faults on top.
        let truth: [SensorRole: Double] = [.drainPressure: p.drain.mmHg, .preOxygenatorPressure: p.preOxygenator.mmHg,
                                           .postOxygenatorPressure: p.postOxygenator.mmHg, .flow: flow]
        func reading(_ role: SensorRole, noiseSD: Double) -> Double {
            let sf = f.sensors[role] ?? SensorFault()
            if sf.stuck, let v = lastWritten[role] { return v }
            var v = (truth[role] ?? 0) + noise(noiseSD + sf.extraNoise)
            if let since = sf.driftSince { v += sf.driftPerSecond * (now - since).seconds }
            lastWritten[role] = v
            return v
        }
        if let countsFile {
            // Past the compensated range the part pins its counts at the end and sets math
            // saturation in its status byte (0x01): a status-bit the stub reports.
            var saturated: [Bool] = []
            let list = abp.map { id, dev -> String in
                guard case let .abp2(lo, hi, tf) = dev.driver,
                      let role = board.sensors.first(where: { $0.value.device == id })?.key else { saturated.append(false); return "0" }
                let c = tf.saturatingCounts(pressure: .mmHg(reading(role, noiseSD: 0.3)), pressureMin: lo, pressureMax: hi)
                saturated.append(c.saturated)
                return String(c.counts)
            }.joined(separator: ",")
            let status = saturated.map { $0 ? "1" : "0" }.joined(separator: ",")
            if status != lastStatus {
                statusFile?.write(Array(status.utf8))
                lastStatus = status
            }
            countsFile.write(Array(list.utf8))
        }
        for a in adcs {
            // An open input floats to the rail (with the ADC's noise), as the simulator's disconnected channel reads.
            let volts = f.sensors[a.role]?.disconnected == true ? Voltage(volts: 3.3 + noise(0.001)) : a.cal.volts(for: reading(a.role, noiseSD: 0.01))
            let code = ADS1115.outputCode(for: volts, pga: a.fs)
            try? a.dev.writeWordData(register: ADS1115.Register.conversion.rawValue, value: UInt16(bitPattern: code).byteSwapped)
        }
        if steps % 10 == 0 { holdInputs(faults) }
        steps += 1
        if steps % 100 == 0 {
            print("BRIDGE: t=\(String(format: "%.1f", (now - startTime).seconds)) s duty \(String(format: "%.3f", duty)) enable \(drive.pumpEnabled) clamp \(drive.clampClosed ? "closed" : "open") → \(Int(rotorRPM)) rpm, \(String(format: "%.2f", flow)) L/min, P_pre \(String(format: "%.1f", p.preOxygenator.mmHg))")
        }
        sleepUntil = now + .milliseconds(10)
        return true
    }

    private var sleepUntil = Instant.origin

    /// The safety inputs as the faults have them: pulled up (active) or down (all well).
    private func holdInputs(_ f: BridgeFaults) {
        let down = Array("pull-down".utf8), up = Array("pull-up".utf8)
        for (role, file) in pulls { file.write(f.activeInputs.contains(role) ? up : down) }
    }

    /// Stops the plant loop and the tachometer thread; the stub devices keep their last
    /// values and the ABP2 stub acknowledges again.
    func stop() {
        lock.lock(); running = false; lock.unlock()
        nakFile?.write(Array("0".utf8))
        statusFile?.write(Array("0,0,0,0".utf8))
        while let t = tachThread, !t.isFinished { clock.sleep(until: clock.now() + .milliseconds(5)) }
        tachThread = nil
        if let hw = hardware { HardwareSelection.close(hw) }
        hardware = nil
        print("BRIDGE: done after \(steps) plant steps")
    }

    // MARK: Faults

    /// Makes a scenario's fault (or ends it) at the devices or in the plant, at once:
    /// the firmware's next read sees it (VirtualBoardSteps says which mechanism).
    func perform(_ fault: Fault, start on: Bool) {
        lock.lock()
        switch fault {
        case .emergencyStop: setInput(.emergencyStop, on)
        case .airInLine: setInput(.airDetector, on); circuit.airInLine = on
        case .syringeEmpty(let c): setInput(c == .cells ? .syringeEndEmpty : .heparinEndEmpty, on)
        case .sensorDisconnect(let r), .i2cNAKBurst(let r):
            faults.sensors[r, default: SensorFault()].disconnected = on
            if case .sensorDisconnect = fault, let a = adcs.first(where: { $0.role == r }) {
                // The open input at the rail now, not at the plant's next step: the
                // firmware's next conversion must see it, as on a cut cable.
                if on {
                    let code = ADS1115.outputCode(for: Voltage(volts: 3.3), pga: a.fs)
                    try? a.dev.writeWordData(register: ADS1115.Register.conversion.rawValue, value: UInt16(bitPattern: code).byteSwapped)
                }
                break
            }
            if let i = abp.firstIndex(where: { board.sensors[r]?.device == $0.id }) {
                if on { faults.nakMask |= 1 << i } else { faults.nakMask &= ~(1 << i) }
                nakFile?.write(Array(String(faults.nakMask).utf8))
            }
        case .sensorStuck(let r): faults.sensors[r, default: SensorFault()].stuck = on
        case .sensorDrift(let r, let perMinute):
            faults.sensors[r, default: SensorFault()].driftPerSecond = on ? perMinute / 60 : 0
            faults.sensors[r, default: SensorFault()].driftSince = on ? clock.now() : nil
        case .sensorNoiseBurst(let r, let sd): faults.sensors[r, default: SensorFault()].extraNoise = on ? sd : 0
        case .deviceReset(let r):
            if on, let a = adcs.first(where: { $0.role == r }) {
                // Power-on values, as the chip comes back from a brown-out.
                try? a.dev.writeWordData(register: ADS1115.Register.config.rawValue, value: ADS1115.ConfigRegister.resetValue.byteSwapped)
                try? a.dev.writeWordData(register: ADS1115.Register.conversion.rawValue, value: 0)
            }
        case .tachometerLoss: faults.tachometerDead = on
        case .pumpStall: circuit.pumpStalled = on
        case .drainageKink(let o): circuit.drainageOcclusion = on ? o : 0
        case .returnKink(let o): circuit.returnOcclusion = on ? o : 0
        case .handClamp: circuit.returnOcclusion = on ? 1 : 0
        case .clampStuck(let closed): faults.clampJam = on ? closed : nil
        case .syringeOcclusion, .outputStuck, .outputWriteFailure, .loopOverrun, .watchdogStarved, .journalStall, .powerLoss:
            break   // refused before the run (VirtualBoardSteps)
        }
        holdInputs(faults)
        // A jammed clamp is the plant's truth from now, not from the next plant step.
        truthNow.clampClosed = faults.clampJam
        lock.unlock()
    }

    func infuse(count: Double, kind: ParticleKind, port: InfusionPort) {
        lock.lock(); circuit.infuse(cells: count, kind: kind, port: port); lock.unlock()
    }

    func setACT(seconds: Double) {
        lock.lock(); circuit.fouling.activatedClottingTime = .seconds(seconds); lock.unlock()
    }

    private func setInput(_ role: InputRole, _ on: Bool) {
        if on { faults.activeInputs.insert(role) } else { faults.activeInputs.remove(role) }
    }
}

/// A sensor's fault as the bridge plays it.
struct SensorFault {
    var disconnected = false
    var stuck = false
    var driftPerSecond = 0.0
    var driftSince: Instant?
    var extraNoise = 0.0
}

/// What the lane's scenarios have broken, as the bridge keeps it.
struct BridgeFaults {
    var activeInputs: Set<InputRole> = []
    var sensors: [SensorRole: SensorFault] = [:]
    var nakMask: UInt32 = 0
    var tachometerDead = false
    var clampJam: Bool?
}
#endif
