import Foundation

/// A static line plot as inline SVG: axes, ticks, units, legend and vertical event
/// markers. Long series are decimated by min/max per bucket so a one-sample spike
/// still shows; NaN (an invalid sensor) breaks the line instead of bridging the gap.
public struct SVGPlot: Sendable {
    public struct Series: Sendable {
        public var label: String
        public var values: [Double]
        public var color: String
        public var dashed: Bool
        public init(label: String, values: [Double], color: String, dashed: Bool = false) {
            self.label = label
            self.values = values
            self.color = color
            self.dashed = dashed
        }
    }

    /// A vertical line at a time, with a class (for styling and tests) and a tooltip.
    public struct Marker: Sendable {
        public var time: Double
        public var kind: String
        public var color: String
        public var title: String
        public init(time: Double, kind: String, color: String, title: String) {
            self.time = time
            self.kind = kind
            self.color = color
            self.title = title
        }
    }

    public var id: String
    public var title: String
    public var unit: String
    public var times: [Double]
    public var series: [Series]
    public var markers: [Marker]
    /// Points per series after decimation (about; min and max per bucket).
    public var maxPoints = 2000
    public var width = 960.0
    public var height = 240.0

    public init(id: String, title: String, unit: String, times: [Double], series: [Series], markers: [Marker]) {
        self.id = id
        self.title = title
        self.unit = unit
        self.times = times
        self.series = series
        self.markers = markers
    }

    /// Indices to draw: all when short; otherwise per bucket the first index of its min
    /// and of its max (in time order), and a NaN break when the bucket holds one.
    public static func decimate(_ values: [Double], maxPoints: Int) -> [Int?] {
        guard values.count > maxPoints, maxPoints >= 4 else {
            return values.indices.map { values[$0].isFinite ? $0 : nil }
        }
        let buckets = maxPoints / 2
        var out: [Int?] = []
        out.reserveCapacity(maxPoints + 8)
        for b in 0..<buckets {
            let lo = b * values.count / buckets
            let hi = (b + 1) * values.count / buckets
            guard lo < hi else { continue }
            var minI = -1, maxI = -1
            var gap = false
            for i in lo..<hi {
                let v = values[i]
                guard v.isFinite else { gap = true; continue }
                if minI < 0 || v < values[minI] { minI = i }
                if maxI < 0 || v > values[maxI] { maxI = i }
            }
            if gap { out.append(nil) }
            if minI >= 0 {
                if minI == maxI { out.append(minI) } else { out.append(min(minI, maxI)); out.append(max(minI, maxI)) }
            }
        }
        return out
    }

