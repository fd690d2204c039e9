import ArgumentParser
import Foundation
import ECMOBoard

/// `ecmo-rig board …`: a board file checked (`check`, any machine) and the board it
/// describes probed on the rig (`probe`, Hardware/BoardProbe.swift).
struct BoardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "board", abstract: "Board files.", subcommands: [Check.self, Compile.self, Probe.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a board file; exit 2 with one line per error if it is invalid.")
        @Argument(help: "Board file (YAML).")
        var file: String

        func run() async throws {
            do {
                let b = try BoardLoader.load(path: file)
                print("\(file): ok: board \(b.name) (\(b.kind.rawValue), realtime \(b.realtime.rawValue)), loop \(Int((1 / b.loopPeriod.seconds).rounded())) Hz, \(b.sensors.count) sensors, \(b.inputs.count) inputs, \(b.outputs.count + 1) actuators, \(b.devices.count) I2C devices")
                if b.pump.curve == nil && b.sensors[.flow] != nil {
                    // Valid, but a protection is off: say so where the board is checked.
                    print("\(file): note: no pump curve (pump.curve_head_mmhg_per_krpm2, curve_flow_loss_mmhg_per_lpm2): the flow reading has no speed–flow plausibility check, so a flow cable cut to a rail value would be believed in constant-flow mode")
                }
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(ExitCodes.boardInvalid)
            }
        }
    }

    struct Compile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a board file as Swift source that builds the same configuration (for embedded images: no YAML at run time).")
        @Argument(help: "Board file (YAML).")
        var file: String
        @Option(help: "Write the source here (default: standard output).")
        var out: String?

        func run() async throws {
            let b: BoardConfiguration
            do {
                b = try BoardLoader.load(path: file)
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(ExitCodes.boardInvalid)
            }
            let source = BoardSwiftSource.render(b, file: file)
            guard let out else {
                print(source, terminator: "")
                return
            }
            do {
                try Data(source.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                FileHandle.standardError.write(Data("cannot write \(out): \(error.localizedDescription)\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}
