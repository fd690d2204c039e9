import ArgumentParser
import Foundation
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODrivers
import ECMOSim
#if os(Linux)
import ECMOLinux
#endif

/// `ecmo-rig board probe FILE`: opens every device a board names, reads each sensor once,
/// reads back every output line at its safe value, opens the PWM channel and the
/// watchdog (and disarms it cleanly), and says what answered and what did not. Nothing is
/// driven away from its safe value. Exit 0 if everything answered, 5 otherwise.
struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open every device of a board, read each sensor once, read back every output; exit 5 if anything failed.")

    @Argument(help: "Board file (YAML).")
    var file: String

    @Option(help: "How long to count tachometer edges.")
    var tachWindow: DurationArgument = DurationArgument(argument: "500ms")!

    @Flag(help: "Skip the watchdog (opening it arms it; probe disarms it with the magic close right after).")
    var noWatchdog = false

    func run() async throws {
        let config: BoardConfiguration
        do {
            config = try BoardLoader.load(path: file)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        let hardware: any HardwareProvider
        var manual: ManualClock?
        do {
            switch config.kind {
            case .simulated:
                let m = ManualClock()
                manual = m
                hardware = try SimulatedBoard(board: config, clock: m)
            case .rig:
                hardware = try HardwareSelection.openRig(config)
            }
        } catch {
            print("FAIL board \(config.name): \(error)")
            throw ExitCode(ExitCodes.hardware)
        }
        print("probe: board \(config.name) (\(config.kind.rawValue)) from \(file); \(HardwareSelection.describe(hardware))")
        func probe<H: HardwareProvider>(_ hardware: H) -> BoardProbeReport {
            var probe = BoardProbe(board: config, hardware: hardware, manualClock: manual)
            probe.tachWindow = tachWindow.duration
            probe.includeWatchdog = !noWatchdog
            return probe.run()
        }
        let report = probe(hardware)
        for line in report.lines { print(line) }
        print("probe: \(report.passed) answered, \(report.failed) failed")
        HardwareSelection.close(hardware)
        if report.failed > 0 { throw ExitCode(ExitCodes.hardware) }
    }
}

/// The probe itself, over any `HardwareProvider`, so the simulated board, the real rig
/// and the virtual board in QEMU run the same checks.
struct BoardProbe<Hardware: HardwareProvider> {
    let board: BoardConfiguration
    let hardware: Hardware
    let manualClock: ManualClock?
    var tachWindow: Duration = .milliseconds(500)
    var includeWatchdog = true
    /// How long a sensor may take to give its first valid sample.
    var sensorTimeout: Duration = .milliseconds(200)

    typealias Report = BoardProbeReport

    init(board: BoardConfiguration, hardware: Hardware, manualClock: ManualClock?) {
        self.board = board
        self.hardware = hardware
        self.manualClock = manualClock
    }

    /// Lets time pass (really, or on the manual clock) and services the board.
    func wait(_ d: Duration) {
        let t = hardware.clock.now() + d
        if let manualClock { manualClock.advance(to: t) } else { hardware.clock.sleep(until: t) }
        hardware.service(now: hardware.clock.now())
    }

    func run() -> Report {
        var r = Report()
        probeSensors(&r)
        probeOutputs(&r)
        probeInputs(&r)
        probePWM(&r)
        if includeWatchdog { probeWatchdog(&r) }
        return r
    }

    static func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
    static func hex(_ a: UInt8) -> String { "0x" + String(a, radix: 16) }

    private func probeSensors(_ r: inout Report) {
        for (id, dev) in board.devices.sorted(by: { $0.key < $1.key }) {
            let roles = board.sensors.filter { $0.value.device == id }.sorted { $0.key.rawValue < $1.key.rawValue }
            let name = "\(id) (\(dev.bus) \(board.i2cBuses[dev.bus]?.path ?? "?") @\(Self.hex(dev.address)))"
            let i2c: Hardware.I2C
            do { i2c = try hardware.i2cDevice(bus: dev.bus, address: dev.address) } catch {
                r.fail("\(name): \(error)")
                continue
            }
            switch dev.driver {
            case let .abp2(lo, hi, tf):
                guard let role = roles.first?.key else { r.fail("\(name): no sensor uses it"); continue }
                guard let d = try? ABP2Driver(device: i2c, role: role, pressureMin: lo, pressureMax: hi, transferFunction: tf) else {
                    r.fail("\(name): invalid ABP2 settings"); continue
                }
                let deadline = hardware.clock.now() + sensorTimeout
                d.service(now: hardware.clock.now())
                while d.sample.status != .valid, hardware.clock.now() < deadline, d.lastError == nil {
                    wait(.milliseconds(1))
                    d.service(now: hardware.clock.now())
                }
                if d.sample.status == .valid {
                    let t = d.temperature.map { ", \(Self.fixed($0.celsius, 1)) °C" } ?? ""
                    r.ok("\(role.rawValue) ABP2 \(name): \(Self.fixed(d.sample.value.mmHg, 2)) mmHg\(t)")
                } else {
                    r.fail("\(role.rawValue) ABP2 \(name): \(d.lastError.map { "\($0)" } ?? "no valid sample within \(sensorTimeout)")")
                }
            case let .ads1115(fs, rate):
                let channels = roles.compactMap { role, s in s.channel.map { (input: $0, role: role) } }
                guard !channels.isEmpty, let d = try? ADS1115Driver(device: i2c, fullScale: fs, dataRate: rate, channels: channels) else {
                    r.fail("\(name): no usable ADS1115 channel"); continue
                }
                let deadline = hardware.clock.now() + sensorTimeout
                func allValid() -> Bool { channels.allSatisfy { d.sample(input: $0.input).status == .valid } }
                d.service(now: hardware.clock.now())
                while !allValid(), hardware.clock.now() < deadline {
                    wait(.milliseconds(1))
                    d.service(now: hardware.clock.now())
                }
                for (input, role) in channels {
                    let s = d.sample(input: input)
                    if s.status == .valid {
                        let cal = board.sensors[role]?.analog
                        let value = cal.map { " = \(Self.fixed($0.convert(s.value), 3)) \(role == .flow ? "L/min" : "mmHg")" } ?? ""
                        r.ok("\(role.rawValue) ADS1115 \(name) AIN\(input): \(Self.fixed(s.value.volts, 4)) V\(value)")
                    } else {
                        r.fail("\(role.rawValue) ADS1115 \(name) AIN\(input): \(d.lastError.map { "\($0)" } ?? "status \(s.status)")")
                    }
                }
            }
        }
    }

