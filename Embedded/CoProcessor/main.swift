// The safety co-processor's bench image for QEMU's mps2-an386 (Cortex-M4F): the same
// `CoProcessorEndpoint` (ECMOCore, built in Embedded Swift) that the hosted tests run,
// driven by a bench script read from the host over semihosting, its report written back
// the same way. On the rig the same endpoint runs from a 1 kHz timer with the MCU's own
// ADC, GPIO and UART in place of the script (see docs/coprocessor.md).
import ECMOCore

@_extern(c, "host_read_file") func hostReadFile(_ name: UnsafePointer<UInt8>, _ buffer: UnsafeMutablePointer<UInt8>, _ capacity: Int32) -> Int32
@_extern(c, "host_write") func hostWrite(_ bytes: UnsafePointer<UInt8>?, _ count: Int32)
@_extern(c, "script_buffer") func scriptBuffer() -> UnsafeMutablePointer<UInt8>
@_extern(c, "script_capacity") func scriptCapacity() -> Int32

func say(_ s: StaticString) {
    hostWrite(s.utf8Start, Int32(s.utf8CodeUnitCount))
}

/// Returns the exit status: 0 when the script ran to its end.
@_cdecl("swift_main")
public func swiftMain() -> Int32 {
    let name: StaticString = "coprocessor-script.bin"
    // StaticString is NUL-terminated.
    let n = hostReadFile(name.utf8Start, scriptBuffer(), scriptCapacity())
    if n < 0 {
        say("error 0 cannot read coprocessor-script.bin over semihosting\n")
        return 2
    }
    let script = UnsafeRawBufferPointer(start: scriptBuffer(), count: Int(n))
    let ok = ProtectiveBench.run(script: script) { line in
        hostWrite(line.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(line.count))
    }
    return ok ? 0 : 1
}
