/// Physical quantities with their unit in the type, so that a pressure can never be
/// passed where a flow is expected and every conversion is written once, here.
///
/// Each quantity stores one canonical unit (the one the bench uses: mmHg, L/min, rpm,
/// mL, mL/h) as a `Double`. They are plain values: no allocation, `Sendable`, `BitwiseCopyable`.
public protocol PhysicalQuantity: Comparable, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// Value in the canonical unit of the quantity.
    var canonicalValue: Double { get }
    init(canonicalValue: Double)
    static var canonicalUnitSymbol: String { get }
}

extension PhysicalQuantity {
    public static func < (a: Self, b: Self) -> Bool { a.canonicalValue < b.canonicalValue }
    public static func + (a: Self, b: Self) -> Self { Self(canonicalValue: a.canonicalValue + b.canonicalValue) }
    public static func - (a: Self, b: Self) -> Self { Self(canonicalValue: a.canonicalValue - b.canonicalValue) }
    public static func * (a: Self, k: Double) -> Self { Self(canonicalValue: a.canonicalValue * k) }
    public static func * (k: Double, a: Self) -> Self { Self(canonicalValue: a.canonicalValue * k) }
    public static func / (a: Self, k: Double) -> Self { Self(canonicalValue: a.canonicalValue / k) }
    /// Ratio of two quantities of the same kind (dimensionless).
    public static func / (a: Self, b: Self) -> Double { a.canonicalValue / b.canonicalValue }
    public static prefix func - (a: Self) -> Self { Self(canonicalValue: -a.canonicalValue) }
    public static var zero: Self { Self(canonicalValue: 0) }
    public var magnitude: Self { Self(canonicalValue: abs(canonicalValue)) }
    public var isFinite: Bool { canonicalValue.isFinite }
    /// The value limited to `range`.
    public func clamped(to range: ClosedRange<Self>) -> Self {
        min(max(self, range.lowerBound), range.upperBound)
    }
    public var description: String { "\(canonicalValue) \(Self.canonicalUnitSymbol)" }
}

/// Gauge pressure relative to atmosphere. Canonical unit: mmHg (what perfusionists read).
public struct Pressure: PhysicalQuantity {
    public var mmHg: Double
    public init(mmHg: Double) { self.mmHg = mmHg }
    public init(canonicalValue: Double) { mmHg = canonicalValue }
    public var canonicalValue: Double { mmHg }
    public static let canonicalUnitSymbol = "mmHg"

    /// 1 mmHg = 133.322 387 415 Pa (conventional millimetre of mercury).
    public static let pascalsPerMmHg = 133.322_387_415
    /// 1 psi = 6894.757 293 168 Pa.
    public static let pascalsPerPSI = 6_894.757_293_168
    /// 1 cmH₂O = 98.0665 Pa.
    public static let pascalsPerCmH2O = 98.0665

    public static func mmHg(_ v: Double) -> Pressure { Pressure(mmHg: v) }
    public init(pascals: Double) { mmHg = pascals / Self.pascalsPerMmHg }
    public init(kilopascals: Double) { self.init(pascals: kilopascals * 1000) }
    public init(psi: Double) { self.init(pascals: psi * Self.pascalsPerPSI) }
    public init(cmH2O: Double) { self.init(pascals: cmH2O * Self.pascalsPerCmH2O) }
    public init(millibar: Double) { self.init(pascals: millibar * 100) }
    public var pascals: Double { mmHg * Self.pascalsPerMmHg }
    public var kilopascals: Double { pascals / 1000 }
    public var psi: Double { pascals / Self.pascalsPerPSI }
    public var cmH2O: Double { pascals / Self.pascalsPerCmH2O }
}

/// Volumetric blood flow. Canonical unit: L/min.
public struct Flow: PhysicalQuantity {
    public var litersPerMinute: Double
    public init(litersPerMinute: Double) { self.litersPerMinute = litersPerMinute }
    public init(canonicalValue: Double) { litersPerMinute = canonicalValue }
    public var canonicalValue: Double { litersPerMinute }
    public static let canonicalUnitSymbol = "L/min"
    public static func lpm(_ v: Double) -> Flow { Flow(litersPerMinute: v) }
    public init(millilitersPerMinute: Double) { litersPerMinute = millilitersPerMinute / 1000 }
    public var millilitersPerMinute: Double { litersPerMinute * 1000 }
    public var millilitersPerSecond: Double { litersPerMinute * 1000 / 60 }
}

/// Rotational speed of the centrifugal pump. Canonical unit: rpm.
public struct PumpSpeed: PhysicalQuantity {
    public var rpm: Double
    public init(rpm: Double) { self.rpm = rpm }
    public init(canonicalValue: Double) { rpm = canonicalValue }
    public var canonicalValue: Double { rpm }
    public static let canonicalUnitSymbol = "rpm"
    public static func rpm(_ v: Double) -> PumpSpeed { PumpSpeed(rpm: v) }
    public init(hertz: Double) { rpm = hertz * 60 }
    public init(radiansPerSecond: Double) { rpm = radiansPerSecond * 60 / (2 * Double.pi) }
    public var hertz: Double { rpm / 60 }
    public var radiansPerSecond: Double { rpm * 2 * Double.pi / 60 }
}

/// A volume of fluid (infusate, blood). Canonical unit: mL.
public struct Volume: PhysicalQuantity {
    public var milliliters: Double
    public init(milliliters: Double) { self.milliliters = milliliters }
    public init(canonicalValue: Double) { milliliters = canonicalValue }
    public var canonicalValue: Double { milliliters }
    public static let canonicalUnitSymbol = "mL"
    public static func mL(_ v: Double) -> Volume { Volume(milliliters: v) }
    public init(microliters: Double) { milliliters = microliters / 1000 }
    public init(liters: Double) { milliliters = liters * 1000 }
    public var microliters: Double { milliliters * 1000 }
    public var liters: Double { milliliters / 1000 }
}

