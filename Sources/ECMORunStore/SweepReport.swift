import Foundation

/// One self-contained HTML file per sweep (inline CSS and SVG, no script, no network): a
/// heat map of one metric over two parameters (mean over the other parameters and the
/// seeds, with how many experiments reached a value), the metric's distribution over
/// seeds per combination (a strip plot with the median), and the table of experiments.
public enum SweepReport {
    public struct Choice: Sendable, Equatable {
        public var x: String
        public var y: String?
        public var metric: String
    }

    /// The axes and metric to draw: as asked, else the first two parameters that are not
    /// seed replicates and the first metric. An unknown name is an error listing the known ones.
    public static func choose(_ r: SweepRecord, x: String?, y: String?, metric: String?) throws(RunStoreError) -> Choice {
        let varied = r.parameters.filter { $0 != "seed" }
        func check(_ n: String, _ known: [String], _ what: String) throws(RunStoreError) {
            guard known.contains(n) else {
                throw RunStoreError(.unknownRun, path: r.directory, "no \(what) '\(n)' in sweep \(r.name) (known: \(known.joined(separator: ", ")))")
            }
        }
        if let x { try check(x, r.parameters, "parameter") }
        if let y { try check(y, r.parameters, "parameter") }
        if let metric { try check(metric, r.metrics, "metric") }
        guard let m = metric ?? r.metrics.first else { throw RunStoreError(.unknownRun, path: r.directory, "sweep \(r.name) has no metric") }
        let cx = x ?? varied.first ?? r.parameters.first ?? "seed"
        let cy = y ?? varied.first { $0 != cx }
        return Choice(x: cx, y: cy, metric: m)
    }

