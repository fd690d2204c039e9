import ArgumentParser
import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODevices
import ECMODrivers
#if os(Linux)
import ECMOLinux
import ECMOPosix
#endif

/// `ecmo-rig hil …`: the guest side of the virtual-board lane (HIL/virtual/run boots a
/// QEMU guest that runs these against real kernel drivers: i2c-stub, an ABP2 stub
/// adapter, gpio-sim and softdog). Each check prints `PASS name: detail` or
/// `FAIL name: detail`; the host script collects them.
struct HILCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hil",
        abstract: "Virtual-board lane checks, run inside the QEMU guest by HIL/virtual/run (see HIL/virtual/README.md).",
        subcommands: [VirtualCheck.self, WatchdogHang.self, Bridge.self, LaneScenarioCommand.self, LaneReportCommand.self])
}

struct VirtualCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "virtual-check",
        abstract: "Sensors through i2c-stub and the ABP2 stub, lines through gpio-sim, tachometer rpm, watchdog magic close; exit 1 if any check fails.")

    @Option(help: "The virtual board file.")
    var board: String = "/board.yaml"
    @Option(help: "gpio-sim chip directory in sysfs (holds sim_gpioN/value and pull).")
    var gpioSim: String
    @Option(help: "Writable counts parameter of the ABP2 stub module.")
    var abp2Counts: String = "/sys/module/ecmo_abp2_stub/parameters/counts"
    @Option(help: "Tachometer speed the generator produces, rpm.")
    var tachRpm: Double = 1500
    @Option(help: "How long the tachometer generator runs, seconds.")
    var tachSeconds: Double = 3

    func run() async throws {
        #if os(Linux)
        let config = try BoardLoader.load(path: board)
        var check = VirtualBoardCheck(board: config, gpioSim: gpioSim, abp2Counts: abp2Counts)
        check.tachRpm = tachRpm
        check.tachSeconds = tachSeconds
        let (passed, failed) = check.run()
        print("VIRTUAL-CHECK: \(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode.failure }
        #else
        print("FAIL virtual-check: Linux only")
        throw ExitCode.failure
        #endif
    }
}

struct WatchdogHang: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watchdog-hang",
        abstract: "Arm the board's watchdog, kick it for a while, then hang like a stuck loop: the watchdog must reset the machine.")

    @Option(help: "The virtual board file.")
    var board: String = "/board.yaml"
    @Option(help: "How long to kick before hanging, seconds.")
    var kickSeconds: Double = 1

    func run() async throws {
        #if os(Linux)
        let config = try BoardLoader.load(path: board)
        let hw = try LinuxHardware(board: config)
        let wd = try hw.watchdog(config.watchdog)
        try wd.start(timeout: config.watchdog.timeout)
        let clock = hw.clock
        let start = clock.now()
        var kicks = 0
        var last = start
        while true {
            try wd.kick()
            last = clock.now()
            kicks += 1
            if last - start >= .seconds(kickSeconds) { break }
            clock.sleep(until: last + .milliseconds(200))
        }
        print("WATCHDOG-HANG: \(kicks) kicks, last at \(last.secondsSinceOrigin) s (CLOCK_MONOTONIC); timeout \(config.watchdog.timeout); hanging now")
        // A stuck loop: no kick, no magic close. The watchdog must reset the board.
        clock.sleep(until: last + config.watchdog.timeout * 10)
        print("FAIL watchdog-hang: still running \(Int((config.watchdog.timeout * 10).seconds)) s after the last kick")
        throw ExitCode.failure
        #else
        throw ExitCode.failure
        #endif
    }
}

