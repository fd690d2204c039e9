// libFuzzer entry point for every input the rig reads from a file, a socket or a disk
// after a crash (issue 18, item 1). One binary, one target per run, chosen by
// `ECMO_FUZZ_TARGET` (scripts/fuzz sets it): one link of the instrumented package instead
// of eight. Built with `-sanitize=fuzzer,address`; this file's top-level code is the
// program's main and hands over to libFuzzer's driver (docs/reliability.md: why not
// libFuzzer's own main under SwiftPM).
//
// Each target feeds the bytes to the real loader and checks what must hold whatever the
// input: a loader either returns a value or throws its own error type, never traps; the
// framer never yields a line over its limit or with a newline in it; journal recovery
// never loses a reservation it reported once the journal is reopened and appended to.
import Foundation
import ECMOBoard
import ECMOProtocol
import ECMOScenario
import ECMOSweep
import ECMORecord
import ECMORuntime
import ECMOCore
import CFuzzerDriver
import ECMOLink
#if ECMO_RUN_STORE
import ECMORunStore
#endif

enum Target: String, CaseIterable {
    case board, `protocol`, scenario, sweep, linkCodec = "link-codec", lineFramer = "line-framer",
         consoleCommand = "console-command", journal, runFolder = "run-folder"
}

let target: Target = {
    let name = ProcessInfo.processInfo.environment["ECMO_FUZZ_TARGET"] ?? ""
    guard let t = Target(rawValue: name) else {
        FileHandle.standardError.write(Data("ECMO_FUZZ_TARGET must be one of: \(Target.allCases.map(\.rawValue).joined(separator: " ")) (got \"\(name)\")\n".utf8))
        exit(2)
    }
    return t
}()

/// The board protocols are planned against (the planner's checks are where the 1e-320
/// cells/mL trap lived): the simulated bench, loaded once from the repository.
let simBoard: BoardConfiguration? = try? BoardLoader.load(path: "Board/sim.yaml")

/// Scratch space in RAM: the journal and run-folder targets need real files.
let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = "\(base)/ecmo-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

/// A property that must hold for every input failed: abort so libFuzzer saves the input.
func violated(_ what: String) -> Never {
    FileHandle.standardError.write(Data("ecmo-fuzz \(target.rawValue): \(what)\n".utf8))
    abort()
}

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch target {
    case .board:
        _ = try? BoardLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "Board/fuzz.yaml")
    case .protocol:
        if let p = try? ProtocolLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "Protocols/fuzz.yaml"),
           let board = simBoard, let plan = try? ProtocolPlanner.plan(p, board: board) {
            _ = PlanTable.render(plan)
        }
    case .scenario:
        _ = try? ScenarioLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "HIL/scenarios/fuzz.yaml")
    case .sweep:
        _ = try? SweepLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "Sweeps/fuzz.yaml")
    case .linkCodec:
        let line = Data(bytes)
        if let m = try? LinkCodec.decodeConsoleMessage(line) {
            // What decodes must encode and decode to itself (the rig answers with it).
            guard let again = try? LinkCodec.decodeConsoleMessage(LinkCodec.encode(m)),
                  again == m || LinkCodec.encode(again) == LinkCodec.encode(m) else {
                violated("a console message does not survive encode → decode: \(m)")
            }
        }
        if let m = try? LinkCodec.decodeRigMessage(line) {
            // A typed number field reads "nan" as NaN (the encoder's backstop), and NaN equals
            // nothing: such a message must still re-encode to the same bytes.
            guard let again = try? LinkCodec.decodeRigMessage(LinkCodec.encode(m)),
                  again == m || LinkCodec.encode(again) == LinkCodec.encode(m) else {
                violated("a rig message does not survive encode → decode: \(m)")
            }
        }
    case .lineFramer:
        fuzzFramer(bytes)
    case .consoleCommand:
        fuzzConsoleCommand(bytes)
    case .journal:
        fuzzJournal(bytes)
    case .runFolder:
        fuzzRunFolder(bytes)
    }
    return 0
}

