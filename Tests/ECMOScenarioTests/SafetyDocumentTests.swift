import Testing
import Foundation
import ECMOCore
import ECMOScenario

/// docs/safety.md cannot drift from the code, the scenarios or the tests.
@Suite struct SafetyDocumentTests {
    let doc = (try? String(contentsOf: repositoryRoot.appendingPathComponent("docs/safety.md"), encoding: .utf8)) ?? ""

    func rows(startingWith prefix: (String) -> Bool) -> [[String]] {
        doc.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("| ") else { return nil }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            return prefix(cells.first ?? "") ? cells : nil
        }
    }

    @Test func everyAlarmIsInTheTableWithItsDefinedPriorityLatchingAndDelay() {
        let table = rows { AlarmID(identifier: $0) != nil }
        #expect(table.count == AlarmID.count)
        for id in AlarmID.allCases {
            guard let row = table.first(where: { $0[0] == id.identifier }) else {
                Issue.record("\(id.identifier) missing from docs/safety.md")
                continue
            }
            let d = AlarmDefinition.standard(id)
            #expect(row[1] == "\(d.priority)", "\(id.identifier) priority")
            #expect(row[2] == (d.latching ? "yes" : "no"), "\(id.identifier) latching")
            #expect(row[3] == "\(d.conditionDelay.nanoseconds / 1_000_000)", "\(id.identifier) delay")
        }
    }

    @Test func everyHazardIsProvedByAScenarioThatExpectsItsAlarmAndByExistingTests() throws {
        let hazards = rows { $0.hasPrefix("H") && Int($0.dropFirst()) != nil }
        #expect(hazards.count >= 16)
        let testSources = try FileManager.default.subpathsOfDirectory(atPath: repositoryRoot.appendingPathComponent("Tests").path)
            .filter { $0.hasSuffix(".swift") }
            .map { try String(contentsOf: repositoryRoot.appendingPathComponent("Tests").appendingPathComponent($0), encoding: .utf8) }
            .joined()
        for h in hazards {
            let alarm = h[4]
            #expect(AlarmID(identifier: alarm) != nil, "\(h[0]): unknown alarm \(alarm)")
            let proofs = h[6].split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            var sawScenario = false
            for p in proofs {
                if p.hasSuffix(".yaml") {
                    sawScenario = true
                    let path = scenarioFolder.appendingPathComponent(p).path
                    let s = try ScenarioLoader.load(path: path)
                    let expectsAlarm = s.expectations.contains {
                        if case .alarm(let id, let priority, _, _) = $0.kind { return id?.identifier == alarm && priority != nil }
                        return false
                    }
                    let checksState = s.expectations.contains { if case .state = $0.kind { return true } else { return false } }
                    let checksOutput = s.expectations.contains { if case .output = $0.kind { return true } else { return false } }
                    #expect(expectsAlarm, "\(h[0]): \(p) does not expect \(alarm) with a priority")
                    #expect(checksState, "\(h[0]): \(p) checks no lifecycle state")
                    #expect(checksOutput, "\(h[0]): \(p) checks no actuator output")
                } else {
                    let name = p.split(separator: ".").last.map(String.init) ?? p
                    #expect(testSources.contains("func \(name)("), "\(h[0]): no test named \(p)")
                }
            }
            #expect(sawScenario, "\(h[0]) has no scenario")
        }
    }
}