    public static func html(record r: SweepRecord, rows: [SweepRow], choice c: Choice) -> String {
        let xi = r.parameters.firstIndex(of: c.x), yi = c.y.flatMap { r.parameters.firstIndex(of: $0) }
        let mi = r.metrics.firstIndex(of: c.metric) ?? 0
        func param(_ row: SweepRow, _ i: Int?) -> String { i.map { $0 < row.parameters.count ? row.parameters[$0] : "" } ?? "" }
        let xs = ordered(rows.map { param($0, xi) }), ys = yi == nil ? [""] : ordered(rows.map { param($0, yi) })

        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Sweep \(HTML.escape(r.name))</title>
        <style>
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1180px}
        h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
        table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
        th{background:#f4f4f4} td.l,th.l{text-align:left} .muted{color:#777}
        svg text{font:11px system-ui,sans-serif} .ptitle{font-weight:600;font-size:12px}
        .ytick{text-anchor:end} .xtick{text-anchor:middle} .xlabel{text-anchor:middle} .ylabel{text-anchor:middle}
        .grid{stroke:#eee} .axis{stroke:#999} .frame{fill:none;stroke:#999} .cell text{text-anchor:middle}
        </style></head><body>
        <h1>Sweep \(HTML.escape(r.name))</h1>

        """
        let present = Set(rows.map(\.experiment))
        let missing = r.experiments - present.count
        let outcomes = Dictionary(grouping: rows, by: \.outcome).map { "\($0.key) \($0.value.count)" }.sorted().joined(separator: ", ")
        let wall = rows.reduce(0) { $0 + $1.wallS }
        h += "<table class=\"summary\">"
        for (k, v) in [("spec file", r.specFile), ("directory", r.directory), ("sampling", r.sampling),
                       ("experiments", "\(present.count) of \(r.experiments)\(missing > 0 ? " — \(missing) missing" : "")"),
                       ("outcomes", outcomes), ("parameters", r.parameters.joined(separator: ", ")), ("metrics", r.metrics.joined(separator: ", ")),
                       ("experiment wall time", "\(HTML.fixed(wall, 1)) s in all, \(HTML.fixed(wall / Double(max(rows.count, 1)), 2)) s each on average"),
                       ("merged", r.mergedAt)] {
            h += "<tr><th class=\"l\">\(HTML.escape(k))</th><td class=\"l\">\(HTML.escape(v))</td></tr>"
        }
        h += "</table>\n"

        // Heat map.
        h += "<h2>\(HTML.escape(c.metric)) over \(HTML.escape(c.x))\(c.y.map { " × " + HTML.escape($0) } ?? "")</h2>\n"
        h += "<p class=\"muted\">Each cell: the mean over the experiments with those two values (other parameters and seeds pooled); below it how many of them reached a value. A grey cell: none did (not reached is left out of the mean, never counted as 0).</p>\n"
        var cells: [[(mean: Double?, reached: Int, n: Int)]] = []
        var lo = Double.infinity, hi = -Double.infinity
        for yv in ys {
            var line: [(Double?, Int, Int)] = []
            for xv in xs {
                let sel = rows.filter { param($0, xi) == xv && (yi == nil || param($0, yi) == yv) }
                let vals = sel.compactMap { mi < $0.metrics.count ? $0.metrics[mi] : nil }.filter(\.isFinite)
                let mean = vals.isEmpty ? nil : vals.reduce(0, +) / Double(vals.count)
                if let mean { lo = min(lo, mean); hi = max(hi, mean) }
                line.append((mean, vals.count, sel.count))
            }
            cells.append(line)
        }
        h += heatMap(cells, xs: xs, ys: ys, xName: c.x, yName: c.y, metric: c.metric, lo: lo, hi: hi) + "\n"

        // Distribution over seeds, per combination of the other parameters.
        let others = r.parameters.indices.filter { r.parameters[$0] != "seed" }
        var groups: [String: [Double]] = [:], notReached: [String: Int] = [:], order: [String] = []
        for row in rows {
            let key = others.map { "\(r.parameters[$0])=\(param(row, $0))" }.joined(separator: ", ")
            if groups[key] == nil { order.append(key); groups[key] = [] }
            if mi < row.metrics.count, let v = row.metrics[mi], v.isFinite { groups[key]?.append(v) } else { notReached[key, default: 0] += 1 }
        }
        let shown = Array(order.prefix(60))
        h += "<h2>\(HTML.escape(c.metric)): distribution over seeds</h2>\n"
        h += "<p class=\"muted\">One column per combination of \(HTML.escape(others.map { r.parameters[$0] }.joined(separator: ", "))) (\(shown.count) of \(order.count) shown); a dot per seed, the bar is the median; n/a counts experiments that did not reach a value.</p>\n"
        h += strip(shown.map { ($0, groups[$0] ?? [], notReached[$0] ?? 0) }, metric: c.metric) + "\n"

        // Table.
        h += "<h2>Experiments</h2>\n<table class=\"experiments\"><tr><th>#</th><th>seed</th>"
        for p in r.parameters where p != "seed" { h += "<th>\(HTML.escape(p))</th>" }
        for m in r.metrics { h += "<th>\(HTML.escape(m))</th>" }
        h += "<th>outcome</th><th>expectations</th><th>wall s</th></tr>\n"
        for row in rows.prefix(5000) {
            h += "<tr><td>\(row.experiment)</td><td>\(row.seed)</td>"
            for (i, p) in r.parameters.enumerated() where p != "seed" { h += "<td>\(HTML.escape(param(row, i)))</td>" }
            for v in row.metrics { h += "<td>\(v.map(number) ?? "<span class=\"muted\">—</span>")</td>" }
            h += "<td class=\"l\">\(HTML.escape(row.outcome))\(row.error.map { " <span class=\"muted\">\(HTML.escape($0))</span>" } ?? "")</td>"
            h += "<td>\(row.expectationsPassed)/\(row.expectationsTotal)</td><td>\(HTML.fixed(row.wallS, 2))</td></tr>\n"
        }
        h += "</table>\n"
        if rows.count > 5000 { h += "<p class=\"muted\">First 5000 of \(rows.count) rows; results.csv has them all.</p>\n" }
        return h + "</body></html>\n"
    }

    static func number(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e9 || (a < 0.001 && a > 0) { return "\(v)" }
        if a >= 1000 || a == 0 { return HTML.fixed(v, 0) }
        if a >= 10 { return HTML.fixed(v, 2) }
        return HTML.fixed(v, 3)
    }

    /// An axis label: a long number in three significant digits (the table has it in full).
    static func short(_ s: String) -> String {
        guard s.count > 9, let v = Double(s) else { return s }
        return String(format: "%.3g", v)
    }

    /// Distinct values, numerically sorted when they are all numbers, else in first-seen order.
    static func ordered(_ values: [String]) -> [String] {
        var seen = Set<String>(), out: [String] = []
        for v in values where seen.insert(v).inserted { out.append(v) }
        if out.allSatisfy({ Double($0) != nil }) { out.sort { Double($0)! < Double($1)! } }
        return out
    }

    /// A perceptually even colour ramp (viridis, five stops).
    static func color(_ f: Double) -> String {
        let stops: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
        let t = min(max(f.isFinite ? f : 0, 0), 1) * Double(stops.count - 1)
        let i = min(Int(t), stops.count - 2), u = t - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        func c(_ x: Double, _ y: Double) -> String {
            let v = Int((x + (y - x) * u).rounded())
            let s = String(v, radix: 16)
            return s.count == 1 ? "0" + s : s
        }
        return "#" + c(a.0, b.0) + c(a.1, b.1) + c(a.2, b.2)
    }

    static func heatMap(_ cells: [[(mean: Double?, reached: Int, n: Int)]], xs: [String], ys: [String], xName: String, yName: String?,
                        metric: String, lo: Double, hi: Double) -> String {
        let left = 110.0, top = 30.0, bottom = 50.0, legendW = 90.0
        let cw = max(40, min(120, (1000 - left - legendW) / Double(max(xs.count, 1))))
        let ch = max(28, min(60, 420 / Double(max(ys.count, 1))))
        let w = left + cw * Double(xs.count) + legendW, hgt = top + ch * Double(ys.count) + bottom
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" width=\"\(Int(w))\" role=\"img\" aria-label=\"heat map of \(HTML.escape(metric))\">\n"
        s += "<title>\(HTML.escape(metric)) over \(HTML.escape(xName))\(yName.map { " and " + HTML.escape($0) } ?? "")</title>\n"
        for (j, _) in ys.enumerated() {
            let row = ys.count - 1 - j    // the smallest y at the bottom
            for (i, xv) in xs.enumerated() {
                let cell = cells[j][i]
                let x = left + cw * Double(i), y = top + ch * Double(row)
                let fill = cell.mean.map { color(hi > lo ? ($0 - lo) / (hi - lo) : 0.5) } ?? "#d9d9d9"
                let dark = cell.mean.map { hi > lo ? ($0 - lo) / (hi - lo) < 0.55 : true } ?? false
                let tip = "\(xName) = \(xv)\(yName.map { ", \($0) = \(ys[j])" } ?? ""): \(cell.mean.map(number) ?? "not reached") (\(cell.reached)/\(cell.n) reached)"
                s += "<g class=\"cell\"><rect x=\"\(HTML.fixed(x, 1))\" y=\"\(HTML.fixed(y, 1))\" width=\"\(HTML.fixed(cw - 1, 1))\" height=\"\(HTML.fixed(ch - 1, 1))\" fill=\"\(fill)\"><title>\(HTML.escape(tip))</title></rect>"
                let tc = dark ? "#fff" : "#111"
                s += "<text x=\"\(HTML.fixed(x + cw / 2, 1))\" y=\"\(HTML.fixed(y + ch / 2 - 2, 1))\" fill=\"\(tc)\">\(cell.mean.map(number) ?? "—")</text>"
                s += "<text x=\"\(HTML.fixed(x + cw / 2, 1))\" y=\"\(HTML.fixed(y + ch / 2 + 11, 1))\" fill=\"\(tc)\" font-size=\"9\">\(cell.reached)/\(cell.n)</text></g>\n"
            }
            s += "<text x=\"\(Int(left - 6))\" y=\"\(HTML.fixed(top + ch * Double(row) + ch / 2, 1))\" class=\"ytick\" dy=\"0.32em\">\(HTML.escape(short(ys[j])))</text>\n"
        }
        for (i, xv) in xs.enumerated() {
            s += "<text x=\"\(HTML.fixed(left + cw * Double(i) + cw / 2, 1))\" y=\"\(HTML.fixed(top + ch * Double(ys.count) + 14, 1))\" class=\"xtick\">\(HTML.escape(short(xv)))</text>\n"
        }
        s += "<text x=\"\(HTML.fixed(left + cw * Double(xs.count) / 2, 1))\" y=\"\(Int(hgt - 8))\" class=\"xlabel\">\(HTML.escape(xName))</text>\n"
        if let yName { s += "<text transform=\"translate(14 \(HTML.fixed(top + ch * Double(ys.count) / 2, 1))) rotate(-90)\" class=\"ylabel\">\(HTML.escape(yName))</text>\n" }
        s += "<text x=\"\(Int(left))\" y=\"18\" class=\"ptitle\">\(HTML.escape(metric)) (mean)</text>\n"
        // Colour legend.
        let lx = left + cw * Double(xs.count) + 20, lh = ch * Double(ys.count)
        for k in 0..<20 {
            let f = Double(19 - k) / 19
            s += "<rect x=\"\(HTML.fixed(lx, 1))\" y=\"\(HTML.fixed(top + lh * Double(k) / 20, 1))\" width=\"14\" height=\"\(HTML.fixed(lh / 20 + 0.5, 1))\" fill=\"\(color(f))\"/>"
        }
        if lo.isFinite {
            s += "<text x=\"\(HTML.fixed(lx + 18, 1))\" y=\"\(HTML.fixed(top + 8, 1))\">\(number(hi))</text>"
            s += "<text x=\"\(HTML.fixed(lx + 18, 1))\" y=\"\(HTML.fixed(top + lh, 1))\">\(number(lo))</text>"
        }
        return s + "\n</svg>"
    }

    static func strip(_ groups: [(String, [Double], Int)], metric: String) -> String {
        let left = 64.0, top = 24.0, ph = 240.0, bottom = 150.0
        let cw = max(14, min(80, 1000 / Double(max(groups.count, 1))))
        let w = left + cw * Double(groups.count) + 20, hgt = top + ph + bottom
        let all = groups.flatMap(\.1)
        var lo = all.min() ?? 0, hi = all.max() ?? 1
        if hi - lo < 1e-9 { lo -= 1; hi += 1 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        func y(_ v: Double) -> Double { top + (hi - v) / (hi - lo) * ph }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"strip\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" width=\"\(Int(w))\" role=\"img\" aria-label=\"distribution of \(HTML.escape(metric)) over seeds\">\n"
        for v in SVGPlot.ticks(lo, hi) {
            let yy = HTML.fixed(y(v), 1)
            s += "<line x1=\"\(Int(left))\" x2=\"\(Int(w - 20))\" y1=\"\(yy)\" y2=\"\(yy)\" class=\"grid\"/><text x=\"\(Int(left - 6))\" y=\"\(yy)\" class=\"ytick\" dy=\"0.32em\">\(SVGPlot.label(v))</text>\n"
        }
        s += "<rect x=\"\(Int(left))\" y=\"\(Int(top))\" width=\"\(Int(w - 20 - left))\" height=\"\(Int(ph))\" class=\"frame\"/>\n"
        s += "<text x=\"\(Int(left))\" y=\"16\" class=\"ptitle\">\(HTML.escape(metric))</text>\n"
        for (i, g) in groups.enumerated() {
            let cx = left + cw * Double(i) + cw / 2
            for (k, v) in g.1.enumerated() {
                // A deterministic spread so equal values do not hide each other.
                let jitter = (Double((k * 7919) % 11) / 10 - 0.5) * cw * 0.5
                s += "<circle cx=\"\(HTML.fixed(cx + jitter, 1))\" cy=\"\(HTML.fixed(y(v), 1))\" r=\"2.6\" fill=\"#1f5fa8\" fill-opacity=\"0.7\"><title>\(HTML.escape(g.0)): \(number(v))</title></circle>"
            }
            if !g.1.isEmpty {
                let sorted = g.1.sorted()
                let med = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
                s += "<line x1=\"\(HTML.fixed(cx - cw * 0.35, 1))\" x2=\"\(HTML.fixed(cx + cw * 0.35, 1))\" y1=\"\(HTML.fixed(y(med), 1))\" y2=\"\(HTML.fixed(y(med), 1))\" stroke=\"#c0392b\" stroke-width=\"2\"><title>median \(number(med))</title></line>"
            }
            if g.2 > 0 { s += "<text x=\"\(HTML.fixed(cx, 1))\" y=\"\(Int(top + ph - 4))\" class=\"xtick\" fill=\"#777\">n/a \(g.2)</text>" }
            s += "<text transform=\"translate(\(HTML.fixed(cx + 3, 1)) \(Int(top + ph + 8))) rotate(60)\" font-size=\"10\">\(HTML.escape(String(g.0.prefix(40))))</text>\n"
        }
        return s + "</svg>"
    }
}
