import Foundation

/// One scenario's outcome on the virtual board, as the guest prints it on the serial
/// console (`LANE-RESULT {json}`) and the host reads it back (`hil lane-report`).
public struct LaneResult: Codable, Sendable {
    public struct Expectation: Codable, Sendable {
        public var name: String
        public var line: Int
        public var passed: Bool
        public var skipped: Bool
        public var detail: String
        public init(name: String, line: Int, passed: Bool, skipped: Bool, detail: String) {
            self.name = name; self.line = line; self.passed = passed; self.skipped = skipped; self.detail = detail
        }
    }
    public var file: String
    public var scenario: String
    /// `lane` (faults made by the devices, on time) or `drill` (a drill's prompts,
    /// answered by the bridge as the person).
    public var mode: String
    /// Why the scenario could not run here (refused steps, a load error), or nil.
    public var skipped: [String]?
    public var outcome: String?
    public var abortReason: String?
    public var expectations: [Expectation]?
    /// How each fault was made (VirtualBoardSteps), in file order.
    public var mechanisms: [String]?
    public var prompts: Int?
    public var ticks: UInt64?
    public var skippedPeriods: Int64?
    public var wallSeconds: Double?
    /// The outputs as the kernel devices held them when the run ended, before the lines
    /// were released: what "outputs safe" means on the wire.
    public var outputsAtEnd: [String: Bool]?

    public static let marker = "LANE-RESULT "

    public init(file: String, scenario: String, mode: String) {
        self.file = file
        self.scenario = scenario
        self.mode = mode
    }
}

/// The host's side of the virtual-board lane: the guest's `LANE-RESULT` lines beside the
/// same files' pure-simulation verdicts, expectation by expectation. A verdict that differs
/// counts against the lane unless the file lists it (`virtual_board: differences`) with
/// its reason; a scenario the virtual board could not run is skipped with the reason,
/// never counted as passed.
public enum LaneReport {
    public static func parse(_ text: String) -> [LaneResult] {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return text.split(separator: "\n").compactMap { line in
            guard let r = line.range(of: LaneResult.marker) else { return nil }
            return try? decoder.decode(LaneResult.self, from: Data(line[r.upperBound...].utf8))
        }
    }

    public struct Report {
        public var lines: [String] = []
        public var equal = 0, different = 0, skipped = 0, broken = 0, allowed = 0
        /// Drills (mode drill) that ran to the end equal to simulation; refusals (an
        /// unanswered prompt) that left pump enable off, the clamp closed and the PWM at
        /// zero speed, as the devices held them.
        public var drillsCompleted = 0, refusalsSafe = 0
    }

    /// `simulate`: the file's pure-simulation verdicts by expectation name, in file order.
    public static func compare(_ results: [LaneResult], simulate: (String) throws -> (Scenario, [(String, Bool)])) -> Report {
        var rep = Report()
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        rep.lines.append(pad("scenario", 40) + pad("mode", 6) + pad("simulation", 12) + pad("virtual board", 15) + "verdicts")
        for r in results {
            let label = pad(r.scenario, 40) + pad(r.mode, 6)
            if let why = r.skipped {
                rep.skipped += 1
                rep.lines.append(label + pad("-", 12) + pad("SKIPPED", 15) + why.joined(separator: "; "))
                continue
            }
            guard let lane = r.expectations else {
                rep.broken += 1
                rep.lines.append(label + pad("-", 12) + pad("NOT RUN", 15) + "no verdicts (see the console log)")
                continue
            }
            if let why = r.abortReason {
                // A refusal: nothing to compare; what matters is the wire.
                let held = r.outputsAtEnd ?? [:]
                let safe = held["pump_enable"] == false && held["clamp"] == true && held["pump_speed_zero"] == true
                if safe && r.mode == "drill" { rep.refusalsSafe += 1 } else { rep.broken += 1 }
                let wire = held.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value ? "on" : "off")" }.joined(separator: ", ")
                rep.lines.append(label + pad("-", 12) + pad("ABORTED", 15) + "\(why); outputs at the end on the wire: \(wire.isEmpty ? "unknown" : wire) → \(safe ? "safe" : "NOT SAFE")")
                continue
            }
            let scenario: Scenario, sim: [(String, Bool)]
            do {
                (scenario, sim) = try simulate(r.file)
            } catch {
                rep.broken += 1
                rep.lines.append(label + pad("ERROR", 12) + pad("-", 15) + "pure simulation: \(error)")
                continue
            }
            var notes: [String] = []
            var differs = false
            for (name, simPassed) in sim {
                guard let l = lane.first(where: { $0.name == name }) else {
                    differs = true
                    notes.append("'\(name)': missing on the virtual board")
                    continue
                }
                let laneWord = l.skipped ? "skipped" : (l.passed ? "held" : "failed")
                guard l.skipped || l.passed != simPassed else { continue }
                if let d = scenario.virtualBoardDifferences.first(where: { $0.expectation == name }) {
                    rep.allowed += 1
                    notes.append("'\(name)': \(simPassed ? "held" : "failed") in simulation, \(laneWord) here: allowed (\(d.reason))")
                } else {
                    differs = true
                    notes.append("'\(name)' (line \(l.line)): \(simPassed ? "held" : "failed") in simulation, \(laneWord) on the virtual board: \(l.detail)")
                }
            }
            if differs {
                rep.different += 1
            } else if r.mode == "lane" {
                rep.equal += 1
            } else {
                rep.drillsCompleted += 1
            }
            let simHeld = sim.filter(\.1).count
            let laneHeld = lane.filter { $0.passed }.count
            let verdict = differs ? "DIFFERENT" : "same"
            let laneCell = "\(laneHeld)/\(lane.count)" + (r.mode == "drill" ? ", \(r.prompts ?? 0) prompts" : "")
            rep.lines.append(label + pad("\(simHeld)/\(sim.count)", 12) + pad(laneCell, 15) + verdict
                             + (r.mechanisms?.isEmpty == false ? "; \(r.mechanisms!.joined(separator: "; "))" : ""))
            for n in notes { rep.lines.append("    " + n) }
        }
        return rep
    }
}
