import Foundation
import ECMOCore
import ECMOBoard
import ECMOSim
import ECMORuntime
import ECMOProtocol
import ECMORecord

/// Puts a planned protocol onto a rig: the journal (opened or resumed), the infusion
/// engine, and on a simulated board the plant it runs on (circuit preset, syringes and
/// what they hold). One place, shared by `ecmo-rig run --protocol` and scenarios.
public struct ProtocolSetup {
    public let resolved: ResolvedProtocol
    public let journal: DeliveryJournal
    public let recovered: DeliveryJournal.Recovered?
    public let link: JournalLink
    public let engine: InfusionEngine

    /// The plan hash binds a journal to one protocol file (its bytes) on one board.
    public static func planHash(protocolPath: String, board: BoardConfiguration) -> UInt64 {
        let bytes = (try? Data(contentsOf: URL(fileURLWithPath: protocolPath))).map { [UInt8]($0) } ?? Array(protocolPath.utf8)
        return DeliveryJournal.hash([bytes, Array(board.name.utf8)])
    }

    /// Opens (or creates) the journal at `journalPath` and builds the engine, resuming from
    /// what the journal recorded. Refuses a journal whose protocol already completed.
    public init(resolved: ResolvedProtocol, protocolPath: String, board: BoardConfiguration, journalPath: String) throws {
        self.resolved = resolved
        let plan = resolved.plan
        let dir = (journalPath as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let (j, r) = try DeliveryJournal.open(path: journalPath, planHash: Self.planHash(protocolPath: protocolPath, board: board),
                                              prescribed: (plan.prescribedSteps(.cells), plan.prescribedSteps(.heparin)))
        if let r, r.completed {
            throw JournalError(path: journalPath, message: "the protocol already completed in an earlier run (cells \(r.reserved[0]) steps given); start a new journal (--fresh-journal or another --journal path)")
        }
        journal = j
        recovered = r
        link = JournalLink(granted: (r?.reserved[0] ?? 0, r?.reserved.count ?? 0 > 1 ? r?.reserved[1] ?? 0 : 0))
        let resume = r.map { InfusionEngine.Resume(authorized: $0.reserved, itemIndex: $0.itemIndex, itemStartedAt: $0.itemStartedAt,
                                                   elapsed: $0.elapsed, heparinRate: $0.heparinRate) }
        engine = InfusionEngine(plan: plan, loopPeriod: board.loopPeriod, pumpRamp: board.pump.limits.maximumRampPerSecond,
                                pumpMaximum: board.pump.limits.maximumSpeed, resume: resume)
    }

    /// Run settings from the protocol: its pump mode and alarm limits.
    public func settings(recordEvery: Int) -> RunSettings {
        RunSettings(mode: resolved.pumpMode, recordEvery: recordEvery, alarmLimits: resolved.alarmLimits, fouling: resolved.fouling)
    }

    /// The simulated plant the protocol describes: circuit preset, syringes filled, the
    /// cell syringe's contents entering at the protocol's port.
    public static func preparePlant(_ sim: SimulatedBoard, resolved: ResolvedProtocol) {
        if let preset = resolved.circuitPreset {
            sim.circuit = preset.makeCircuit()
        }
        let plan = resolved.plan
        if let c = plan.channel(.cells) {
            let contents = resolved.product.map {
                SyringeContents(kind: $0.kind, particlesPerMilliliter: $0.concentration.value.cellsPerMilliliter, port: $0.port)
            }
            sim.loadSyringe(.cells, spec: c, volume: c.fillVolume, contents: contents)
        }
        if let h = plan.channel(.heparin) { sim.loadSyringe(.heparin, spec: h, volume: h.fillVolume) }
    }

    /// The engine and journal, as the assembly takes them.
    public var infusion: InfusionSetup { InfusionSetup(engine: engine, link: link, journal: journal, recovered: recovered) }
}

extension InfusionEngine {
    /// One channel's block of a run summary (`ecmo-rig run --protocol` and `simulate` write
    /// the same keys). "delivered" is what this run confirmed (steps the driver issued); what
    /// an earlier run's journal had reserved is counted as given (never dosed again) but shown
    /// apart as unconfirmed: after a crash nobody knows how much of it went in.
    public func summary(of c: InfusionChannel) -> JSONValue {
        let s = c == .cells ? cells : heparin
        guard let spec = plan.channel(c) else { return .null }
        let unconfirmed = c == .cells ? unconfirmedAtRestart.cells : unconfirmedAtRestart.heparin
        let confirmed = max(s.delivered - unconfirmed, 0)
        return .object([
            "prescribed_steps": .int(Int(s.prescribed)),
            "delivered_steps": .int(Int(confirmed)),
            "given_unconfirmed_steps": .int(Int(unconfirmed)),
            "journal_reserved_steps": .int(Int(s.authorized)),
            "prescribed_ml": .number(spec.volume(steps: s.prescribed).milliliters),
            "delivered_ml": .number(spec.volume(steps: confirmed).milliliters),
            "given_unconfirmed_ml": .number(spec.volume(steps: unconfirmed).milliliters),
            "halt": .string(s.halt.description),
        ])
    }
}

extension AlarmSystem {
    /// Raises per alarm since start, for a run summary (`alarm_raises`): only alarms raised
    /// at least once, by identifier. A number that grows in a quiet run is chatter.
    public var raiseCountsJSON: JSONValue {
        var o: [String: JSONValue] = [:]
        for id in AlarmID.allCases where raiseCount(id) > 0 { o[id.identifier] = .int(Int(raiseCount(id))) }
        return .object(o)
    }
}
