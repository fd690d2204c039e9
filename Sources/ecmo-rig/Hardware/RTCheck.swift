import ArgumentParser
import Foundation
import Histogram
import ECMOCore
import ECMOHAL
import ECMOBoard
import ECMORuntime
import ECMOPosix
#if os(Linux)
import ECMOLinux
import ECMORecord
#endif

/// `ecmo-rig rt-check`: the doctor a person runs on a new rig before an experiment. It
/// runs the loop's own wake-up path (absolute deadlines on the loop's clock, the same
/// resynchronisation after a stall) on a thread set up exactly like the control loop's,
/// records the lateness of every wake-up, and judges the machine.
struct RTCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rt-check",
        abstract: "Measure the loop's wake-up lateness at its period and priority, and check the machine for real time.",
        discussion: "Prints p50, p99, p99.9, max and overruns (lateness > period), and a pass/warn/fail line per environment check with what to change. Exit 0 when it measured (whatever the verdicts), 2 for a bad board file.")

    @Option(help: "Board file (its loop period is the default period, its kind chooses the clock).")
    var board: String = "Board/sim.yaml"

    @Option(name: .customLong("period-us"), help: "Wake-up period in µs (default: the board's loop period).")
    var periodUs: Int?

    @Option(help: "SCHED_FIFO priority, 1-99.")
    var priority: Int32 = 80

    @Option(help: "Pin the measuring thread (and a --load hog) to this CPU.")
    var cpu: Int32?

    @Option(help: "How long to measure, e.g. 30s, 5m (default 30s).")
    var duration: DurationArgument?

    @Option(help: "Synthetic load, comma-separated: '<N>us' busy work per tick, 'hog' a thread spinning on a core (the --cpu one if given). E.g. 200us,hog")
    var load: String?

    @Flag(help: "Do not hold /dev/cpu_dma_latency at 0 (to see what the idle states cost).")
    var noDmaLatency = false

    @Flag(help: "Print one JSON object instead of the report.")
    var json = false

    struct Load: Equatable {
        var busyMicroseconds = 0
        var hog = false
        init() {}
        init?(_ text: String?) {
            guard let text else { return }
            for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
                if part == "hog" { hog = true }
                // At most 1 s of busy work per tick (the longest period): more would never end.
                else if part.hasSuffix("us"), let n = Int(part.dropLast(2)), (0...1_000_000).contains(n) { busyMicroseconds = n }
                else { return nil }
            }
        }
    }

    func validate() throws {
        guard (1...99).contains(priority) else { throw ValidationError("--priority \(priority): must be in 1...99") }
        if let periodUs, !(50...1_000_000).contains(periodUs) { throw ValidationError("--period-us \(periodUs): must be in 50...1000000") }
        if let cpu, cpu < 0 { throw ValidationError("--cpu \(cpu): must be ≥ 0") }
        guard Load(load) != nil else { throw ValidationError("--load \(load ?? ""): expected e.g. 200us, hog or 200us,hog (busy work 0...1000000us)") }
    }

    func run() throws {
        let config: BoardConfiguration
        do {
            config = try BoardLoader.load(path: board)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(ExitCodes.boardInvalid)
        }
        let period: Duration = periodUs.map { .microseconds($0) } ?? config.loopPeriod
        let periodNs = UInt64(max(1, period.nanoseconds))
        let load = Load(self.load) ?? Load()
        let ticks = max(1, Int((duration?.duration ?? .seconds(30)).nanoseconds / Int64(periodNs)))
        // The clock the loop uses, on a rig and in a real-time simulation alike (CLOCK_MONOTONIC).
        let clock: any MonotonicClock = SystemMonotonicClock()

        let hog = load.hog ? Hog(cpu: cpu) : nil
        hog?.start()
        let result = Measurement(priority: priority, cpu: cpu, holdDMALatency: !noDmaLatency,
                                 probe: WakeupProbe(clock: clock, period: period, busyPerTick: .microseconds(load.busyMicroseconds)),
                                 ticks: ticks, periodNs: periodNs).runOnOwnThread()
        hog?.stop()

        // Fed after the run from the preallocated buckets: the wake-up loop allocates nothing.
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        result.buckets.forEachBucket { us, count in _ = histogram.record(us, count: count) }

        var checks: [CheckLine] = result.setupLines
        #if os(Linux)
        checks += RealtimeEnvironment(ownPID: Int(getpid())).checks(priority: priority, cpu: cpu)
            .map { CheckLine(name: $0.name, verdict: $0.verdict.rawValue, detail: $0.detail, fix: $0.fix) }
        #else
        checks.append(CheckLine(name: "environment", verdict: "warn", detail: "environment checks are Linux only", fix: nil))
        #endif

        let report = Report(board: config.name, periodUs: Double(periodNs) / 1000, priority: priority, cpu: cpu, load: load,
                            durationS: Double(result.buckets.samples) * Double(periodNs) / 1e9,
                            samples: result.buckets.samples,
                            p50: histogram.valueAtPercentile(50), p99: histogram.valueAtPercentile(99),
                            p999: histogram.valueAtPercentile(99.9), maxUs: Double(result.buckets.maxNanoseconds) / 1000,
                            overruns: result.buckets.overruns, skippedPeriods: result.skipped,
                            maxExecutionUs: Double(result.maxExecution.nanoseconds) / 1000, user: ProcessInfo.processInfo.userName,
                            uid: Int(getuid()), checks: checks)
        print(json ? report.json() : report.text())
    }

    /// One pass/warn/fail line.
    struct CheckLine {
        var name: String
        var verdict: String
        var detail: String
        var fix: String?
    }

    /// Sets up its own thread like the control loop's, then runs the probe on it.
    final class Measurement: @unchecked Sendable {
        let priority: Int32
        let cpu: Int32?
        let holdDMALatency: Bool
        let probe: WakeupProbe
        let ticks: Int
        var buckets: LatencyBuckets
        var skipped: UInt64 = 0
        var maxExecution: Duration = .zero
        var setupLines: [CheckLine] = []

        init(priority: Int32, cpu: Int32?, holdDMALatency: Bool, probe: WakeupProbe, ticks: Int, periodNs: UInt64) {
            self.priority = priority
            self.cpu = cpu
            self.holdDMALatency = holdDMALatency
            self.probe = probe
            self.ticks = ticks
            buckets = LatencyBuckets(periodNanoseconds: periodNs)
        }

        func runOnOwnThread() -> Measurement {
            let done = DispatchSemaphore(value: 0)
            let t = Thread { [self] in
                setUp()
                // In place: the buckets' array is uniquely referenced, so no record copies it.
                (skipped, maxExecution) = probe.run(ticks: ticks, into: &buckets)
                done.signal()
            }
            t.name = "rt-check"
            t.stackSize = 1 << 20
            t.start()
            done.wait()
            return self
        }

        private func setUp() {
            #if os(Linux)
            let report = RealtimeSetup().apply(RealtimeRequest(priority: priority, cpu: cpu, holdDMALatencyZero: holdDMALatency))
            setupLines = report.outcomes.map { o in
                CheckLine(name: "set-up: \(o.step.rawValue)", verdict: o.ok ? "pass" : (o.step.isEssential ? "fail" : "warn"),
                          detail: o.ok ? o.detail : "not done: \(o.detail) (\(Errno.name(o.errno)))", fix: o.fix)
            }
            #else
            setupLines = [CheckLine(name: "set-up", verdict: "warn", detail: "SCHED_FIFO, mlockall and affinity are set up on Linux only; measured as an ordinary thread", fix: nil)]
            #endif
        }
    }

    /// A thread spinning on a core: the worst neighbour an ordinary process can be.
    final class Hog: @unchecked Sendable {
        let cpu: Int32?
        private let lock = NSLock()
        private var running = true
        private let finished = DispatchSemaphore(value: 0)
        init(cpu: Int32?) { self.cpu = cpu }
        func start() {
            let t = Thread { [self] in
                #if os(Linux)
                if let cpu { _ = RealtimeCalls.system.setAffinity(cpu) }
                #endif
                var x: UInt64 = 1
                while true {
                    for _ in 0..<100_000 { x = x &* 6364136223846793005 &+ 1 }
                    lock.lock(); let r = running; lock.unlock()
                    if !r { break }
                }
                if x == 42 { print("") }   // keeps the work from being optimised away
                finished.signal()
            }
            t.name = "rt-check-hog"
            t.start()
        }
        func stop() {
            lock.lock(); running = false; lock.unlock()
            finished.wait()
        }
    }

    struct Report {
        var board: String
        var periodUs: Double
        var priority: Int32
        var cpu: Int32?
        var load: Load
        var durationS: Double
        var samples: UInt64
        var p50: UInt64
        var p99: UInt64
        var p999: UInt64
        var maxUs: Double
        var overruns: UInt64
        var skippedPeriods: UInt64
        var maxExecutionUs: Double
        var user: String
        var uid: Int
        var checks: [CheckLine]

        var overall: String {
            checks.contains { $0.verdict == "fail" } ? "fail" : checks.contains { $0.verdict == "warn" } ? "warn" : "pass"
        }
        var loadText: String {
            var parts: [String] = []
            if load.busyMicroseconds > 0 { parts.append("\(load.busyMicroseconds) µs busy per tick") }
            if load.hog { parts.append("a spinning hog thread") }
            return parts.isEmpty ? "none" : parts.joined(separator: " + ")
        }

        func text() -> String {
            var lines = [
                "rt-check: board \(board), period \(fixed(periodUs)) µs, SCHED_FIFO \(priority), CPU \(cpu.map(String.init) ?? "any"), load \(loadText), user \(user) (uid \(uid))",
                "wake-ups: \(samples) in \(fixed(durationS)) s",
                "lateness: p50 \(p50) µs  p99 \(p99) µs  p99.9 \(p999) µs  max \(fixed(maxUs)) µs",
                "overruns (lateness > period): \(overruns); periods skipped after stalls: \(skippedPeriods); longest tick (busy work) \(fixed(maxExecutionUs)) µs",
            ]
            let notSet = checks.filter { $0.name.hasPrefix("set-up: ") && $0.verdict != "pass" }.map { String($0.name.dropFirst(8)) }
            if !notSet.isEmpty {
                lines.append("could not set: \(notSet.joined(separator: ", ")) (measured as far as this process could set up; see below)")
            }
            lines += [
                "",
                "environment:",
            ]
            for c in checks {
                lines.append("  [\(c.verdict.uppercased())] \(c.name): \(c.detail)")
                if let fix = c.fix, c.verdict != "pass" { lines.append("         → \(fix)") }
            }
            lines.append("overall: \(overall.uppercased())")
            return lines.joined(separator: "\n")
        }

        func json() -> String {
            var o: [String: JSONValue] = [
                "board": .string(board), "period_us": .number(periodUs), "priority": .int(Int(priority)),
                "cpu": cpu.map { .int(Int($0)) } ?? .null,
                "load": .object(["busy_us": .int(load.busyMicroseconds), "hog": .bool(load.hog)]),
                "duration_s": .number((durationS * 1000).rounded() / 1000), "samples": .int(Int(samples)),
                "lateness_us": .object(["p50": .int(Int(p50)), "p99": .int(Int(p99)), "p99_9": .int(Int(p999)),
                                        "max": .number((maxUs * 10).rounded() / 10)]),
                "overruns": .int(Int(overruns)), "skipped_periods": .int(Int(skippedPeriods)),
                "max_execution_us": .number((maxExecutionUs * 10).rounded() / 10),
                "user": .string(user), "uid": .int(uid), "overall": .string(overall),
            ]
            o["checks"] = .array(checks.map { c in
                .object(["name": .string(c.name), "verdict": .string(c.verdict), "detail": .string(c.detail),
                         "fix": c.fix.map { .string($0) } ?? .null])
            })
            return JSONValue.object(o).rendered(pretty: false)
        }

        func fixed(_ v: Double) -> String { RunRecorder.fixed(v, 1) }
    }
}
