import ECMOCore
import ECMODevices
import Yams
import ECMODataFile

/// I²C drivers a board file can name (`driver:`); each maps to an `I2CDriver` case.
enum DriverKind: String, CaseIterable {
    case abp2
    case ads1115
}

/// Decodes the composed YAML tree section by section, then checks the sections against
/// each other. Each step reports into `reader.diagnostics` and carries on; the
/// configuration is built only when every piece decoded.
struct BoardDecoder {
    var reader: YAMLReader
    let file: String

    init(file: String) {
        self.file = file
        reader = YAMLReader(file: file)
    }

    // MARK: Schema

    static let topKeys = ["board", "i2c_buses", "gpio_chips", "pwm_chips", "devices", "sensors", "inputs", "outputs", "pump", "syringe",
                          "coprocessor"]
    static let coprocessorKeys = ["uart", "baud", "heartbeat_ms", "silence_timeout_ms", "permit_wiring", "drainage_low_mmhg",
                                  "pre_oxygenator_high_mmhg", "pressure_persistence_ms", "zero_flow_s", "heartbeat_timeout_ms",
                                  "rearm_clear_ms"]
    static let requiredTopKeys = ["board", "i2c_buses", "gpio_chips", "pwm_chips", "devices", "sensors", "inputs", "outputs", "pump"]
    static let headerKeys = ["name", "description", "kind", "realtime", "loop_period_us", "watchdog"]
    static let optionalHeaderKeys = ["simulation"]
    static let deviceCommonKeys = ["driver", "bus", "address"]
    static let abp2Keys = ["pressure_min_mmhg", "pressure_max_mmhg", "transfer_function"]
    static let ads1115Keys = ["full_scale_v", "data_rate_sps"]
    static let pumpKeys = ["pwm", "channel", "period_us", "duty_at_zero", "duty_at_max", "rpm_at_max_duty", "min_rpm",
                           "max_rpm", "max_ramp_rpm_per_s", "safe_rpm", "max_command_age_ms"]
    static let pumpCurveKeys = ["curve_head_mmhg_per_krpm2", "curve_flow_loss_mmhg_per_lpm2"]
    static let syringeKeys = ["steps_per_revolution", "microsteps", "lead_screw_pitch_mm", "max_step_rate_hz"]

    /// ADS1115 addresses selectable with its ADDR pin (GND, VDD, SDA, SCL).
    static let ads1115Addresses = Int(ADS1115.addresses.lowerBound)...Int(ADS1115.addresses.upperBound)
    /// 7-bit addresses outside the reserved blocks 0x00–0x07 and 0x78–0x7F.
    static let i2cAddresses = 0x08...0x77
    /// The ABP2 updates its calibrated output about once per conversion: a sample is up to that old when read.
    static let abp2UpdateIntervalMilliseconds = Int((ABP2.conversionTime / .milliseconds(1)).rounded(.up))
    static let pressureRoles: Set<SensorRole> = [.drainPressure, .preOxygenatorPressure, .postOxygenatorPressure]
    static let heparinOutputs: [ActuatorRole] = [.heparinStep, .heparinDirection, .heparinEnable]
    static let stepperMicrosteps = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    // MARK: What has been decoded (nil or absent: missing or invalid, already reported)

    /// Sane bounds of an input's `debounce_us`. Contacts bounce for well under 10 ms; the
    /// inputs debounced are the E-stop, the air detector and the end switches, whose
    /// interlocks act in the tick they are seen, so a debounce is latency added to them:
    /// more than 20 ms would be a safety delay hidden in the board file, not a debounce.
    static let debounceMicroseconds = 0...20_000

    /// An input's `debounce_us`, refused outside `debounceMicroseconds` with the key named.
    static func debounce(_ reader: inout YAMLReader, _ m: MappingView) -> Located<Int>? {
        guard let d = reader.int(m, "debounce_us", unit: " µs") else { return nil }
        guard debounceMicroseconds.contains(d.value) else {
            reader.error(d.position, d.path, "debounce_us \(d.value) µs is outside 0...\(debounceMicroseconds.upperBound) µs: "
                         + "a debounce delays the interlock of this input by as much, and contacts bounce for under 10 ms")
            return nil
        }
        return d
    }

    private var kind: Located<BoardKind>?
    private var loopPeriodMicroseconds: Int?
    private var watchdogTimeout: Located<Int>?

    private var busIDs: Set<String> = []
    /// Chip id → line count (nil when the count itself was invalid).
    private var chipLines: [String: Int?] = [:]
    private var pwmChannels: [String: Int?] = [:]
    /// Device id → driver (nil when the driver was invalid).
    private var deviceDrivers: [String: DriverKind?] = [:]

    private enum HardwareKind {
        case watchdog, i2cBus, gpioChip, pwmChip
    }
    /// Paths, labels and devices that must all be simulated or all real.
    private var hardwareNames: [(name: Located<String>, kind: HardwareKind)] = []

    private struct LineUse {
        var chip: String
        var line: Located<Int>
        var owner: String
    }
    private var lineUses: [LineUse] = []
    /// Sensor max ages and output command ages, checked against the loop period at the end.
    private var sensorAges: [(age: Located<Int>, device: String?)] = []
    private var commandAges: [Located<Int>] = []
    private var tachDebounce: (debounce: Located<Int>, pulsesPerRevolution: Int)?

    // MARK: Decode

