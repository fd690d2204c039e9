import Testing
import ECMORuntime
import ECMOLink
@testable import ECMOConsoleLink

/// The link thread turns every refusal into a sentence. Numbers a console may send — however
/// absurd — must come out as text, never trap the rig (a trap here ended a whole run once).
@Suite struct RefusalTextTests {
    @Test(arguments: [1e19, -1e308, .infinity, -.infinity, .nan, 9.3e18, 4500.0, 4500.5])
    func anOutOfRangeSpeedBecomesASentenceWhateverItsSize(_ rpm: Double) {
        let reply = RigCommandReply(sequence: 1, code: .setSpeed, reason: .aboveMaximum, limit: 4500)
        let text = ConsoleLinkServer.text(reply, .setSpeed(rpm: rpm))
        #expect(text.contains("above the maximum 4500 rpm"), "\(text)")
        #expect(text.hasPrefix("speed "))
    }

    @Test func aNegativeHugeFlowReadsBelowTheMinimum() {
        let reply = RigCommandReply(sequence: 2, code: .setFlow, reason: .belowMinimum, limit: 1)
        let text = ConsoleLinkServer.text(reply, .setFlow(lpm: -1e308))
        #expect(text.contains("below the minimum 1 L/min"), "\(text)")
    }
}
