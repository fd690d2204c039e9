import Foundation
import ECMOCore
import ECMOPosix
import ECMORuntime
import ECMOScenario
import ECMOAssembly
import ECMOProtocol
import ECMOBoard
import ECMORecord

/// What `ecmo-rig run --protocol` adds around the loop.
enum ProtocolRunSupport {
    /// `--fresh-journal`: keeps the old journal (it is a record of what was delivered), renamed.
    static func moveAside(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let stamp = Int(Date().timeIntervalSince1970)
        let base = path.hasSuffix(".journal") ? String(path.dropLast(".journal".count)) : path
        try FileManager.default.moveItem(atPath: path, toPath: "\(base)-\(stamp).journal")
    }

    static func summary<H>(setup: ProtocolSetup, loop: RigLoop<H>, protocolPath: String, board: BoardConfiguration) -> JSONValue {
        let e = loop.infusion
        let plan = e.plan
        return .object([
            "file": .string(protocolPath),
            "name": .string(setup.resolved.experiment.name),
            // The journal's plan hash (protocol bytes + board name): which protocol this was, exactly.
            "hash": .string(hex16(ProtocolSetup.planHash(protocolPath: protocolPath, board: board))),
            "journal": .string(setup.journal.path),
            "resumed": .bool(setup.recovered != nil),
            "completed": .bool(e.completed),
            "item": .int(e.itemIndex),
            "items": .int(plan.items.count),
            "cells": e.summary(of: .cells),
            "heparin": e.summary(of: .heparin),
        ])
    }
}

/// A 64-bit hash as 16 hex digits.
func hex16(_ v: UInt64) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: 16 - h.count) + h
}

/// The simulated plant's state that outlives a firmware process: the net plunger steps
/// each syringe received, in a small file mapped shared, updated by plain stores at every
/// step (a kill -9 cannot tear them; the kernel keeps the page). Only for simulation
/// harnesses such as the kill test: on a rig, the plunger itself is the state.
final class PlantState {
    private let file: SharedMappedFile
    let pointer: UnsafeMutablePointer<Int64>

    init(path: String) throws {
        do throws(FileError) { file = try SharedMappedFile(path: path, byteCount: 16) } catch {
            throw PlantStateError(message: error.message)
        }
        pointer = file.pointer.bindMemory(to: Int64.self, capacity: 2)
    }

    var cells: Int64 { pointer[0] }
    var heparin: Int64 { pointer[1] }
}

struct PlantStateError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
