import Testing
import ECMOCore

/// The reference drive (Board/*.yaml `syringe:`): 200 full steps/rev × 16 microsteps,
/// Tr8x2 lead screw (2 mm per revolution), 5000 steps/s at most.
/// Travel per microstep = 2 mm / (200 × 16) = 0.000625 mm.
let referenceDrive = SyringeDrive(stepsPerRevolution: 200, microsteps: 16, leadMillimeters: 2, maximumStepRate: 5000)

func channel(_ preset: SyringePreset, fill: Double, prime: Double = 0) -> SyringeChannelSpecification {
    SyringeChannelSpecification(syringe: preset.specification, drive: referenceDrive, fillVolume: .mL(fill), primeVolume: .mL(prime))
}

func close(_ a: Double, _ b: Double, within tolerance: Double) -> Bool { abs(a - b) <= tolerance }

@Suite struct DosePlanningTests {
    @Test func volumePerStepOfA50mLSyringeOnTheReferenceDriveIsWorkedOutByHand() {
        // BD Plastipak 50 mL: ID 26.59 mm → r = 13.295 mm → r² = 176.757025 mm²
        // area = π × 176.757025 = 555.29857 mm²
        // travel per microstep = 2 mm / 3200 = 0.000625 mm
        // volume per microstep = 555.29857 mm² × 0.000625 mm = 0.34706161 mm³ = 0.34706161 µL
        let ch = channel(.bdPlastipak50mL, fill: 30)
        #expect(close(ch.syringe.areaSquareMillimeters, 555.29857, within: 1e-5))
        #expect(referenceDrive.travelPerStepMillimeters == 0.000625)
        #expect(close(ch.volumePerStep.microliters, 0.34706161, within: 1e-8))
        // maximum rate = 0.34706161 µL × 5000 steps/s × 3600 s/h = 6 247 108.9 µL/h = 6247.109 mL/h
        #expect(close(ch.maximumRate.millilitersPerHour, 6247.109, within: 1e-3))
    }

    @Test func simonsonDoseOf2MillionCellsPerKgFor70KgIs28mLAnd80677Steps() throws {
        // 2×10⁶ cells/kg × 70 kg = 1.4×10⁸ cells
        // 1.4×10⁸ cells ÷ 5×10⁶ cells/mL = 28 mL = 28 000 µL
        // 28 000 µL ÷ 0.34706161 µL/step = 80 677.32 → 80 677 steps (rounded down: never more than asked)
        // 80 677 steps × 0.34706161 µL = 27 999.889 µL delivered (0.11 µL, a third of a step, short)
        // at 60 mL/h: 27.999889 mL ÷ 60 mL/h = 0.46666 h = 1679.993 s; 80 677 / 1679.993 s = 48.0222 steps/s
        let ch = channel(.bdPlastipak50mL, fill: 30, prime: 0.5)
        let weight = BodyWeight.kg(70)
        let dose = CellDose(cellsPerKilogram: 2e6)
        let concentration = CellConcentration(cellsPerMilliliter: 5e6)
        #expect(dose.cells(for: weight) == 1.4e8)
        #expect(close(DosePlanner.volume(dose: dose, weight: weight, concentration: concentration).milliliters, 28, within: 1e-12))
        let planned = try DosePlanner.cellDose(dose, weight: weight, concentration: concentration, pace: .rate(.mLPerHour(60)),
                                               channel: ch, available: ch.usableVolume, limits: DoseLimits())
        #expect(planned.steps == 80_677)
        #expect(close(planned.volume.microliters, 27_999.889, within: 1e-3))
        #expect(planned.volume <= planned.requestedVolume)
        #expect((planned.requestedVolume - planned.volume) < ch.volumePerStep)
        #expect(close(planned.duration.seconds, 1679.993, within: 1e-3))
        #expect(close(ch.stepRate(for: planned.rate), 48.0222, within: 1e-4))
        // cells actually in the delivered volume: 5×10⁶ /mL × 27.99988927 mL = 1.39999446×10⁸
        #expect(close(planned.cells, 1.39999446e8, within: 1))
    }

    @Test func usableVolumeIsFillLessDeadVolumeLessPrime() {
        // 30 mL − 0.15 mL (BD 50 mL dead volume) − 0.5 mL prime = 29.35 mL
        #expect(close(channel(.bdPlastipak50mL, fill: 30, prime: 0.5).usableVolume.milliliters, 29.35, within: 1e-12))
        // Overfilled dead space never goes negative: 0.1 − 0.15 → 0
        #expect(channel(.bdPlastipak50mL, fill: 0.1).usableVolume == .zero)
    }

