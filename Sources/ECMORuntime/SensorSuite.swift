import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMODrivers

/// Where a role's reading comes from: a digital sensor's own driver, or one input of a
/// shared ADC with an analog calibration. The drivers are held unretained (no ARC traffic
/// in the tick); `SensorSuite`'s driver arrays own them.
enum AnalogSource {
    case abp2(Unretained<ABP2Driver>)
    case adc(Unretained<ADS1115Driver>, input: Int, calibration: AnalogCalibration, role: SensorRole)

    func pressure() -> SensorSample<Pressure> {
        switch self {
        case .abp2(let d):
            return d.with { $0.sample }
        case .adc(let d, let input, let cal, let role):
            let v = d.with { $0.sample(input: input) }
            return SensorSample(value: Pressure(mmHg: cal.convert(v.value)), timestamp: v.timestamp, source: role,
                                errorCount: v.errorCount, status: v.status)
        }
    }

    /// A plain value in the role's unit (force in N).
    func scalar() -> SensorSample<Double> {
        switch self {
        case .abp2(let d):
            let s = d.with { $0.sample }
            return SensorSample(value: 0, timestamp: s.timestamp, source: s.source, errorCount: s.errorCount, status: .deviceFault)
        case .adc(let d, let input, let cal, let role):
            let v = d.with { $0.sample(input: input) }
            return SensorSample(value: cal.convert(v.value), timestamp: v.timestamp, source: role,
                                errorCount: v.errorCount, status: v.status)
        }
    }

    func flow() -> SensorSample<Flow> {
        switch self {
        case .abp2(let d):
            // A pressure sensor cannot measure flow; the board validator refuses this.
            let s = d.with { $0.sample }
            return SensorSample(value: .zero, timestamp: s.timestamp, source: .flow, errorCount: s.errorCount, status: .deviceFault)
        case .adc(let d, let input, let cal, let role):
            let v = d.with { $0.sample(input: input) }
            return SensorSample(value: Flow(litersPerMinute: cal.convert(v.value)), timestamp: v.timestamp, source: role,
                                errorCount: v.errorCount, status: v.status)
        }
    }
}

/// Every sensor of the board, built from the board file, read once per tick into a
/// `SensorFrame`. Devices shared by several roles (an ADS1115) are serviced once.
public final class SensorSuite {
    // `let`, so the optimiser knows a driver cannot go away during a call and adds no
    // retain/release around it (a `var` costs a pair per driver per tick).
    private let abp2Drivers: [ABP2Driver]
    private let adcDrivers: [ADS1115Driver]
    /// The same drivers, called without ARC traffic (the arrays above keep them alive).
    private let abp2Hot: [Unretained<ABP2Driver>]
    private let adcHot: [Unretained<ADS1115Driver>]
    private let drain: AnalogSource
    private let pre: AnalogSource
    private let post: AnalogSource
    private let flowSource: AnalogSource
    public let tachometer: Tachometer
    private let estop: any DigitalInput
    private let air: any DigitalInput
    private let estopHot: UnretainedInput
    private let airHot: UnretainedInput
    private let syringeEmptyHot: UnretainedInput?
    private let heparinEmptyHot: UnretainedInput?
    private let syringeEmpty: (any DigitalInput)?
    private let heparinEmpty: (any DigitalInput)?
    private let forceSource: AnalogSource?
    private let forceMaxAge: Duration
    private let maxAge: [SensorRole: Duration]
    private let drainMaxAge: Duration, preMaxAge: Duration, postMaxAge: Duration, flowMaxAge: Duration
    @exclusivity(unchecked)
    public private(set) var inputReadErrors: UInt32 = 0

