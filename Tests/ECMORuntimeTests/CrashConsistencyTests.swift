import Testing
import Foundation
import ECMOCore
import ECMOSim
import ECMORuntime
import ECMORecord
import ECMOPosix
import Synchronization

/// A scratch directory in RAM when there is one (thousands of small replays).
func replayRoot() -> String {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = "\(base)/ecmo-crash-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// What the rig had done when each logged file call was made (the loop runs between them).
final class DeliveryProbe: @unchecked Sendable {
    var sim: SimulatedBoard?
    /// Plant steps (cells) just before call i.
    var deliveredBefore: [Int64] = []
}

/// A logged file system whose every call first samples the plant's cells plunger
/// (`plantBefore` until the probe has a rig: a recovery runs before the rig exists).
func probedFileSystem(plantBefore: Int64 = 0) -> (RecordingFileSystem, DeliveryProbe) {
    let fs = RecordingFileSystem()
    let probe = DeliveryProbe()
    fs.willPerform = { _, _ in probe.deliveredBefore.append(probe.sim?.plungerSteps.cells ?? plantBefore) }
    return (fs, probe)
}

/// The cells reservation each prefix of the log had made durable: the reservation of the
/// last record written before an `fdatasync` of the journal that returned.
func durableReservations(_ log: [FileOperation], journal: String) -> [Int64] {
    var written: Int64 = 0
    var durable: Int64 = 0
    var out: [Int64] = [0]
    for op in log {
        switch op {
        case .write(let p, let b) where p == journal && b.count == DeliveryJournal.recordSize && b.prefix(4) == [0x43, 0x45, 0x52, 0x4A]:
            written = (0..<8).reduce(Int64(0)) { $0 | Int64(b[16 + $1]) << (8 * Int64($1)) }
        case .sync(let p) where p == journal:
            durable = written
        default: break
        }
        out.append(durable)
    }
    return out
}

/// Issue 18, item 2: the delivery journal against a power cut at every point of a dose.
@Suite struct JournalCrashConsistencyTests {
    /// A dose on the simulated rig with every journal call logged; then every prefix of the
    /// log, as written, as synced only, with names or data lost, and with its last write torn
    /// or replaced by garbage, is laid on a fresh directory and the real recovery
    /// (`DeliveryJournal.open`) runs on it. In every case what recovery counts as delivered
    /// is at least what the plant had received by the cut (no over-delivery on resuming) and
    /// at least every reservation that had been made durable (none dropped), and never more
    /// than the plan.
    @Test func everyCrashStateOfADoseRecoversWithoutOverDeliveryOrALostReservation() throws {
        let plan = try testPlan(dose: .mL(0.2), over: .seconds(8))
        let prescribed = plan.prescribedSteps(.cells)
        let root = replayRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let journalPath = root + "/run/journal"
        let (fs, probe) = probedFileSystem()
        try fs.createDirectory(root + "/run")
        let rig = try InfusionRig(plan: plan, journalPath: journalPath, fileSystem: fs)
        probe.sim = rig.sim
        rig.start()
        _ = rig.run(.seconds(14))
        let finalDelivered = rig.sim.plungerSteps.cells
        #expect(finalDelivered == prescribed, "the dose ran to the end")
        let log = fs.operations
        let durable = durableReservations(log, journal: journalPath)
        #expect(durable.last == prescribed)
        let states = CrashStates.enumerate(log)
        var refusedBeforeAnyDose = 0
        var failures: [String] = []
        for (n, state) in states.enumerated() {
            let replay = root + "/replay-\(n)"
            try CrashStates.materialize(state, from: root + "/run", into: replay)
            defer { try? FileManager.default.removeItem(atPath: replay) }
            let k = state.afterOperations
            let delivered = k < log.count ? probe.deliveredBefore[k] : finalDelivered
            let recovered: Int64
            do {
                let (_, r) = try DeliveryJournal.open(path: replay + "/journal", planHash: 42, prescribed: (prescribed, 0))
                recovered = r?.reserved[0] ?? 0
            } catch {
                // Refusing is safe only if nothing had been authorised yet.
                if durable[k] == 0 && delivered == 0 { refusedBeforeAnyDose += 1; continue }
                failures.append("after \(k) calls (\(state.variant)): recovery refused: \(error)")
                continue
            }
            if recovered < delivered {
                failures.append("after \(k) calls (\(state.variant)): OVER-DELIVERY: the plant had \(delivered) steps, recovery counts \(recovered)")
            }
            if recovered < durable[k] {
                failures.append("after \(k) calls (\(state.variant)): a durable reservation of \(durable[k]) steps was dropped (recovered \(recovered))")
            }
            if recovered > prescribed {
                failures.append("after \(k) calls (\(state.variant)): recovered \(recovered) steps, more than the plan's \(prescribed)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(states.count) crash states: \(failures.prefix(5))")
        #expect(log.count > 100 && states.count > 2 * log.count, "\(log.count) calls, \(states.count) crash states")
        #expect(refusedBeforeAnyDose < 10, "a refusal (new journal path needed) only while the header was being written")
        print("journal crash consistency: \(log.count) file calls, \(states.count) distinct crash states, \(refusedBeforeAnyDose) refused before any dose, 0 over-delivery")
    }

    /// A power cut while the rig restarts on a journal an earlier cut left torn: during
    /// recovery's own repair (the truncate of the torn tail, its fdatasync) and during the
    /// resumed dose. First cuts with a torn or garbage last record, spread over a dose, are
    /// laid on disk; the rig restarts on each with the plant where the cut left it and every
    /// file call logged; then every crash state of that second run (starting from the first
    /// cut's files, all durable) is recovered again. In every one, what recovery counts as
    /// given covers what the plant had received, the first recovery's reservation and every
    /// reservation the second run made durable, and never passes the plan; and the resumed
    /// dose ends with the plant at or below the plan.
    @Test func aCutDuringRecoveryOrTheResumedDoseStillNeverOverDelivers() throws {
        let plan = try testPlan(dose: .mL(0.1), over: .seconds(4))
        let prescribed = plan.prescribedSteps(.cells)
        let root = replayRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        let (fs, probe) = probedFileSystem()
        try fs.createDirectory(run)
        let rig = try InfusionRig(plan: plan, journalPath: run + "/journal", fileSystem: fs)
        probe.sim = rig.sim
        rig.start()
        _ = rig.run(.seconds(9))
        let log = fs.operations
        func deliveredAt(_ k: Int) -> Int64 { k < log.count ? probe.deliveredBefore[k] : rig.sim.plungerSteps.cells }
        let tornMidDose = CrashStates.enumerate(log).filter {
            $0.variant.hasPrefix("last write") && deliveredAt($0.afterOperations) > 0 && deliveredAt($0.afterOperations) < prescribed
        }
        #expect(tornMidDose.count >= 12, "\(tornMidDose.count) torn states mid-dose")
        let picks = stride(from: 0, to: tornMidDose.count, by: max(1, tornMidDose.count / 6)).map { tornMidDose[$0] }
        var failures: [String] = []
        var states2Total = 0
        var repairs = 0
        for (i, first) in picks.enumerated() {
            let dir = root + "/restart-\(i)"
            try CrashStates.materialize(first, from: run, into: dir)
            let plantAtCut = deliveredAt(first.afterOperations)
            let r1 = try DeliveryJournal.inspect(path: dir + "/journal").1.reserved[0]
            var initial: [String: [UInt8]] = [:]
            for (path, bytes) in first.files { initial[dir + path.dropFirst(run.count)] = bytes }
            // The restart, logged: recovery's repair first (the plant is where the cut left it).
            let (fs2, probe2) = probedFileSystem(plantBefore: plantAtCut)
            let resumed = try InfusionRig(plan: plan, journalPath: dir + "/journal", plant: (plantAtCut, 0), fileSystem: fs2)
            probe2.sim = resumed.sim
            resumed.start()
            _ = resumed.run(.seconds(9))
            let finalPlant = resumed.sim.plungerSteps.cells
            let where1 = "first cut after \(first.afterOperations) calls (\(first.variant)), plant \(plantAtCut), recovered \(r1)"
            if finalPlant > prescribed { failures.append("\(where1): the resumed dose ended at \(finalPlant) steps, over the plan's \(prescribed)") }
            let log2 = fs2.operations
            if log2.contains(where: { if case .truncate = $0 { true } else { false } }) { repairs += 1 }
            let durable2 = durableReservations(log2, journal: dir + "/journal")
            let states2 = CrashStates.enumerate(log2, initial: initial)
            states2Total += states2.count
            for (n, second) in states2.enumerated() {
                let replay = root + "/replay-\(i)-\(n)"
                try CrashStates.materialize(second, from: dir, into: replay)
                defer { try? FileManager.default.removeItem(atPath: replay) }
                let k = second.afterOperations
                let plant = k < log2.count ? probe2.deliveredBefore[k] : finalPlant
                let at = "\(where1); second cut after \(k) calls (\(second.variant))"
                let recovered: Int64
                do {
                    let (_, r) = try DeliveryJournal.open(path: replay + "/journal", planHash: 42, prescribed: (prescribed, 0))
                    recovered = r?.reserved[0] ?? 0
                } catch {
                    failures.append("\(at): recovery refused: \(error)")
                    continue
                }
                if recovered < plant { failures.append("\(at): OVER-DELIVERY: the plant had \(plant) steps, recovery counts \(recovered)") }
                if recovered < max(r1, durable2[k]) {
                    failures.append("\(at): a durable reservation of \(max(r1, durable2[k])) steps was dropped (recovered \(recovered))")
                }
                if recovered > prescribed { failures.append("\(at): recovered \(recovered) steps, more than the plan's \(prescribed)") }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures: \(failures.prefix(5))")
        #expect(picks.count >= 6 && states2Total > 6 * 20, "\(picks.count) first cuts, \(states2Total) second crash states")
        #expect(repairs >= 1, "at least one restart had a torn tail to cut back (the repair under test)")
        print("journal crash during restart: \(picks.count) first cuts (torn tails), \(states2Total) crash states of the restarts, \(repairs) repairs, 0 over-delivery")
    }

    /// A disk that fills up (ENOSPC on a write, half of it landed) or fails (EIO on the
    /// fdatasync) in the middle of a dose: no new authority, so the syringe stops within its
    /// lookahead and stays stopped, the deviation alarm is raised, the blood pump keeps
    /// running, and the journal on disk still holds every durable reservation, no torn bytes.
    @Test(arguments: [("write", ENOSPC), ("sync", EIO)])
    func aDiskFailingMidDoseStopsTheSyringeWithAnAlarmAndKeepsTheJournal(call: String, error: Int32) throws {
        let plan = try testPlan(dose: .mL(0.5), over: .seconds(20))
        let prescribed = plan.prescribedSteps(.cells)
        let root = replayRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let journalPath = root + "/journal"
        let fs = RecordingFileSystem()
        let armed = Atomic<Bool>(false)
        fs.failWhen = { op in
            guard armed.load(ordering: .relaxed) else { return nil }
            switch op {
            case .write where call == "write", .sync where call == "sync": return error
            default: return nil
            }
        }
        let rig = try InfusionRig(plan: plan, journalPath: journalPath, fileSystem: fs)
        rig.start()
        _ = rig.run(.seconds(6))
        let before = rig.sim.plungerSteps.cells
        #expect(before > 0 && before < prescribed, "mid-dose when the disk fails")
        armed.store(true, ordering: .relaxed)
        var events = rig.run(.seconds(1))
        let stoppedAt = rig.sim.plungerSteps.cells
        events += rig.run(.seconds(20))
        #expect(rig.sim.plungerSteps.cells == stoppedAt, "the syringe stays stopped without durable authority")
        #expect(stoppedAt < prescribed, "the dose did not complete on a failing disk")
        #expect(alarms(events, raised: .infusionDeviation), "the stalled dose is an alarm, not a silence")
        #expect(rig.loop.lastTelemetry.pumpEnabled && rig.loop.lastTelemetry.flow > .lpm(3.5), "the circuit keeps running")
        #expect(rig.loop.lastTelemetry.cellsDelivered.milliliters > 0)
        armed.store(false, ordering: .relaxed)
        let (_, r, _) = try DeliveryJournal.inspect(path: journalPath)
        #expect(r.reserved[0] >= stoppedAt, "the journal on disk still covers every step given")
        #expect(r.discardedBytes == 0 && r.skippedBytes == 0, "a failed write is cut back, not left torn")
    }
}
