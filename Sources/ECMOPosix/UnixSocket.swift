#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A socket call that failed, naming the call, the path and the cause. Nothing here traps.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    static func errno(_ what: String) -> SocketError {
        SocketError("\(what): \(errnoText())")
    }
}

/// How a non-blocking transfer on a socket ended.
public enum SocketTransfer: Sendable, Equatable {
    /// This many bytes moved (never 0).
    case bytes(Int)
    /// Nothing to read or no room to write now (EAGAIN, or a signal interrupted a read):
    /// poll and try again.
    case wouldBlock
    /// The peer closed the stream (a read of 0 bytes).
    case closed
    /// Any other error: the connection is unusable.
    case failed
}

/// One socket to watch in `UnixSocket.poll`, and what it was found ready for.
public struct SocketPollEntry: Sendable {
    public var fd: Int32
    public var wantsWrite: Bool
    /// Readable, hung up or in error: a read will not block and tells which.
    public internal(set) var readable = false
    public internal(set) var writable = false
    public init(fd: Int32, wantsWrite: Bool = false) {
        self.fd = fd
        self.wantsWrite = wantsWrite
    }
}

/// Unix stream sockets (the console link's transport) as plain file descriptors, every
/// failure a thrown `SocketError` or a `SocketTransfer` value.
public enum UnixSocket {
    static var streamType: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_STREAM.rawValue)
        #else
        SOCK_STREAM
        #endif
    }

    static func address(_ path: String) throws(SocketError) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw SocketError("socket path \(path): must be 1...\(capacity - 1) bytes long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for i in 0..<bytes.count { raw[i] = bytes[i] }
            raw[bytes.count] = 0
        }
        return addr
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// A connected client socket (blocking), or an error.
    public static func connect(_ path: String) throws(SocketError) -> Int32 {
        var addr = try address(path)
        let fd = socket(AF_UNIX, streamType, 0)
        guard fd >= 0 else { throw SocketError.errno("socket") }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sysConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 {
            let e = SocketError.errno("connect \(path)")
            sysClose(fd)
            throw e
        }
        return fd
    }

    /// A listening, non-blocking socket at `path` with mode 0660. Refuses a path a live
    /// peer answers on; removes a stale socket file; refuses any other existing file.
    public static func listen(_ path: String, backlog: Int32 = 8) throws(SocketError) -> Int32 {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw SocketError("console socket \(path): a file that is not a socket is in the way")
            }
            if let fd = try? connect(path) {
                sysClose(fd)
                throw SocketError("console socket \(path) is in use by a running rig (stop it first, or give another --console-socket)")
            }
            guard unlink(path) == 0 else { throw SocketError.errno("removing the stale console socket \(path)") }
        }
        var addr = try address(path)
        let fd = socket(AF_UNIX, streamType, 0)
        guard fd >= 0 else { throw SocketError.errno("socket") }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 {
            let e = SocketError.errno("bind \(path)")
            sysClose(fd)
            throw e
        }
        // Before listen(): nobody can connect while the mode is still the umask's.
        if chmod(path, 0o660) != 0 {
            let e = SocketError.errno("chmod 0660 \(path)")
            sysClose(fd)
            unlink(path)
            throw e
        }
        if sysListen(fd, backlog) != 0 {
            let e = SocketError.errno("listen \(path)")
            sysClose(fd)
            unlink(path)
            throw e
        }
        setNonBlocking(fd)
        return fd
    }

    /// The next pending connection on a listening socket, made non-blocking; nil when none waits.
    public static func accept(_ listening: Int32) -> Int32? {
        let fd = sysAccept(listening)
        guard fd >= 0 else { return nil }
        setNonBlocking(fd)
        return fd
    }

    /// Reads what is there without blocking.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> SocketTransfer {
        let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        if n > 0 { return .bytes(n) }
        if n == 0 { return .closed }
        let e = errno
        return e == EAGAIN || e == EWOULDBLOCK || e == EINTR ? .wouldBlock : .failed
    }

    /// Writes what fits without blocking (a signal is retried; a closed peer is `.failed`,
    /// never SIGPIPE).
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> SocketTransfer {
        guard bytes.count > 0 else { return .wouldBlock }
        while true {
            let n = sysSend(fd, bytes.baseAddress, bytes.count, noSignal | Int32(MSG_DONTWAIT))
            if n > 0 { return .bytes(n) }
            if n == 0 { return .wouldBlock }
            let e = errno
            if e == EINTR { continue }
            return e == EAGAIN || e == EWOULDBLOCK ? .wouldBlock : .failed
        }
    }

    /// Writes all of `bytes` on a blocking socket.
    public static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws(SocketError) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { sysSend(fd, $0.baseAddress, $0.count, noSignal) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SocketError.errno("send")
            }
            off += n
        }
    }

    /// Waits up to `timeoutMilliseconds` for any entry to be ready, and marks which are.
    public static func poll(_ entries: inout [SocketPollEntry], timeoutMilliseconds: Int32) {
        var fds = entries.map { e -> pollfd in
            var ev = Int16(POLLIN)
            if e.wantsWrite { ev |= Int16(POLLOUT) }
            return pollfd(fd: e.fd, events: ev, revents: 0)
        }
        _ = sysPoll(&fds, timeoutMilliseconds)
        for i in entries.indices {
            let r = fds[i].revents
            entries[i].readable = r & Int16(POLLIN | POLLHUP | POLLERR) != 0
            entries[i].writable = r & Int16(POLLOUT) != 0
        }
    }

    public static func close(_ fd: Int32) { sysClose(fd) }

    /// Removes a socket file (after the listening socket is closed).
    public static func remove(path: String) { _ = unlink(path) }

    static var noSignal: Int32 {
        #if os(Linux)
        Int32(MSG_NOSIGNAL)
        #else
        0
        #endif
    }
}

