import ECMOBoard
import Testing

/// A small valid board. Bad-file tests mutate one part of it, so each test shows exactly
/// what is wrong, and a test that forgot to break anything would fail on `parse`.
/// Some entries are in block style so that a key and its line can be checked precisely.
let minimalBoard = """
    board:
      name: test
      description: Minimal valid board for tests
      kind: simulated
      realtime: optional
      loop_period_us: 1000
      watchdog: {device: sim, timeout_ms: 250}
    i2c_buses:
      bus1: {path: sim}
    gpio_chips:
      gpio0: {label: sim-gpio, lines: 54}
    pwm_chips:
      pwm0: {path: sim, channels: 2}
    devices:
      abp_drain:
        driver: abp2
        bus: bus1
        address: 0x28
        pressure_min_mmhg: -300
        pressure_max_mmhg: 300
        transfer_function: A
      abp_pre: {driver: abp2, bus: bus1, address: 0x38, pressure_min_mmhg: -750, pressure_max_mmhg: 750, transfer_function: A}
      abp_post: {driver: abp2, bus: bus1, address: 0x58, pressure_min_mmhg: -750, pressure_max_mmhg: 750, transfer_function: A}
      adc0:
        driver: ads1115
        bus: bus1
        address: 0x48
        full_scale_v: 4.096
        data_rate_sps: 860
    sensors:
      P_drain:
        device: abp_drain
        max_age_ms: 20
      P_pre: {device: abp_pre, max_age_ms: 20}
      P_post: {device: abp_post, max_age_ms: 20}
      flow: {device: adc0, channel: 0, volts_offset: 0.0, units_per_volt: 2.5, max_age_ms: 20}
    inputs:
      pump_tach: {chip: gpio0, line: 17, edge: rising, pulses_per_revolution: 2, bias: pull_up}
      air_detector: {chip: gpio0, line: 27}
      estop: {chip: gpio0, line: 22}
      syringe_end_empty: {chip: gpio0, line: 5}
      syringe_end_full: {chip: gpio0, line: 6}
    outputs:
      pump_enable: {chip: gpio0, line: 23, safe_value: false, max_command_age_ms: 100}
      clamp:
        chip: gpio0
        line: 24
        safe_value: true
        max_command_age_ms: 100
      buzzer:
        chip: gpio0
        line: 25
        safe_value: false
        max_command_age_ms: 100
      syringe_step: {chip: gpio0, line: 12, safe_value: false, max_command_age_ms: 100}
      syringe_dir: {chip: gpio0, line: 16, safe_value: false, max_command_age_ms: 100}
      syringe_enable: {chip: gpio0, line: 20, safe_value: false, max_command_age_ms: 100}
    pump:
      pwm: pwm0
      channel: 0
      period_us: 50
      duty_at_zero: 0.10
      duty_at_max: 0.90
      rpm_at_max_duty: 5000
      min_rpm: 1500
      max_rpm: 4500
      max_ramp_rpm_per_s: 1000
      safe_rpm: 0
      max_command_age_ms: 100

    """

let testFile = "test.yaml"

/// The minimal board with `old` (which must occur exactly once) replaced by `new`.
func mutated(_ old: String, _ new: String, in text: String = minimalBoard,
             sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let count = text.ranges(of: old).count
    try #require(count == 1, "'\(old)' occurs \(count) times in the fixture", sourceLocation: sourceLocation)
    return text.replacing(old, with: new)
}

/// 1-based line of the `occurrence`-th line containing `needle`.
func line(of needle: String, in text: String, occurrence: Int = 1,
          sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    let matches = lines.indices.filter { lines[$0].contains(needle) }
    try #require(matches.count >= occurrence, "'\(needle)' not found \(occurrence) time(s)", sourceLocation: sourceLocation)
    return matches[occurrence - 1] + 1
}

/// The errors of a board that must not load.
func errors(of yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> [BoardFileError] {
    do {
        let board = try BoardLoader.parse(yaml: yaml, file: testFile)
        Issue.record("expected the board to be rejected, but it loaded as '\(board.name)'", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.errors
    }
}

/// Checks that the board is rejected with an error at `keyPath` on `line`, whose message
/// contains `message`, and that its one-line description names file, line and key.
@discardableResult
func expectError(_ yaml: String, keyPath: String, line: Int, message: String,
                 sourceLocation: SourceLocation = #_sourceLocation) -> BoardFileError? {
    let found = errors(of: yaml, sourceLocation: sourceLocation)
    guard let error = found.first(where: { $0.keyPath == keyPath && $0.message.contains(message) }) else {
        Issue.record("no error at '\(keyPath)' containing \"\(message)\"; got:\n\(BoardFileErrors(found))",
                     sourceLocation: sourceLocation)
        return nil
    }
    #expect(error.file == testFile, sourceLocation: sourceLocation)
    #expect(error.line == line, "wrong line for \(error)", sourceLocation: sourceLocation)
    #expect(error.description.hasPrefix("\(testFile):\(line):\(error.column): \(keyPath): "), sourceLocation: sourceLocation)
    #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
    return error
}