    @Test func aDoseGivenAsADurationSpreadsWholeStepsOverExactlyThatDuration() throws {
        // BD 5 mL: ID 12.06 mm → π × 6.03² = 114.23114 mm² × 0.000625 mm = 0.07139446 µL/step
        // 2 mL = 2000 µL ÷ 0.07139446 = 28 013.38 → 28 013 steps = 1999.973 µL
        // over 60 s: 1.999973 mL × 60 = 119.998 mL/h
        let ch = channel(.bdPlastipak5mL, fill: 3.5, prime: 0.2)
        let d = try DosePlanner.volumeDose(.mL(2), pace: .duration(.seconds(60)), channel: ch, available: ch.usableVolume)
        #expect(d.steps == 28_013)
        #expect(d.duration == .seconds(60))
        #expect(close(d.rate.millilitersPerHour, 119.998, within: 1e-3))
    }

    @Test func aBolusGoesAtTheChannelsMaximumRate() throws {
        // BD 20 mL: ID 19.13 mm → π × 9.565² = 287.42188 mm² × 0.000625 = 0.17963867 µL/step
        // 7 mL ÷ 0.17963867 µL = 38 967.11 → 38 967 steps; at 5000 steps/s: 7.7934 s
        let ch = channel(.bdPlastipak20mL, fill: 10, prime: 0.5)
        let d = try DosePlanner.volumeDose(.mL(7), pace: .bolus, channel: ch, available: ch.usableVolume)
        #expect(d.steps == 38_967)
        #expect(d.rate == ch.maximumRate)
        #expect(close(d.duration.seconds, 7.7934, within: 1e-6))
    }

