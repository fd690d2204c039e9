// The core in Embedded Swift as an aarch64 Linux program (the Pi's CPU and C library,
// linked static-pie, no Swift runtime on the target): it runs the safety co-processor's
// bench (`ProtectiveBench`, ECMOCore) on a script file and prints the report, so a test can
// compare it byte for byte with the x86_64 hosted build and the Cortex-M image. The first
// step toward the lean Pi image (docs/embedded.md).
import ECMOCore

@_extern(c, "pi_read_file") func piReadFile(_ path: UnsafePointer<CChar>, _ length: UnsafeMutablePointer<Int>) -> UnsafeMutablePointer<UInt8>?
@_extern(c, "pi_write") func piWrite(_ bytes: UnsafeRawPointer?, _ count: Int)

@_cdecl("pi_main")
public func piMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    guard argc == 2, let path = argv[1] else {
        let usage: StaticString = "usage: ecmo-bench-aarch64 SCRIPT\n"
        piWrite(usage.utf8Start, usage.utf8CodeUnitCount)
        return 64
    }
    var length = 0
    guard let bytes = piReadFile(path, &length) else {
        let e: StaticString = "error 0 cannot read the script\n"
        piWrite(e.utf8Start, e.utf8CodeUnitCount)
        return 2
    }
    let ok = ProtectiveBench.run(script: UnsafeRawBufferPointer(start: bytes, count: length)) { line in
        piWrite(line.baseAddress, line.count)
    }
    return ok ? 0 : 1
}