/// The first byte picks a line limit and a chunk size: the same stream split differently
/// must give the same lines, none over the limit, none holding a newline.
func fuzzFramer(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let limit = 1 + Int(first & 0x3F)
    let chunk = 1 + Int(first >> 6) * 7
    let stream = bytes.dropFirst()
    var whole = LineFramer(maxLineBytes: limit)
    let all = whole.push(stream)
    var pieces = LineFramer(maxLineBytes: limit)
    var split: [LineFramer.Item] = []
    var i = stream.startIndex
    while i < stream.endIndex {
        let j = min(i + chunk, stream.endIndex)
        split += pieces.push(stream[i..<j])
        i = j
    }
    guard all == split else { violated("lines depend on how the stream was split (limit \(limit), chunk \(chunk))") }
    for item in all {
        if case .line(let l) = item {
            guard l.count <= limit + 1, !l.contains(0x0A), !l.isEmpty else { violated("a line of \(l.count) bytes over limit \(limit) or holding a newline") }
        }
    }
    guard whole.pending <= limit + 1 else { violated("the framer holds \(whole.pending) bytes, over its limit \(limit)") }
}

/// The console's `POST /api/command` body as the console handles it (ConsoleApp): a JSON
/// object with `name` and `args`, wrapped into the wire form and decoded by ECMOLink.
func fuzzConsoleCommand(_ bytes: [UInt8]) {
    guard let body = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
          let name = body["name"] as? String else { return }
    let args = body["args"] as? [String: Any] ?? [:]
    let wire: [String: Any] = ["type": "command", "id": 0, "actor": "fuzz", "role": "operator", "name": name, "args": args]
    guard JSONSerialization.isValidJSONObject(wire), let data = try? JSONSerialization.data(withJSONObject: wire) else { return }
    _ = try? LinkCodec.decodeConsoleMessage(data)
}

/// Arbitrary bytes as a journal file left by a crash: inspect, reopen for the same plan,
/// append one record, inspect again. Recovery must never report less than it reported
/// before the append (a dropped durable reservation would be dosed again).
func fuzzJournal(_ bytes: [UInt8]) {
    let path = scratch + "/journal"
    unlink(path)
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { violated("cannot write \(path)") }
    guard let (hash, before, valid) = try? DeliveryJournal.inspect(path: path) else {
        // Refused as a whole (not a journal, corrupt header): open must refuse it too, or
        // start afresh only from a header that never authorised anything.
        if let (_, r) = try? DeliveryJournal.open(path: path, planHash: 1, prescribed: (1, 1)), r != nil {
            violated("open accepted a journal that inspect refused")
        }
        return
    }
    guard valid <= bytes.count, valid >= DeliveryJournal.recordSize else { violated("valid length \(valid) outside the file (\(bytes.count))") }
    guard let (j, r) = try? DeliveryJournal.open(path: path, planHash: hash, prescribed: (1, 1)) else { return }
    guard let r, r.reserved == before.reserved else { violated("open and inspect disagree: \(String(describing: r)) vs \(before)") }
    let next = JournalSnapshot(sequence: r.lastSequence &+ 1, reserved: (max(0, r.reserved[0]), max(0, r.reserved[1])),
                               delivered: (0, 0), itemIndex: 0, itemStartedAt: 0, elapsed: 0, completed: false, heparinRate: 0)
    guard (try? j.append(next)) != nil else { return }
    guard let (_, after, _) = try? DeliveryJournal.inspect(path: path) else { violated("the journal became unreadable after an append") }
    guard after.reserved[0] >= before.reserved[0], after.reserved[1] >= before.reserved[1] else {
        violated("an append lost a durable reservation: before \(before.reserved), after \(after.reserved)")
    }
}

/// A run folder left by a crash or a foreign tool: the bytes split at the first two 0x00
/// bytes into telemetry.csv, events.jsonl and summary.json (absent when no separator).
func fuzzRunFolder(_ bytes: [UInt8]) {
    #if ECMO_RUN_STORE
    let dir = scratch + "/run"
    try? FileManager.default.removeItem(atPath: dir)
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
    let names = [RunFolder.telemetryFile, RunFolder.eventsFile, RunFolder.summaryFile]
    for (name, part) in zip(names, parts) {
        _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(part))
    }
    let url = URL(fileURLWithPath: dir)
    _ = try? RunFolder.read(url)
    _ = try? TelemetryFile.read(url.appendingPathComponent(RunFolder.telemetryFile))
    #endif
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
_ = target   // an unknown target stops here, before libFuzzer starts
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOne(data, size) })