    mutating func decode(_ root: Node) -> BoardConfiguration? {
        guard let top = reader.mapping(root, path: [], at: .start) else { return nil }
        reader.checkKeys(top, allowed: Self.topKeys, required: Self.requiredTopKeys)

        let header = top.entry("board").flatMap { decodeHeader($0) }
        let buses = decodeBuses(top)
        let chips = decodeGPIOChips(top)
        let pwms = decodePWMChips(top)
        let devices = decodeDevices(top)
        let sensors = decodeSensors(top, devices: devices)
        let inputs = decodeInputs(top)
        let outputs = decodeOutputs(top)
        let pump = top.entry("pump").flatMap { decodePump($0) }
        let syringe = top.entry("syringe").flatMap { decodeSyringe($0) }
        let coprocessor = top.entry("coprocessor").flatMap { decodeCoProcessor($0) }

        checkLineConflicts()
        checkTiming(devices: devices, sensors: sensors, pump: pump)
        checkHardwareKind()

        guard let header, let pump, top.entry("syringe") == nil || syringe != nil,
              top.entry("coprocessor") == nil || coprocessor != nil else { return nil }
        var board = BoardConfiguration(
            sourceFile: file, name: header.name, description: header.description, kind: header.kind,
            realtime: header.realtime, loopPeriod: header.loopPeriod, watchdog: header.watchdog,
            i2cBuses: buses, gpioChips: chips, pwmChips: pwms, devices: devices, sensors: sensors,
            inputs: inputs, outputs: outputs, pump: pump, syringe: syringe)
        board.simulation = header.simulation
        board.coprocessor = coprocessor
        return board
    }

    // MARK: Sections

    private struct Header {
        var name: String
        var description: String
        var kind: BoardKind
        var realtime: RealtimeRequirement
        var loopPeriod: Duration
        var watchdog: WatchdogConfiguration
        var simulation: SimulationFidelity
    }

    private mutating func decodeHeader(_ entry: Entry) -> Header? {
        guard let m = reader.mapping(entry) else { return nil }
        reader.checkKeys(m, allowed: Self.headerKeys + Self.optionalHeaderKeys, required: Self.headerKeys)
        let name = reader.string(m, "name")
        if let name, !Self.isIdentifier(name.value, allowingDots: true) {
            reader.error(name.position, name.path, "board names use letters, digits, '_', '-' and '.', starting with a letter")
        }
        let description = reader.string(m, "description")
        kind = reader.choice(m, "kind", BoardKind.self)
        let realtime = reader.choice(m, "realtime", RealtimeRequirement.self)
        var simulation = SimulationFidelity.register
        if m.entry("simulation") != nil, let chosen = reader.choice(m, "simulation", SimulationFidelity.self) {
            simulation = chosen.value
            if let kind, kind.value != .simulated {
                reader.error(chosen.position, chosen.path, "only a simulated board has a simulation fidelity (this board's kind is \(kind.value.rawValue), line \(kind.position.line))")
            }
        }
        let loop = reader.int(m, "loop_period_us", in: 100...100_000, unit: " µs")
        loopPeriodMicroseconds = loop?.value

        var watchdog: WatchdogConfiguration?
        if let watchdogEntry = m.entry("watchdog"), let w = reader.mapping(watchdogEntry) {
            reader.checkKeys(w, allowed: ["device", "timeout_ms"], required: ["device", "timeout_ms"])
            let device = reader.string(w, "device")
            if let device { hardwareNames.append((device, .watchdog)) }
            watchdogTimeout = reader.int(w, "timeout_ms", in: 10...60_000, unit: " ms")
            if let device, let watchdogTimeout {
                watchdog = WatchdogConfiguration(device: device.value, timeout: .milliseconds(watchdogTimeout.value))
            }
        }
        guard let name, let description, let kind, let realtime, let loop, let watchdog else { return nil }
        return Header(name: name.value, description: description.value, kind: kind.value, realtime: realtime.value,
                      loopPeriod: .microseconds(loop.value), watchdog: watchdog, simulation: simulation)
    }

    private mutating func decodeBuses(_ top: MappingView) -> [String: I2CBusConfiguration] {
        var result: [String: I2CBusConfiguration] = [:]
        for item in idEntries(top, "i2c_buses") {
            busIDs.insert(item.key)
            guard let m = reader.mapping(item) else { continue }
            reader.checkKeys(m, allowed: ["path"], required: ["path"])
            if let path = reader.string(m, "path") {
                hardwareNames.append((path, .i2cBus))
                result[item.key] = I2CBusConfiguration(path: path.value)
            }
        }
        return result
    }

    private mutating func decodeGPIOChips(_ top: MappingView) -> [String: GPIOChipConfiguration] {
        var result: [String: GPIOChipConfiguration] = [:]
        for item in idEntries(top, "gpio_chips") {
            chipLines[item.key] = .some(nil)
            guard let m = reader.mapping(item) else { continue }
            reader.checkKeys(m, allowed: ["label", "lines"], required: ["label", "lines"])
            let label = reader.string(m, "label")
            if let label { hardwareNames.append((label, .gpioChip)) }
            let lines = reader.int(m, "lines", in: 1...1024)
            chipLines[item.key] = .some(lines?.value)
            if let label, let lines {
                result[item.key] = GPIOChipConfiguration(label: label.value, lineCount: lines.value)
            }
        }
        return result
    }

    private mutating func decodePWMChips(_ top: MappingView) -> [String: PWMChipConfiguration] {
        var result: [String: PWMChipConfiguration] = [:]
        for item in idEntries(top, "pwm_chips") {
            pwmChannels[item.key] = .some(nil)
            guard let m = reader.mapping(item) else { continue }
            reader.checkKeys(m, allowed: ["path", "channels"], required: ["path", "channels"])
            let path = reader.string(m, "path")
            if let path { hardwareNames.append((path, .pwmChip)) }
            let channels = reader.int(m, "channels", in: 1...64)
            pwmChannels[item.key] = .some(channels?.value)
            if let path, let channels {
                result[item.key] = PWMChipConfiguration(path: path.value, channelCount: channels.value)
            }
        }
        return result
    }

