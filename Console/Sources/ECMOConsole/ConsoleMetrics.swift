import ECMOLink
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

    struct RateState { var windowStart: ContinuousClock.Instant = .now; var frames = 0; var lastOverruns = 0 }
    let state = Mutex(RateState())

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
        rigConnectedGauge.record(0)
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

    func rigConnected(_ up: Bool) {
        rigConnectedGauge.record(up ? 1 : 0)
        if up { rigConnects.increment() } else { telemetryRate.record(0) }
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
    public func render() -> String { registry.emitToString() }
}