/// The plant side for a full `ecmo-rig run` in the guest: holds the safety inputs at
/// "all well" (no air, E-stop released, end switches open), turns the tachometer at a
/// fixed speed through gpio-sim's sysfs, and keeps the sensors at a steady circuit state
/// with a little noise (P_drain −45, P_pre 180, P_post 150 mmHg, 4 L/min): a perfectly
/// constant reading is a stuck sensor to the firmware's validator, as it should be.
struct Bridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Play the plant on gpio-sim for a run in the guest: quiet safety inputs, tachometer at a fixed rpm.")

    @Option(help: "gpio-sim chip directory in sysfs.")
    var gpioSim: String
    @Option(help: "The virtual board file.")
    var board: String = "/board.yaml"
    @Option(help: "Tachometer speed, rpm.")
    var rpm: Double = 1500
    @Option(help: "How long, seconds.")
    var seconds: Double = 10
    @Option(help: "still: fixed sensor values and tach; circuit: the simulator's circuit driven by the commanded PWM, enable and clamp.")
    var plant: String = "still"

    func run() async throws {
        #if os(Linux)
        let config = try BoardLoader.load(path: board)
        if plant == "circuit" {
            try CircuitBridge(board: config, gpioSim: gpioSim).run(seconds: seconds)
            return
        }
        let sys = LinuxSyscalls.system
        func open(_ line: Int) -> Int32 {
            "\(gpioSim)/sim_gpio\(line)/pull".withCString { sys.open($0, LinuxConstants.writeOnly) }
        }
        let quiet = [InputRole.airDetector, .emergencyStop, .syringeEndEmpty, .syringeEndFull, .heparinEndEmpty]
            .compactMap { config.inputs[$0] }.map { open($0.line) }.filter { $0 >= 0 }
        guard let tach = config.inputs[.pumpTachometer] else { throw ExitCode.failure }
        let tachFD = open(tach.line)
        guard tachFD >= 0 else { throw ExitCode.failure }
        let up = Array("pull-up".utf8), down = Array("pull-down".utf8)
        func write(_ fd: Int32, _ text: [UInt8]) { _ = text.withUnsafeBytes { sys.pwrite(fd, $0.baseAddress!, $0.count, 0) } }
        let clock = SystemMonotonicClock()
        let half = 60.0 / (rpm * Double(tach.pulsesPerRevolution ?? 1)) / 2
        let start = clock.now()
        var k = 0
        // The sensors: ABP2 counts through the stub module's parameter, the ADS1115's
        // conversion register through i2c-stub (a second descriptor on the same bus).
        let plant: [SensorRole: Double] = [.drainPressure: -45, .preOxygenatorPressure: 180, .postOxygenatorPressure: 150, .flow: 4]
        let abp = config.devices.filter { if case .abp2 = $0.value.driver { true } else { false } }.sorted { $0.value.address < $1.value.address }
        let hw = try LinuxHardware(board: config)
        var adcs: [(any I2CDevice, ADS1115.PGA, AnalogCalibration, SensorRole)] = []
        for (id, dev) in config.devices {
            guard case let .ads1115(fs, _) = dev.driver else { continue }
            for (role, sensor) in config.sensors where sensor.device == id {
                if let cal = sensor.analog { adcs.append((try hw.i2cDevice(bus: dev.bus, address: dev.address), fs, cal, role)) }
            }
        }
        var rng = SystemRandomNumberGenerator()
        func noise(_ sd: Double) -> Double { (Double.random(in: -1...1, using: &rng) + Double.random(in: -1...1, using: &rng)) * sd }
        let countsPath = "/sys/module/ecmo_abp2_stub/parameters/counts"
        let countsFD = countsPath.withCString { sys.open($0, LinuxConstants.writeOnly) }
        print("BRIDGE: quiet inputs \(quiet.count), tachometer \(rpm) rpm, \(abp.count) ABP2 + \(adcs.count) ADC channels, for \(seconds) s")
        while (clock.now() - start).seconds < seconds {
            // The firmware requests its inputs with pull-ups (fail-safe: open = active), which
            // gpio-sim applies as the line's level: hold them low = all well, every half period.
            for fd in quiet { write(fd, down) }
            write(tachFD, k % 2 == 0 ? up : down)
            if countsFD >= 0 {
                let list = abp.map { id, dev -> String in
                    guard case let .abp2(lo, hi, tf) = dev.driver,
                          let role = config.sensors.first(where: { $0.value.device == id })?.key else { return "0" }
                    let p = (plant[role] ?? 0) + noise(0.3)
                    return String(tf.counts(pressure: .mmHg(p), pressureMin: lo, pressureMax: hi))
                }.joined(separator: ",")
                write(countsFD, Array(list.utf8))
            }
            for (dev, fs, cal, role) in adcs {
                let code = ADS1115.outputCode(for: cal.volts(for: (plant[role] ?? 0) + noise(0.01)), pga: fs)
                try? dev.writeWordData(register: ADS1115.Register.conversion.rawValue, value: UInt16(bitPattern: code).byteSwapped)
            }
            k += 1
            clock.sleep(until: start + .seconds(half * Double(k)))
        }
        print("BRIDGE: done, \(k / 2) pulses")
        #endif
    }
}

