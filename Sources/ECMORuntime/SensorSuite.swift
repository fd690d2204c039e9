import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODrivers
// Named here (not only through ECMODrivers): Embedded Swift needs the module of the ABP2
// transfer-function cases imported by the file that uses them.
import ECMODevices

/// Every sensor of the board, built from the board file, read once per tick into a
/// `SensorFrame`. Devices shared by several roles (an ADS1115) are serviced once.
///
/// Generic over the board's hardware: the compiler specialises `read` for the concrete
/// drivers and lines, so a tick makes direct calls, with no existential and no wrapper.
public final class SensorSuite<Hardware: HardwareProvider> {
    /// Where a role's reading comes from: a digital sensor's own driver, or one input of a
    /// shared ADC with an analog calibration (indices into the driver arrays).
    enum Source {
        case abp2(Int)
        case adc(Int, input: Int, calibration: AnalogCalibration)
    }

    let abp2: FixedSlots<ABP2Driver<Hardware.I2C>>
    let adcs: FixedSlots<ADS1115Driver<Hardware.I2C>>
    private let drain: Source, pre: Source, post: Source, flowSource: Source
    private let forceSource: Source?
    public let tachometer: Tachometer<Hardware.Input>
    private let estop: Hardware.Input
    private let air: Hardware.Input
    private let syringeEmpty: Hardware.Input?
    private let heparinEmpty: Hardware.Input?
    private let drainMaxAge: Duration, preMaxAge: Duration, postMaxAge: Duration, flowMaxAge: Duration, forceMaxAge: Duration
    public private(set) var inputReadErrors: UInt32 = 0

    public init(board: BoardConfiguration, hardware: Hardware) throws(HardwareOpenError) {
        var sources: [SensorRole: Source] = [:]
        var abp2: [ABP2Driver<Hardware.I2C>] = []
        var adcs: [ADS1115Driver<Hardware.I2C>] = []
        var adcIndex: [String: Int] = [:]
        // Group ADC inputs by device so one driver round-robins its channels.
        var adcInputs: [String: [(input: Int, role: SensorRole)]] = [:]
        let roles = board.sensors.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        for (role, s) in roles {
            guard let dev = board.devices[s.device] else {
                throw HardwareOpenError(what: "sensor \(role.rawValue)", detail: "no device \(s.device)")
            }
            if case .ads1115 = dev.driver, let ch = s.channel { adcInputs[s.device, default: []].append((ch, role)) }
        }
        for (id, inputs) in adcInputs.sorted(by: { $0.key < $1.key }) {
            guard let dev = board.devices[id], case .ads1115(let fs, let rate) = dev.driver else { continue }
            let i2c = try hardware.i2cDevice(bus: dev.bus, address: dev.address)
            do throws(ADS1115ConfigurationError) {
                adcs.append(try ADS1115Driver(device: i2c, fullScale: fs, dataRate: rate, channels: inputs))
            } catch {
                throw HardwareOpenError(what: "ADS1115 \(id)", detail: "\(error)")
            }
            adcIndex[id] = adcs.count - 1
        }
        for (role, s) in roles {
            guard let dev = board.devices[s.device] else { continue }
            switch dev.driver {
            case .abp2(let lo, let hi, let tf):
                let i2c = try hardware.i2cDevice(bus: dev.bus, address: dev.address)
                do throws(ABP2ConfigurationError) {
                    abp2.append(try ABP2Driver(device: i2c, role: role, pressureMin: lo, pressureMax: hi,
                                               transferFunction: tf == .a ? .a : .b))
                } catch {
                    throw HardwareOpenError(what: "ABP2 \(s.device)", detail: "\(error)")
                }
                sources[role] = .abp2(abp2.count - 1)
            case .ads1115:
                guard let d = adcIndex[s.device], let ch = s.channel, let cal = s.analog else {
                    throw HardwareOpenError(what: "sensor \(role.rawValue)", detail: "ADC sensor needs a channel and calibration")
                }
                sources[role] = .adc(d, input: ch, calibration: cal)
            }
        }
        guard abp2.count <= FixedSlots<ABP2Driver<Hardware.I2C>>.capacity, adcs.count <= FixedSlots<ADS1115Driver<Hardware.I2C>>.capacity else {
            throw HardwareOpenError(what: "sensors of board \(board.name)", detail: "more than \(FixedSlots<ABP2Driver<Hardware.I2C>>.capacity) devices of one kind")
        }
        self.abp2 = FixedSlots(abp2.map { Optional($0) })
        self.adcs = FixedSlots(adcs.map { Optional($0) })
        func need(_ r: SensorRole) throws(HardwareOpenError) -> Source {
            guard let s = sources[r] else { throw HardwareOpenError(what: "sensor \(r.rawValue)", detail: "not on this board") }
            return s
        }
        drain = try need(.drainPressure)
        pre = try need(.preOxygenatorPressure)
        post = try need(.postOxygenatorPressure)
        flowSource = try need(.flow)
        forceSource = sources[.syringeForce]
        func age(_ r: SensorRole, _ d: Duration) -> Duration { board.sensors[r]?.maxAge ?? d }
        drainMaxAge = age(.drainPressure, .milliseconds(20))
        preMaxAge = age(.preOxygenatorPressure, .milliseconds(20))
        postMaxAge = age(.postOxygenatorPressure, .milliseconds(20))
        flowMaxAge = age(.flow, .milliseconds(20))
        forceMaxAge = age(.syringeForce, .milliseconds(50))

        func input(_ r: InputRole) throws(HardwareOpenError) -> (Hardware.Input, InputLineConfiguration) {
            guard let c = board.inputs[r] else { throw HardwareOpenError(what: "input \(r.rawValue)", detail: "not on this board") }
            return (try hardware.inputLine(c), c)
        }
        let (tachLine, tachConfig) = try input(.pumpTachometer)
        tachometer = Tachometer(input: tachLine, pulsesPerRevolution: tachConfig.pulsesPerRevolution ?? 1)
        estop = try input(.emergencyStop).0
        air = try input(.airDetector).0
        syringeEmpty = board.inputs[.syringeEndEmpty] != nil ? try input(.syringeEndEmpty).0 : nil
        heparinEmpty = board.inputs[.heparinEndEmpty] != nil ? try input(.heparinEndEmpty).0 : nil
    }