    public init(board: BoardConfiguration, hardware: any HardwareProvider) throws {
        var sources: [SensorRole: AnalogSource] = [:]
        var abp2Drivers: [ABP2Driver] = []
        var adcDrivers: [ADS1115Driver] = []
        var adcByDevice: [String: ADS1115Driver] = [:]
        // Group ADC inputs by device so one driver round-robins its channels.
        var adcInputs: [String: [(input: Int, role: SensorRole)]] = [:]
        for (role, s) in board.sensors.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard let dev = board.devices[s.device] else {
                throw HardwareOpenError(what: "sensor \(role.rawValue)", detail: "no device \(s.device)")
            }
            if case .ads1115 = dev.driver, let ch = s.channel { adcInputs[s.device, default: []].append((ch, role)) }
        }
        for (id, inputs) in adcInputs.sorted(by: { $0.key < $1.key }) {
            guard let dev = board.devices[id], case .ads1115(let fs, let rate) = dev.driver else { continue }
            let i2c = try hardware.i2cDevice(bus: dev.bus, address: dev.address)
            let d: ADS1115Driver
            do {
                d = try ADS1115Driver(device: i2c, fullScale: fs, dataRate: rate, channels: inputs)
            } catch {
                throw HardwareOpenError(what: "ADS1115 \(id)", detail: "\(error)")
            }
            adcByDevice[id] = d
            adcDrivers.append(d)
        }
        for (role, s) in board.sensors.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard let dev = board.devices[s.device] else { continue }
            switch dev.driver {
            case .abp2(let lo, let hi, let tf):
                let i2c = try hardware.i2cDevice(bus: dev.bus, address: dev.address)
                let d: ABP2Driver
                do {
                    d = try ABP2Driver(device: i2c, role: role, pressureMin: lo, pressureMax: hi,
                                       transferFunction: tf == .a ? .a : .b)
                } catch {
                    throw HardwareOpenError(what: "ABP2 \(s.device)", detail: "\(error)")
                }
                abp2Drivers.append(d)
                sources[role] = .abp2(Unretained(d))
            case .ads1115:
                guard let d = adcByDevice[s.device], let ch = s.channel, let cal = s.analog else {
                    throw HardwareOpenError(what: "sensor \(role.rawValue)", detail: "ADC sensor needs a channel and calibration")
                }
                sources[role] = .adc(Unretained(d), input: ch, calibration: cal, role: role)
            }
        }
        self.abp2Drivers = abp2Drivers
        self.adcDrivers = adcDrivers
        abp2Hot = abp2Drivers.map { Unretained($0) }
        adcHot = adcDrivers.map { Unretained($0) }
        func need(_ r: SensorRole) throws -> AnalogSource {
            guard let s = sources[r] else { throw HardwareOpenError(what: "sensor \(r.rawValue)", detail: "not on this board") }
            return s
        }
        drain = try need(.drainPressure)
        pre = try need(.preOxygenatorPressure)
        post = try need(.postOxygenatorPressure)
        flowSource = try need(.flow)
        forceSource = sources[.syringeForce]
        forceMaxAge = board.sensors[.syringeForce]?.maxAge ?? .milliseconds(50)
        maxAge = board.sensors.mapValues(\.maxAge)
        drainMaxAge = maxAge[.drainPressure] ?? .milliseconds(20)
        preMaxAge = maxAge[.preOxygenatorPressure] ?? .milliseconds(20)
        postMaxAge = maxAge[.postOxygenatorPressure] ?? .milliseconds(20)
        flowMaxAge = maxAge[.flow] ?? .milliseconds(20)

        func input(_ r: InputRole) throws -> (any DigitalInput, InputLineConfiguration) {
            guard let c = board.inputs[r] else { throw HardwareOpenError(what: "input \(r.rawValue)", detail: "not on this board") }
            return (try hardware.inputLine(c), c)
        }
        let (tachLine, tachConfig) = try input(.pumpTachometer)
        tachometer = Tachometer(input: tachLine, pulsesPerRevolution: tachConfig.pulsesPerRevolution ?? 1)
        estop = try input(.emergencyStop).0
        air = try input(.airDetector).0
        estopHot = UnretainedInput(estop)
        airHot = UnretainedInput(air)
        syringeEmpty = board.inputs[.syringeEndEmpty] != nil ? try input(.syringeEndEmpty).0 : nil
        heparinEmpty = board.inputs[.heparinEndEmpty] != nil ? try input(.heparinEndEmpty).0 : nil
        syringeEmptyHot = syringeEmpty.map { UnretainedInput($0) }
        heparinEmptyHot = heparinEmpty.map { UnretainedInput($0) }
    }

    /// Configuration read-backs that found a device changed (reset itself), all devices.
    public var configMismatchCount: Int {
        var n = 0
        for i in adcDrivers.indices { n += adcDrivers[i].configMismatchCount }
        return n
    }

    /// Services every device and fills `frame`. Samples older than their role's maximum
    /// age are marked stale here, so nothing downstream can act on them.
    public func read(into frame: inout SensorFrame, now: Instant) {
        // Index loops: for-in over an array goes through an unspecialised iterator that
        // allocates in debug builds; the hot path stays allocation-free in both builds.
        for i in abp2Hot.indices { abp2Hot[i].with { $0.service(now: now) } }
        for i in adcHot.indices { adcHot[i].with { $0.service(now: now) } }
        tachometer.service(now: now)
        frame.drainPressure = Self.aged(drain.pressure(), now: now, maxAge: drainMaxAge)
        frame.preOxygenatorPressure = Self.aged(pre.pressure(), now: now, maxAge: preMaxAge)
        frame.postOxygenatorPressure = Self.aged(post.pressure(), now: now, maxAge: postMaxAge)
        frame.flow = Self.aged(flowSource.flow(), now: now, maxAge: flowMaxAge)
        frame.pumpSpeed = tachometer.sample
        // A line that cannot be read counts as asserted: an E-stop or air detector we
        // cannot see must stop the circuit (fail safe).
        do { frame.emergencyStop = try estopHot.read() } catch { frame.emergencyStop = true; inputReadErrors &+= 1 }
        do { frame.airDetected = try airHot.read() } catch { frame.airDetected = true; inputReadErrors &+= 1 }
        if let s = syringeEmptyHot {
            do { frame.syringeEmpty = try s.read() } catch { frame.syringeEmpty = true; inputReadErrors &+= 1 }
        }
        if let s = heparinEmptyHot {
            do { frame.heparinEmpty = try s.read() } catch { frame.heparinEmpty = true; inputReadErrors &+= 1 }
        }
        if let f = forceSource {
            var s = f.scalar()
            if s.status == .valid && now - s.timestamp > forceMaxAge { s.status = .stale }
            frame.syringeForce = s
        }
    }

    // Concrete overloads, not a generic: an unspecialised generic call allocates in debug builds.
    @inline(__always)
    static func aged(_ s: SensorSample<Pressure>, now: Instant, maxAge: Duration) -> SensorSample<Pressure> {
        var s = s
        if s.status == .valid && now - s.timestamp > maxAge { s.status = .stale }
        return s
    }

    @inline(__always)
    static func aged(_ s: SensorSample<Flow>, now: Instant, maxAge: Duration) -> SensorSample<Flow> {
        var s = s
        if s.status == .valid && now - s.timestamp > maxAge { s.status = .stale }
        return s
    }
}