#if os(Linux)
/// The checks, in the order the lane reports them.
struct VirtualBoardCheck {
    let board: BoardConfiguration
    let gpioSim: String
    let abp2Counts: String
    var tachRpm: Double = 1500
    var tachSeconds: Double = 3
    private(set) var passed = 0
    private(set) var failed = 0
    let sys = LinuxSyscalls.system

    init(board: BoardConfiguration, gpioSim: String, abp2Counts: String) {
        self.board = board
        self.gpioSim = gpioSim
        self.abp2Counts = abp2Counts
    }

    mutating func pass(_ name: String, _ detail: String) { print("PASS \(name): \(detail)"); passed += 1 }
    mutating func fail(_ name: String, _ detail: String) { print("FAIL \(name): \(detail)"); failed += 1 }
    mutating func expect(_ ok: Bool, _ name: String, _ detail: String) { ok ? pass(name, detail) : fail(name, detail) }

    static func f(_ v: Double, _ d: Int = 3) -> String { String(format: "%.\(d)f", v) }

    // MARK: sysfs of the simulated devices (the bridge: it plays the plant)

    func writeFile(_ path: String, _ text: String) -> Bool {
        let fd = path.withCString { sys.open($0, LinuxConstants.writeOnly) }
        guard fd >= 0 else { return false }
        defer { _ = sys.close(fd) }
        let n = text.utf8.count
        return text.withCString { sys.write(fd, UnsafeRawPointer($0), n) } == n
    }

