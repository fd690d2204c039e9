import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODevices
import ECMODrivers
import ECMOSim
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
    private var circuit = CircuitModel()
    private let lock = NSLock()
    private var rotorRPM = 0.0
    private var running = true

    init(board: BoardConfiguration, gpioSim: String) {
        self.board = board
        self.gpioSim = gpioSim
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

    func run(seconds: Double) throws {
        let hw = try LinuxHardware(board: board)
        let abp = board.devices.filter { if case .abp2 = $0.value.driver { true } else { false } }.sorted { $0.value.address < $1.value.address }
        var adcs: [(any I2CDevice, ADS1115.PGA, AnalogCalibration, SensorRole)] = []
        for (id, dev) in board.devices {
            guard case let .ads1115(fs, _) = dev.driver else { continue }
            for (role, s) in board.sensors where s.device == id {
                if let cal = s.analog { adcs.append((try hw.i2cDevice(bus: dev.bus, address: dev.address), fs, cal, role)) }
            }
        }
        let countsFile = AttributeFile(path: "/sys/module/ecmo_abp2_stub/parameters/counts", access: .write)
        let quiet = [InputRole.airDetector, .emergencyStop, .syringeEndEmpty, .syringeEndFull, .heparinEndEmpty]
            .compactMap { board.inputs[$0] }.compactMap { openPull($0.line) }
        let down = Array("pull-down".utf8), up = Array("pull-up".utf8)
        var rng = SystemRandomNumberGenerator()
        func noise(_ sd: Double) -> Double { (Double.random(in: -1...1, using: &rng) + Double.random(in: -1...1, using: &rng)) * sd }

        // The tachometer on its own thread, paced by absolute deadlines at the rotor's speed.
        if let tach = board.inputs[.pumpTachometer], let pull = openPull(tach.line) {
            let ppr = Double(tach.pulsesPerRevolution ?? 1)
            let t = Thread { [self] in
                var level = false
                var next = clock.now()
                while true {
                    lock.lock()
                    let rpm = rotorRPM
                    let go = running
                    lock.unlock()
                    if !go { break }
                    if rpm < 30 {
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
            t.start()
        }

        let start = clock.now()
        var last = start
        var steps = 0
        print("BRIDGE: circuit plant, \(abp.count) ABP2 + \(adcs.count) ADC channels, for \(seconds) s")
        while (clock.now() - start).seconds < seconds {
            // What the firmware commands, as the devices hold it.
            let enabled = read("/sys/module/ecmo_pwm_stub/parameters/enabled") == "1"
            let period = Double(read("/sys/module/ecmo_pwm_stub/parameters/period_ns") ?? "") ?? 0
            let dutyNs = Double(read("/sys/module/ecmo_pwm_stub/parameters/duty_ns") ?? "") ?? 0
            let duty = period > 0 ? dutyNs / period : 0
            let drive = CircuitModel.Drive(commandedSpeed: enabled ? board.pump.speed(for: duty) : .zero,
                                           pumpEnabled: output(.pumpEnable) ?? false,
                                           clampClosed: output(.clamp) ?? true)
            // Physics up to now in 1 ms steps.
            let now = clock.now()
            var t = last
            while t < now {
                let dt = min(Duration.milliseconds(1), now - t)
                circuit.step(drive, dt: dt)
                t = t + dt
            }
            last = now
            lock.lock()
            rotorRPM = circuit.speed.rpm
            lock.unlock()
            // What the sensors read.
            let p = circuit.pressures()
            let truth: [SensorRole: Double] = [.drainPressure: p.drain.mmHg, .preOxygenatorPressure: p.preOxygenator.mmHg,
                                               .postOxygenatorPressure: p.postOxygenator.mmHg, .flow: circuit.flow.litersPerMinute]
            if let countsFile {
                let list = abp.map { id, dev -> String in
                    guard case let .abp2(lo, hi, tf) = dev.driver,
                          let role = board.sensors.first(where: { $0.value.device == id })?.key else { return "0" }
                    return String(tf.counts(pressure: .mmHg((truth[role] ?? 0) + noise(0.3)), pressureMin: lo, pressureMax: hi))
                }.joined(separator: ",")
                countsFile.write(Array(list.utf8))
            }
            for (dev, fs, cal, role) in adcs {
                let code = ADS1115.outputCode(for: cal.volts(for: (truth[role] ?? 0) + noise(0.01)), pga: fs)
                try? dev.writeWordData(register: ADS1115.Register.conversion.rawValue, value: UInt16(bitPattern: code).byteSwapped)
            }
            if steps % 10 == 0 { for f in quiet { f.write(down) } }
            steps += 1
            if steps % 100 == 0 {
                print("BRIDGE: t=\(String(format: "%.1f", (now - start).seconds)) s duty \(String(format: "%.3f", duty)) enable \(drive.pumpEnabled) clamp \(drive.clampClosed ? "closed" : "open") → \(Int(circuit.speed.rpm)) rpm, \(String(format: "%.2f", circuit.flow.litersPerMinute)) L/min, P_pre \(String(format: "%.1f", p.preOxygenator.mmHg))")
            }
            clock.sleep(until: now + .milliseconds(10))
        }
        lock.lock()
        running = false
        lock.unlock()
        print("BRIDGE: done after \(steps) plant steps")
    }
}
#endif
