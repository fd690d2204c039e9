import ECMOCore
import ECMOHAL

/// The loop's end of the safety co-processor's link: each tick it reads what the UART has,
/// hands the core what it heard (`CoProcessorView`), and sends the heartbeat, and the
/// re-arm request when the core asks for it. Buffers are allocated once; nothing here waits.
public final class CoProcessorChannel {
    public let port: any ByteStream
    public private(set) var supervisor: CoProcessorSupervisor
    /// Reads or writes the UART refused (the supervisor's silence timeout does the rest).
    public private(set) var ioErrors = 0
    private let rx: UnsafeMutableRawBufferPointer
    private let tx: UnsafeMutableRawBufferPointer
    private var txCount = 0

    public init(port: any ByteStream, silenceTimeout: Duration = .milliseconds(100), heartbeatEvery: Duration = .milliseconds(10)) {
        self.port = port
        supervisor = CoProcessorSupervisor(silenceTimeout: silenceTimeout, heartbeatEvery: heartbeatEvery)
        rx = .allocate(byteCount: 64, alignment: 8)
        tx = .allocate(byteCount: 64, alignment: 8)
    }

    deinit {
        rx.deallocate()
        tx.deallocate()
    }

    /// Reads everything that has arrived (at most 256 bytes a tick) and returns the view.
    public func poll(now: Instant) -> CoProcessorView {
        var rounds = 0
        while rounds < 4 {
            rounds += 1
            let n: Int
            do throws(HALError) {
                n = try port.read(into: rx)
            } catch {
                ioErrors &+= 1
                break
            }
            if n <= 0 { break }
            for i in 0..<min(n, rx.count) { supervisor.receive(rx[i], now: now) }
        }
        return supervisor.view(now: now)
    }

    /// Sends the heartbeat when due, and a re-arm request naming the current trip if asked.
    public func send(now: Instant, pumpCommanded: Bool, lifecycle: LifecycleState, rearm: Bool) {
        txCount = 0
        supervisor.tick(now: now, pumpCommanded: pumpCommanded, lifecycle: lifecycle.rawValue) { append($0) }
        if rearm { _ = supervisor.requestRearm { append($0) } }
        guard txCount > 0 else { return }
        do throws(HALError) {
            try port.write(UnsafeRawBufferPointer(rebasing: tx[0..<txCount]))
        } catch {
            ioErrors &+= 1
        }
    }

    private func append(_ b: UInt8) {
        guard txCount < tx.count else { return }
        tx[txCount] = b
        txCount += 1
    }
}