    func readFile(_ path: String) -> String? {
        let fd = path.withCString { sys.open($0, LinuxConstants.readOnly) }
        guard fd >= 0 else { return nil }
        defer { _ = sys.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { sys.read(fd, $0.baseAddress!, 64) }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func simValue(_ line: Int) -> String? { readFile("\(gpioSim)/sim_gpio\(line)/value") }
    func setPull(_ line: Int, up: Bool) -> Bool { writeFile("\(gpioSim)/sim_gpio\(line)/pull", up ? "pull-up" : "pull-down") }

    mutating func run() -> (Int, Int) {
        let hw: LinuxHardware
        do { hw = try LinuxHardware(board: board) } catch {
            fail("open", "\(error)")
            return (passed, failed)
        }
        print("virtual-check: \(hw.gpio.describe())")
        sensors(hw)
        i2cErrors(hw)
        outputs(hw)
        inputs(hw)
        tachometer(hw)
        pwm(hw)
        watchdogMagicClose(hw)
        hw.close()
        return (passed, failed)
    }

    /// Lets the drivers run until a condition holds or 300 ms pass.
    func service(_ hw: LinuxHardware, until done: () -> Bool, step: () -> Void) {
        let start = hw.clock.now()
        step()
        while !done(), hw.clock.now() - start < .milliseconds(300) {
            hw.clock.sleep(until: hw.clock.now() + .milliseconds(1))
            step()
        }
    }

    mutating func sensors(_ hw: LinuxHardware) {
        // ABP2s through I2C_RDWR on the stub adapter: the bridge sets each sensor's counts.
        let targets: [(SensorRole, Double)] = [(.drainPressure, -45.0), (.preOxygenatorPressure, 180.0), (.postOxygenatorPressure, 150.0)]
        var counts: [String: UInt32] = [:]
        var order: [String] = []   // by address, as the stub's addrs= parameter
        for (id, dev) in board.devices.sorted(by: { $0.value.address < $1.value.address }) {
            guard case let .abp2(lo, hi, tf) = dev.driver,
                  let role = board.sensors.first(where: { $0.value.device == id })?.key,
                  let target = targets.first(where: { $0.0 == role })?.1 else { continue }
            counts[id] = tf.counts(pressure: .mmHg(target), pressureMin: lo, pressureMax: hi)
            order.append(id)
        }
        let list = order.compactMap { counts[$0].map(String.init) }.joined(separator: ",")
        guard writeFile(abp2Counts, list) else {
            fail("abp2-bridge", "cannot write \(abp2Counts)")
            return
        }
        for id in order {
            guard let dev = board.devices[id], case let .abp2(lo, hi, tf) = dev.driver,
                  let role = board.sensors.first(where: { $0.value.device == id })?.key,
                  let target = targets.first(where: { $0.0 == role })?.1 else { continue }
            do {
                let i2c = try hw.i2cDevice(bus: dev.bus, address: dev.address)
                let d = try ABP2Driver(device: i2c, role: role, pressureMin: lo, pressureMax: hi, transferFunction: tf)
                service(hw, until: { d.sample.status == .valid }, step: { d.service(now: hw.clock.now()) })
                let got = d.sample.value.mmHg
                // One count is (hi − lo) / (Outmax − Outmin) ≈ 0.11 mmHg for ±750 mmHg with A.
                let lsb = (hi.mmHg - lo.mmHg) / Double(tf.outputMax - tf.outputMin)
                expect(d.sample.status == .valid && abs(got - target) <= lsb,
                       "sensor \(role.rawValue)", "ABP2 @0x\(String(dev.address, radix: 16)) via I2C_RDWR: \(Self.f(got)) mmHg (plant \(Self.f(target, 1)), status \(d.sample.status), \(d.lastError.map { "\($0)" } ?? "no error"))")
            } catch {
                fail("sensor \(role.rawValue)", "\(error)")
            }
        }
        // ADS1115 through SMBus word transfers on i2c-stub: the bridge writes the
        // conversion register (big-endian on the device, so byte-swapped as an SMBus word).
        for (id, dev) in board.devices.sorted(by: { $0.key < $1.key }) {
            guard case let .ads1115(fs, rate) = dev.driver else { continue }
            let channels = board.sensors.filter { $0.value.device == id }.compactMap { r, s in s.channel.map { (input: $0, role: r) } }
            guard let (input, role) = channels.first, let cal = board.sensors[role]?.analog else { continue }
            let flow = 4.0
            let code = ADS1115.outputCode(for: cal.volts(for: flow), pga: fs)
            do throws(any Error) {
                let i2c = try hw.i2cDevice(bus: dev.bus, address: dev.address)
                try i2c.writeWordData(register: ADS1115.Register.conversion.rawValue, value: UInt16(bitPattern: code).byteSwapped)
                let d = try ADS1115Driver(device: i2c, fullScale: fs, dataRate: rate, channels: [(input, role)])
                service(hw, until: { d.sample(input: input).status == .valid }, step: { d.service(now: hw.clock.now()) })
                let s = d.sample(input: input)
                let value = cal.convert(s.value)
                let lsb = fs.lsb.volts * cal.unitsPerVolt
                expect(s.status == .valid && abs(value - flow) <= lsb, "sensor \(role.rawValue)",
                       "ADS1115 @0x\(String(dev.address, radix: 16)) AIN\(input) via SMBus words: \(Self.f(s.value.volts, 4)) V = \(Self.f(value)) L/min (plant \(flow), status \(s.status))")
            } catch {
                fail("sensor \(role.rawValue)", "\(error)")
            }
        }
    }

    /// What the kernel drivers say when things go wrong, mapped by the backend.
    mutating func i2cErrors(_ hw: LinuxHardware) {
        guard let smbus = board.devices.values.first(where: { if case .ads1115 = $0.driver { true } else { false } }) else { return }
        do {
            let absent = try hw.i2cDevice(bus: smbus.bus, address: smbus.address + 1)
            do {
                _ = try absent.readWordData(register: 0)
                fail("i2c-nak", "a read at an empty address succeeded")
            } catch {
                if case .nak = error { pass("i2c-nak", "empty address 0x\(String(smbus.address + 1, radix: 16)) on i2c-stub → \(error)") } else { fail("i2c-nak", "\(error)") }
            }
            let adc = try hw.i2cDevice(bus: smbus.bus, address: smbus.address)
            var b: [UInt8] = [0]
            do {
                try b.withUnsafeMutableBytes { try adc.read(into: $0) }
                fail("i2c-smbus-only", "a raw read on i2c-stub succeeded")
            } catch {
                if case .unsupported = error as? HALError { pass("i2c-smbus-only", "raw read on i2c-stub → \(error)") } else { fail("i2c-smbus-only", "\(error)") }
            }
        } catch {
            fail("i2c-errors", "\(error)")
        }
    }

    mutating func outputs(_ hw: LinuxHardware) {
        for (role, c) in board.outputs.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            do {
                let line = try hw.outputLine(c)
                let physical = c.safeValue != c.activeLow   // the level on the wire
                let seen = simValue(c.line)
                let back = try line.readBack()
                expect(seen == (physical ? "1" : "0") && back == c.safeValue, "output \(role.rawValue)",
                       "requested at safe value \(c.safeValue)\(c.activeLow ? " (active low)" : ""): gpio-sim line \(c.line) is \(seen ?? "?")")
                if role == .pumpEnable || role == .clamp {
                    try line.set(!c.safeValue)
                    let driven = simValue(c.line)
                    try line.set(c.safeValue)
                    let restored = simValue(c.line)
                    expect(driven == (physical ? "0" : "1") && restored == (physical ? "1" : "0"), "output \(role.rawValue) drive",
                           "set \(!c.safeValue) → line \(driven ?? "?"), back to \(c.safeValue) → line \(restored ?? "?")")
                }
            } catch {
                fail("output \(role.rawValue)", "\(error)")
            }
        }
    }

    mutating func inputs(_ hw: LinuxHardware) {
        let buffer = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 64)
        defer { buffer.deallocate() }
        for role in [InputRole.emergencyStop, .airDetector] {
            guard let c = board.inputs[role] else { continue }
            do {
                let line = try hw.inputLine(c)
                // Start high whatever the requested bias left, then drop the edges so far.
                _ = setPull(c.line, up: true)
                hw.clock.sleep(until: hw.clock.now() + .milliseconds(20))
                _ = try line.readEdges(into: buffer)
                // A line the board debounces (`debounce_us`) takes a new level only once it
                // has read the same twice a window apart (v1: in software), as the loop does
                // every tick: read, wait out the window, read again.
                func settled() throws -> Bool {
                    _ = try line.read()
                    hw.clock.sleep(until: hw.clock.now() + c.debounce + .milliseconds(2))
                    return try line.read()
                }
                let t0 = hw.clock.now()
                _ = setPull(c.line, up: false)
                hw.clock.sleep(until: hw.clock.now() + .milliseconds(20))
                let low = try settled()
                _ = setPull(c.line, up: true)
                hw.clock.sleep(until: hw.clock.now() + .milliseconds(20))
                let high = try settled()
                let t1 = hw.clock.now()
                let n = try line.readEdges(into: buffer)
                _ = setPull(c.line, up: c.bias == .pullUp)   // back to the board's resting level
                let kinds = (0..<n).map { buffer[$0].kind == .rising ? "rising" : "falling" }
                let inWindow = (0..<n).allSatisfy { buffer[$0].timestamp >= t0 && buffer[$0].timestamp <= t1 }
                expect(!low && high, "input \(role.rawValue)", "gpio-sim pull-down → \(low), pull-up → \(high)")
                expect(n == 2 && kinds == ["falling", "rising"] && inWindow, "input \(role.rawValue) edges",
                       "\(n) edges \(kinds), kernel timestamps within the CLOCK_MONOTONIC window of the toggles: \(inWindow)")
            } catch {
                fail("input \(role.rawValue)", "\(error)")
            }
        }
    }