    @Test func aDoseAboveTheAcceptedRangeIsRefusedNamingTheDoseAndTheRange() {
        let ch = channel(.bdPlastipak50mL, fill: 50)
        #expect(throws: DosePlanError.doseOutOfRange(cellsPerKilogram: 5e8, range: 1e6...400e6)) {
            try DosePlanner.cellDose(CellDose(cellsPerKilogram: 5e8), weight: .kg(1), concentration: CellConcentration(cellsPerMilliliter: 1e9),
                                     pace: .bolus, channel: ch, available: ch.usableVolume, limits: DoseLimits())
        }
        let message = DosePlanError.doseOutOfRange(cellsPerKilogram: 5e8, range: 1e6...400e6).description
        #expect(message == "dose 5e8 cells/kg is outside the accepted range 1e6…4e8 cells/kg")
    }

    @Test func aDoseBelowTheAcceptedRangeIsRefusedToo() {
        let ch = channel(.bdPlastipak50mL, fill: 50)
        #expect(throws: DosePlanError.self) {
            try DosePlanner.cellDose(CellDose(cellsPerKilogram: 5e5), weight: .kg(70), concentration: CellConcentration(cellsPerMilliliter: 5e6),
                                     pace: .bolus, channel: ch, available: ch.usableVolume, limits: DoseLimits())
        }
    }

    @Test func aVolumeOverWhatIsLeftInTheSyringeIsRefusedNamingBothVolumes() {
        // 30 mL asked, 29.35 mL usable
        let ch = channel(.bdPlastipak50mL, fill: 30, prime: 0.5)
        do {
            _ = try DosePlanner.volumeDose(.mL(30), pace: .rate(.mLPerHour(60)), channel: ch, available: ch.usableVolume)
            Issue.record("30 mL from 29.35 mL usable was accepted")
        } catch {
            guard case .volumeExceedsSyringe = error else { Issue.record("wrong error \(error)"); return }
            #expect(error.description.contains("30 mL"))
            #expect(error.description.contains("29.35 mL"))
        }
    }

    @Test func aRateOverTheChannelMaximumIsRefusedNamingBothRates() {
        let ch = channel(.bdPlastipak50mL, fill: 30)
        do {
            _ = try DosePlanner.volumeDose(.mL(10), pace: .rate(.mLPerHour(10_000)), channel: ch, available: ch.usableVolume)
            Issue.record("10 000 mL/h on a 6247 mL/h channel was accepted")
        } catch {
            #expect(error.description == "rate 10000 mL/h exceeds the channel's maximum 6247.109 mL/h (maximum step rate × volume per step)")
        }
        // A duration too short for the volume is a rate over the maximum too: 10 mL in 1 s = 36 000 mL/h.
        #expect(throws: DosePlanError.self) {
            try DosePlanner.volumeDose(.mL(10), pace: .duration(.seconds(1)), channel: ch, available: ch.usableVolume)
        }
    }

    @Test func lessThanOneMicrostepIsRefused() {
        // 0.1 µL < 0.347 µL per step
        let ch = channel(.bdPlastipak50mL, fill: 30)
        #expect(throws: DosePlanError.self) {
            try DosePlanner.volumeDose(Volume(microliters: 0.1), pace: .bolus, channel: ch, available: ch.usableVolume)
        }
    }

    @Test func stepsForAVolumeNeverExceedTheVolumeAndFallShortByLessThanOneStep() {
        var rng = SplitMix64(seed: 0x5EED_D05E)
        for preset in SyringePreset.allCases {
            let ch = channel(preset, fill: preset.specification.capacity.milliliters)
            for _ in 0..<500 {
                let v = Volume(microliters: Double.random(in: 0.5...50_000, using: &rng))
                let n = ch.steps(for: v)
                let delivered = ch.volume(steps: n)
                #expect(delivered.microliters <= v.microliters * (1 + 1e-12), "\(preset) \(v)")
                #expect(v.microliters - delivered.microliters < ch.volumePerStep.microliters, "\(preset) \(v)")
            }
        }
    }

    @Test func intervalFromAHalfLifeIsOneHalfLifeForHalfAndTwoForAQuarter() {
        // t = t½ × log₂(1 / fraction): 4 h × log₂ 2 = 4 h; 4 h × log₂ 4 = 8 h; 4 h × log₂ 8 = 12 h
        #expect(close(DosePlanner.interval(halfLife: .seconds(4 * 3600)).seconds, 14_400, within: 1e-6))
        #expect(close(DosePlanner.interval(halfLife: .seconds(4 * 3600), remainingFraction: 0.25).seconds, 28_800, within: 1e-6))
        #expect(close(DosePlanner.interval(halfLife: .seconds(4 * 3600), remainingFraction: 0.125).seconds, 43_200, within: 1e-6))
        // log₂(1/0.7) = 0.514573 → 6 h × 0.514573 = 3.087438 h = 11 114.78 s
        #expect(close(DosePlanner.interval(halfLife: .seconds(6 * 3600), remainingFraction: 0.7).seconds, 11_114.78, within: 0.01))
    }

    @Test func heparinBolusAndInfusionConvertFromUnitsPerKgToMillilitresAndSteps() {
        // bolus 75 U/kg × 70 kg = 5250 U; at 1000 U/mL = 5.25 mL
        // 5250 µL ÷ 0.34706161 µL/step = 15 126.997 → 15 126 steps (the ×(1 + 1e-12) guard does not round 15 126.997 up)
        let weight = BodyWeight.kg(70)
        let c = HeparinConcentration(unitsPerMilliliter: 1000)
        let units = HeparinDose(unitsPerKilogram: 75).units(for: weight)
        #expect(units.units == 5250)
        #expect(close(c.volume(holding: units).milliliters, 5.25, within: 1e-12))
        let ch = channel(.bdPlastipak50mL, fill: 50)
        #expect(ch.steps(for: c.volume(holding: units)) == 15_126)
        // infusion 10 U/kg/h × 70 kg = 700 U/h; ÷ 1000 U/mL = 0.7 mL/h
        // 0.7 mL/h = 0.000194444 mL/s ÷ 0.00034706161 mL/step = 0.560259 steps/s
        let rate = c.infusionRate(for: HeparinRate(unitsPerKilogramPerHour: 10), weight: weight)
        #expect(close(rate.millilitersPerHour, 0.7, within: 1e-12))
        #expect(close(ch.stepRate(for: rate), 0.560259, within: 1e-6))
    }

    @Test func aCustomBarrelUsesItsMeasuredBore() {
        // ID 10 mm: π × 25 = 78.539816 mm² × 0.000625 mm = 0.049087385 µL/step
        let s = SyringeSpecification(innerDiameterMillimeters: 10, capacity: .mL(10), deadVolume: .zero)
        let ch = SyringeChannelSpecification(syringe: s, drive: referenceDrive, fillVolume: .mL(10))
        #expect(close(ch.volumePerStep.microliters, 0.049087385, within: 1e-9))
    }
}

/// A small seeded generator so that property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
