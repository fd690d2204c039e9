import ECMOCore
import Testing

/// Builds bench scripts for the co-processor (`ProtectiveBench`): its own inputs step by
/// step, and the Pi's frames encoded by the same codec the Pi uses.
struct BenchScript {
    var bytes: [UInt8] = []
    var step = 0
    var piSequence: UInt8 = 0
    /// Inputs of a healthy circuit at 4 L/min and 3000 rpm.
    var drainage = -40.0, pre = 180.0, flow = 4.0, speed = 3000.0
    var air = false, estop = false, unreadable: UInt8 = 0

    mutating func frame(_ m: CoProcessorMessage) -> [UInt8] {
        var f: [UInt8] = []
        CoProcessorFrame.encode(m, sequence: piSequence) { f.append($0) }
        piSequence &+= 1
        return f
    }

    /// `ms` steps with the current inputs; a heartbeat every 10 ms unless `heartbeats` is false.
    mutating func run(_ ms: Int, heartbeats: Bool = true, link extra: [UInt8] = []) {
        var left = ms
        var first = true
        while left > 0 {
            let n = heartbeats ? min(10, left) : left
            var link = first ? extra : []
            if heartbeats { link += frame(.heartbeat(pumpCommanded: true, lifecycle: 2)) }
            ProtectiveBenchRecord(steps: n, drainage: drainage, pre: pre, flow: flow, speed: speed, air: air, estop: estop,
                                  unreadable: unreadable, link: link).append(to: &bytes)
            step += n
            left -= n
            first = false
        }
    }

    /// A re-arm request naming `trip`, then `ms` steps.
    mutating func rearm(_ trip: UInt16, then ms: Int = 10) {
        let f = frame(.rearm(tripCount: trip))
        run(ms, link: f)
    }

    /// Power on, heartbeats for 1.2 s (every cause gone for its 1 s), re-arm trip 0: permitted.
    static func armed() -> BenchScript {
        var s = BenchScript()
        s.run(1200)
        s.rearm(0)
        return s
    }
}

/// The report of a bench run, parsed.
struct BenchReport {
    var lines: [String]
    var ok: Bool
    init(_ script: [UInt8], limits: ProtectiveLimits = ProtectiveLimits()) {
        var text: [UInt8] = []
        ok = script.withUnsafeBytes { ProtectiveBench.run(script: $0, limits: limits) { text.append(contentsOf: $0) } }
        lines = String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
    }
    var text: String { lines.joined(separator: "\n") + "\n" }
    func lines(_ kind: String) -> [[String]] {
        lines.map { $0.split(separator: " ").map(String.init) }.filter { $0.first == kind }
    }
    /// (step, cause) of every trip.
    var trips: [(Int, String)] { lines("trip").map { (Int($0[1]) ?? -1, $0[2]) } }
    var permits: [Int] { lines("permit").map { Int($0[1]) ?? -1 } }
    var rearms: [(Int, String)] { lines("rearm").map { (Int($0[1]) ?? -1, $0[2]) } }
    var end: [String: String] {
        var d: [String: String] = [:]
        for f in lines("end").first?.dropFirst(2) ?? [] {
            let kv = f.split(separator: "=")
            if kv.count == 2 { d[String(kv[0])] = String(kv[1]) }
        }
        return d
    }
}

@Suite("Safety co-processor: interlocks, link and re-arm")
struct ProtectiveInterlockTests {
    @Test func thePermitIsWithheldAtPowerOnUntilTheRearmSequence() {
        var s = BenchScript()
        s.run(500)
        s.rearm(0)          // causes gone only 0.5 s: refused
        s.run(700)
        s.rearm(0)          // gone 1.2 s, heartbeats fresh: accepted
        s.run(100)
        let r = BenchReport(s.bytes)
        #expect(r.ok)
        #expect(r.rearms.map(\.1) == ["cause_present", "accepted"])
        #expect(r.permits == [1210])
        #expect(r.end["permit"] == "1")
        #expect(r.trips.isEmpty)
    }