    private mutating func decodeDevices(_ top: MappingView) -> [String: I2CDeviceConfiguration] {
        var result: [String: I2CDeviceConfiguration] = [:]
        var addressOwners: [String: (id: String, line: Int)] = [:]
        for item in idEntries(top, "devices") {
            deviceDrivers[item.key] = .some(nil)
            guard let m = reader.mapping(item) else { continue }
            let driver = reader.choice(m, "driver", DriverKind.self)
            deviceDrivers[item.key] = .some(driver?.value)
            switch driver?.value {
            case .abp2:
                reader.checkKeys(m, allowed: Self.deviceCommonKeys + Self.abp2Keys, required: Self.deviceCommonKeys + Self.abp2Keys,
                                 restricted: Dictionary(uniqueKeysWithValues: Self.ads1115Keys.map { ($0, "only for ads1115 devices") }))
            case .ads1115:
                reader.checkKeys(m, allowed: Self.deviceCommonKeys + Self.ads1115Keys, required: Self.deviceCommonKeys + Self.ads1115Keys,
                                 restricted: Dictionary(uniqueKeysWithValues: Self.abp2Keys.map { ($0, "only for abp2 devices") }))
            case nil:
                reader.checkKeys(m, allowed: Self.deviceCommonKeys + Self.abp2Keys + Self.ads1115Keys, required: Self.deviceCommonKeys)
            }

            let bus = reader.reference(m, "bus")
            if let bus { checkReference(bus, known: busIDs, what: "I2C bus", section: "i2c_buses") }

            var address = reader.int(m, "address")
            if let a = address, !Self.i2cAddresses.contains(a.value) {
                reader.error(a.position, a.path,
                             "address \(hex(a.value)) is outside the 7-bit range 0x08...0x77 (0x00-0x07 and 0x78-0x7F are reserved)")
                address = nil
            } else if let a = address, driver?.value == .ads1115, !Self.ads1115Addresses.contains(a.value) {
                reader.error(a.position, a.path, "an ADS1115 answers only at \(hex(Self.ads1115Addresses.lowerBound))...\(hex(Self.ads1115Addresses.upperBound)) (set by its ADDR pin), got \(hex(a.value))")
                address = nil
            }
            if let bus, let a = address {
                let key = "\(bus.value)#\(a.value)"
                if let owner = addressOwners[key] {
                    reader.error(a.position, a.path,
                                 "address \(hex(a.value)) on \(bus.value) is already used by device '\(owner.id)' (line \(owner.line))")
                } else {
                    addressOwners[key] = (item.key, a.position.line)
                }
            }

            var i2cDriver: I2CDriver?
            switch driver?.value {
            case .abp2:
                let low = reader.number(m, "pressure_min_mmhg", in: -10_000...10_000, unit: " mmHg")
                let high = reader.number(m, "pressure_max_mmhg", in: -10_000...10_000, unit: " mmHg")
                let transfer = reader.choice(m, "transfer_function", ABP2TransferFunction.self)
                if let low, let high, low.value >= high.value {
                    reader.error(low.position, low.path,
                                 "pressure_min_mmhg (\(format(low.value))) must be below pressure_max_mmhg (\(format(high.value)))")
                } else if let low, let high, let transfer {
                    i2cDriver = .abp2(pressureMin: .mmHg(low.value), pressureMax: .mmHg(high.value), transferFunction: transfer.value)
                }
            case .ads1115:
                var pga: ADS1115.PGA?
                if let fs = reader.number(m, "full_scale_v", unit: " V") {
                    pga = ADS1115.PGA.allCases.first { $0.fullScaleRange.volts == fs.value }
                    if pga == nil {
                        reader.error(fs.position, fs.path, "full_scale_v \(format(fs.value)) is not an ADS1115 range (allowed: "
                                     + ADS1115.PGA.allCases.map { format($0.fullScaleRange.volts) }.joined(separator: ", ") + ")")
                    }
                }
                var dr: ADS1115.DR?
                if let r = reader.int(m, "data_rate_sps") {
                    dr = ADS1115.DR(samplesPerSecond: r.value)
                    if dr == nil {
                        reader.error(r.position, r.path, "data_rate_sps \(r.value) is not an ADS1115 data rate (allowed: "
                                     + ADS1115.DR.allCases.map { String($0.samplesPerSecond) }.joined(separator: ", ") + ")")
                    }
                }
                if let pga, let dr {
                    i2cDriver = .ads1115(fullScale: pga, dataRate: dr)
                }
            case nil:
                break
            }
            if let bus, let address = address.flatMap({ UInt8(exactly: $0.value) }), let i2cDriver {
                result[item.key] = I2CDeviceConfiguration(id: item.key, bus: bus.value, address: address, driver: i2cDriver)
            }
        }
        return result
    }

