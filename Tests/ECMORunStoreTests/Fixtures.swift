import Foundation
import ECMORuntime
import ECMOScenario
import ECMORunStore
import ECMORecord

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func temporaryDirectory(_ label: String = #function) -> URL {
    let name = label.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-runstore-\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A short real run: the simulated rig at 3000 rpm, the drainage kinked from 4 s to 7 s
/// (suction and low-flow alarms), recorded by the same ScenarioRunner `ecmo-rig simulate` uses.
let realRun: (directory: URL, result: ScenarioResult)? = {
    let yaml = """
    scenario:
      name: store-kink
      description: "drainage kink for the run store tests"
      seed: 7
      board: \(repositoryRoot.appendingPathComponent("Board/sim.yaml").path)
      duration: 9s
      control: {mode: constant_speed, rpm: 3000}
    events:
      - {at: 4s, for: 3s, fault: drainage_kink, occlusion: 0.7}
    expectations:
      - {name: "suction alarm", alarm: P_DRAIN_LOW, priority: high, after: 4s, within: 1.5s}
    """
    let out = temporaryDirectory("realRun")
    guard let scenario = try? ScenarioLoader.parse(yaml: yaml, file: out.appendingPathComponent("store-kink.yaml").path),
          let runner = try? ScenarioRunner(scenario: scenario, outputDirectory: out),
          let result = try? runner.run(), let dir = result.runDirectory else { return nil }
    return (URL(fileURLWithPath: dir), result)
}()

/// Writes a run folder by hand: `rows` telemetry rows of the recorder's header (values from
/// `value(column, row)`), the event lines as given, and the summary text.
@discardableResult
func writeFixtureRun(in runs: URL, name: String, rows: Int = 50, events: [String], summary: String?,
                     value: (String, Int) -> String = fixtureValue) -> URL {
    let dir = runs.appendingPathComponent(name)
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let header = RunRecorder.csvHeader.dropLast().split(separator: ",").map(String.init)
    var csv = RunRecorder.csvHeader
    for r in 0..<rows {
        csv += header.map { value($0, r) }.joined(separator: ",") + "\n"
    }
    try? Data(csv.utf8).write(to: dir.appendingPathComponent("telemetry.csv"))
    try? Data(events.map { $0 + "\n" }.joined().utf8).write(to: dir.appendingPathComponent("events.jsonl"))
    if let summary { try? Data(summary.utf8).write(to: dir.appendingPathComponent("summary.json")) }
    return dir
}

/// Plausible values: 1 row per second, active and regulating, ΔP rising 10 → 15 mmHg.
func fixtureValue(_ column: String, _ r: Int) -> String {
    switch column {
    case "t_s": return RunRecorder.fixed(Double(r) + 1, 3)
    case "state": return "active"
    case "phase": return "regulating"
    case "P_drain_mmHg": return RunRecorder.fixed(-50 - Double(r % 7) * 0.25, 2)
    case "P_pre_mmHg": return RunRecorder.fixed(170 + Double(r) * 0.1, 2)
    case "P_post_mmHg": return RunRecorder.fixed(160 + Double(r) * 0.1 - Double(r) * 0.1, 2)
    case "dP_oxy_mmHg": return RunRecorder.fixed(10 + Double(r) * 0.1, 2)
    case "flow_lpm": return RunRecorder.fixed(4 - Double(r % 3) * 0.001, 3)
    case "speed_rpm", "speed_cmd_rpm": return "3000.0"
    case "cells_ml": return RunRecorder.fixed(Double(r) * 0.01, 4)
    case "pump_enabled": return "1"
    default: return "0"
    }
}

let fixtureEvents = [
    #"{"event":"lifecycle","from":"inactive","t":0.2,"to":"active"}"#,
    #"{"action":"protocol_started","channel":"cells","event":"infusion","item":0,"t":2}"#,
    #"{"action":"item_started","channel":"cells","event":"infusion","item":0,"steps":2801,"t":2}"#,
    #"{"action":"raised","alarm":"P_DRAIN_LOW","by":"system","event":"alarm","priority":"high","t":10.5}"#,
    #"{"action":"cleared","alarm":"P_DRAIN_LOW","by":"system","event":"alarm","priority":"high","t":12}"#,
    #"{"action":"raised","alarm":"FLOW_LOW","by":"system","event":"alarm","priority":"medium","t":20.25}"#,
    #"{"action":"acknowledged","alarm":"FLOW_LOW","by":"operator panel","event":"alarm","priority":"medium","t":21}"#,
    #"{"action":"raised","alarm":"P_DRAIN_LOW","by":"system","event":"alarm","priority":"high","t":30}"#,
    #"{"action":"item_completed","channel":"cells","event":"infusion","item":0,"steps_given":2801,"t":40}"#,
    #"{"event":"sensor_invalid","sensors":["P_drain","flow"],"t":41}"#,
]

let fixtureSummary = """
{
  "board": "bench-a",
  "board_file": "Board/bench-a.yaml",
  "events": 10,
  "events_dropped": 0,
  "loop_time_s": 50,
  "operator": "alice",
  "outcome": "completed",
  "protocol": {
    "cells": {"delivered_ml": 0.49, "prescribed_ml": 0.5, "delivered_steps": 2801, "prescribed_steps": 2858},
    "file": "Protocols/quick-dose.yaml",
    "hash": "03017967327dbcd8",
    "heparin": null,
    "name": "quick-dose"
  },
  "seed": 3,
  "setpoint": {"flow_lpm": 4, "mode": "constant_flow"},
  "started_at": "2026-11-25T10:00:00Z",
  "ended_at": "2026-11-25T10:00:50Z",
  "telemetry_dropped": 2,
  "telemetry_rows": 50,
  "wall_time_s": 50.2
}
"""

/// Every file under `dir` with its bytes and modification time: "was anything touched?".
func snapshot(_ dir: URL) -> [String: String] {
    var out: [String: String] = [:]
    let fm = FileManager.default
    guard let e = fm.enumerator(atPath: dir.path) else { return out }
    while let rel = e.nextObject() as? String {
        let p = dir.appendingPathComponent(rel).path
        if rel.hasPrefix("runs.sqlite") { continue }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue else { continue }
        let data = fm.contents(atPath: p) ?? Data()
        let m = (try? fm.attributesOfItem(atPath: p)[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        out[rel] = "\(data.hashValue)-\(data.count)-\(m)"
    }
    return out
}
