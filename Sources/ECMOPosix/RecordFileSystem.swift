#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file the delivery journal or the run record appends to. Writing and syncing are
/// separate calls so that the order of writes and syncs is visible to a test: a power cut
/// keeps what was synced and may lose or tear what was written after it.
public protocol RecordFile: AnyObject {
    var path: String { get }
    /// Writes all of `bytes` at the end (no sync). A failure may leave part of them written.
    func write(_ bytes: [UInt8]) throws(FileError)
    /// Makes what was written durable (`fdatasync`).
    func sync() throws(FileError)
    /// Cuts the file to `length` bytes (no sync).
    func truncate(to length: Int) throws(FileError)
    func close()
}

extension RecordFile {
    /// Writes and syncs: durable when it returns.
    public func appendDurably(_ bytes: [UInt8]) throws(FileError) {
        try write(bytes)
        try sync()
    }

    /// Cuts and syncs (dropping a torn tail for good).
    public func truncateDurably(to length: Int) throws(FileError) {
        try truncate(to: length)
        try sync()
    }
}

/// The file-system calls of the records that must survive a crash (the delivery journal,
/// the run record), behind one seam: the real calls by default (`PosixFileSystem`), or a
/// test's log of them (`RecordingFileSystem`), replayed as a power cut would leave them
/// (`CrashStates`), or failing one with ENOSPC or EIO.
public protocol RecordFileSystem: Sendable {
    func exists(_ path: String) -> Bool
    func readAll(_ path: String) throws(FileError) -> [UInt8]
    func remove(_ path: String) throws(FileError)
    /// Makes `path`'s directory entry durable (fsync of its directory).
    func syncDirectory(of path: String) throws(FileError)
    func openForAppending(_ path: String, creating: Bool, exclusive: Bool) throws(FileError) -> any RecordFile
    /// Replaces `to` with `from` in one step (rename(2)); durable after `syncDirectory`.
    func rename(_ from: String, to: String) throws(FileError)
    /// Creates a directory and its parents (existing ones are fine).
    func createDirectory(_ path: String) throws(FileError)
}

/// The real calls.
public struct PosixFileSystem: RecordFileSystem {
    public init() {}
    public func exists(_ path: String) -> Bool { DurableFiles.exists(path) }
    public func readAll(_ path: String) throws(FileError) -> [UInt8] { try DurableFiles.readAll(path) }
    public func remove(_ path: String) throws(FileError) { try DurableFiles.remove(path) }
    public func syncDirectory(of path: String) throws(FileError) { try DurableFiles.syncDirectory(of: path) }
    public func openForAppending(_ path: String, creating: Bool, exclusive: Bool) throws(FileError) -> any RecordFile {
        try AppendOnlyFile(path: path, creating: creating, exclusive: exclusive)
    }
    public func rename(_ from: String, to: String) throws(FileError) {
        #if canImport(Glibc)
        let rc = Glibc.rename(from, to)
        #else
        let rc = Darwin.rename(from, to)
        #endif
        guard rc == 0 else { throw FileError(path: from, message: "cannot rename to \(to): \(errnoText())") }
    }
    public func createDirectory(_ path: String) throws(FileError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") where part != "." {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw FileError(path: current, message: "cannot create the directory: \(errnoText())")
            }
        }
    }
}
