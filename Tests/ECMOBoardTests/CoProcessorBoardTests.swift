import ECMOBoard
import ECMOCore
import Testing

/// The `coprocessor:` section: the rig boards carry it, and its limits can never sit inside
/// what the main controller may be configured to.
@Suite struct CoProcessorBoardTests {
    static let section = """
        coprocessor:
          uart: /dev/ttyAMA0
          baud: 115200
          heartbeat_ms: 10
          silence_timeout_ms: 100
          permit_wiring: "GPIO15 AND pump_enable"
          drainage_low_mmhg: -300
          pre_oxygenator_high_mmhg: 600
          pressure_persistence_ms: 50
          zero_flow_s: 60
          heartbeat_timeout_ms: 100
          rearm_clear_ms: 1000

        """

    @Test(arguments: ["rpi4-bench.yaml", "rpi5-bench.yaml"])
    func bothPiBoardsWireTheCoProcessorWithLimitsBeyondTheConfigurableBounds(_ name: String) throws {
        let board = try loadShipped(name)
        let c = try #require(board.coprocessor)
        #expect(c.uart == "/dev/ttyAMA0")
        #expect(c.limits.drainageLow.mmHg <= AlarmLimitKey.drainPressureLow.hardBounds.lowerBound)
        #expect(c.limits.preOxygenatorHigh.mmHg >= AlarmLimitKey.prePressureHigh.hardBounds.upperBound)
        #expect(c.limits.zeroFlowTime > .seconds(AlarmLimitKey.zeroFlowLimit.hardBounds.upperBound))
        #expect(c.limits.heartbeatTimeout >= c.heartbeatEvery * 3)
        #expect(c.limits.isValid)
        #expect(board.outputs[.pumpEnable] != nil, "the permit is in series with pump_enable")
    }

    @Test func theSectionLoadsWithTheValuesItStates() throws {
        let board = try BoardLoader.parse(yaml: minimalBoard + Self.section, file: testFile)
        let c = try #require(board.coprocessor)
        #expect(c.baud == 115200)
        #expect(c.heartbeatEvery == .milliseconds(10))
        #expect(c.silenceTimeout == .milliseconds(100))
        #expect(c.limits.pressurePersistence == .milliseconds(50))
        #expect(c.limits.zeroFlowTime == .seconds(60))
        #expect(c.limits.rearmClearTime == .seconds(1))
        #expect(try BoardLoader.parse(yaml: minimalBoard, file: testFile).coprocessor == nil)
    }

    @Test func aDrainageLimitInsideTheConfigurableRangeIsRefused() throws {
        let yaml = try mutated("drainage_low_mmhg: -300", "drainage_low_mmhg: -250", in: minimalBoard + Self.section)
        expectError(yaml, keyPath: "coprocessor.drainage_low_mmhg", line: try line(of: "drainage_low_mmhg", in: yaml),
                    message: "-250")
    }

    @Test func aPreOxygenatorLimitInsideTheConfigurableRangeIsRefused() throws {
        let yaml = try mutated("pre_oxygenator_high_mmhg: 600", "pre_oxygenator_high_mmhg: 550", in: minimalBoard + Self.section)
        expectError(yaml, keyPath: "coprocessor.pre_oxygenator_high_mmhg", line: try line(of: "pre_oxygenator_high_mmhg", in: yaml),
                    message: "550")
    }

    @Test func aZeroFlowTimeNoLongerThanTheLongestNoFlowLimitIsRefused() throws {
        let yaml = try mutated("zero_flow_s: 60", "zero_flow_s: 30", in: minimalBoard + Self.section)
        expectError(yaml, keyPath: "coprocessor.zero_flow_s", line: try line(of: "zero_flow_s", in: yaml),
                    message: "must be longer than the longest NO_FLOW limit")
    }

    @Test func aHeartbeatTimeoutShorterThanThreeHeartbeatsIsRefused() throws {
        let yaml = try mutated("heartbeat_timeout_ms: 100", "heartbeat_timeout_ms: 20", in: minimalBoard + Self.section)
        expectError(yaml, keyPath: "coprocessor.heartbeat_timeout_ms", line: try line(of: "heartbeat_timeout_ms", in: yaml),
                    message: "at least three heartbeats")
    }

    @Test func aMissingKeyIsReported() throws {
        let yaml = try mutated("  rearm_clear_ms: 1000\n", "", in: minimalBoard + Self.section)
        let found = errors(of: yaml)
        #expect(found.contains { $0.message.contains("rearm_clear_ms") })
    }
}
