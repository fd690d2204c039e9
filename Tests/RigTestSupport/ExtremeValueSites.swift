import Foundation

// Shared by the extreme-input tests of the board, protocol and scenario loaders.

/// The values item 16 of issue 15 pushes through every input path: non-finite numbers,
/// the extremes of Double, a subnormal, the Int64/UInt64 edges and both zeros.
public let extremeValues = ["nan", ".nan", "inf", ".inf", "-.inf", "1e308", "-1e308", "1e-320", "-1e-320",
                     "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                     "18446744073709551616", "0", "-0"]

/// Values no numeric key of a data file may accept: not finite, or beyond any physical
/// quantity or count a rig uses.
public let valuesNeverAccepted: Set<String> = ["nan", ".nan", "inf", ".inf", "-.inf"]

/// One number in a YAML text: `key: 12`, `key: 30s` (a duration), or an item of `key: [a, b]`.
public struct NumericSite: CustomStringConvertible {
    public var line: Int          // 1-based
    public var key: String
    public var range: Range<String.Index>
    public var unit: String       // "" for a plain number; "s", "ms", "m", "h" for a duration
    public var description: String { "line \(line) \(key)\(unit.isEmpty ? "" : " (duration)")" }
}

/// Every number the text gives a key (comments stripped), in order.
public func numericSites(in text: String) -> [NumericSite] {
    let number = #"-?(?:0x[0-9A-Fa-f]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"#
    let scalar = try! Regex(#"([A-Za-z_][A-Za-z0-9_]*):[ \t]*("# + number + #")(ms|us|s|m|h)?(?=[ \t]*(?:[,}\]]|#|$))"#)
    let list = try! Regex(#"([A-Za-z_][A-Za-z0-9_]*):[ \t]*\[([^\]\n]*)\]"#)
    let item = try! Regex(number + #"(?=[ \t]*(?:[,\]]|$))"#)
    var sites: [NumericSite] = []
    var lineNumber = 0
    var lineStart = text.startIndex
    while lineStart < text.endIndex {
        lineNumber += 1
        let lineEnd = text[lineStart...].firstIndex(of: "\n") ?? text.endIndex
        var body = text[lineStart..<lineEnd]
        if let hash = body.firstIndex(where: { $0 == "#" }), hash == body.startIndex || body[body.index(before: hash)] == " " {
            body = body[..<hash]
        }
        for m in body.matches(of: scalar) {
            guard let key = m.output[1].substring, let value = m.output[2].range else { continue }
            let unit = m.output[3].substring.map(String.init) ?? ""
            sites.append(NumericSite(line: lineNumber, key: String(key), range: value, unit: unit))
        }
        for m in body.matches(of: list) {
            guard let key = m.output[1].substring, let items = m.output[2].substring else { continue }
            for i in items.matches(of: item) {
                sites.append(NumericSite(line: lineNumber, key: String(key), range: i.range, unit: ""))
            }
        }
        lineStart = lineEnd < text.endIndex ? text.index(after: lineEnd) : text.endIndex
    }
    return sites
}

/// The text with the number at `site` replaced by `value` (keeping a duration's unit when `keepUnit`).
public func substituting(_ value: String, at site: NumericSite, in text: String, keepUnit: Bool = true) -> String {
    var t = text
    let end = keepUnit || site.unit.isEmpty ? site.range.upperBound : text.index(site.range.upperBound, offsetBy: site.unit.count)
    t.replaceSubrange(site.range.lowerBound..<end, with: value)
    return t
}