/// An infusion rate (syringe pumps are set in mL/h). Canonical unit: mL/h.
public struct InfusionRate: PhysicalQuantity {
    public var millilitersPerHour: Double
    public init(millilitersPerHour: Double) { self.millilitersPerHour = millilitersPerHour }
    public init(canonicalValue: Double) { millilitersPerHour = canonicalValue }
    public var canonicalValue: Double { millilitersPerHour }
    public static let canonicalUnitSymbol = "mL/h"
    public static func mLPerHour(_ v: Double) -> InfusionRate { InfusionRate(millilitersPerHour: v) }
    public init(millilitersPerMinute: Double) { millilitersPerHour = millilitersPerMinute * 60 }
    public init(microlitersPerMinute: Double) { millilitersPerHour = microlitersPerMinute * 60 / 1000 }
    public var millilitersPerMinute: Double { millilitersPerHour / 60 }
    public var millilitersPerSecond: Double { millilitersPerHour / 3600 }
}

/// Hydraulic resistance (pressure drop per unit flow). Canonical unit: mmHg·min/L.
/// The oxygenator fouling indicator: R = ΔP_oxy / Q is independent of the flow set-point.
public struct HydraulicResistance: PhysicalQuantity {
    public var mmHgMinutePerLiter: Double
    public init(mmHgMinutePerLiter: Double) { self.mmHgMinutePerLiter = mmHgMinutePerLiter }
    public init(canonicalValue: Double) { mmHgMinutePerLiter = canonicalValue }
    public var canonicalValue: Double { mmHgMinutePerLiter }
    public static let canonicalUnitSymbol = "mmHg·min/L"
}

/// Temperature. Canonical unit: °C.
public struct Temperature: PhysicalQuantity {
    public var celsius: Double
    public init(celsius: Double) { self.celsius = celsius }
    public init(canonicalValue: Double) { celsius = canonicalValue }
    public var canonicalValue: Double { celsius }
    public static let canonicalUnitSymbol = "°C"
    public var kelvin: Double { celsius + 273.15 }
}

/// An electrical potential (analog front ends). Canonical unit: V.
public struct Voltage: PhysicalQuantity {
    public var volts: Double
    public init(volts: Double) { self.volts = volts }
    public init(canonicalValue: Double) { volts = canonicalValue }
    public var canonicalValue: Double { volts }
    public static let canonicalUnitSymbol = "V"
    public var millivolts: Double { volts * 1000 }
}

// MARK: - Cross-unit arithmetic that the bench actually does

extension Flow {
    /// Volume moved at this flow over `duration`.
    public func volume(over duration: Duration) -> Volume {
        Volume(liters: litersPerMinute * duration.seconds / 60)
    }
}

extension InfusionRate {
    public func volume(over duration: Duration) -> Volume {
        Volume(milliliters: millilitersPerHour * duration.seconds / 3600)
    }
}

extension Pressure {
    /// R = ΔP / Q; `nil` when the flow is too small for the ratio to mean anything.
    public func resistance(at flow: Flow, minimumFlow: Flow = .lpm(0.2)) -> HydraulicResistance? {
        guard flow >= minimumFlow else { return nil }
        return HydraulicResistance(mmHgMinutePerLiter: mmHg / flow.litersPerMinute)
    }
}

extension Duration {
    /// The duration in seconds as a `Double` (loses sub-attosecond precision only).
    ///
    /// The tick converts durations dozens of times: `components` divides a 128-bit count
    /// by 10¹⁸ in a library call (a quarter of a simulated tick's instructions once). Every
    /// duration the rig makes is whole nanoseconds, so the common case is one division by
    /// a constant, which the compiler turns into a multiply.
    /// (A 128-bit division is a library call even by a constant; below ±9.2 s, the
    /// durations a tick handles, the count fits 64 bits and the division is a multiply.)
    @inlinable
    public var seconds: Double {
        let a = attoseconds
        if let small = Int64(exactly: a) {
            let ns = small / 1_000_000_000
            if ns &* 1_000_000_000 == small { return Double(ns) / 1e9 }
        } else {
            let ns = a / 1_000_000_000
            if let n = Int64(exactly: ns), ns &* 1_000_000_000 == a { return Double(n) / 1e9 }
        }
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
    /// Whole nanoseconds (truncated toward zero), saturating at `Int64` bounds.
    @inlinable
    public var nanoseconds: Int64 {
        let a = attoseconds
        if let small = Int64(exactly: a) { return small / 1_000_000_000 }
        let ns = a / 1_000_000_000
        return Int64(exactly: ns) ?? (ns < 0 ? Int64.min : Int64.max)
    }
    /// `s` seconds, saturating: beyond about ±292 years it is the longest `Duration` an
    /// `Int64` of nanoseconds holds, and NaN is zero. A number derived from an input (a
    /// protocol's tiny rate, a console's huge value) must never trap the program; whoever
    /// parses the input refuses it with a reason.
    public static func seconds(_ s: Double) -> Duration {
        let ns = (s * 1e9).rounded()
        if ns.isNaN { return .zero }
        if ns >= 9.2e18 { return .nanoseconds(Int64.max) }
        if ns <= -9.2e18 { return .nanoseconds(Int64.min) }
        return .nanoseconds(Int64(ns))
    }
}
