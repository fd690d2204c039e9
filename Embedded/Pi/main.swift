// ecmo-pi: the lean Pi image. The rig's loop (RigLoop, its boot sequence, the Linux
// backend over i2c-dev, libgpiod, sysfs PWM and /dev/watchdog) in Embedded Swift, cross-built
// on a laptop for aarch64 and linked static-pie against Debian's arm64 glibc and libgpiod:
// one file to copy to the Pi, no Swift on it (docs/deploy-pi.md). Its board is compiled in
// from its YAML file (`ecmo-rig board compile`), and it writes the run record in the hosted
// recorder's format (ECMORecordFormat).
//
//   ecmo-pi run [--board NAME] [--duration D] [--flow L/min | --speed RPM] [--out DIR]
//   ecmo-pi replay TRANSCRIPT [--record DIR]     a HAL transcript, against this build
//   ecmo-pi boards
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMORuntime
import ECMORecordFormat
import ECMOTranscript
import ECMOCompiledBoards
import PiBoard
import ECMOLinux
import CLinuxIO

@_extern(c, "pi_read_file") func piReadFile(_ path: UnsafePointer<CChar>, _ length: UnsafeMutablePointer<Int>) -> UnsafeMutablePointer<UInt8>?
@_extern(c, "pi_free") func piFree(_ p: UnsafeMutableRawPointer?)
@_extern(c, "pi_errno") func piErrno() -> Int32
@_extern(c, "pi_strerror") func piStrerror(_ e: Int32) -> UnsafePointer<CChar>
@_extern(c, "pi_write_fd") func piWriteFD(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int
@_extern(c, "pi_create") func piCreate(_ path: UnsafePointer<CChar>) -> Int32
@_extern(c, "pi_sync_close") func piSyncClose(_ fd: Int32) -> Int32
@_extern(c, "pi_mkdirs") func piMkdirs(_ path: UnsafePointer<CChar>) -> Int32
@_extern(c, "pi_monotonic_ns") func piMonotonicNs() -> UInt64
@_extern(c, "pi_wall_iso") func piWallISO(_ buf: UnsafeMutablePointer<CChar>, _ capacity: Int)
@_extern(c, "pi_install_stop_signals") func piInstallStopSignals()
@_extern(c, "pi_stop_requested") func piStopRequested() -> Int32

// MARK: Output

func write(_ fd: Int32, _ s: String) {
    var s = s
    s.withUTF8 { _ = piWriteFD(fd, $0.baseAddress, $0.count) }
}
func say(_ s: String) { write(1, s + "\n") }
func complain(_ s: String) { write(2, "ecmo-pi: " + s + "\n") }
func errnoText(_ e: Int32) -> String { String(cString: piStrerror(e)) }

/// Exit codes: `ecmo-rig run`'s table (`RigExitCode`; the service unit never restarts on
/// them: a person must look), and 1 for a replay that diverged.
enum Exit {
    static let ok: Int32 = 0
    static let diverged: Int32 = 1
    static let badFile = RigExitCode.boardInvalid
    static let fault = RigExitCode.faulted
    static let sensorsNotReady = RigExitCode.sensorsNotReady
    static let hardware = RigExitCode.hardware
    static let record = RigExitCode.recordFailed
    static let usage = RigExitCode.usage
}

// MARK: Boards compiled in

/// The boards this image carries: the one `scripts/build-pi` compiled in from its YAML
/// file (the default), and the shipped ones.
func compiledBoards() -> [BoardConfiguration] {
    var boards = [pi_built_in_board()]
    for b in [board_rpi4_bench(), board_rpi5_bench(), board_sim(), board_sim_fast()] where b.name != boards[0].name {
        boards.append(b)
    }
    return boards
}

func board(named name: String) -> BoardConfiguration? {
    for b in compiledBoards() where b.name == name { return b }
    return nil
}

// MARK: The run record

/// `telemetry.csv` and `events.jsonl` drained from the loop's rings, `summary.json` at the
/// end: the same bytes as the hosted recorder writes (ECMORecordFormat). Files are created
/// new (an existing record is never overwritten) and synced when closed.
final class PiRecord {
    let directory: String
    private var telemetryFD: Int32 = -1
    private var eventsFD: Int32 = -1
    private var buffer: [UInt8] = []
    private(set) var rows = 0
    private(set) var events = 0
    /// The first write error (the run goes on; the summary and exit code say so).
    private(set) var failure: String?

    init?(directory: String) {
        self.directory = directory
        if let e = Self.mkdirs(directory) {
            complain("cannot create the record directory \(directory): \(e)")
            return nil
        }
        guard let t = Self.create(directory + "/telemetry.csv"), let ev = Self.create(directory + "/events.jsonl") else { return nil }
        telemetryFD = t
        eventsFD = ev
        buffer.reserveCapacity(1 << 16)
        let header = RecordFormat.csvHeader
        buffer.append(contentsOf: header.utf8)
        flush(telemetryFD)
    }

    static func mkdirs(_ path: String) -> String? {
        let r = path.withCString { piMkdirs($0) }
        return r < 0 ? errnoText(-r) : nil
    }

    static func create(_ path: String) -> Int32? {
        let fd = path.withCString { piCreate($0) }
        if fd < 0 {
            complain("cannot create \(path): \(errnoText(-fd))\(fd == -17 ? " (a run record is never overwritten: choose another --out)" : "")")
            return nil
        }
        return fd
    }

    private func flush(_ fd: Int32) {
        if !buffer.isEmpty {
            let r = buffer.withUnsafeBytes { piWriteFD(fd, $0.baseAddress, $0.count) }
            if r < 0 && failure == nil { failure = "writing the run record failed: \(errnoText(Int32(-r)))" }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Moves everything waiting in the rings to the files.
    func drain(_ rings: RigRings) {
        _ = rings.telemetry.drain { f in
            RecordFormat.csvRow(f, into: &buffer)
            rows += 1
            if buffer.count > 60_000 { flush(telemetryFD) }
        }
        flush(telemetryFD)
        rings.events.drain { e in
            buffer.append(contentsOf: RecordFormat.jsonLine(e).utf8)
            buffer.append(10)
            events += 1
        }
        flush(eventsFD)
    }

    /// Closes the files (synced) and writes `summary.json`.
    func finish(summary: [String: JSONValue]) -> Bool {
        for fd in [telemetryFD, eventsFD] where fd >= 0 {
            let r = piSyncClose(fd)
            if r < 0 && failure == nil { failure = "closing the run record failed: \(errnoText(-r))" }
        }
        telemetryFD = -1
        eventsFD = -1
        var s = summary
        s["rows"] = .int(rows)
        s["events"] = .int(events)
        if let failure { s["record_error"] = .string(failure) }
        guard let fd = Self.create(directory + "/summary.json") else { return false }
        buffer.append(contentsOf: (JSONValue.object(s).rendered(pretty: true) + "\n").utf8)
        flush(fd)
        _ = piSyncClose(fd)
        return failure == nil
    }
}

func wallClock() -> String {
    var buf = [CChar](repeating: 0, count: 32)
    buf.withUnsafeMutableBufferPointer { piWallISO($0.baseAddress!, 32) }
    return String(cString: buf)
}

// MARK: Arguments

struct Arguments {
    var words: [String]
    var index = 0
    init(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) {
        words = []
        for i in 1..<Int(argc) { if let p = argv[i] { words.append(String(cString: p)) } }
    }
    mutating func next() -> String? {
        guard index < words.count else { return nil }
        index += 1
        return words[index - 1]
    }
    /// The value of option `name`, or an error naming it.
    mutating func value(of name: String) -> String? {
        guard let v = next() else {
            complain("\(name) needs a value")
            return nil
        }
        return v
    }
}

/// "90", "90s", "10m", "2h", "250ms" → a duration; nil for anything else.
func parseDuration(_ s: String) -> Duration? {
    var digits = ""
    var unit = ""
    for c in s {
        if unit.isEmpty && (c.isNumber || c == ".") { digits.append(c) } else { unit.append(c) }
    }
    guard let v = Double(digits), v.isFinite, v > 0, v <= 30 * 86_400 else { return nil }
    switch unit {
    case "", "s": return .milliseconds(Int64((v * 1000).rounded()))
    case "ms": return .milliseconds(Int64(v.rounded()))
    case "m": return .milliseconds(Int64((v * 60_000).rounded()))
    case "h": return .milliseconds(Int64((v * 3_600_000).rounded()))
    default: return nil
    }
}

func parseNumber(_ s: String, _ name: String, in range: ClosedRange<Double>) -> Double? {
    guard let v = Double(s), v.isFinite, range.contains(v) else {
        complain("\(name) \(s): not a number in \(RecordFormat.fixed(range.lowerBound, 1))...\(RecordFormat.fixed(range.upperBound, 1))")
        return nil
    }
    return v
}

// MARK: replay

func replay(_ args: inout Arguments) -> Int32 {
    guard let path = args.next() else {
        complain("replay needs a transcript file (ecmo-rig simulate --hal-transcripts DIR writes them)")
        return Exit.usage
    }
    var recordDir: String?
    while let a = args.next() {
        switch a {
        case "--record": guard let v = args.value(of: a) else { return Exit.usage }; recordDir = v
        default: complain("replay: unknown argument \(a)"); return Exit.usage
        }
    }
    var length = 0
    guard let raw = path.withCString({ piReadFile($0, &length) }) else {
        complain("cannot read \(path): \(errnoText(piErrno()))")
        return Exit.badFile
    }
    let bytes = [UInt8](UnsafeBufferPointer(start: raw, count: length))
    piFree(raw)
    let replay: TranscriptReplay
    do throws(TranscriptError) { replay = try TranscriptReplay(bytes: bytes) } catch {
        complain("\(path): \(error)")
        return Exit.badFile
    }
    guard let board = board(named: replay.header.board) else {
        complain("\(path): board \(replay.header.board) is not compiled into this image (ecmo-pi boards)")
        return Exit.badFile
    }
    var record: PiRecord?
    if let dir = recordDir {
        guard let r = PiRecord(directory: dir) else { return Exit.record }
        record = r
    }
    let rings = RigRings(telemetryCapacity: replay.header.settings.telemetryCapacity, eventCapacity: replay.header.settings.eventCapacity)
    let t0 = piMonotonicNs()
    let report = replay.run(board: board, rings: rings) { loop in
        if let record, loop.telemetry.count > loop.telemetry.capacity / 2 || loop.events.count > loop.events.capacity / 2 {
            record.drain(rings)
        }
    }
    let seconds = Double(piMonotonicNs() &- t0) / 1e9
    record?.drain(rings)
    let perTick = report.ticks > 0 ? seconds / Double(report.ticks) * 1e6 : 0
    var summary: [String: JSONValue] = [
        "scenario": .string(replay.header.scenario), "board": .string(board.name), "image": .string("ecmo-pi aarch64"),
        "ticks": .int(Int(report.ticks)), "hal_calls": .int(report.halCalls), "frames_compared": .int(report.framesCompared),
        "identical": .bool(report.passed), "wall_time_s": .number((seconds * 1000).rounded() / 1000),
        "us_per_tick": .number((perTick * 100).rounded() / 100),
    ]
    if let d = report.divergence { summary["divergence"] = .string(d.description) }
    if let record { _ = record.finish(summary: summary) }
    if let d = report.divergence {
        say("DIVERGED \(replay.header.scenario) on \(board.name): \(d)")
        return Exit.diverged
    }
    say("IDENTICAL \(replay.header.scenario) on \(board.name): \(report.ticks) ticks, \(report.halCalls) HAL calls and \(report.framesCompared) telemetry frames as recorded; \(RecordFormat.fixed(seconds, 2)) s, \(RecordFormat.fixed(perTick, 2)) us per tick")
    return Exit.ok
}

// MARK: run

func run(_ args: inout Arguments) -> Int32 {
    var boardName = pi_built_in_board().name
    var duration: Duration = .seconds(600)
    var mode = PumpMode.constantFlow(.lpm(4))
    var out = "runs"
    while let a = args.next() {
        switch a {
        case "--board": guard let v = args.value(of: a) else { return Exit.usage }; boardName = v
        case "--duration":
            guard let v = args.value(of: a) else { return Exit.usage }
            guard let d = parseDuration(v) else { complain("--duration \(v): not a duration (90s, 10m, 2h)"); return Exit.usage }
            duration = d
        case "--flow":
            guard let v = args.value(of: a), let q = parseNumber(v, a, in: SetpointLimits.flowLitersPerMinute) else { return Exit.usage }
            mode = .constantFlow(.lpm(q))
        case "--speed":
            guard let v = args.value(of: a), let r = parseNumber(v, a, in: SetpointLimits.speedRPM) else { return Exit.usage }
            mode = .constantSpeed(PumpSpeed(rpm: r))
        case "--out": guard let v = args.value(of: a) else { return Exit.usage }; out = v
        default: complain("run: unknown argument \(a)"); return Exit.usage
        }
    }
    guard let board = board(named: boardName) else {
        complain("--board \(boardName): not compiled into this image (ecmo-pi boards)")
        return Exit.usage
    }
    guard board.kind == .rig else {
        complain("--board \(boardName) is a simulated board: the Pi image drives real hardware (simulate with ecmo-rig on a laptop)")
        return Exit.usage
    }
    // Real time, best effort (a bench Pi without the rights still runs, and says so).
    if ecmo_sys_lock_all_memory() != 0 { complain("warning: mlockall failed: pages may fault during the run") }
    if ecmo_rt_set_fifo(80) != 0 { complain("warning: SCHED_FIFO 80 refused (needs CAP_SYS_NICE or the systemd unit's limits)") }
    let hardware: LinuxHardware
    do throws(HardwareOpenError) { hardware = try LinuxHardware(board: board) } catch {
        complain("\(error)")
        return Exit.hardware
    }
    let settings = RunSettings(mode: mode, recordEvery: 10)
    let loop: RigLoop<LinuxHardware>
    do throws(RigLoopOpenError) { loop = try RigLoop(board: board, hardware: hardware, settings: settings) } catch {
        complain("\(error)")
        hardware.close()
        if case .settings = error { return Exit.badFile }
        return Exit.hardware
    }
    if let c = board.coprocessor {
        do throws(HardwareOpenError) {
            let uart = try LinuxUART(path: c.uart, baud: c.baud)
            loop.coprocessor = CoProcessorChannel(port: uart, silenceTimeout: c.silenceTimeout, heartbeatEvery: c.heartbeatEvery)
        } catch {
            complain("safety co-processor: \(error)")
            loop.shutdown(now: hardware.clock.now())
            hardware.close()
            return Exit.hardware
        }
    }
    let stamp = wallClock()
    var dirName = ""
    for c in stamp where c != ":" { dirName.append(c) }
    guard let record = PiRecord(directory: out + "/" + board.name + "-" + dirName) else {
        loop.shutdown(now: hardware.clock.now())
        hardware.close()
        return Exit.record
    }
    piInstallStopSignals()
    let runner = LoopRunner(loop: loop, pacing: .realtime(hardware.clock))
    var evidence = BootEvidence.operatorStart
    if hardware.bootedAfterWatchdogReset { evidence.watchdogReset = true }
    let session = RigSession(evidence: evidence)
    say("ecmo-pi: \(board.name), \(RecordFormat.fixed(duration.seconds, 0)) s, record \(record.directory)")
    var ticks: UInt64 = 0
    let outcome = session.run(runner, duration: duration) { _ in
        ticks &+= 1
        if piStopRequested() != 0 { runner.requestStop() }
        if ticks % 100 == 0 { record.drain(loop.rings) }
    }
    record.drain(loop.rings)
    hardware.close()
    let name: String
    switch outcome {
    case .completed: name = "completed"
    case .stopped: name = "stopped"
    case .sensorsNotReady: name = "sensors_not_ready"
    case .faulted(let r): name = "fault: \(r)"
    case .awaitingOperator: name = "awaiting_operator"
    }
    let summary: [String: JSONValue] = [
        "board": .string(board.name), "board_file": .string(board.sourceFile), "image": .string("ecmo-pi aarch64"),
        "outcome": .string(name), "started_at": .string(stamp), "ended_at": .string(wallClock()), "pace": .string("realtime"),
        "ticks": .int(Int(loop.tickCount)), "loop_time_s": .number(Double(loop.tickCount) * board.loopPeriod.seconds),
        "max_lateness_s": .number(runner.maxLateness.seconds), "overruns": .int(Int(loop.overruns)),
        "watchdog_kicks": .int(Int(loop.watchdogKicks)), "withheld_kicks": .int(Int(loop.withheldKicks)),
    ]
    let recorded = record.finish(summary: summary)
    say("ecmo-pi: \(name) after \(loop.tickCount) ticks → \(record.directory)")
    if case .faulted = outcome { return Exit.fault }
    if outcome == .sensorsNotReady { return Exit.sensorsNotReady }
    if !recorded { return Exit.record }
    return Exit.ok
}

// MARK: main

@_cdecl("pi_main")
public func piMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var args = Arguments(argc, argv)
    switch args.next() {
    case "run"?: return run(&args)
    case "replay"?: return replay(&args)
    case "boards"?:
        for b in compiledBoards() {
            say("\(b.name)  \(b.kind == .rig ? "rig" : "simulated")  \(b.sourceFile)  period \(RecordFormat.fixed(b.loopPeriod.seconds * 1000, 1)) ms")
        }
        return Exit.ok
    case let other?:
        complain("unknown command \(other)")
        fallthrough
    default:
        write(2, "usage: ecmo-pi run [--board NAME] [--duration 10m] [--flow L/min | --speed RPM] [--out DIR]\n       ecmo-pi replay TRANSCRIPT [--record DIR]\n       ecmo-pi boards\n")
        return Exit.usage
    }
}
