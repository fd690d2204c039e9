import ArgumentParser
import Foundation
import ECMOBoard

/// `ecmo-rig board …`: a board file checked (`check`, any machine) and the board it
/// describes probed on the rig (`probe`, Hardware/BoardProbe.swift).
struct BoardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "board", abstract: "Board files.", subcommands: [Check.self, Probe.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a board file; exit 2 with one line per error if it is invalid.")
        @Argument(help: "Board file (YAML).")
        var file: String

        func run() async throws {
            do {
                let b = try BoardLoader.load(path: file)
                print("\(file): ok: board \(b.name) (\(b.kind.rawValue), realtime \(b.realtime.rawValue)), loop \(Int((1 / b.loopPeriod.seconds).rounded())) Hz, \(b.sensors.count) sensors, \(b.inputs.count) inputs, \(b.outputs.count + 1) actuators, \(b.devices.count) I2C devices")
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(ExitCodes.boardInvalid)
            }
        }
    }
}
