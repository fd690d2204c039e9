import ArgumentParser
import Foundation
import ECMOBoard
import ECMOProtocol

/// `ecmo-rig protocol check|plan FILE`: a protocol is checked against the board it will
/// run on, because volume per step and maximum rate come from the board's syringe drive.
/// Exit 2 (with one line per error, naming file, line and key) when either file is invalid.
struct ProtocolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protocol", abstract: "Experiment protocol files (Protocols/*.yaml).",
        subcommands: [Check.self, Plan.self])

    struct Options: ParsableArguments {
        @Argument(help: "Protocol file (YAML).")
        var file: String
        @Option(help: "Board file whose syringe drive and pump limits the protocol is planned on (Board/sim.yaml: looked for here, then beside the program).")
        var board: String = DefaultFiles.boardOption
    }

    /// Loads and plans, or prints every error to stderr and exits 2.
    static func resolve(_ o: Options) throws -> ResolvedProtocol {
        var errors: [String] = []
        var board: BoardConfiguration?
        var experiment: ExperimentProtocol?
        let boardPath = DefaultFiles.resolve(o.board)
        do { board = try BoardLoader.load(path: boardPath) } catch {
            errors.append(DefaultFiles.hint(for: boardPath) ?? error.description)
        }
        do { experiment = try ProtocolLoader.load(path: o.file) } catch { errors.append(error.description) }
        if let board, let experiment {
            do { return try ProtocolPlanner.plan(experiment, board: board) } catch { errors.append(error.description) }
        }
        FileHandle.standardError.write(Data((errors.joined(separator: "\n") + "\n").utf8))
        throw ExitCode(ExitCodes.boardInvalid)
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a protocol against a board; exit 2 with one line per error if it is invalid.")
        @OptionGroup var options: Options

        func run() async throws {
            let r = try ProtocolCommand.resolve(options)
            print("\(options.file): \(PlanTable.summary(r))")
            for w in r.warnings { print(w.description) }
        }
    }

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Dry run: print the plan table (per dose volume, steps, rate, start and end, clamp window).")
        @OptionGroup var options: Options

        func run() async throws {
            let r = try ProtocolCommand.resolve(options)
            print(PlanTable.render(r))
        }
    }
}