    /// About `count` round tick values covering lo...hi.
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard lo.isFinite, hi.isFinite, hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = ceil(lo / step) * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 && out.count < 50 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    static func label(_ v: Double) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1e12 { return "\(v)" }
        if a >= 100 || v == v.rounded() { return String(Int(v.rounded())) }
        if a >= 1 { return HTML.fixed(v, 1) }
        return HTML.fixed(v, a >= 0.1 ? 2 : 3)
    }

    /// The time axis unit: seconds for short runs, minutes, hours for long ones.
    static func timeScale(_ span: Double) -> (factor: Double, unit: String) {
        span > 3 * 3600 ? (1 / 3600, "h") : span > 300 ? (1 / 60, "min") : (1, "s")
    }

    public func render() -> String {
        let left = 64.0, right = 16.0, top = 28.0, bottom = 40.0
        let pw = width - left - right, ph = height - top - bottom
        let t0 = times.first ?? 0, t1 = max(times.last ?? 1, t0 + 1e-9)
        var lo = Double.infinity, hi = -Double.infinity
        for s in series { for v in s.values where v.isFinite { lo = min(lo, v); hi = max(hi, v) } }
        if !lo.isFinite { lo = 0; hi = 1 }
        if hi - lo < 1e-9 { lo -= 1; hi += 1 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        func x(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * pw }
        func y(_ v: Double) -> Double { top + (hi - v) / (hi - lo) * ph }
        let (tf, tu) = Self.timeScale(t1 - t0)

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" id=\"plot-\(HTML.escape(id))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\n"
        s += "<title>\(HTML.escape(title)) (\(HTML.escape(unit))) against time</title>\n"
        s += "<text x=\"\(Int(left))\" y=\"16\" class=\"ptitle\">\(HTML.escape(title)) (\(HTML.escape(unit)))</text>\n"
        // Grid and ticks.
        for v in Self.ticks(lo, hi) {
            let yy = HTML.fixed(y(v), 1)
            s += "<line x1=\"\(Int(left))\" x2=\"\(Int(left + pw))\" y1=\"\(yy)\" y2=\"\(yy)\" class=\"grid\"/>"
            s += "<text x=\"\(Int(left - 6))\" y=\"\(yy)\" class=\"ytick\" dy=\"0.32em\">\(Self.label(v))</text>\n"
        }
        for t in Self.ticks(t0 * tf, t1 * tf, count: 8) {
            let xx = HTML.fixed(x(t / tf), 1)
            s += "<line x1=\"\(xx)\" x2=\"\(xx)\" y1=\"\(Int(top + ph))\" y2=\"\(Int(top + ph + 5))\" class=\"axis\"/>"
            s += "<text x=\"\(xx)\" y=\"\(Int(top + ph + 17))\" class=\"xtick\">\(Self.label(t))</text>\n"
        }
        s += "<rect x=\"\(Int(left))\" y=\"\(Int(top))\" width=\"\(Int(pw))\" height=\"\(Int(ph))\" class=\"frame\"/>\n"
        s += "<text x=\"\(Int(left + pw / 2))\" y=\"\(Int(height - 4))\" class=\"xlabel\">time (\(tu))</text>\n"
        s += "<text transform=\"translate(14 \(Int(top + ph / 2))) rotate(-90)\" class=\"ylabel\">\(HTML.escape(unit))</text>\n"
        // Event markers, under the data.
        for m in markers where m.time >= t0 && m.time <= t1 {
            let xx = HTML.fixed(x(m.time), 1)
            s += "<line x1=\"\(xx)\" x2=\"\(xx)\" y1=\"\(Int(top))\" y2=\"\(Int(top + ph))\" class=\"marker \(HTML.escape(m.kind))\" stroke=\"\(m.color)\"><title>\(HTML.escape(m.title))</title></line>\n"
        }
        // Series.
        for ser in series {
            var d = ""
            var pen = false
            for idx in Self.decimate(ser.values, maxPoints: maxPoints) {
                guard let i = idx, i < times.count else { pen = false; continue }
                d += (pen ? "L" : "M") + HTML.fixed(x(times[i]), 1) + " " + HTML.fixed(y(ser.values[i]), 1)
                pen = true
            }
            s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(ser.color)\" stroke-width=\"1.2\"\(ser.dashed ? " stroke-dasharray=\"4 3\"" : "")><title>\(HTML.escape(ser.label))</title></path>\n"
        }
        // Legend: the series, then the marker kinds present.
        var lx = left + pw
        var items: [(String, String, Bool)] = series.map { ($0.label, $0.color, $0.dashed) }
        var kinds: [String] = []
        for m in markers where !kinds.contains(m.kind) && m.time >= t0 && m.time <= t1 {
            kinds.append(m.kind)
            items.append((Self.markerLegend[m.kind] ?? m.kind, m.color, true))
        }
        var legend = ""
        for (label, color, dashed) in items.reversed() {
            let w = Double(label.count) * 7 + 34
            lx -= w
            legend += "<line x1=\"\(HTML.fixed(lx, 1))\" x2=\"\(HTML.fixed(lx + 18, 1))\" y1=\"12\" y2=\"12\" stroke=\"\(color)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"3 2\"" : "")/>"
            legend += "<text x=\"\(HTML.fixed(lx + 22, 1))\" y=\"16\" class=\"legend\">\(HTML.escape(label))</text>"
        }
        s += "<g class=\"legendbox\">\(legend)</g>\n</svg>"
        return s
    }

    static let markerLegend = ["infusion": "infusion event", "alarm-high": "alarm high", "alarm-medium": "alarm medium",
                               "alarm-low": "alarm low", "alarm": "alarm"]
}

/// Number formatting for the run-store commands: locale-independent, and safe for any
/// value a damaged record may hold (no integer overflow on 1e300).
public enum RunText {
    public static func fixed(_ x: Double, _ decimals: Int) -> String { HTML.fixed(x, decimals) }
}

/// Small HTML helpers.
enum HTML {
    static func escape(_ s: String) -> String {
        var r = ""
        r.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": r += "&amp;"
            case "<": r += "&lt;"
            case ">": r += "&gt;"
            case "\"": r += "&quot;"
            case "'": r += "&#39;"
            default: r.append(c)
            }
        }
        return r
    }

    /// Locale-independent fixed-point (the report must not depend on the machine).
    static func fixed(_ x: Double, _ decimals: Int) -> String {
        guard x.isFinite else { return "–" }
        var p = 1.0
        for _ in 0..<decimals { p *= 10 }
        let scaled = (abs(x) * p).rounded()
        guard scaled < 9e15 else { return "\(x)" }
        let whole = Int(scaled / p)
        let frac = Int(scaled - Double(whole) * p)
        var s = (x < 0 && scaled != 0 ? "-" : "") + String(whole)
        if decimals > 0 {
            let f = String(frac)
            s += "." + String(repeating: "0", count: max(0, decimals - f.count)) + f
        }
        return s
    }
}
