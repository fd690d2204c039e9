import Foundation
import RigTestSupport
import Testing

/// Item 16's values, as an operator could type them.
private let cliValues = ["nan", ".nan", "inf", ".inf", "-.inf", "1e308", "-1e308", "1e-320", "-1e-320",
                         "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                         "18446744073709551616", "0", "-0"]

private struct Exit {
    var signalled: Bool
    var status: Int32
    var stderr: String
}

private func rig(_ arguments: [String]) throws -> Exit {
    guard let binary = ecmoRigBinary() else { throw CocoaError(.fileNoSuchFile) }
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    p.currentDirectoryURL = repositoryRoot
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    _ = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Exit(signalled: p.terminationReason == .uncaughtSignal, status: p.terminationStatus,
                stderr: String(decoding: e, as: UTF8.self))
}

/// One numeric input of the command line: how to give it `value`, the option's name as the
/// refusal must show it, the values it may accept, and the exit status when it does (the run
/// that follows is tiny: 50 ms of loop time, or no rig on the socket).
private struct NumericOption: CustomStringConvertible, Sendable {
    var name: String
    var arguments: @Sendable (String, URL) -> [String]
    var accepts: Set<String> = []
    var acceptedStatus: Set<Int32> = [0]
    var description: String { name }
}

private let noSocket = "/tmp/ecmo-no-rig-\(UUID().uuidString).sock"

private let numericOptions: [NumericOption] = {
    func run(_ option: String) -> @Sendable (String, URL) -> [String] {
        { v, out in ["run", "--\(option)=\(v)", "--out", out.path, "--quiet"] + (option == "duration" ? [] : ["--duration", "50ms"]) }
    }
    func rtCheck(_ option: String, suffix: String = "") -> @Sendable (String, URL) -> [String] {
        { v, _ in ["rt-check", "--\(option)=\(v)\(suffix)"] + (option == "duration" ? [] : ["--duration", "20ms"]) }
    }
    func command(_ name: String) -> @Sendable (String, URL) -> [String] {
        { v, _ in ["command", name, "--console-socket", noSocket, "--timeout", "1", "--", v] }
    }
    let finite: Set<String> = ["1e308", "-1e308", "1e-320", "-1e-320", "9223372036854775807", "-9223372036854775808",
                               "9223372036854775808", "18446744073709551616", "0", "-0"]
    return [
        NumericOption(name: "--duration", arguments: run("duration")),
        NumericOption(name: "--flow", arguments: run("flow")),
        NumericOption(name: "--rpm", arguments: run("rpm")),
        NumericOption(name: "--seed", arguments: run("seed"), accepts: ["0", "-0", "9223372036854775807", "9223372036854775808"]),
        NumericOption(name: "--record-hz", arguments: run("record-hz")),
        NumericOption(name: "--console-rate", arguments: run("console-rate")),
        NumericOption(name: "--rt-priority", arguments: run("rt-priority")),
        NumericOption(name: "--cpu", arguments: run("cpu"), accepts: ["0", "-0"]),
        NumericOption(name: "--period-us", arguments: rtCheck("period-us")),
        NumericOption(name: "--priority", arguments: rtCheck("priority")),
        NumericOption(name: "--cpu", arguments: rtCheck("cpu"), accepts: ["0", "-0"]),
        NumericOption(name: "--duration", arguments: rtCheck("duration")),
        NumericOption(name: "--load", arguments: rtCheck("load", suffix: "us"), accepts: ["0", "-0"]),
        // The rig is the judge of a set-point's range: the command line refuses only what is
        // not a finite number, and a finite one goes to the socket (here: no rig, exit 8).
        NumericOption(name: "set_flow", arguments: command("set_flow"), accepts: finite, acceptedStatus: [8]),
        NumericOption(name: "set_speed", arguments: command("set_speed"), accepts: finite, acceptedStatus: [8]),
        NumericOption(name: "enter_act", arguments: command("enter_act"), accepts: finite, acceptedStatus: [8]),
        NumericOption(name: "set_heparin_rate", arguments: command("set_heparin_rate"), accepts: finite, acceptedStatus: [8]),
        NumericOption(name: "--timeout", arguments: { v, _ in ["command", "stop", "--console-socket", noSocket, "--timeout=\(v)"] }),
    ]
}()

/// Issue 15, item 16, command line: every numeric option of `run`, `rt-check` and `command`
/// refuses an extreme value with exit 64 and a message naming the option, before anything
/// runs; never a signal (a trapping conversion would be SIGILL, status 132 in a shell).
@Suite struct ExtremeCLIInputTests {
    @Test(arguments: cliValues)
    func everyNumericOptionRefusesAnExtremeValueNamingTheOption(_ value: String) throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-extreme-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        for option in numericOptions {
            let args = option.arguments(value, out)
            let r = try rig(args)
            #expect(!r.signalled, "\(args.joined(separator: " ")): killed by signal \(r.status)")
            if option.accepts.contains(value) {
                #expect(option.acceptedStatus.contains(r.status) || r.status == 64,
                        "\(args.joined(separator: " ")): exit \(r.status): \(r.stderr.prefix(300))")
            } else {
                #expect(r.status == 64, "\(args.joined(separator: " ")): exit \(r.status), expected 64: \(r.stderr.prefix(300))")
                #expect(r.stderr.contains(option.name), "\(args.joined(separator: " ")): the refusal does not name \(option.name): \(r.stderr.prefix(300))")
            }
        }
    }

    /// The file paths of `protocol plan` and `simulate`: a number in the file that is not a
    /// number is exit 2 with file:line:col, before anything runs.
    @Test(arguments: ["nan", ".inf", "-.inf", "1e308", "18446744073709551616"])
    func protocolPlanAndSimulateRefuseAnExtremeNumberInTheirFileWithItsLine(_ value: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-extreme-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let proto = try String(contentsOf: protocolFolder.appendingPathComponent("quick-dose.yaml"), encoding: .utf8)
        let line = try #require(proto.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("dose_cells_per_kg:") }) + 1
        let bad = proto.replacing(/dose_cells_per_kg: [^\s,}]+/, with: "dose_cells_per_kg: \(value)")
        let protoFile = dir.appendingPathComponent("p.yaml")
        try bad.write(to: protoFile, atomically: true, encoding: .utf8)
        let p = try rig(["protocol", "plan", protoFile.path])
        #expect(!p.signalled && p.status == 2, "protocol plan: exit \(p.status): \(p.stderr)")
        #expect(p.stderr.contains("\(protoFile.path):\(line):") && p.stderr.contains("dose_cells_per_kg"), "\(p.stderr)")

        let scenario = try String(contentsOf: repositoryRoot.appendingPathComponent("HIL/scenarios/setpoint-change.yaml"), encoding: .utf8)
        let scenarioFile = dir.appendingPathComponent("s.yaml")
        try scenario.replacing("flow_lpm: 3.0", with: "flow_lpm: \(value)").write(to: scenarioFile, atomically: true, encoding: .utf8)
        let s = try rig(["simulate", scenarioFile.path, "--out", dir.appendingPathComponent("runs").path, "--quiet"])
        #expect(!s.signalled && s.status == 2, "simulate: exit \(s.status): \(s.stderr)")
        #expect(s.stderr.contains("\(scenarioFile.path):") && s.stderr.contains("flow_lpm"), "\(s.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs").path), "nothing ran")
    }
}
