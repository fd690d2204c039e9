import Foundation
import Yams
import ECMODataFile

/// A sweep: many simulated experiments made from one base scenario by varying keys of its
/// file (and of the protocol it names), with the outcome metrics to extract from each.
/// Data, read strictly like board, scenario and protocol files (format: docs/sweeps.md).
public struct SweepSpec: Sendable {
    /// The sweep file as named to the loader (messages name it).
    public var file: String
    public var name: String
    public var description: String?
    /// The base scenario file, as written and as found.
    public var base: Located<String>
    public var basePath: String
    /// Overrides of the scenario header, applied to every experiment before the parameters.
    public var board: Located<Node>?
    public var duration: Located<Node>?
    public var protocolFile: Located<Node>?
    /// `keep` (default): the base scenario's expectations are checked in every experiment
    /// (verdict counts in the results). `none`: they are dropped (a shortened duration would
    /// put their windows out of range) and only "no fault" is checked.
    public var keepExpectations: Bool
    public var sampling: Sampling
    public var parameters: [Parameter]
    public var metrics: [MetricSpec]

    public enum Sampling: Sendable, Equatable {
        /// Every combination of every parameter's values.
        case grid
        /// Latin hypercube: `samples` points; each parameter's range cut into that many
        /// equal strata (in its scale), each stratum sampled exactly once.
        case lhs(samples: Int, seed: UInt64)
        /// Parameters' value lists taken side by side: experiment i has every list's item i.
        case list
    }
}

extension Located: @unchecked Sendable where Value: Sendable {}
extension Node: @retroactive @unchecked Sendable {}

/// One varied key.
public struct Parameter: Sendable {
    /// The key as written (`circuit.act_s`, `events[0].count`, `protocol.phases[2].infusion.dose_cells_per_kg`).
    public var key: String
    /// Where the key and its file are.
    public var target: KeyPath
    public var values: Values
    /// Where the parameter is written in the sweep file (`parameters.2.key`), for messages.
    public var position: Position
    public var line: Int { position.line }
    public var column: Int { position.column }
    public var keyPath: String
    /// Replicates over seeds: crossed with every other combination, whatever the sampling.
    public var isSeedReplicate: Bool

    public enum Values: Sendable {
        /// Explicit YAML values (scalars or whole mappings), in order.
        case list([Node])
        /// `from`...`to`: `steps` points for a grid (ends included); continuous for LHS.
        case range(from: Double, to: Double, steps: Int?, log: Bool, integer: Bool)
    }

    /// The values for a grid (or a list): explicit, or the range's points.
    public var gridValues: [Node] {
        switch values {
        case .list(let nodes): return nodes
        case .range(let from, let to, let steps, let log, let integer):
            let n = max(steps ?? 1, 1)
            return (0..<n).map { i in
                let f = n == 1 ? 0 : Double(i) / Double(n - 1)
                return Parameter.scalar(Parameter.point(from: from, to: to, fraction: f, log: log), integer: integer)
            }
        }
    }

    /// The point `fraction` (0...1) of the way from `from` to `to`, linearly or in log space.
    public static func point(from: Double, to: Double, fraction: Double, log: Bool) -> Double {
        if fraction <= 0 { return from }
        if fraction >= 1 { return to }
        if log {
            return Foundation.exp(Foundation.log(from) + (Foundation.log(to) - Foundation.log(from)) * fraction)
        }
        return from + (to - from) * fraction
    }

    /// A number as a plain YAML scalar the strict reader accepts (`300`, `21544346.9`).
    public static func scalar(_ v: Double, integer: Bool = false) -> Node {
        let text: String
        if integer || (v.rounded() == v && abs(v) < 1e15) {
            text = String(Int(v.rounded()))
        } else {
            // Six significant digits: short in tables and exact enough for a plant or
            // protocol setting; `%g` forms (2.64575e+07) read back through the strict reader.
            text = String(format: "%.6g", v)
        }
        return .scalar(Node.Scalar(text, .implicit, .plain))
    }
}

/// One outcome extracted from every experiment.
public struct MetricSpec: Sendable {
    public var name: String
    public var kind: Kind
    public var position: Position
    public var line: Int { position.line }
    public var column: Int { position.column }
    public var keyPath: String

    public enum Kind: Sendable {
        /// An expectation the scenario evaluator computes (its measured value is the metric):
        /// a metric statistic, the first raise of an alarm, the first event, a count.
        case expectation(Node)
        /// A figure of the scenario result (`fouling_warning_at_s`, `cells_delivered_ml`, …).
        case figure(String)
    }
}

