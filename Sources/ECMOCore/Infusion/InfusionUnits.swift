/// Quantities of dosing: the arithmetic of a dose is done in these types, never in bare
/// doubles, so that cells/kg cannot be added to cells/mL by mistake.

/// Body weight of the (modelled) patient.
public struct BodyWeight: PhysicalQuantity {
    public var kilograms: Double
    public init(kilograms: Double) { self.kilograms = kilograms }
    public init(canonicalValue: Double) { kilograms = canonicalValue }
    public var canonicalValue: Double { kilograms }
    public static let canonicalUnitSymbol = "kg"
    public static func kg(_ v: Double) -> BodyWeight { BodyWeight(kilograms: v) }
}

/// A cell (or particle) dose per kilogram of body weight, e.g. 2×10⁶ cells/kg.
public struct CellDose: PhysicalQuantity {
    public var cellsPerKilogram: Double
    public init(cellsPerKilogram: Double) { self.cellsPerKilogram = cellsPerKilogram }
    public init(canonicalValue: Double) { cellsPerKilogram = canonicalValue }
    public var canonicalValue: Double { cellsPerKilogram }
    public static let canonicalUnitSymbol = "cells/kg"
    /// Cells for a body weight.
    public func cells(for weight: BodyWeight) -> Double { cellsPerKilogram * weight.kilograms }
}

/// Concentration of a cell suspension in the syringe.
public struct CellConcentration: PhysicalQuantity {
    public var cellsPerMilliliter: Double
    public init(cellsPerMilliliter: Double) { self.cellsPerMilliliter = cellsPerMilliliter }
    public init(canonicalValue: Double) { cellsPerMilliliter = canonicalValue }
    public var canonicalValue: Double { cellsPerMilliliter }
    public static let canonicalUnitSymbol = "cells/mL"
    /// Volume holding `cells` at this concentration.
    public func volume(holding cells: Double) -> Volume { .mL(cells / cellsPerMilliliter) }
    /// Cells in `volume`.
    public func cells(in volume: Volume) -> Double { cellsPerMilliliter * volume.milliliters }
}

/// Heparin amount in international units.
public struct HeparinUnits: PhysicalQuantity {
    public var units: Double
    public init(units: Double) { self.units = units }
    public init(canonicalValue: Double) { units = canonicalValue }
    public var canonicalValue: Double { units }
    public static let canonicalUnitSymbol = "U"
}

/// Heparin dose per kilogram (bolus).
public struct HeparinDose: PhysicalQuantity {
    public var unitsPerKilogram: Double
    public init(unitsPerKilogram: Double) { self.unitsPerKilogram = unitsPerKilogram }
    public init(canonicalValue: Double) { unitsPerKilogram = canonicalValue }
    public var canonicalValue: Double { unitsPerKilogram }
    public static let canonicalUnitSymbol = "U/kg"
    public func units(for weight: BodyWeight) -> HeparinUnits { HeparinUnits(units: unitsPerKilogram * weight.kilograms) }
}

/// Heparin infusion per kilogram and hour.
public struct HeparinRate: PhysicalQuantity {
    public var unitsPerKilogramPerHour: Double
    public init(unitsPerKilogramPerHour: Double) { self.unitsPerKilogramPerHour = unitsPerKilogramPerHour }
    public init(canonicalValue: Double) { unitsPerKilogramPerHour = canonicalValue }
    public var canonicalValue: Double { unitsPerKilogramPerHour }
    public static let canonicalUnitSymbol = "U/kg/h"
}

/// Heparin concentration in the syringe.
public struct HeparinConcentration: PhysicalQuantity {
    public var unitsPerMilliliter: Double
    public init(unitsPerMilliliter: Double) { self.unitsPerMilliliter = unitsPerMilliliter }
    public init(canonicalValue: Double) { unitsPerMilliliter = canonicalValue }
    public var canonicalValue: Double { unitsPerMilliliter }
    public static let canonicalUnitSymbol = "U/mL"
    public func volume(holding u: HeparinUnits) -> Volume { .mL(u.units / unitsPerMilliliter) }
    /// Infusion rate (mL/h) delivering `rate` for `weight`.
    public func infusionRate(for rate: HeparinRate, weight: BodyWeight) -> InfusionRate {
        .mLPerHour(rate.unitsPerKilogramPerHour * weight.kilograms / unitsPerMilliliter)
    }
}
