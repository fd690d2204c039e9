#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file call that failed: the path and what went wrong, with errno's text.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// Whole-file helpers for records that must survive a power cut.
public enum DurableFiles {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The file's bytes (signals retried).
    public static func readAll(_ path: String) throws(FileError) -> [UInt8] {
        let f = sysOpen(path, O_RDONLY | O_CLOEXEC, 0)
        guard f >= 0 else { throw FileError(path: path, message: "cannot open for reading: \(errnoText())") }
        defer { _ = sysClose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(f, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, message: "read failed: \(errnoText())")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    public static func remove(_ path: String) throws(FileError) {
        guard unlink(path) == 0 else { throw FileError(path: path, message: "cannot remove: \(errnoText())") }
    }

    /// Makes the directory entry of `path` durable (after creating or renaming a file in
    /// it): without this a power cut can lose a new file whose bytes were synced.
    /// Makes the directory entry of `path` durable (fsync of its directory). Throws when
    /// the directory cannot be opened or synced: a new file whose entry a power cut can
    /// lose must not be relied on.
    public static func syncDirectory(of path: String) throws(FileError) {
        var dir = path
        if let slash = dir.lastIndex(of: "/") { dir = String(dir[..<slash]) } else { dir = "." }
        if dir.isEmpty { dir = "/" }
        let d = sysOpen(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard d >= 0 else { throw FileError(path: dir, message: "cannot open the directory to sync it: \(errnoText())") }
        defer { _ = sysClose(d) }
        guard fsync(d) == 0 else { throw FileError(path: dir, message: "fsync of the directory failed: \(errnoText())") }
    }
}

/// A file opened for appending. `appendDurably` (write, then `fdatasync`) returns only once
/// the bytes are on the disk; `write` alone leaves them in the page cache, where a power cut
/// may lose or tear them. Closed when released.
public final class AppendOnlyFile: RecordFile {
    public let path: String
    private var fd: Int32

    /// Opens `path` write-only in append mode; `creating` with `exclusive` refuses an
    /// existing file (a new record must not overwrite an old one).
    public init(path: String, creating: Bool, exclusive: Bool = true) throws(FileError) {
        self.path = path
        var flags = O_WRONLY | O_APPEND | O_CLOEXEC
        if creating { flags |= O_CREAT | (exclusive ? O_EXCL : 0) }
        let f = sysOpen(path, flags, 0o644)
        guard f >= 0 else { throw FileError(path: path, message: "cannot open for writing: \(errnoText())") }
        fd = f
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { _ = sysClose(fd); fd = -1 }
    }

    /// Writes all of `bytes` (a signal is retried, 100 times at most); no sync. A failure
    /// after part of them was written leaves that part in the file: the caller cuts it back.
    public func write(_ bytes: [UInt8]) throws(FileError) {
        guard fd >= 0 else { throw FileError(path: path, message: "write after close") }
        var done = 0
        var attempts = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in sysWrite(fd, raw.baseAddress.map { $0 + done }, bytes.count - done) }
            if n < 0 {
                if errno == EINTR && attempts < 100 { attempts += 1; continue }
                throw FileError(path: path, message: "write failed: \(errnoText())")
            }
            done += n
        }
    }

    /// Makes the written data (and the length) durable.
    public func sync() throws(FileError) {
        guard fd >= 0 else { throw FileError(path: path, message: "sync after close") }
        #if canImport(Glibc)
        let rc = fdatasync(fd)
        #else
        let rc = fsync(fd)
        #endif
        guard rc == 0 else { throw FileError(path: path, message: "fdatasync failed: \(errnoText())") }
    }

    /// Cuts the file to `length` bytes; no sync.
    public func truncate(to length: Int) throws(FileError) {
        guard fd >= 0, ftruncate(fd, off_t(length)) == 0 else {
            throw FileError(path: path, message: "cannot truncate to \(length) bytes: \(errnoText())")
        }
    }
}

/// A small file mapped shared into memory: plain stores to it reach the page cache at
/// once, so they outlive a kill -9 of this process (not a power cut). The simulated
/// plant's state in the kill test uses it.
public final class SharedMappedFile {
    public let path: String
    public let byteCount: Int
    /// The mapped bytes, valid until the object is released.
    public let pointer: UnsafeMutableRawPointer
    private let fd: Int32

    /// Opens or creates `path`, sizes it to `byteCount` and maps it read-write.
    public init(path: String, byteCount: Int) throws(FileError) {
        let f = sysOpen(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard f >= 0 else { throw FileError(path: path, message: "cannot open: \(errnoText())") }
        guard ftruncate(f, off_t(byteCount)) == 0 else {
            let e = FileError(path: path, message: "cannot size to \(byteCount) bytes: \(errnoText())")
            _ = sysClose(f)
            throw e
        }
        guard let m = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0), m != MAP_FAILED else {
            let e = FileError(path: path, message: "cannot map: \(errnoText())")
            _ = sysClose(f)
            throw e
        }
        self.path = path
        self.byteCount = byteCount
        fd = f
        pointer = m
    }

    deinit {
        _ = msync(pointer, byteCount, MS_SYNC)
        _ = munmap(pointer, byteCount)
        _ = sysClose(fd)
    }
}

/// A kernel attribute file (sysfs, a module parameter) kept open and read or written
/// whole at offset 0: under an emulator an open/close per access is too slow. nil from
/// `open` when the file is absent.
public final class AttributeFile: @unchecked Sendable {
    public let path: String
    private let fd: Int32

    public enum Access: Sendable { case read, write }

    public init?(path: String, access: Access) {
        let f = sysOpen(path, (access == .read ? O_RDONLY : O_WRONLY) | O_CLOEXEC, 0)
        guard f >= 0 else { return nil }
        self.path = path
        fd = f
    }

    deinit { _ = sysClose(fd) }

    /// The value (up to `maxBytes`), whitespace trimmed; nil on an error or empty read.
    public func read(maxBytes: Int = 32) -> String? {
        var b = [UInt8](repeating: 0, count: maxBytes)
        let n = b.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return -1 }
            return pread(fd, base, raw.count, 0)
        }
        guard n > 0 else { return nil }
        var s = Substring(decoding: b[0..<n], as: UTF8.self)
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        return String(s)
    }

    /// Writes `bytes` at offset 0; false if the kernel refused them.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress else { return bytes.isEmpty }
            return pwrite(fd, base, raw.count, 0) == raw.count
        }
    }
}

private func sysOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, flags, mode)
    #else
    Darwin.open(path, flags, mode)
    #endif
}

private func sysWrite(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, p, n)
    #else
    Darwin.write(fd, p, n)
    #endif
}

private func sysClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #else
    Darwin.close(fd)
    #endif
}