/// A minimal blocking line client of a Unix stream socket (the console link's tests and
/// diagnostics): write lines, read lines with a time-out.
public final class UnixLineClient: @unchecked Sendable {
    public let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false
    private let time = PosixTimeSource()

    public init(path: String) throws(SocketError) {
        fd = try UnixSocket.connect(path)
    }

    deinit { close() }

    public func close() {
        if !closed {
            closed = true
            sysClose(fd)
        }
    }

    /// Writes `line` and a newline (blocking).
    public func send(_ line: String) throws(SocketError) {
        try send(bytes: Array((line + "\n").utf8))
    }

    public func send(bytes: [UInt8]) throws(SocketError) {
        try UnixSocket.sendAll(fd, bytes)
    }

    /// The next line, or nil at end of stream or after `timeout` seconds.
    public func readLine(timeout: Double = 5) -> String? {
        let deadline = time.nowNanoseconds() &+ UInt64(max(0, timeout) * 1e9)
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeSubrange(...i)
                return line
            }
            let now = time.nowNanoseconds()
            if now >= deadline || closed { return nil }
            let leftMs = Int32(min((deadline - now) / 1_000_000, 1000)) + 1
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = sysPoll(&p, leftMs)
            if r < 0 && errno != EINTR { return nil }
            if r <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return nil }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return nil
            }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}

// The C library's names, reached without the clash with `UnixSocket`'s own methods.
private func sysConnect(_ fd: Int32, _ addr: UnsafePointer<sockaddr>, _ len: socklen_t) -> Int32 {
    #if canImport(Glibc)
    Glibc.connect(fd, addr, len)
    #else
    Darwin.connect(fd, addr, len)
    #endif
}
private func sysListen(_ fd: Int32, _ backlog: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.listen(fd, backlog)
    #else
    Darwin.listen(fd, backlog)
    #endif
}
private func sysAccept(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.accept(fd, nil, nil)
    #else
    Darwin.accept(fd, nil, nil)
    #endif
}
private func sysSend(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int, _ flags: Int32) -> Int {
    #if canImport(Glibc)
    Glibc.send(fd, p, n, flags)
    #else
    Darwin.send(fd, p, n, flags)
    #endif
}
private func sysClose(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}
private func sysPoll(_ fds: UnsafeMutablePointer<pollfd>, _ count: Int, _ timeout: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.poll(fds, nfds_t(count), timeout)
    #else
    Darwin.poll(fds, nfds_t(count), timeout)
    #endif
}
private func sysPoll(_ fds: inout [pollfd], _ timeout: Int32) -> Int32 {
    let count = fds.count
    return fds.withUnsafeMutableBufferPointer { b in
        guard let base = b.baseAddress else { return 0 }
        return sysPoll(base, count, timeout)
    }
}
private func sysPoll(_ fd: inout pollfd, _ timeout: Int32) -> Int32 {
    sysPoll(&fd, 1, timeout)
}

/// `strerror` of the current errno, with its number.
func errnoText(_ e: Int32 = errno) -> String {
    String(cString: strerror(e)) + " (errno \(e))"
}
