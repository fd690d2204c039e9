import ECMOLink
import Foundation
import Metrics
import Prometheus

typealias Counter = CoreMetrics.Counter
typealias Gauge = CoreMetrics.Gauge
typealias Timer = CoreMetrics.Timer
import Synchronization

/// The console's Prometheus metrics, made through swift-metrics with an explicit
/// `PrometheusMetricsFactory` (no global bootstrap, so several consoles, or tests, can
/// live in one process). Served at `/metrics` in the Prometheus text format.
public final class ConsoleMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    let lateness: Timer
    let overruns: Counter
    let pressures: [String: Gauge]
    let flow: Gauge
    let rpm: Gauge
    let cellsDelivered: Gauge
    let heparinDelivered: Gauge
    let cellsPlanned: Gauge
    let rigConnectedGauge: Gauge
    let rigConnects: Counter
    let telemetryFrames: Counter
    let telemetryRate: Gauge
    let alarmsActiveGauge: Gauge
    // For fleet alerting (deploy/prometheus/ecmo-alerts.yml, docs/fleet.md).
    let alarmsActiveHigh: Gauge
    let latenessQuantiles: [(Double, Gauge)]
    let loopPeriod: Gauge
    let telemetryAge: Gauge
    let runDirFree: Gauge
    let runDirCapacity: Gauge
    let recordWriteAge: Gauge

    struct RateState { var windowStart: ContinuousClock.Instant = .now; var frames = 0; var lastOverruns = 0 }
    let state = Mutex(RateState())
    /// The last `latenessWindow` frames' lateness (seconds), for the quantile gauges.
    struct Window { var values: [Double] = []; var next = 0; var lastFrame: ContinuousClock.Instant?; var runDirectory: String? }
    let window = Mutex(Window())
    /// 60 s of frames at the rig's default 25 Hz.
    public static let latenessWindow = 1500

    public init() {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        // Loop lateness: µs to a few ms (the loop period is a few ms).
        f.durationHistogramBuckets["ecmo_loop_lateness_seconds"] = [
            .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        ]
        factory = f
        lateness = Timer(label: "ecmo_loop_lateness_seconds", factory: f)
        overruns = Counter(label: "ecmo_loop_overruns_total", factory: f)
        var p: [String: Gauge] = [:]
        for site in ["drain", "pre", "post", "dp_oxy"] {
            p[site] = Gauge(label: "ecmo_pressure_mmhg", dimensions: [("site", site)], factory: f)
        }
        pressures = p
        flow = Gauge(label: "ecmo_flow_lpm", factory: f)
        rpm = Gauge(label: "ecmo_pump_rpm", factory: f)
        cellsDelivered = Gauge(label: "ecmo_dose_delivered_ml", dimensions: [("channel", "cells")], factory: f)
        heparinDelivered = Gauge(label: "ecmo_dose_delivered_ml", dimensions: [("channel", "heparin")], factory: f)
        cellsPlanned = Gauge(label: "ecmo_dose_planned_ml", dimensions: [("channel", "cells")], factory: f)
        rigConnectedGauge = Gauge(label: "ecmo_console_rig_connected", factory: f)
        rigConnects = Counter(label: "ecmo_console_rig_connects_total", factory: f)
        telemetryFrames = Counter(label: "ecmo_console_telemetry_frames_total", factory: f)
        telemetryRate = Gauge(label: "ecmo_console_telemetry_rate_hz", factory: f)
        alarmsActiveGauge = Gauge(label: "ecmo_alarms_active", factory: f)
        alarmsActiveHigh = Gauge(label: "ecmo_alarms_active_high", factory: f)
        latenessQuantiles = [0.5, 0.99, 0.999, 1].map { q in
            (q, Gauge(label: "ecmo_loop_lateness_window_seconds", dimensions: [("quantile", q == 1 ? "1" : "\(q)")], factory: f))
        }
        loopPeriod = Gauge(label: "ecmo_loop_period_seconds", factory: f)
        telemetryAge = Gauge(label: "ecmo_console_telemetry_age_seconds", factory: f)
        runDirFree = Gauge(label: "ecmo_run_dir_free_bytes", factory: f)
        runDirCapacity = Gauge(label: "ecmo_run_dir_capacity_bytes", factory: f)
        recordWriteAge = Gauge(label: "ecmo_run_record_write_age_seconds", factory: f)
        rigConnectedGauge.record(0)
        for g in [loopPeriod, telemetryAge, runDirFree, runDirCapacity, recordWriteAge] { g.record(Double.nan) }
        for (_, g) in latenessQuantiles { g.record(Double.nan) }
    }

    func telemetry(_ t: LinkTelemetry) {
        lateness.recordNanoseconds(Int64(max(0, t.latenessUs) * 1000))
        pressures["drain"]?.record(t.pDrain)
        pressures["pre"]?.record(t.pPre)
        pressures["post"]?.record(t.pPost)
        pressures["dp_oxy"]?.record(t.dpOxy)
        flow.record(t.flowLpm)
        rpm.record(t.rpm)
        cellsDelivered.record(t.cellsMl)
        heparinDelivered.record(t.heparinMl)
        telemetryFrames.increment()
        window.withLock { w in
            let v = max(0, t.latenessUs) * 1e-6
            if w.values.count < Self.latenessWindow { w.values.append(v) } else { w.values[w.next] = v }
            w.next = (w.next + 1) % Self.latenessWindow
            w.lastFrame = .now
        }
        let (rate, newOverruns): (Double?, Int) = state.withLock { s in
            // The rig's count is cumulative; a smaller one means a new run.
            let delta = t.overruns >= s.lastOverruns ? t.overruns - s.lastOverruns : t.overruns
            s.lastOverruns = t.overruns
            s.frames += 1
            let elapsed = s.windowStart.duration(to: .now)
            guard elapsed >= .seconds(1) else { return (nil, delta) }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            let r = Double(s.frames) / seconds
            s.frames = 0
            s.windowStart = .now
            return (r, delta)
        }
        if newOverruns > 0 { overruns.increment(by: Int64(newOverruns)) }
        if let rate { telemetryRate.record(rate) }
    }

    func protocolState(_ p: LinkProtocolState) {
        cellsPlanned.record(p.cellsPlannedMl)
        cellsDelivered.record(p.cellsDeliveredMl)
        heparinDelivered.record(p.heparinDeliveredMl)
    }

    func alarmRaised(name: String) {
        Counter(label: "ecmo_alarms_raised_total", dimensions: [("alarm", name)], factory: factory).increment()
    }

    func alarmsActive(_ n: Int) { alarmsActiveGauge.record(n) }

    /// Active (or latched, acknowledged or not) alarms of high priority.
    func alarms(_ list: [LinkAlarm]) {
        alarmsActiveGauge.record(list.count)
        alarmsActiveHigh.record(list.filter { $0.priority == "high" }.count)
    }

    func hello(_ h: RigHello) {
        loopPeriod.record(Double(h.loopPeriodMicroseconds) * 1e-6)
        window.withLock { $0.runDirectory = h.runDirectory }
    }

    /// Values read when scraped: lateness quantiles over the window, the telemetry's age,
    /// and the run directory's file system (free bytes, newest write).
    func refresh() {
        let (values, last, dir) = window.withLock { ($0.values, $0.lastFrame, $0.runDirectory) }
        if values.isEmpty {
            for (_, g) in latenessQuantiles { g.record(Double.nan) }
        } else {
            let sorted = values.sorted()
            for (q, g) in latenessQuantiles {
                let rank = max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1)  // nearest rank
                g.record(sorted[min(sorted.count - 1, rank)])
            }
        }
        if let last {
            let d = last.duration(to: .now)
            telemetryAge.record(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        } else {
            telemetryAge.record(Double.nan)
        }
        guard let dir else { return }
        let fm = FileManager.default
        if let fs = try? fm.attributesOfFileSystem(forPath: dir) {
            runDirFree.record((fs[.systemFreeSize] as? NSNumber)?.doubleValue ?? .nan)
            runDirCapacity.record((fs[.systemSize] as? NSNumber)?.doubleValue ?? .nan)
        } else {
            runDirFree.record(Double.nan)
            runDirCapacity.record(Double.nan)
        }
        let newest = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).compactMap { name in
            (try? fm.attributesOfItem(atPath: dir + "/" + name))?[.modificationDate] as? Date
        }.max()
        recordWriteAge.record(newest.map { max(0, Date().timeIntervalSince($0)) } ?? .nan)
    }

    /// As if a rig's hello had named `directory` as its run directory (tests).
    public func testingRunDirectory(_ directory: String) { window.withLock { $0.runDirectory = directory } }

    /// Forget the link's state when the rig goes away.
    func linkDown() {
        alarmsActiveHigh.record(0)
        window.withLock { $0 = Window() }
    }

    func rigConnected(_ up: Bool) {
        rigConnectedGauge.record(up ? 1 : 0)
        if up { rigConnects.increment() } else { telemetryRate.record(0); linkDown() }
    }

    /// Counts an HTTP command by name and outcome (ok, refused, forbidden, ...).
    public func command(name: String, result: String) {
        Counter(label: "ecmo_console_commands_total", dimensions: [("name", name), ("result", result)], factory: factory).increment()
    }

    /// Counts refused logins and unauthenticated/under-privileged requests.
    public func authFailure(_ kind: String) {
        Counter(label: "ecmo_console_auth_failures_total", dimensions: [("kind", kind)], factory: factory).increment()
    }

    /// The Prometheus text exposition.
    public func render() -> String {
        refresh()
        return registry.emitToString()
    }
}