    /// Records every edge the Tachometer driver reads, to judge rpm from the raw stamps too.
    final class RecordingInput: DigitalInput {
        let line: any DigitalInput
        var stamps: [Instant] = []
        init(_ line: any DigitalInput) { self.line = line }
        func read() throws(HALError) -> Bool { try line.read() }
        func readEdges(into buffer: UnsafeMutableBufferPointer<EdgeEvent>) throws(HALError) -> Int {
            let n = try line.readEdges(into: buffer)
            for i in 0..<n where buffer[i].kind == .rising { stamps.append(buffer[i].timestamp) }
            return n
        }
    }

    mutating func tachometer(_ hw: LinuxHardware) {
        guard let c = board.inputs[.pumpTachometer] else { return }
        let ppr = Double(c.pulsesPerRevolution ?? 1)
        let pull = "\(gpioSim)/sim_gpio\(c.line)/pull"
        do {
            let line = RecordingInput(try hw.inputLine(c))
            let tach = Tachometer(input: line, pulsesPerRevolution: Int(ppr), stallTimeout: .milliseconds(500))
            _ = setPull(c.line, up: false)
            tach.service(now: hw.clock.now())
            line.stamps.removeAll()
            // The generator: a thread toggling the simulated line with absolute deadlines
            // on CLOCK_MONOTONIC (TCG wakes late, but lateness does not accumulate).
            let half = 60.0 / (tachRpm * ppr) / 2
            let clock = hw.clock
            let pulses = Int(tachSeconds / (2 * half))
            let sys = self.sys
            let fd = pull.withCString { sys.open($0, LinuxConstants.writeOnly) }
            guard fd >= 0 else { fail("tachometer", "cannot open \(pull): errno \(-fd)"); return }
            let done = DoneFlag()
            let generator = Thread {
                let sys = LinuxSyscalls.system
                let start = clock.now() + .milliseconds(20)
                let up = Array("pull-up".utf8), down = Array("pull-down".utf8)
                for k in 0..<(2 * pulses) {
                    clock.sleep(until: start + .seconds(half * Double(k)))
                    let text = k % 2 == 0 ? up : down
                    _ = text.withUnsafeBytes { sys.pwrite(fd, $0.baseAddress!, $0.count, 0) }
                }
                done.set()
            }
            generator.start()
            var readings: [Double] = []
            while !done.isSet {
                clock.sleep(until: clock.now() + .milliseconds(5))
                tach.service(now: clock.now())
                if tach.sample.value.rpm > 0 { readings.append(tach.sample.value.rpm) }
            }
            tach.service(now: clock.now())
            _ = sys.close(fd)
            let stamps = line.stamps
            guard stamps.count >= 3, let first = stamps.first, let last = stamps.last else {
                fail("tachometer", "\(stamps.count) rising edges seen for \(pulses) generated")
                return
            }
            let periods = zip(stamps.dropFirst(), stamps).map { ($0 - $1).seconds }
            let mean = (last - first).seconds / Double(stamps.count - 1)
            let rpm = 60 / (mean * ppr)
            let error = (rpm - tachRpm) / tachRpm * 100
            let jitter = (periods.max() ?? 0) - (periods.min() ?? 0)
            expect(stamps.count == pulses && abs(error) <= 1, "tachometer rpm",
                   "\(stamps.count)/\(pulses) rising edges, mean period \(Self.f(mean * 1000)) ms → \(Self.f(rpm, 1)) rpm vs \(Self.f(tachRpm, 1)) generated (error \(Self.f(error, 2)) %; period spread \(Self.f(jitter * 1000, 1)) ms under TCG)")
            let driverRPM = readings.last ?? 0
            let tail = readings.suffix(max(1, readings.count / 2))
            let tailMean = tail.reduce(0, +) / Double(tail.count)
            let driverError = (tailMean - tachRpm) / tachRpm * 100
            // The rig's own driver (per-period estimate, lightly low-passed): its readings
            // over the second half of the run, averaged, must be within 1 % as well.
            expect(abs(driverError) <= 1 && tach.totalPulses == UInt64(pulses), "tachometer driver",
                   "Tachometer sample: mean of its second-half readings \(Self.f(tailMean, 1)) rpm (error \(Self.f(driverError, 2)) %), last \(Self.f(driverRPM, 1)) rpm, \(tach.totalPulses) pulses counted")
        } catch {
            fail("tachometer", "\(error)")
        }
    }

