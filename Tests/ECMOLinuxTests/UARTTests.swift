#if os(Linux)
import Glibc
import Testing
import ECMOCore
import ECMOHAL
import ECMORuntime
import ECMOLinux
import CLinuxIO

/// The co-processor's UART on a real kernel terminal: a pseudo-terminal pair stands in for
/// the serial line (the test holds the co-processor's end). Without raw mode the terminal
/// would translate CR, swallow XON/XOFF and echo; the frames below carry those bytes.
@Suite struct UARTTests {
    /// (co-processor's end fd, the line's path).
    func terminal() throws -> (Int32, String) {
        var name = [CChar](repeating: 0, count: 64)
        let master = ecmo_open_pty(&name, name.count)
        try #require(master >= 0, "no pseudo-terminal: errno \(-master)")
        return (master, String(cString: name))
    }

    @Test func coProcessorFramesCrossARawSerialLineIntactBothWays() throws {
        let (mcuSide, path) = try terminal()
        defer { close(mcuSide) }
        let uart = try LinuxUART(path: path, baud: 115200)
        let channel = CoProcessorChannel(port: uart)
        let now = Instant.origin + .seconds(1)

        // Co-processor → Pi: a status whose trip number holds CR (0x0D) and XON (0x11) bytes.
        var frame: [UInt8] = []
        let status = CoProcessorStatus(permit: false, ready: true, trip: .airInLine, tripCount: 0x110D,
                                       causes: ProtectiveCauses(rawValue: 0x0013), blindChannels: 0x7F, lastRefusal: .none)
        CoProcessorFrame.encode(.status(status), sequence: 0x0D) { frame.append($0) }
        #expect(frame.withUnsafeBytes { write(mcuSide, $0.baseAddress, $0.count) } == frame.count)
        var view = channel.poll(now: now)
        for _ in 0..<50 where !view.heard {
            usleep(1000)
            view = channel.poll(now: now)
        }
        #expect(view.heard)
        #expect(channel.supervisor.status == status)
        #expect(channel.supervisor.decoder.crcErrors == 0)

        // Pi → co-processor: the heartbeat and a re-arm naming trip 0x110D.
        channel.send(now: now, pumpCommanded: true, lifecycle: .active, rearm: true)
        var endpoint = CoProcessorEndpoint()
        var buffer = [UInt8](repeating: 0, count: 256)
        var got = 0
        for _ in 0..<50 where got < 9 + 9 {
            let n = buffer.withUnsafeMutableBytes { read(mcuSide, $0.baseAddress! + got, $0.count - got) }
            if n > 0 { got += n } else { usleep(1000) }
        }
        for b in buffer[0..<got] { endpoint.receive(b, now: now) }
        #expect(endpoint.decoder.frames == 2)
        #expect(endpoint.decoder.crcErrors == 0)
        #expect(endpoint.interlock.heartbeatFresh(now: now))
        #expect(endpoint.interlock.rearmAttempts == 1)
        #expect(uart.dropped == 0)
    }

    @Test func aMissingUARTIsRefusedNamingItsPath() {
        #expect {
            _ = try LinuxUART(path: "/dev/ecmo-no-such-uart", baud: 115200)
        } throws: { e in
            "\(e)".contains("/dev/ecmo-no-such-uart") && "\(e)".contains("no such device")
        }
    }

    @Test func aFileThatIsNotASerialLineIsRefused() {
        #expect {
            _ = try LinuxUART(path: "/dev/null", baud: 115200)
        } throws: { e in
            "\(e)".contains("/dev/null") && "\(e)".contains("termios")
        }
    }

    @Test func aBaudRateTheLineDoesNotHaveIsRefusedNamingIt() throws {
        let (mcuSide, path) = try terminal()
        defer { close(mcuSide) }
        #expect {
            _ = try LinuxUART(path: path, baud: 12345)
        } throws: { e in
            "\(e)".contains("baud 12345")
        }
    }
}
#endif
