import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin POSIX helpers for the console link's Unix stream sockets. Every failure comes
/// back as a thrown `LinkSocketError` with the call and errno; nothing traps.
public struct LinkSocketError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    static func errno(_ what: String) -> LinkSocketError {
        LinkSocketError("\(what): \(String(cString: strerror(Glibc.errno)))")
    }
}

enum UnixSocket {
    static var streamType: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_STREAM.rawValue)
        #else
        SOCK_STREAM
        #endif
    }

    static func address(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw LinkSocketError("socket path \(path): must be 1...\(capacity - 1) bytes long")
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
    static func connect(_ path: String) throws -> Int32 {
        var addr = try address(path)
        let fd = socket(AF_UNIX, streamType, 0)
        guard fd >= 0 else { throw LinkSocketError.errno("socket") }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 {
            let e = LinkSocketError.errno("connect \(path)")
            close(fd)
            throw e
        }
        return fd
    }

    /// A listening socket at `path` with mode 0660. Refuses a path a live peer answers on;
    /// removes a stale socket file; refuses any other existing file.
    static func listen(_ path: String, backlog: Int32 = 8) throws -> Int32 {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw LinkSocketError("console socket \(path): a file that is not a socket is in the way")
            }
            if let fd = try? connect(path) {
                close(fd)
                throw LinkSocketError("console socket \(path) is in use by a running rig (stop it first, or give another --console-socket)")
            }
            guard unlink(path) == 0 else { throw LinkSocketError.errno("removing the stale console socket \(path)") }
        }
        var addr = try address(path)
        let fd = socket(AF_UNIX, streamType, 0)
        guard fd >= 0 else { throw LinkSocketError.errno("socket") }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 {
            let e = LinkSocketError.errno("bind \(path)")
            close(fd)
            throw e
        }
        // Before listen(): nobody can connect while the mode is still the umask's.
        if chmod(path, 0o660) != 0 {
            let e = LinkSocketError.errno("chmod 0660 \(path)")
            close(fd)
            unlink(path)
            throw e
        }
        if Glibc.listen(fd, backlog) != 0 {
            let e = LinkSocketError.errno("listen \(path)")
            close(fd)
            unlink(path)
            throw e
        }
        setNonBlocking(fd)
        return fd
    }
}

/// A minimal blocking client of the console link (tests, diagnostics): write lines, read
/// lines with a time-out.
public final class ConsoleLinkClient: @unchecked Sendable {
    public let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    public init(path: String) throws {
        fd = try UnixSocket.connect(path)
    }

    deinit { close() }

    public func close() {
        if !closed {
            closed = true
            _ = Glibc.close(fd)
        }
    }

    /// Writes `line` and a newline (blocking).
    public func send(_ line: String) throws {
        try send(bytes: Array((line + "\n").utf8))
    }

    public func send(bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LinkSocketError.errno("send")
            }
            off += n
        }
    }

    /// The next line, or nil at end of stream or after `timeout` seconds.
    public func readLine(timeout: Double = 5) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeSubrange(...i)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 || closed { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(min(left * 1000, 1000)) + 1)
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