    private mutating func decodeSensors(_ top: MappingView, devices: [String: I2CDeviceConfiguration]) -> [SensorRole: SensorConfiguration] {
        var result: [SensorRole: SensorConfiguration] = [:]
        var present: Set<SensorRole> = []
        var channelOwners: [String: (role: String, line: Int)] = [:]
        let section = sectionMapping(top, "sensors")
        let allowedRoles = SensorRole.allCases.filter { $0 != .pumpTachometer }.map(\.rawValue)
        for item in section?.entries ?? [] {
            guard let role = SensorRole(rawValue: item.key), role != .pumpTachometer else {
                if item.key == SensorRole.pumpTachometer.rawValue {
                    reader.error(item.keyPosition, item.path, "pump_tach is measured by counting edges on a line: configure it under 'inputs'")
                } else {
                    reader.error(item.keyPosition, item.path,
                                 "unknown sensor role '\(item.key)' (allowed: \(allowedRoles.joined(separator: ", ")))")
                }
                continue
            }
            present.insert(role)
            guard let m = reader.mapping(item) else { continue }
            let device = reader.reference(m, "device")
            if let device { checkReference(device, known: Set(deviceDrivers.keys), what: "device", section: "devices") }
            let driver: DriverKind? = device.flatMap { deviceDrivers[$0.value] ?? nil }

            let allKeys = ["device", "channel", "volts_offset", "units_per_volt", "max_age_ms", "signal_v"]
            let requiredAnalog = ["device", "channel", "volts_offset", "units_per_volt", "max_age_ms"]
            switch driver {
            case .abp2:
                let digital = "device '\(device?.value ?? "")' is an abp2, a digital sensor"
                reader.checkKeys(m, allowed: ["device", "max_age_ms"], required: ["device", "max_age_ms"], restricted: [
                    "channel": "\(digital) with a single channel",
                    "volts_offset": "\(digital): analog calibration does not apply",
                    "units_per_volt": "\(digital): analog calibration does not apply",
                    "signal_v": "\(digital): it reports a lost signal itself",
                ])
            case .ads1115:
                reader.checkKeys(m, allowed: allKeys, required: requiredAnalog)
            case nil:
                reader.checkKeys(m, allowed: allKeys, required: ["device", "max_age_ms"])
            }
            if driver == .abp2, !Self.pressureRoles.contains(role), let device {
                reader.error(device.position, device.path,
                             "device '\(device.value)' is an abp2 pressure sensor; '\(role.rawValue)' needs an analog input (ads1115)")
            }

            var channel: Located<Int>?
            var analog: AnalogCalibration?
            if driver == .ads1115 {
                channel = reader.int(m, "channel", in: 0...3)
                let widest = ADS1115.PGA.fsr6_144.fullScaleRange.volts
                let offset = reader.number(m, "volts_offset", in: -widest...widest, unit: " V")
                // Bounded so that a reading over the widest input span stays a finite, usable
                // number (1e308 units/V would be ±inf; 1e-320 is zero in all but name).
                let scale = reader.number(m, "units_per_volt", in: -1e6...1e6)
                if let s = scale, abs(s.value) < 1e-6 {
                    reader.error(s.position, s.path, "units_per_volt must not be zero (magnitude at least 1e-6, got \(s.value))")
                } else if let offset, let scale {
                    analog = AnalogCalibration(offset: Voltage(volts: offset.value), unitsPerVolt: scale.value)
                }
                // The sensor's own output range: outside it the wire is open or at a rail.
                if m.has("signal_v"), let r = reader.numbers(m, "signal_v", count: 2) {
                    let lo = r.value[0], hi = r.value[1]
                    if !(lo.isFinite && hi.isFinite && lo < hi && lo >= -widest && hi <= widest) {
                        reader.error(r.position, r.path, "signal_v must be [low, high] volts with low < high, within ±\(widest) V; got [\(lo), \(hi)]")
                    } else {
                        analog?.signalRange = lo...hi
                    }
                }
            }
            let maxAge = reader.int(m, "max_age_ms", in: 1...1000, unit: " ms")
            if let maxAge { sensorAges.append((maxAge, device?.value)) }
            if driver == .abp2, let maxAge, maxAge.value < Self.abp2UpdateIntervalMilliseconds {
                reader.error(maxAge.position, maxAge.path,
                             "max_age_ms \(maxAge.value) is shorter than the ABP2's update interval (\(Self.abp2UpdateIntervalMilliseconds) ms)")
            }

            if let device, driver != nil {
                let key = "\(device.value)#\(channel.map { String($0.value) } ?? "-")"
                let at = channel?.position ?? device.position
                let what = channel.map { "device '\(device.value)' channel \($0.value)" } ?? "device '\(device.value)'"
                if let owner = channelOwners[key] {
                    reader.error(at, channel?.path ?? device.path,
                                 "\(what) is already used by sensor '\(owner.role)' (line \(owner.line))")
                } else {
                    channelOwners[key] = (role.rawValue, at.line)
                }
            }

            if let device, let maxAge, let driver, devices[device.value] != nil {
                if driver == .ads1115, channel == nil || analog == nil { continue }
                result[role] = SensorConfiguration(role: role, device: device.value, channel: channel?.value, analog: analog,
                                                   maxAge: .milliseconds(maxAge.value))
            }
        }
        reportMissing(BoardConfiguration.requiredSensors.map(\.rawValue), present: Set(present.map(\.rawValue)),
                      section: "sensors", at: section?.position, what: "sensor")
        return result
    }