    /// Each interlock withdraws the permit in the step it is detected: air and E-stop in the
    /// step they appear, pressures once held for 50 ms, zero flow after 60 s.
    @Test(arguments: [
        ("air", 0, "air_in_line"), ("estop", 0, "emergency_stop"), ("suction", 50, "drainage_suction"),
        ("pre", 50, "pre_oxygenator_high"), ("zero_flow", 60_000, "zero_flow"),
    ])
    func eachInterlockCutsThePermitInTheStepItIsDetected(fault: String, after: Int, cause: String) {
        var s = BenchScript.armed()
        s.run(500)
        let onset = s.step
        switch fault {
        case "air": s.air = true
        case "estop": s.estop = true
        case "suction": s.drainage = -310
        case "pre": s.pre = 612
        default: s.flow = 0.05
        }
        s.run(after + 200)
        let r = BenchReport(s.bytes)
        #expect(r.trips.count == 1)
        #expect(r.trips.first?.0 == onset + after)
        #expect(r.trips.first?.1 == cause)
        #expect(r.end["permit"] == "0")
    }

    /// Other limits, as a board file may set them: the interlocks follow the configuration,
    /// not the defaults.
    @Test(arguments: [(-420.0, 20, 40), (-350.0, 120, 250)])
    func theInterlocksFollowTheConfiguredLimits(drainage: Double, persistenceMs: Int, heartbeatMs: Int) {
        var limits = ProtectiveLimits()
        limits.drainageLow = Pressure(mmHg: drainage)
        limits.pressurePersistence = .milliseconds(persistenceMs)
        limits.heartbeatTimeout = .milliseconds(heartbeatMs)
        // Just inside the limit for long: no trip; just beyond: a trip after the persistence.
        var s = BenchScript.armed()
        s.drainage = drainage + 5
        s.run(1000)
        s.drainage = drainage - 5
        let onset = s.step
        s.run(persistenceMs + 100)
        let r = BenchReport(s.bytes, limits: limits)
        #expect(r.trips.map(\.0) == [onset + persistenceMs])
        #expect(r.trips.first?.1 == "drainage_suction")

        var h = BenchScript.armed()
        h.run(100)
        let last = h.step - 10
        h.run(heartbeatMs + 100, heartbeats: false)
        let rh = BenchReport(h.bytes, limits: limits)
        #expect(rh.trips.map(\.0) == [last + heartbeatMs + 1])
        #expect(rh.trips.first?.1 == "heartbeat_lost")
    }

    @Test func aPressureBeyondItsLimitForLessThanThePersistenceDoesNotTrip() {
        var s = BenchScript.armed()
        s.drainage = -350
        s.run(49)
        s.drainage = -40
        s.run(100)
        s.pre = 700
        s.run(49)
        s.pre = 180
        s.run(100)
        let r = BenchReport(s.bytes)
        #expect(r.trips.isEmpty)
        #expect(r.end["permit"] == "1")
    }

    @Test func aStalledHeartbeatCutsThePermitWithinItsTimeout() {
        var s = BenchScript.armed()
        s.run(300)
        let lastHeartbeat = s.step - 10
        s.run(500, heartbeats: false)
        let r = BenchReport(s.bytes)
        #expect(r.trips.count == 1, "\(r.text)")
        #expect(r.trips.first?.1 == "heartbeat_lost")
        // Stale once more than 100 ms have passed since the last heartbeat.
        #expect(r.trips.first?.0 == lastHeartbeat + 101)
    }

    /// Nothing re-permits by itself, nor on a stale, replayed or early request.
    @Test func nothingRepermitsWithoutTheOperatorSequence() {
        var s = BenchScript.armed()
        s.air = true
        s.run(20)
        s.air = false
        s.run(5000)                         // cause gone 5 s, heartbeats fresh: still tripped
        s.rearm(0)                          // names the power-on trip, not trip 1
        s.air = true                        // air again (the trip stays the first cause)
        s.run(5)
        s.rearm(1)                          // the right trip, but a cause is present
        s.air = false
        s.run(300)
        s.rearm(1)                          // gone 0.3 s only
        s.run(1000)
        // The accepted request, then a byte-identical replay of it (same sequence number).
        let accepted = s.frame(.rearm(tripCount: 1))
        s.run(100, link: accepted)
        s.run(100, link: accepted)
        let r = BenchReport(s.bytes)
        #expect(r.rearms.map(\.1) == ["accepted", "wrong_trip", "cause_present", "cause_present", "accepted"])
        #expect(r.trips.map(\.1) == ["air_in_line"])
        #expect(r.permits.count == 2)       // after power-on, and once after the air trip
        #expect(r.end["stale"] == "1")      // the replay did nothing
    }

