import Testing
import ECMOLinux

@Suite struct LibGPIODTests {
    @Test func buildLinksALibgpiodWithAKnownMajorVersion() {
        #expect(LinuxBackend.hasGPIOD)
        #if os(Linux)
        #expect([1, 2].contains(LibGPIOD.majorVersion), "libgpiod \(LibGPIOD.version)")
        #endif
    }
}
