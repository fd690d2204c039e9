import ECMOCore

/// The dry-run table of `ecmo-rig protocol plan`: what will be infused, when, at what
/// rate, in how many steps, with which clamp window, so that a person can check the
/// arithmetic against the protocol before any blood is in the circuit.
public enum PlanTable {
    public static func render(_ r: ResolvedProtocol) -> String {
        var out: [String] = []
        let p = r.experiment
        out.append("protocol \(p.name) (\(p.file)) on board \(r.boardName) (\(r.boardFile))")
        var patient = "patient \(fmt(p.patient.weight.value.kilograms)) kg"
        if let c = r.circuitPreset { patient += "; simulated circuit \(c.rawValue)" }
        patient += "; pump " + describe(r.pumpMode) + "; on restart: \(p.onRestart.rawValue)"
            + (p.start == .operator ? "; starts on the operator's start_protocol" : "")
        out.append(patient)
        if let prod = r.product {
            out.append("product \(prod.kind.rawValue), \(sci(prod.concentration.value.cellsPerMilliliter)) per mL, into port \(prod.port.rawValue)")
        }
        if let ch = r.plan.channel(.cells) {
            out.append("cell channel: " + describe(ch, preset: p.cellSyringe?.preset))
        }
        out.append("")

        var rows: [[String]] = [["#", "kind", "earliest", "start", "end", "volume mL", "steps", "rate mL/h", "steps/s", "cells", "clamp close–open", "agitation"]]
        for s in r.schedule {
            let item = s.item
            let kind: String
            switch item.kind {
            case .prime: kind = "prime"
            case .baseline: kind = "baseline"
            case .observation: kind = "observation"
            case .dose: kind = "dose \(s.doseNumber ?? 0)/\(s.doseCount)"
            }
            let infuses = item.steps > 0
            let volume = r.plan.channel(.cells).map { $0.volume(steps: item.steps) }
            let rate = item.dose?.rate ?? (infuses ? r.plan.channel(.cells).map { InfusionRate(millilitersPerHour: item.stepRate * $0.volumePerStep.milliliters * 3600) } : nil)
            let clampText = s.clampClose.map { c in
                "\(clock(c))–\(clock(s.clampOpen ?? c)) (dose \(clock(s.infusionStart))–\(clock(s.infusionEnd))) @\(fmt(item.clamp?.pumpSpeed.rpm ?? 0)) rpm"
            } ?? "-"
            var agitationText = "-"
            if let a = item.agitation, let ch = r.plan.channel(.cells) {
                agitationText = "every \(clock(a.interval)): \(a.strokes)× \(fmt(ch.volume(steps: a.steps).microliters)) µL (\(a.steps) steps)"
            }
            rows.append([
                "\(s.index + 1)", kind, clock(s.earliestStart), clock(s.expectedStart), clock(s.expectedEnd),
                infuses ? fmt3(volume?.milliliters ?? 0) : "-",
                infuses ? "\(item.steps)" : "-",
                rate.map { fmt3($0.millilitersPerHour) } ?? "-",
                infuses ? fmt3(item.stepRate) : "-",
                item.dose.map { $0.cells > 0 ? sci($0.cells) : "0" } ?? "-",
                clampText, agitationText,
            ])
        }
        out.append(contentsOf: table(rows, rightAligned: [0, 5, 6, 7, 8]))
        out.append("")
        let n = r.doses.count
        out.append("totals: \(n) dose\(n == 1 ? "" : "s"), \(fmt3(r.totalDoseVolume.milliliters)) mL, \(r.totalDoseSteps) steps, \(r.totalCells > 0 ? sci(r.totalCells) : "0") cells; protocol ends at \(clock(r.totalDuration))")
        if let ch = r.plan.channel(.cells), n > 0 {
            let left = ch.usableVolume - r.totalDoseVolume
            out.append("cell syringe after the last dose: \(fmt3(left.milliliters)) mL usable left (\(fmt3((left + ch.syringe.deadVolume).milliliters)) mL in the barrel)")
        }
        if let h = r.heparin, let prog = r.plan.heparin, let ch = r.plan.channel(.heparin) {
            out.append("")
            out.append("heparin channel: " + describe(ch, preset: p.heparinSyringe?.preset) + "; \(fmt(prog.concentration.unitsPerMilliliter)) U/mL")
            if let u = h.bolusUnits, let b = h.bolus, let d = prog.bolus {
                out.append("  bolus \(fmt(d.unitsPerKilogram)) U/kg × \(fmt(prog.weight.kilograms)) kg = \(fmt(u.units)) U = \(fmt3(b.volume.milliliters)) mL = \(b.steps) steps at \(fmt3(b.rate.millilitersPerHour)) mL/h (\(clock(b.duration)))")
            }
            if let q = h.infusionRate, let uph = h.infusionUnitsPerHour, let i = prog.infusion {
                let lasts = h.infusionLasts.map { ", syringe lasts \(clock($0))" } ?? ""
                out.append("  infusion \(fmt(i.unitsPerKilogramPerHour)) U/kg/h × \(fmt(prog.weight.kilograms)) kg = \(fmt(uph)) U/h = \(fmt3(q.millilitersPerHour)) mL/h = \(fmt3(h.infusionStepRate)) steps/s; \(h.infusionSteps) steps available\(lasts)")
            }
            out.append("  ACT target \(fmt(prog.actTarget.lowerBound))–\(fmt(prog.actTarget.upperBound)) s; advisory rate step \(fmt(prog.adviceStep * 100)) % (logged, never applied by itself)")
        }
        if !r.warnings.isEmpty {
            out.append("")
            out.append("warnings:")
            for w in r.warnings { out.append("  \(w)") }
        }
        return out.joined(separator: "\n")
    }

