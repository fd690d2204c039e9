import Testing
import Foundation
import ECMORunStore

/// The HTML report reads events as the console does: in words with units, and with the
/// operator's name from commands.jsonl for what a console command caused.
@Suite struct RunReportWordsTests {
    @Test func theReportListsEventsInWordsNamingTheOperatorFromTheCommandLog() throws {
        let runs = temporaryDirectory()
        let events = fixtureEvents + [
            #"{"event":"overrun","lateness_s":0.00122,"previous_execution_s":2.73e-05,"t":42}"#,
            #"{"action":"acknowledged","alarm":"P_DRAIN_LOW","by":"console","event":"alarm","priority":"high","t":43}"#,
            #"{"by":"console","event":"alarm_limit","from":7,"key":"flow_high_lpm","t":44,"to":7.5}"#,
        ]
        let dir = writeFixtureRun(in: runs, name: "words", rows: 20, events: events, summary: fixtureSummary)
        let commands = [
            #"{"actor":"olga","command":"acknowledge","id":1,"result":"ok","role":"operator","t":42.99}"#,
            #"{"actor":"victor","command":"set_alarm_limit","id":2,"result":"refused","role":"operator","t":43.5}"#,
            #"{"actor":"olga","command":"set_alarm_limit","id":3,"result":"ok","role":"operator","t":43.99}"#,
        ]
        try Data(commands.joined(separator: "\n").utf8).write(to: dir.appendingPathComponent("commands.jsonl"))
        let html = try RunReport.html(run: RunFolder.read(dir))
        #expect(html.contains("Loop 1.2 ms late (previous tick took 27 µs)"))
        #expect(html.contains("Olga acknowledged P_DRAIN_LOW"))
        #expect(html.contains("Olga changed alarm limit flow_high_lpm from 7 to 7.5 L/min"), "the refused command of victor is not the one named")
        #expect(html.contains("The operator panel acknowledged FLOW_LOW"))
        #expect(!html.contains("lateness_s"))
    }
}
