import ECMOCore
import Foundation
import Testing

/// The co-processor's Cortex-M4F image (`scripts/build-coprocessor`) under
/// `qemu-system-arm -M mps2-an386`: the same bench scripts as `ProtectiveInterlockTests`, and
/// the image's report must equal the hosted run's byte for byte (same code, another CPU).
/// `scripts/test` builds the image and sets ECMO_COPROCESSOR_IMAGE; without it (a laptop
/// without the ARM toolchain) these tests are skipped, and say so.
@Suite("Safety co-processor image in QEMU (mps2-an386)",
       .enabled(if: CoProcessorImage.available, "set ECMO_COPROCESSOR_IMAGE to scripts/build-coprocessor's image, with qemu-system-arm installed"))
struct CoProcessorImageTests {
    static let scripts: [(String, [UInt8])] = {
        var list: [(String, [UInt8])] = []
        var s = BenchScript()
        s.run(500)
        s.rearm(0)
        s.run(700)
        s.rearm(0)
        s.run(100)
        list.append(("power-on and re-arm", s.bytes))
        for fault in ["air", "estop", "suction", "pre", "zero_flow"] {
            var f = BenchScript.armed()
            f.run(300)
            switch fault {
            case "air": f.air = true
            case "estop": f.estop = true
            case "suction": f.drainage = -320
            case "pre": f.pre = 640
            default: f.flow = 0
            }
            f.run(fault == "zero_flow" ? 60_300 : 300)
            list.append((fault, f.bytes))
        }
        var h = BenchScript.armed()
        h.run(200)
        h.run(400, heartbeats: false)
        h.run(1500)
        h.rearm(2)
        h.rearm(1)
        h.run(50)
        list.append(("heartbeat stall, then re-arm", h.bytes))
        var n = BenchScript.armed()
        var bad = n.frame(.heartbeat(pumpCommanded: true, lifecycle: 2))
        bad[5] ^= 1
        n.run(20, link: [0xA5, 0xA5, 0x11] + bad)
        n.run(100)
        list.append(("line noise", n.bytes))
        return list
    }()

    @Test(arguments: CoProcessorImageTests.scripts.indices)
    func theImageReportsWhatTheHostedCoreReports(index: Int) throws {
        let (name, script) = Self.scripts[index]
        let hosted = BenchReport(script)
        let image = try CoProcessorImage.run(script)
        #expect(image.status == 0, "\(name): exit \(image.status)\n\(image.output)")
        #expect(image.output == hosted.text, "\(name): the image and the hosted core disagree")
        #expect(hosted.lines.last?.hasPrefix("end ") == true)
    }

    @Test func theImageRefusesAMalformedScriptWithTheSameError() throws {
        var s = BenchScript.armed()
        s.bytes += [0x54]
        let image = try CoProcessorImage.run(s.bytes)
        #expect(image.status != 0)
        #expect(image.output == BenchReport(s.bytes).text)
        #expect(image.output.hasSuffix("record does not start with 'S'\n"))
    }
}

enum CoProcessorImage {
    static var path: String? { ProcessInfo.processInfo.environment["ECMO_COPROCESSOR_IMAGE"] }
    static var qemu: String? {
        ["/usr/bin/qemu-system-arm", "/usr/local/bin/qemu-system-arm"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static var available: Bool {
        guard let p = path, FileManager.default.fileExists(atPath: p) else { return false }
        return qemu != nil
    }

    /// Runs the image on `script` (handed over semihosting as coprocessor-script.bin in a
    /// fresh directory); returns its report and exit status.
    static func run(_ script: [UInt8]) throws -> (output: String, status: Int32) {
        guard let image = path, let qemu else { throw CocoaError(.fileNoSuchFile) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coproc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(script).write(to: dir.appendingPathComponent("coprocessor-script.bin"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: qemu)
        // The image's semihosting console goes to a file: QEMU's own messages stay apart.
        p.arguments = ["-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                       "-chardev", "file,id=report,path=report.txt", "-semihosting-config", "enable=on,target=native,chardev=report",
                       "-kernel", URL(fileURLWithPath: image).standardizedFileURL.path]
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let data = (try? Data(contentsOf: dir.appendingPathComponent("report.txt"))) ?? Data()
        return (String(decoding: data, as: UTF8.self), p.terminationStatus)
    }
}

/// The same core as an aarch64 Linux program (`scripts/build-aarch64-bench`: Embedded Swift,
/// linked static-pie with Debian's aarch64 glibc) under `qemu-aarch64-static`: the Pi's CPU
/// and C library, no Swift runtime on the target. Its report must equal the hosted x86_64
/// run's byte for byte. `scripts/test` sets ECMO_AARCH64_BENCH; without it these are skipped.
@Suite("The core as an aarch64 Linux program (qemu-aarch64)",
       .enabled(if: AArch64Bench.available, "set ECMO_AARCH64_BENCH to scripts/build-aarch64-bench's program, with qemu-user-static installed"))
struct AArch64BenchTests {
    @Test(arguments: CoProcessorImageTests.scripts.indices)
    func theAArch64ProgramReportsWhatTheHostedCoreReports(index: Int) throws {
        let (name, script) = CoProcessorImageTests.scripts[index]
        let run = try AArch64Bench.run(script)
        #expect(run.status == 0, "\(name): exit \(run.status)\n\(run.output)")
        #expect(run.output == BenchReport(script).text, "\(name): aarch64 and x86_64 disagree")
    }

    @Test func aMalformedScriptFailsTheSameWayOnAArch64() throws {
        var s = BenchScript.armed()
        s.bytes += [0x54]
        let run = try AArch64Bench.run(s.bytes)
        #expect(run.status == 1)
        #expect(run.output == BenchReport(s.bytes).text)
    }
}

enum AArch64Bench {
    static var path: String? { ProcessInfo.processInfo.environment["ECMO_AARCH64_BENCH"] }
    static var qemu: String? {
        ["/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-aarch64"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static var available: Bool {
        guard let p = path, FileManager.default.fileExists(atPath: p) else { return false }
        return qemu != nil
    }

    static func run(_ script: [UInt8]) throws -> (output: String, status: Int32) {
        guard let program = path, let qemu else { throw CocoaError(.fileNoSuchFile) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aarch64-bench-\(UUID().uuidString).bin")
        try Data(script).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: qemu)
        p.arguments = [URL(fileURLWithPath: program).standardizedFileURL.path, file.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), p.terminationStatus)
    }
}