    /// One line: `ok: …` for `protocol check`.
    public static func summary(_ r: ResolvedProtocol) -> String {
        let n = r.doses.count
        var s = "ok: protocol \(r.experiment.name): \(r.schedule.count) items, \(n) dose\(n == 1 ? "" : "s") of \(fmt3(r.totalDoseVolume.milliliters)) mL in total"
        if r.totalCells > 0 { s += " (\(sci(r.totalCells)) cells)" }
        s += ", ends at \(clock(r.totalDuration)), board \(r.boardName)"
        if r.plan.heparin != nil { s += ", heparin programme" }
        if !r.warnings.isEmpty { s += ", \(r.warnings.count) warning\(r.warnings.count == 1 ? "" : "s")" }
        return s
    }

    static func describe(_ mode: PumpMode) -> String {
        switch mode {
        case .constantFlow(let q): "constant flow \(fmt(q.litersPerMinute)) L/min"
        case .constantSpeed(let s): "constant speed \(fmt(s.rpm)) rpm"
        }
    }

    static func describe(_ ch: SyringeChannelSpecification, preset: SyringePreset?) -> String {
        let name = preset?.rawValue ?? "custom barrel"
        let perStep = ch.volumePerStep.microliters
        return "\(name) (ID \(fmt(ch.syringe.innerDiameterMillimeters)) mm, \(fmt3(ch.syringe.areaSquareMillimeters)) mm²), "
            + "\(fmtDigits(perStep, 6)) µL/step, max \(fmt3(ch.maximumRate.millilitersPerHour)) mL/h (\(fmt(ch.drive.maximumStepRate)) steps/s); "
            + "fill \(fmt3(ch.fillVolume.milliliters)) mL, dead \(fmt3(ch.syringe.deadVolume.milliliters)) mL, prime \(fmt3(ch.primeVolume.milliliters)) mL, usable \(fmt3(ch.usableVolume.milliliters)) mL"
    }

    static func table(_ rows: [[String]], rightAligned: Set<Int>) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            var line = ""
            for (i, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                line += (rightAligned.contains(i) ? pad + cell : cell + pad)
                if i < row.count - 1 { line += "  " }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }
}