    private mutating func decodeInputs(_ top: MappingView) -> [InputRole: InputLineConfiguration] {
        var result: [InputRole: InputLineConfiguration] = [:]
        var present: Set<InputRole> = []
        let section = sectionMapping(top, "inputs")
        for item in section?.entries ?? [] {
            guard let role = InputRole(rawValue: item.key) else {
                reader.error(item.keyPosition, item.path, "unknown input role '\(item.key)' (allowed: "
                             + InputRole.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                continue
            }
            present.insert(role)
            guard let m = reader.mapping(item) else { continue }
            let isTach = role == .pumpTachometer
            let allowed = ["chip", "line", "active_low", "bias", "edge"] + (isTach ? ["pulses_per_revolution"] : []) + ["debounce_us"]
            reader.checkKeys(m, allowed: allowed, required: ["chip", "line"] + (isTach ? ["edge", "pulses_per_revolution"] : []),
                             restricted: isTach ? [:] : ["pulses_per_revolution": "only the pump tachometer (pump_tach) counts pulses per revolution"])

            let (chip, line) = decodeLine(m, owner: item.path.joined(separator: "."))
            let activeLow = reader.bool(m, "active_low")
            let bias = reader.choice(m, "bias", LineBias.self)
            let edge = reader.choice(m, "edge", EdgeSetting.self)
            var pulses: Located<Int>?
            if isTach {
                pulses = reader.int(m, "pulses_per_revolution", in: 1...64)
                if let edge, edge.value == .none {
                    reader.error(edge.position, edge.path, "pump_tach counts edges: edge must be rising, falling or both")
                }
            }
            let debounce = Self.debounce(&reader, m)
            if isTach, let debounce, let pulses { tachDebounce = (debounce, pulses.value) }

            let valid = (m.has("active_low") == (activeLow != nil)) && (m.has("bias") == (bias != nil))
                && (m.has("edge") == (edge != nil)) && (m.has("debounce_us") == (debounce != nil))
                && (!isTach || pulses != nil)
            if let chip, let line, valid {
                result[role] = InputLineConfiguration(
                    role: role, chip: chip.value, line: line.value, activeLow: activeLow?.value ?? false,
                    bias: bias?.value ?? .none, edge: edge?.value ?? .none, pulsesPerRevolution: pulses?.value,
                    debounce: .microseconds(debounce?.value ?? 0))
            }
        }
        reportMissing(BoardConfiguration.requiredInputs.map(\.rawValue), present: Set(present.map(\.rawValue)),
                      section: "inputs", at: section?.position, what: "input")
        return result
    }

    private mutating func decodeOutputs(_ top: MappingView) -> [ActuatorRole: OutputLineConfiguration] {
        var result: [ActuatorRole: OutputLineConfiguration] = [:]
        var present: Set<ActuatorRole> = []
        let section = sectionMapping(top, "outputs")
        let allowedRoles = ActuatorRole.allCases.filter { $0 != .pumpSpeed }.map(\.rawValue)
        for item in section?.entries ?? [] {
            guard let role = ActuatorRole(rawValue: item.key), role != .pumpSpeed else {
                if item.key == ActuatorRole.pumpSpeed.rawValue {
                    reader.error(item.keyPosition, item.path,
                                 "pump_speed is not a digital output: the pump's PWM speed channel is configured under 'pump'")
                } else {
                    reader.error(item.keyPosition, item.path,
                                 "unknown output role '\(item.key)' (allowed: \(allowedRoles.joined(separator: ", ")))")
                }
                continue
            }
            present.insert(role)
            guard let m = reader.mapping(item) else { continue }
            reader.checkKeys(m, allowed: ["chip", "line", "active_low", "safe_value", "max_command_age_ms"],
                             required: ["chip", "line", "safe_value", "max_command_age_ms"])
            let (chip, line) = decodeLine(m, owner: item.path.joined(separator: "."))
            let activeLow = reader.bool(m, "active_low")
            let safe = reader.bool(m, "safe_value")
            let age = reader.int(m, "max_command_age_ms", in: 1...10_000, unit: " ms")
            if let age { commandAges.append(age) }
            if let chip, let line, let safe, let age, m.has("active_low") == (activeLow != nil) {
                result[role] = OutputLineConfiguration(role: role, chip: chip.value, line: line.value,
                                                       activeLow: activeLow?.value ?? false, safeValue: safe.value,
                                                       maxCommandAge: .milliseconds(age.value))
            }
        }
        reportMissing(BoardConfiguration.requiredOutputs.map(\.rawValue), present: Set(present.map(\.rawValue)),
                      section: "outputs", at: section?.position, what: "output")
        // A second syringe needs all three of its lines, or it cannot be driven (or disabled).
        let heparin = Self.heparinOutputs.filter { present.contains($0) }
        if !heparin.isEmpty, heparin.count < Self.heparinOutputs.count, let section {
            let missing = Self.heparinOutputs.filter { !present.contains($0) }.map(\.rawValue).joined(separator: ", ")
            reader.error(section.position, section.path,
                         "heparin_step, heparin_dir and heparin_enable come together: missing \(missing)")
        }
        return result
    }

    private mutating func decodePump(_ entry: Entry) -> PumpConfiguration? {
        guard let m = reader.mapping(entry) else { return nil }
        reader.checkKeys(m, allowed: Self.pumpKeys + Self.pumpCurveKeys, required: Self.pumpKeys)
        let pwm = reader.reference(m, "pwm")
        // Optional pump curve (both keys or neither), for the speed–flow cross-check.
        var curve: PumpCurve?
        let headK = m.has("curve_head_mmhg_per_krpm2") ? reader.number(m, "curve_head_mmhg_per_krpm2", in: 1...500) : nil
        let lossH = m.has("curve_flow_loss_mmhg_per_lpm2") ? reader.number(m, "curve_flow_loss_mmhg_per_lpm2", in: 0.01...100) : nil
        if let k = headK, let h = lossH {
            curve = PumpCurve(headCoefficient: k.value, flowLoss: h.value)
        } else if m.has("curve_head_mmhg_per_krpm2") != m.has("curve_flow_loss_mmhg_per_lpm2") {
            let missing = m.has("curve_head_mmhg_per_krpm2") ? "curve_flow_loss_mmhg_per_lpm2" : "curve_head_mmhg_per_krpm2"
            reader.error(m.position, m.path + [missing], "the pump curve needs both curve_head_mmhg_per_krpm2 and curve_flow_loss_mmhg_per_lpm2")
        }
        if let pwm { checkReference(pwm, known: Set(pwmChannels.keys), what: "PWM chip", section: "pwm_chips") }
        var channel = reader.int(m, "channel", in: 0...63)
        if let pwm, let c = channel, let count = pwmChannels[pwm.value] ?? nil, c.value >= count {
            reader.error(c.position, c.path, "channel \(c.value) is beyond \(pwm.value), which has \(count) channel\(count == 1 ? "" : "s") (0...\(count - 1))")
            channel = nil
        }
        let period = reader.int(m, "period_us", in: 10...100_000, unit: " µs")
        let dutyZero = reader.number(m, "duty_at_zero", in: 0...1)
        var dutyMax = reader.number(m, "duty_at_max", in: 0...1)
        if let z = dutyZero, let d = dutyMax, z.value >= d.value {
            reader.error(d.position, d.path, "duty_at_max (\(format(d.value))) must be above duty_at_zero (\(format(z.value)))")
            dutyMax = nil
        }
        let rpmRange = 0.0...10_000.0
        var atMax = reader.number(m, "rpm_at_max_duty", in: rpmRange, unit: " rpm")
        let minRPM = reader.number(m, "min_rpm", in: rpmRange, unit: " rpm")
        var maxRPM = reader.number(m, "max_rpm", in: rpmRange, unit: " rpm")
        var safeRPM = reader.number(m, "safe_rpm", in: rpmRange, unit: " rpm")
        var ramp = reader.number(m, "max_ramp_rpm_per_s", in: 0...100_000, unit: " rpm/s")
        if let r = ramp, r.value <= 0 {
            reader.error(r.position, r.path, "max_ramp_rpm_per_s must be above 0, or the pump could never change speed")
            ramp = nil
        }
        // 0 <= safe_rpm <= min_rpm < max_rpm <= rpm_at_max_duty <= 10000
        if let s = safeRPM, let lo = minRPM, s.value > lo.value {
            reader.error(s.position, s.path, "safe_rpm (\(format(s.value))) must not exceed min_rpm (\(format(lo.value)))")
            safeRPM = nil
        }
        if let lo = minRPM, let hi = maxRPM, lo.value >= hi.value {
            reader.error(hi.position, hi.path, "max_rpm (\(format(hi.value))) must be above min_rpm (\(format(lo.value)))")
            maxRPM = nil
        }
        if let hi = maxRPM, let top = atMax, hi.value > top.value {
            reader.error(hi.position, hi.path,
                         "max_rpm (\(format(hi.value))) exceeds rpm_at_max_duty (\(format(top.value))): the PWM cannot command it")
            maxRPM = nil
        }
        if let top = atMax, top.value <= 0 {
            reader.error(top.position, top.path, "rpm_at_max_duty must be above 0")
            atMax = nil
        }
        let age = reader.int(m, "max_command_age_ms", in: 1...10_000, unit: " ms")
        if let age { commandAges.append(age) }

        guard let pwm, let channel, let period, let dutyZero, let dutyMax, let atMax, let minRPM, let maxRPM, let safeRPM,
              let ramp, let age else { return nil }
        return PumpConfiguration(
            pwmChip: pwm.value, channel: channel.value, period: .microseconds(period.value),
            dutyAtZero: dutyZero.value, dutyAtMax: dutyMax.value, rpmAtMaxDuty: .rpm(atMax.value),
            limits: PumpLimits(minimumSpeed: .rpm(minRPM.value), maximumSpeed: .rpm(maxRPM.value),
                               maximumRampPerSecond: .rpm(ramp.value)),
            safeSpeed: .rpm(safeRPM.value), maxCommandAge: .milliseconds(age.value), curve: curve)
    }

    private mutating func decodeSyringe(_ entry: Entry) -> SyringeDriveConfiguration? {
        guard let m = reader.mapping(entry) else { return nil }
        reader.checkKeys(m, allowed: Self.syringeKeys, required: Self.syringeKeys)
        let steps = reader.int(m, "steps_per_revolution", in: 1...10_000)
        var microsteps = reader.int(m, "microsteps")
        if let u = microsteps, !Self.stepperMicrosteps.contains(u.value) {
            reader.error(u.position, u.path, "microsteps \(u.value) is not a driver setting (allowed: "
                         + Self.stepperMicrosteps.map(String.init).joined(separator: ", ") + ")")
            microsteps = nil
        }
        var pitch = reader.number(m, "lead_screw_pitch_mm", in: 0...100, unit: " mm")
        if let p = pitch, p.value <= 0 {
            reader.error(p.position, p.path, "lead_screw_pitch_mm must be above 0")
            pitch = nil
        }
        var rate = reader.number(m, "max_step_rate_hz", in: 0...100_000, unit: " Hz")
        if let r = rate, r.value <= 0 {
            reader.error(r.position, r.path, "max_step_rate_hz must be above 0")
            rate = nil
        }
        guard let steps, let microsteps, let pitch, let rate else { return nil }
        return SyringeDriveConfiguration(stepsPerRevolution: steps.value, microsteps: microsteps.value,
                                         leadScrewPitchMillimeters: pitch.value, maxStepRateHz: rate.value)
    }

    /// The co-processor's limits must lie beyond everything the main controller may be
    /// configured to (`AlarmLimitKey.hardBounds`), so that it never acts while the main
    /// controller's own interlocks can still do their job.
    private mutating func decodeCoProcessor(_ entry: Entry) -> CoProcessorConfiguration? {
        guard let m = reader.mapping(entry) else { return nil }
        reader.checkKeys(m, allowed: Self.coprocessorKeys, required: Self.coprocessorKeys)
        let uart = reader.string(m, "uart")
        let baud = reader.int(m, "baud", in: 9600...3_000_000, unit: " baud")
        let heartbeat = reader.int(m, "heartbeat_ms", in: 1...50, unit: " ms")
        let silence = reader.int(m, "silence_timeout_ms", in: 10...1000, unit: " ms")
        let wiring = reader.string(m, "permit_wiring")
        let deepest = AlarmLimitKey.drainPressureLow.hardBounds.lowerBound
        let highest = AlarmLimitKey.prePressureHigh.hardBounds.upperBound
        let longestNoFlow = AlarmLimitKey.zeroFlowLimit.hardBounds.upperBound
        let drain = reader.number(m, "drainage_low_mmhg", in: -1000...deepest, unit: " mmHg")
        let pre = reader.number(m, "pre_oxygenator_high_mmhg", in: highest...1500, unit: " mmHg")
        let persistence = reader.int(m, "pressure_persistence_ms", in: 0...500, unit: " ms")
        var zeroFlow = reader.number(m, "zero_flow_s", in: 0...600, unit: " s")
        if let z = zeroFlow, z.value <= longestNoFlow {
            reader.error(z.position, z.path, "zero_flow_s \(z.value) s must be longer than the longest NO_FLOW limit a "
                         + "configuration may set (\(longestNoFlow) s): the main controller alarms first")
            zeroFlow = nil
        }
        var timeout = reader.int(m, "heartbeat_timeout_ms", in: 10...1000, unit: " ms")
        if let t = timeout, let h = heartbeat, t.value < 3 * h.value {
            reader.error(t.position, t.path, "heartbeat_timeout_ms \(t.value) ms must be at least three heartbeats "
                         + "(3 × heartbeat_ms = \(3 * h.value) ms): one late frame is not a dead controller")
            timeout = nil
        }
        let clear = reader.int(m, "rearm_clear_ms", in: 0...60_000, unit: " ms")
        guard let uart, let baud, let heartbeat, let silence, let wiring, let drain, let pre, let persistence, let zeroFlow,
              let timeout, let clear else { return nil }
        var limits = ProtectiveLimits()
        limits.drainageLow = Pressure(mmHg: drain.value)
        limits.preOxygenatorHigh = Pressure(mmHg: pre.value)
        limits.pressurePersistence = .milliseconds(persistence.value)
        limits.zeroFlowTime = .seconds(zeroFlow.value)
        limits.heartbeatTimeout = .milliseconds(timeout.value)
        limits.rearmClearTime = .milliseconds(clear.value)
        return CoProcessorConfiguration(uart: uart.value, baud: baud.value, heartbeatEvery: .milliseconds(heartbeat.value),
                                        silenceTimeout: .milliseconds(silence.value), limits: limits, permitWiring: wiring.value)
    }

    // MARK: Pieces

    /// The entries of an `id: {...}` section, with ids checked.
    private mutating func idEntries(_ top: MappingView, _ key: String) -> [Entry] {
        guard let section = sectionMapping(top, key) else { return [] }
        var result: [Entry] = []
        for item in section.entries {
            if Self.isIdentifier(item.key, allowingDots: false) {
                result.append(item)
            } else {
                reader.error(item.keyPosition, item.path, "ids use letters, digits, '_' and '-', starting with a letter; got '\(item.key)'")
            }
        }
        return result
    }

    private mutating func sectionMapping(_ top: MappingView, _ key: String) -> MappingView? {
        guard let entry = top.entry(key) else { return nil }
        return reader.mapping(entry)
    }

    /// `chip` and `line` of an input or output, checked against the chip.
    private mutating func decodeLine(_ m: MappingView, owner: String) -> (Located<String>?, Located<Int>?) {
        let chip = reader.reference(m, "chip")
        if let chip { checkReference(chip, known: Set(chipLines.keys), what: "GPIO chip", section: "gpio_chips") }
        var line = reader.int(m, "line", in: 0...Int(Int32.max))
        if let chip, let l = line, let count = chipLines[chip.value] ?? nil, l.value >= count {
            reader.error(l.position, l.path, "line \(l.value) is beyond \(chip.value), which has \(count) lines (0...\(count - 1))")
            line = nil
        }
        if let chip, let line, chipLines[chip.value] != nil {
            lineUses.append(LineUse(chip: chip.value, line: line, owner: owner))
        }
        return (chip, line)
    }

    private mutating func checkReference(_ value: Located<String>, known: Set<String>, what: String, section: String) {
        guard !known.contains(value.value) else { return }
        let defined = known.sorted().joined(separator: ", ")
        reader.error(value.position, value.path,
                     "unknown \(what) '\(value.value)' (" + (known.isEmpty ? "none defined in '\(section)')" : "defined: \(defined))"))
    }

    private mutating func reportMissing(_ required: [String], present: Set<String>, section: String, at position: Position?, what: String) {
        for role in required where !present.contains(role) {
            reader.error(position ?? .start, [section], "missing required \(what) role '\(role)'")
        }
    }

    static func isIdentifier(_ text: String, allowingDots: Bool) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || (allowingDots && $0 == ".")) }
    }

    // MARK: Cross-checks

    /// One line, one owner: across inputs and outputs, in file order.
    private mutating func checkLineConflicts() {
        var owners: [String: LineUse] = [:]
        for use in lineUses.sorted(by: { ($0.line.position.line, $0.line.position.column) < ($1.line.position.line, $1.line.position.column) }) {
            let key = "\(use.chip)#\(use.line.value)"
            if let first = owners[key] {
                reader.error(use.line.position, use.line.path,
                             "\(use.chip) line \(use.line.value) is already used by \(first.owner) (line \(first.line.position.line))")
            } else {
                owners[key] = use
            }
        }
    }

    /// Ages and timeouts against the loop period and the devices' own update rates.
    private mutating func checkTiming(devices: [String: I2CDeviceConfiguration], sensors: [SensorRole: SensorConfiguration],
                                      pump: PumpConfiguration?) {
        if let loop = loopPeriodMicroseconds {
            let loopText = "\(format(Double(loop) / 1000)) ms"
            if let t = watchdogTimeout, t.value * 1000 < 5 * loop {
                reader.error(t.position, t.path, "timeout_ms \(t.value) is shorter than 5 loop periods (5 × \(loopText)): one late tick would reset the board")
            }
            for (age, _) in sensorAges where age.value * 1000 < loop {
                reader.error(age.position, age.path, "max_age_ms \(age.value) is shorter than one loop period (\(loopText)): every sample would be stale")
            }
            for age in commandAges where age.value * 1000 < 2 * loop {
                reader.error(age.position, age.path, "max_command_age_ms \(age.value) is shorter than 2 loop periods (2 × \(loopText)): the output guard would fire between ticks")
            }
        }
        // An ADC scans its channels in turn: each sample is up to one full scan old.
        for (id, device) in devices {
            guard case let .ads1115(_, dr) = device.driver else { continue }
            let rate = dr.samplesPerSecond
            let channels = sensors.values.filter { $0.device == id }.count
            guard channels > 0 else { continue }
            let scanMilliseconds = Double(channels) * 1000 / Double(rate)
            for (age, owner) in sensorAges where owner == id && Double(age.value) < scanMilliseconds {
                reader.error(age.position, age.path, "max_age_ms \(age.value) is shorter than one scan of \(id) (\(channels) channel\(channels == 1 ? "" : "s") at \(rate) SPS = \(format((scanMilliseconds * 10).rounded() / 10)) ms): samples would always be stale")
            }
        }
        // Debounce must not swallow tach pulses at full speed.
        if let tach = tachDebounce, let pump, tach.debounce.value > 0 {
            let pulseHz = pump.rpmAtMaxDuty.rpm / 60 * Double(tach.pulsesPerRevolution)
            let halfPeriodMicroseconds = 1_000_000 / pulseHz / 2
            if Double(tach.debounce.value) >= halfPeriodMicroseconds {
                reader.error(tach.debounce.position, tach.debounce.path, "debounce_us \(tach.debounce.value) would swallow tach pulses: at rpm_at_max_duty they are \(format(halfPeriodMicroseconds.rounded())) µs apart (half period)")
            }
        }
    }

    /// A simulated board names only simulated hardware; a rig board only real hardware,
    /// in the forms the Linux backend opens. Two ids for the same hardware are refused.
    private mutating func checkHardwareKind() {
        guard let kind else { return }
        var seen: [String: Located<String>] = [:]
        for (name, what) in hardwareNames {
            let text = name.value
            let looksSimulated = text.hasPrefix("sim")
            switch kind.value {
            case .simulated:
                if !looksSimulated {
                    reader.error(name.position, name.path,
                                 "'\(text)' is real hardware, but this board's kind is simulated (line \(kind.position.line)): use 'sim' or a name starting with 'sim'")
                }
            case .rig:
                if looksSimulated {
                    reader.error(name.position, name.path,
                                 "'\(text)' names simulated hardware, but this board's kind is rig (line \(kind.position.line))")
                } else if let problem = Self.rigFormatProblem(text, what) {
                    reader.error(name.position, name.path, problem)
                }
            }
            if text != "sim" {
                let key = "\(what)#\(text)"
                if let first = seen[key] {
                    reader.error(name.position, name.path, "'\(text)' is already used by \(first.dotted) (line \(first.position.line)): one id per piece of hardware")
                } else {
                    seen[key] = name
                }
            }
        }
        if kind.value == .rig, let t = watchdogTimeout, t.value % 1000 != 0 {
            reader.error(t.position, t.path, "timeout_ms \(t.value): the Linux watchdog timeout is set in whole seconds, use a multiple of 1000")
        }
    }

    private static func rigFormatProblem(_ text: String, _ what: HardwareKind) -> String? {
        func numbered(_ prefix: String, optional: Bool = false) -> Bool {
            guard text.hasPrefix(prefix) else { return false }
            let rest = text.dropFirst(prefix.count)
            return (optional && rest.isEmpty) || (!rest.isEmpty && rest.allSatisfy { $0.isASCII && $0.isNumber })
        }
        switch what {
        case .watchdog:
            return numbered("/dev/watchdog", optional: true) ? nil : "expected /dev/watchdog or /dev/watchdogN, got '\(text)'"
        case .i2cBus:
            return numbered("/dev/i2c-") ? nil : "expected an i2c-dev path /dev/i2c-N, got '\(text)'"
        case .pwmChip:
            return numbered("/sys/class/pwm/pwmchip") ? nil : "expected a sysfs PWM chip /sys/class/pwm/pwmchipN, got '\(text)'"
        case .gpioChip:
            return text.contains("/") ? "expected a gpiochip label (e.g. pinctrl-bcm2711), not a path: chips are found by label" : nil
        }
    }
}
