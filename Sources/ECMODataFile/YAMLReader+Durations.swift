import Yams

extension YAMLReader {
    /// A duration written with its unit: `250ms`, `90s`, `10m`, `4h`, or combined `1h30m`.
    /// A bare number is refused: in a data file a duration without a unit is a guess.
    public mutating func duration(_ m: MappingView, _ key: String, in range: ClosedRange<Duration>? = nil) -> Located<Duration>? {
        guard let entry = m.entry(key) else { return nil }
        return duration(entry, in: range)
    }

    public mutating func duration(_ entry: Entry, in range: ClosedRange<Duration>? = nil) -> Located<Duration>? {
        guard case let .scalar(scalar) = entry.value, Self.isPlain(scalar) else {
            error(entry.valuePosition, entry.path, "expected a duration such as 250ms, 90s, 10m or 1h30m, got \(Self.describe(entry.value))")
            return nil
        }
        guard let d = Self.parseDuration(scalar.string) else {
            error(entry.valuePosition, entry.path, "expected a duration with a unit (ms, s, m, h), such as 250ms, 90s, 10m or 1h30m; got '\(scalar.string)'")
            return nil
        }
        if let range, !range.contains(d) {
            error(entry.valuePosition, entry.path, "\(scalar.string) is out of range (allowed \(Self.formatDuration(range.lowerBound))...\(Self.formatDuration(range.upperBound)))")
            return nil
        }
        return Located(value: d, position: entry.valuePosition, path: entry.path)
    }

    /// `1h30m`, `90s`, `2.5s`, `250ms`, `0s`: a sequence of number+unit parts, largest first.
    public static func parseDuration(_ text: String) -> Duration? {
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        var lastRank = Int.max
        while !rest.isEmpty {
            let numberEnd = rest.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? rest.endIndex
            let number = rest[..<numberEnd]
            guard !number.isEmpty, let v = Double(number), v.isFinite else { return nil }
            rest = rest[numberEnd...]
            let unitEnd = rest.firstIndex { !($0.isASCII && $0.isLetter) } ?? rest.endIndex
            let unit = rest[..<unitEnd]
            rest = rest[unitEnd...]
            let (factor, rank): (Double, Int)
            switch unit {
            case "h": (factor, rank) = (3600, 4)
            case "m", "min": (factor, rank) = (60, 3)
            case "s": (factor, rank) = (1, 2)
            case "ms": (factor, rank) = (0.001, 1)
            case "us", "µs": (factor, rank) = (0.000_001, 0)
            default: return nil
            }
            guard rank < lastRank else { return nil }
            lastRank = rank
            total += v * factor
        }
        guard total <= 30 * 24 * 3600 else { return nil }
        return .nanoseconds(Int64((total * 1e9).rounded()))
    }

    public static func formatDuration(_ d: Duration) -> String {
        let c = d.components
        let ns = c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
        if ns % 3_600_000_000_000 == 0 { return "\(ns / 3_600_000_000_000)h" }
        if ns % 60_000_000_000 == 0 { return "\(ns / 60_000_000_000)m" }
        if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
        if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
        return "\(ns / 1000)us"
    }

    /// The list under `key` (reported when it is not a list).
    public mutating func sequence(_ m: MappingView, _ key: String) -> [(node: Node, position: Position, path: [String])]? {
        guard let entry = m.entry(key) else { return nil }
        guard case let .sequence(seq) = entry.value else {
            error(entry.valuePosition, entry.path, "expected a list, got \(Self.describe(entry.value))")
            return nil
        }
        return seq.enumerated().map { (i, node) in (node, node.position ?? entry.valuePosition, entry.path + ["\(i)"]) }
    }

    /// A list of numbers `[a, b]` with exactly `count` items.
    public mutating func numbers(_ m: MappingView, _ key: String, count: Int) -> Located<[Double]>? {
        guard let entry = m.entry(key) else { return nil }
        guard case let .sequence(seq) = entry.value, seq.count == count else {
            error(entry.valuePosition, entry.path, "expected a list of \(count) numbers, got \(Self.describe(entry.value))")
            return nil
        }
        var out: [Double] = []
        for node in seq {
            guard case let .scalar(s) = node, Self.isPlain(s), case .success(let v) = Self.parseNumber(s.string) else {
                error(node.position ?? entry.valuePosition, entry.path, "expected a number, got \(Self.describe(node))")
                return nil
            }
            out.append(v)
        }
        return Located(value: out, position: entry.valuePosition, path: entry.path)
    }
}
