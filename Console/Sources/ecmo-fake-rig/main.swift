// A stand-in rig on a Unix socket (Console/e2e and manual trials of the dashboard
// without ecmo-rig): `ecmo-fake-rig PATH [HZ]`. Runs until killed.
import ECMOFakeRig
import Foundation

let arguments = CommandLine.arguments
let path = arguments.count > 1 ? arguments[1] : "/tmp/ecmo-rig.sock"
let hz = arguments.count > 2 ? Double(arguments[2]) ?? 25 : 25
do {
    let rig = try await FakeRig.start(path: path, telemetryHz: hz)
    print("fake rig on \(rig.path) at \(hz) Hz")
    while true { try await Task.sleep(for: .seconds(3600)) }
} catch {
    FileHandle.standardError.write(Data("ecmo-fake-rig: \(error)\n".utf8))
    exit(1)
}