    /// Configuration read-backs that found a device changed (reset itself), all devices.
    public var configMismatchCount: Int {
        var n = 0
        adcs.forEach { n += $0.configMismatchCount }
        return n
    }

    /// Services every device and fills `frame`. Samples older than their role's maximum
    /// age are marked stale here, so nothing downstream can act on them.
    public func read(into frame: inout SensorFrame, now: Instant) {
        abp2.forEach { $0.service(now: now) }
        adcs.forEach { $0.service(now: now) }
        tachometer.service(now: now)
        frame.drainPressure = Self.aged(pressure(drain), now: now, maxAge: drainMaxAge)
        frame.preOxygenatorPressure = Self.aged(pressure(pre), now: now, maxAge: preMaxAge)
        frame.postOxygenatorPressure = Self.aged(pressure(post), now: now, maxAge: postMaxAge)
        frame.flow = Self.aged(scalar(flowSource, role: .flow).map { Flow(litersPerMinute: $0) }, now: now, maxAge: flowMaxAge)
        frame.pumpSpeed = tachometer.sample
        // A line that cannot be read counts as asserted: an E-stop or air detector we
        // cannot see must stop the circuit (fail safe).
        frame.emergencyStop = readFailSafe(estop)
        frame.airDetected = readFailSafe(air)
        // `switch`, not `if let`: the binding borrows the line instead of copying it (a retain).
        switch syringeEmpty {
        case .some(let s): frame.syringeEmpty = readFailSafe(s)
        case .none: break
        }
        switch heparinEmpty {
        case .some(let s): frame.heparinEmpty = readFailSafe(s)
        case .none: break
        }
        if let f = forceSource { frame.syringeForce = Self.aged(scalar(f, role: .syringeForce), now: now, maxAge: forceMaxAge) }
    }

    @inline(__always)
    private func readFailSafe(_ line: borrowing Hardware.Input) -> Bool {
        do { return try line.read() } catch {
            inputReadErrors &+= 1
            return true
        }
    }

    @inline(__always)
    private func pressure(_ s: Source) -> SensorSample<Pressure> {
        switch s {
        case .abp2(let i):
            var sample = SensorSample(value: Pressure.zero, timestamp: .origin, source: .drainPressure, status: .missing)
            abp2.with(i) { sample = $0.sample }
            return sample
        case .adc:
            return scalar(s, role: .drainPressure).map { Pressure(mmHg: $0) }
        }
    }

    /// A plain value in the role's unit. A pressure sensor cannot measure flow or force:
    /// the board validator refuses that wiring; here it would read as a device fault.
    @inline(__always)
    private func scalar(_ s: Source, role: SensorRole) -> SensorSample<Double> {
        switch s {
        case .abp2(let i):
            var s = SensorSample(value: 0.0, timestamp: .origin, source: role, status: .deviceFault)
            abp2.with(i) { d in
                s = SensorSample(value: 0, timestamp: d.sample.timestamp, source: d.sample.source, errorCount: d.sample.errorCount,
                                 status: .deviceFault)
            }
            return s
        case .adc(let i, let input, let cal):
            var s = SensorSample(value: 0.0, timestamp: .origin, source: role, status: .missing)
            adcs.with(i) { d in
                let v = d.sample(input: input)
                s = SensorSample(value: cal.convert(v.value), timestamp: v.timestamp, source: v.source,
                                 errorCount: v.errorCount, status: v.status)
                // A voltage the sensor cannot output: the wire is open or at a rail.
                if s.status == .valid, let r = cal.signalRange, !r.contains(v.value.volts) { s.status = .signalLost }
            }
            return s
        }
    }

    @inline(__always)
    static func aged<V>(_ s: SensorSample<V>, now: Instant, maxAge: Duration) -> SensorSample<V> {
        var s = s
        if s.status == .valid && now - s.timestamp > maxAge { s.status = .stale }
        return s
    }
}
