import Testing
import ECMOCore
import ECMOHAL
import ECMOPosix
import Foundation  // only for temporary paths

/// A time source that interrupts the first sleeps, as a signal would.
final class InterruptingSource: MonotonicTimeSource {
    var now: UInt64 = 42
    var results: [MonotonicSleepResult]
    var sleeps = 0
    init(_ results: [MonotonicSleepResult]) { self.results = results }
    func nowNanoseconds() -> UInt64 { now }
    func sleep(untilNanoseconds deadline: UInt64) -> MonotonicSleepResult {
        sleeps += 1
        return results.isEmpty ? .reached : results.removeFirst()
    }
}

func temporaryPath(_ name: String) -> String {
    NSTemporaryDirectory() + "ecmo-posix-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
}

@Suite struct MonotonicClockTests {
    @Test func theSystemClockNeverGoesBackAndSleepsToAnAbsoluteDeadline() {
        let clock = SystemMonotonicClock()
        let a = clock.now()
        clock.sleep(until: a + .milliseconds(2))
        let b = clock.now()
        #expect(b >= a + .milliseconds(2))
    }

    @Test func aSleepInterruptedBySignalsSleepsAgainToTheSameDeadline() {
        let source = InterruptingSource([.interrupted, .interrupted, .reached])
        let clock = PosixMonotonicClock(source: source)
        #expect(clock.now() == Instant(nanosecondsSinceOrigin: 42))
        clock.sleep(until: Instant(nanosecondsSinceOrigin: 5))
        #expect(source.sleeps == 3)
    }

    @Test func aSignalStormCannotKeepTheClockAsleepForever() {
        let source = InterruptingSource(Array(repeating: .interrupted, count: 5000))
        PosixMonotonicClock(source: source).sleep(until: Instant(nanosecondsSinceOrigin: 5))
        #expect(source.sleeps == 1000)
    }
}

@Suite struct DurableFileTests {
    @Test func appendedBytesAreThereAfterReopeningAndATornTailCanBeCut() throws {
        let path = temporaryPath("append")
        defer { try? DurableFiles.remove(path) }
        do {
            let f = try AppendOnlyFile(path: path, creating: true)
            try f.appendDurably([1, 2, 3])
            try f.appendDurably([4, 5])
        }
        #expect(try DurableFiles.readAll(path) == [1, 2, 3, 4, 5])
        let again = try AppendOnlyFile(path: path, creating: false)
        try again.truncateDurably(to: 3)
        try again.appendDurably([9])
        #expect(try DurableFiles.readAll(path) == [1, 2, 3, 9])
    }

    @Test func aNewRecordRefusesToOverwriteAnExistingFile() throws {
        let path = temporaryPath("exclusive")
        defer { try? DurableFiles.remove(path) }
        _ = try AppendOnlyFile(path: path, creating: true)
        #expect(DurableFiles.exists(path))
        #expect(throws: FileError.self) { _ = try AppendOnlyFile(path: path, creating: true) }
    }

    @Test func aFullDiskIsAThrownErrorNamingTheFile() throws {
        let f = try AppendOnlyFile(path: "/dev/full", creating: false)
        let error = #expect(throws: FileError.self) { try f.appendDurably([1]) }
        #expect(error?.description.contains("/dev/full") == true)
    }

    @Test func aMissingFileIsAnErrorNotACrash() {
        #expect(throws: FileError.self) { _ = try DurableFiles.readAll("/nonexistent/ecmo/file") }
        #expect(AttributeFile(path: "/nonexistent/ecmo/attr", access: .read) == nil)
    }

    @Test func storesToASharedMappingOutliveTheMapping() throws {
        let path = temporaryPath("mapped")
        defer { try? DurableFiles.remove(path) }
        do {
            let m = try SharedMappedFile(path: path, byteCount: 16)
            m.pointer.storeBytes(of: Int64(1234), as: Int64.self)
        }
        let m = try SharedMappedFile(path: path, byteCount: 16)
        #expect(m.pointer.load(as: Int64.self) == 1234)
    }

    @Test func anAttributeFileIsWrittenAndReadWholeAtOffsetZero() throws {
        let path = temporaryPath("attr")
        defer { try? DurableFiles.remove(path) }
        _ = try AppendOnlyFile(path: path, creating: true)
        let w = try #require(AttributeFile(path: path, access: .write))
        #expect(w.write(Array("pull-up\n".utf8)))
        let r = try #require(AttributeFile(path: path, access: .read))
        #expect(r.read() == "pull-up")
        #expect(w.write(Array("pull-dn\n".utf8)))   // again at offset 0, as sysfs takes a new value
        #expect(r.read() == "pull-dn")
    }
}

@Suite struct UnixSocketTests {
    @Test func aClientAndTheListenerExchangeLines() throws {
        let path = temporaryPath("sock")
        let listener = try UnixSocket.listen(path)
        defer { UnixSocket.close(listener); UnixSocket.remove(path: path) }
        let client = try UnixLineClient(path: path)
        var entries = [SocketPollEntry(fd: listener)]
        UnixSocket.poll(&entries, timeoutMilliseconds: 1000)
        #expect(entries[0].readable)
        let server = try #require(UnixSocket.accept(listener))
        defer { UnixSocket.close(server) }
        let hello = Array("hello\n".utf8)
        #expect(hello.withUnsafeBytes { UnixSocket.send(server, $0) } == .bytes(6))
        #expect(client.readLine(timeout: 2) == "hello")
        try client.send("back")
        var buffer = [UInt8](repeating: 0, count: 64)
        var got: SocketTransfer = .wouldBlock
        for _ in 0..<100 where got == .wouldBlock {
            got = buffer.withUnsafeMutableBytes { UnixSocket.receive(server, into: $0) }
        }
        #expect(got == .bytes(5))
        client.close()
        var closed: SocketTransfer = .wouldBlock
        for _ in 0..<100 where closed == .wouldBlock {
            closed = buffer.withUnsafeMutableBytes { UnixSocket.receive(server, into: $0) }
        }
        #expect(closed == .closed)
    }

    @Test func aFileThatIsNotASocketIsNeverRemoved() throws {
        let path = temporaryPath("plain")
        defer { try? DurableFiles.remove(path) }
        _ = try AppendOnlyFile(path: path, creating: true)
        #expect(throws: SocketError.self) { _ = try UnixSocket.listen(path) }
        #expect(DurableFiles.exists(path))
    }

    @Test func aLiveSocketIsRefusedAndAStaleOneReplaced() throws {
        let path = temporaryPath("live")
        let first = try UnixSocket.listen(path)
        #expect(throws: SocketError.self) { _ = try UnixSocket.listen(path) }
        UnixSocket.close(first)   // the socket file stays: stale
        let second = try UnixSocket.listen(path)
        UnixSocket.close(second)
        UnixSocket.remove(path: path)
    }
}