    final class DoneFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.lock(); value = true; lock.unlock() }
        var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    }

    /// The pump's PWM channel on the stub chip, through the kernel's PWM core and sysfs,
    /// which refuse a duty cycle longer than the period: the write order is tested for real.
    mutating func pwm(_ hw: LinuxHardware) {
        let p = "/sys/module/ecmo_pwm_stub/parameters"
        func chip() -> String {
            "period \(readFile("\(p)/period_ns") ?? "?") ns, duty \(readFile("\(p)/duty_ns") ?? "?") ns, enabled \(readFile("\(p)/enabled") ?? "?")"
        }
        do {
            let ch = try hw.pwmChannel(chip: board.pump.pwmChip, channel: board.pump.channel)
            pass("pwm export", "\(board.pwmChips[board.pump.pwmChip]?.path ?? "?")/pwm\(board.pump.channel) exported and opened")
            try ch.setPeriod(nanoseconds: 50_000)
            try ch.setDutyCycle(0.9)
            try ch.setEnabled(true)
            let first = chip()
            expect(first == "period 50000 ns, duty 45000 ns, enabled 1", "pwm set", "20 kHz at 90 %, enabled → chip got \(first)")
            try ch.setPeriod(nanoseconds: 1_000)
            let shrunk = chip()
            try ch.setPeriod(nanoseconds: 50_000)
            let grown = chip()
            expect(shrunk == "period 1000 ns, duty 900 ns, enabled 1" && grown == "period 50000 ns, duty 45000 ns, enabled 1",
                   "pwm period order", "shrink (duty first) → \(shrunk); grow (period first) → \(grown)")
            let back = try ch.readBack()
            expect(abs(back.dutyCycle - 0.9) < 1e-9 && back.enabled, "pwm read back", "duty \(back.dutyCycle), enabled \(back.enabled)")
            try ch.setDutyCycle(board.pump.dutyAtZero)
            try ch.setEnabled(false)
        } catch {
            fail("pwm", "\(error)")
        }
    }

    mutating func watchdogMagicClose(_ hw: LinuxHardware) {
        do {
            let wd = try hw.watchdog(board.watchdog)
            try wd.start(timeout: board.watchdog.timeout)
            for _ in 0..<3 {
                try wd.kick()
                hw.clock.sleep(until: hw.clock.now() + .milliseconds(200))
            }
            try wd.stop()
            let wait = board.watchdog.timeout * 3
            hw.clock.sleep(until: hw.clock.now() + wait)
            pass("watchdog magic close", "armed \(board.watchdog.timeout), kicked 3×, stopped with 'V': no reset \(wait) later")
        } catch {
            fail("watchdog magic close", "\(error)")
        }
    }
}
#endif