    @Test func corruptFramesAndLineNoiseAreDroppedAndCounted() {
        var s = BenchScript.armed()
        var bad = s.frame(.heartbeat(pumpCommanded: true, lifecycle: 2))
        bad[6] ^= 0x40                      // payload bit flipped: CRC fails
        let noise: [UInt8] = [0xA5, 0x00, 0x5A, 0xA5, 0xA5]
        s.run(10, link: noise + bad)
        s.run(200)
        let r = BenchReport(s.bytes)
        #expect(r.end["crc_errors"] == "1")
        #expect(r.end["permit"] == "1")     // good heartbeats around it keep the link alive
        #expect(r.trips.isEmpty)
    }

    @Test func onlyCorruptHeartbeatsLoseTheLink() {
        var s = BenchScript.armed()
        for _ in 0..<30 {
            var f = s.frame(.heartbeat(pumpCommanded: true, lifecycle: 2))
            f[f.count - 1] ^= 1
            ProtectiveBenchRecord(steps: 10, link: f).append(to: &s.bytes)
        }
        let r = BenchReport(s.bytes)
        #expect(r.trips.map(\.1) == ["heartbeat_lost"])
        #expect(Int(r.end["crc_errors"] ?? "") == 30)
    }

    @Test func anUnreadableChannelDoesNotTripButIsReported() {
        var s = BenchScript.armed()
        s.unreadable = 1 | 2                // drainage and pre-oxygenator channels
        s.run(200)
        let r = BenchReport(s.bytes)
        #expect(r.trips.isEmpty)
        // The status frame carries the blind channels (payload byte 6).
        var decoder = CoProcessorFrameDecoder()
        var blind: UInt8 = 0
        for line in r.lines("status") {
            let hex = line[2]
            var bytes: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex {
                let j = hex.index(i, offsetBy: 2)
                bytes.append(UInt8(hex[i..<j], radix: 16) ?? 0)
                i = j
            }
            for b in bytes { if let (m, _) = decoder.feed(b), case .status(let st) = m { blind = st.blindChannels } }
        }
        #expect(blind == 3)
    }

    @Test func aMalformedScriptIsReportedWithItsOffset() {
        var s = BenchScript.armed()
        let good = s.bytes.count
        s.bytes += [0x53, 1, 0]             // truncated record
        let r = BenchReport(s.bytes)
        #expect(!r.ok)
        #expect(r.lines.last == "error \(good) record truncated")
    }

    @Test func framesRoundTripThroughTheCodec() {
        let messages: [CoProcessorMessage] = [
            .heartbeat(pumpCommanded: false, lifecycle: 7), .rearm(tripCount: 0xBEEF),
            .status(CoProcessorStatus(permit: true, trip: .zeroFlow, tripCount: 513, causes: [ProtectiveCauses(.airInLine)],
                                      blindChannels: 5, lastRefusal: .wrongTrip)),
        ]
        var decoder = CoProcessorFrameDecoder()
        var got: [CoProcessorMessage] = []
        for (i, m) in messages.enumerated() {
            CoProcessorFrame.encode(m, sequence: UInt8(i)) { if let (d, s) = decoder.feed($0) { got.append(d); #expect(s == UInt8(i)) } }
        }
        #expect(got == messages)
        #expect(decoder.crcErrors == 0)
    }

    /// The Pi's side: silence is loss, and loss means no permit.
    @Test func thePiTreatsASilentCoProcessorAsNoPermit() {
        var mcu = CoProcessorEndpoint()
        var pi = CoProcessorSupervisor()
        let inputs = ProtectiveInputs(drainage: .init(mmHg: -40), preOxygenator: .init(mmHg: 180), flow: .lpm(4),
                                      pumpSpeed: .init(rpm: 3000), airDetected: false, emergencyStop: false)
        var toMCU: [UInt8] = [], toPi: [UInt8] = []
        var rearmed = false
        for ms in 0..<1500 {
            let now = Instant.origin + .milliseconds(ms)
            pi.tick(now: now, pumpCommanded: true, lifecycle: 2) { toMCU.append($0) }
            if ms == 1300 && !rearmed { rearmed = pi.requestRearm { toMCU.append($0) } }
            for b in toMCU { mcu.receive(b, now: now) }
            toMCU.removeAll()
            mcu.step(inputs, now: now) { toPi.append($0) }
            for b in toPi { pi.receive(b, now: now) }
            toPi.removeAll()
        }
        let t = Instant.origin + .milliseconds(1500)
        #expect(rearmed)
        #expect(pi.permits(now: t))
        // The co-processor goes quiet: 100 ms after its last frame the Pi no longer counts on its permit.
        #expect(!pi.permits(now: t + .milliseconds(101)))
        #expect(pi.silent(now: t + .milliseconds(101)))
    }
}
