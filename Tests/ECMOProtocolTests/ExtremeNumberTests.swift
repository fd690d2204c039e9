import Testing
import Foundation
import ECMOCore
import ECMOBoard
import ECMOProtocol
import ECMODataFile

/// Numbers an input can carry that no code may convert carelessly: a protocol with an
/// absurd concentration or rate is refused with a reason, or planned — never a trap.
@Suite struct ExtremeNumberTests {
    static func protocolText(concentration: String = "5.0e6", primeRate: String = "60", doseDuration: String = "60s") -> String {
        """
        protocol:
          name: extreme
          description: "extreme numbers"
          on_restart: stop
        patient:
          weight_kg: 10
          circuit: adult_patient
        circuit:
          flow_lpm: 4.0
        syringes:
          cells: {preset: bd_plastipak_5ml, fill_ml: 3.5, prime_ml: 0.2}
        product:
          kind: msc
          concentration_per_ml: \(concentration)
          port: pre_oxygenator
        phases:
          - prime: {rate_ml_per_h: \(primeRate)}
          - baseline: {duration: 30s}
          - infusion:
              dose_cells_per_kg: 1.0e6
              duration: \(doseDuration)
          - observation: {duration: 30s}
        """
    }

    /// Loads and plans `text`; true if it planned, false if it was refused with an error.
    static func plans(_ text: String) throws -> (Bool, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("extreme-\(UUID().uuidString).yaml").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let board = try BoardLoader.load(path: repositoryRoot.appendingPathComponent("Board/sim.yaml").path)
        do {
            _ = try ProtocolPlanner.plan(try ProtocolLoader.load(path: path), board: board)
            return (true, "")
        } catch {
            return (false, "\(error)")
        }
    }

    @Test(arguments: ["1e-320", "1e-300", "1e-6", "5e-324"])
    func aVanishingConcentrationIsRefusedWithAReasonNotATrap(_ concentration: String) throws {
        let (planned, message) = try Self.plans(Self.protocolText(concentration: concentration))
        #expect(!planned, "1e6 cells/kg at \(concentration) cells/mL cannot fit a 5 mL syringe")
        #expect(message.contains("concentration_per_ml") || message.contains("syringe") || message.contains("volume"),
                "the refusal names what: \(message)")
    }

    @Test(arguments: ["1e-6", "1e-9", "1e-300"])
    func aVanishingPrimeRateIsRefusedWithAReasonNotATrap(_ rate: String) throws {
        let (planned, message) = try Self.plans(Self.protocolText(primeRate: rate))
        #expect(!planned, "a 0.2 mL prime at \(rate) mL/h would take longer than any run")
        #expect(message.contains("days") || message.contains("rate"), "\(message)")
    }

    @Test func aWeekLongPlanStillPlans() throws {
        // 0.2 mL at 0.002 mL/h: 100 h of priming, inside a week.
        let (planned, message) = try Self.plans(Self.protocolText(primeRate: "0.002"))
        #expect(planned, "\(message)")
    }

    @Test func durationsFromExtremeSecondsSaturateInsteadOfTrapping() {
        #expect(Duration.seconds(.nan) == .zero)
        #expect(Duration.seconds(.infinity) == .nanoseconds(Int64.max))
        #expect(Duration.seconds(-.infinity) == .nanoseconds(Int64.min))
        #expect(Duration.seconds(1e300) == .nanoseconds(Int64.max))
        #expect(Duration.seconds(-1e308) == .nanoseconds(Int64.min))
        #expect(Duration.seconds(1e-320) == .zero)
        #expect(Duration.seconds(1.5) == .milliseconds(1500))
    }
}