    private func chipName(_ id: String) -> String { board.gpioChips[id].map { "\($0.label)" } ?? id }

    private func probeOutputs(_ r: inout Report) {
        for (role, c) in board.outputs.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let name = "output \(role.rawValue) (line \(c.line) of \(chipName(c.chip))\(c.activeLow ? ", active low" : ""))"
            do {
                let line = try hardware.outputLine(c)
                let back = try line.readBack()
                if back == c.safeValue {
                    r.ok("\(name): at its safe value \(c.safeValue), read back \(back)")
                } else {
                    r.fail("\(name): safe value \(c.safeValue) but read back \(back)")
                }
            } catch {
                r.fail("\(name): \(error)")
            }
        }
    }

    private func probeInputs(_ r: inout Report) {
        let buffer = UnsafeMutableBufferPointer<EdgeEvent>.allocate(capacity: 1024)
        defer { buffer.deallocate() }
        for (role, c) in board.inputs.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let name = "input \(role.rawValue) (line \(c.line) of \(chipName(c.chip)), bias \(c.bias.rawValue), edges \(c.edge.rawValue))"
            do {
                let line = try hardware.inputLine(c)
                let level = try line.read()
                var detail = "reads \(level)"
                if role == .pumpTachometer {
                    _ = try line.readEdges(into: buffer)   // drop what queued before the window
                    let start = hardware.clock.now()
                    var stamps: [Instant] = []
                    while hardware.clock.now() - start < tachWindow {
                        wait(.milliseconds(5))
                        let n = try line.readEdges(into: buffer)
                        for i in 0..<n where buffer[i].kind == .rising || c.edge != .rising { stamps.append(buffer[i].timestamp) }
                    }
                    if stamps.count >= 2, let first = stamps.first, let last = stamps.last, last > first {
                        let period = (last - first).seconds / Double(stamps.count - 1)
                        let rpm = 60 / (period * Double(c.pulsesPerRevolution ?? 1))
                        detail += ", \(stamps.count) edges in \(tachWindow): \(Self.fixed(rpm, 1)) rpm"
                    } else {
                        detail += ", \(stamps.count) edges in \(tachWindow) (pump stopped?)"
                    }
                }
                r.ok("\(name): \(detail)")
            } catch {
                r.fail("\(name): \(error)")
            }
        }
    }

    private func probePWM(_ r: inout Report) {
        let p = board.pump
        let name = "pump PWM (\(board.pwmChips[p.pwmChip]?.path ?? p.pwmChip) channel \(p.channel))"
        do {
            let pwm = try hardware.pwmChannel(chip: p.pwmChip, channel: p.channel)
            let (duty, enabled) = try pwm.readBack()
            r.ok("\(name): duty \(Self.fixed(duty * 100, 1)) %, \(enabled ? "enabled" : "disabled") (left as found)")
        } catch let e as HardwareOpenError {
            r.fail("\(name): \(e)")
        } catch {
            // A freshly exported channel has period 0: readBack says so; the rig sets it on start.
            if case .deviceFault(let what)? = error as? HALError, "\(what)".hasPrefix("PWM period not set") {
                r.ok("\(name): opened; no period set yet (the rig sets it when it starts)")
            } else {
                r.fail("\(name): \(error)")
            }
        }
    }

    private func probeWatchdog(_ r: inout Report) {
        let name = "watchdog \(board.watchdog.device)"
        do {
            let wd = try hardware.watchdog(board.watchdog)
            try wd.start(timeout: board.watchdog.timeout)
            try wd.kick()
            try wd.stop()
            var boot = ""
            #if os(Linux)
            if let linux = wd as? LinuxWatchdog, let reset = linux.bootedAfterWatchdogReset {
                boot = reset ? "; the last boot WAS a watchdog reset" : "; last boot was not a watchdog reset"
            }
            #endif
            r.ok("\(name): armed with \(board.watchdog.timeout), kicked, disarmed (magic close)\(boot)")
        } catch {
            r.fail("\(name): \(error)")
        }
    }
}

/// What a board probe found, line by line.
struct BoardProbeReport {
    var lines: [String] = []
    var passed = 0
    var failed = 0
    mutating func ok(_ s: String) { lines.append("ok   \(s)"); passed += 1 }
    mutating func fail(_ s: String) { lines.append("FAIL \(s)"); failed += 1 }
}
