@testable import ECMOBoard
import ECMOCompiledBoards
import Foundation
import Testing

/// The boards compiled into Swift (`ecmo-rig board compile`, in `Sources/ECMOCompiledBoards/`)
/// are the boards their YAML files describe, and what the generator writes today.
@Suite struct CompiledBoardTests {
    static let compiled: [(file: String, source: String, board: @Sendable () -> BoardConfiguration)] = [
        ("sim.yaml", "Sim.swift", board_sim), ("sim-fast.yaml", "SimFast.swift", board_sim_fast),
        ("rpi4-bench.yaml", "Rpi4Bench.swift", board_rpi4_bench), ("rpi5-bench.yaml", "Rpi5Bench.swift", board_rpi5_bench),
    ]

    @Test(arguments: compiled.indices)
    func aCompiledBoardEqualsTheBoardItsFileDescribes(_ i: Int) throws {
        let c = Self.compiled[i]
        var loaded = try loadShipped(c.file)
        loaded.sourceFile = "Board/\(c.file)"
        #expect(c.board() == loaded, "\(c.source) differs from Board/\(c.file): run ecmo-rig board compile Board/\(c.file) --out Sources/ECMOCompiledBoards/\(c.source)")
    }

    @Test(arguments: compiled.indices)
    func theCheckedInSourceIsWhatTheGeneratorWritesToday(_ i: Int) throws {
        let c = Self.compiled[i]
        let loaded = try loadShipped(c.file)
        let source = boardDirectory.deletingLastPathComponent().appendingPathComponent("Sources/ECMOCompiledBoards/\(c.source)")
        let text = try String(contentsOf: source, encoding: .utf8)
        #expect(text == BoardSwiftSource.render(loaded, file: "Board/\(c.file)"),
                "regenerate: ecmo-rig board compile Board/\(c.file) --out Sources/ECMOCompiledBoards/\(c.source)")
    }

    @Test func everyShippedBoardFileHasACompiledTwin() {
        #expect(Set(shippedBoardFiles()) == Set(Self.compiled.map(\.file)))
    }

    /// The comparison can fail: one changed limit is seen.
    @Test func aCompiledBoardThatDiffersInOneValueIsNotEqual() throws {
        var loaded = try loadShipped("rpi4-bench.yaml")
        loaded.sourceFile = "Board/rpi4-bench.yaml"
        loaded.coprocessor?.limits.drainageLow = .init(mmHg: -301)
        #expect(board_rpi4_bench() != loaded)
    }

    @Test func strangeTextIsEscapedIntoAValidLiteral() {
        #expect(BoardSwiftSource.string("a \"quoted\" \\ back\nslash\u{1}") == #""a \"quoted\" \\ back\nslash\u{1}""#)
    }
}
