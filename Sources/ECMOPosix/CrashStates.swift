#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// One file-system call, as a power cut sees it. Paths are as the caller gave them.
public enum FileOperation: Sendable, Equatable, CustomStringConvertible {
    /// A new, empty file: its name is durable only after its directory is synced.
    case create(String)
    /// Bytes appended (not yet durable).
    case write(String, [UInt8])
    /// The file's data made durable.
    case sync(String)
    case truncate(String, Int)
    /// The directory's entries made durable.
    case syncDirectory(String)
    case rename(String, String)
    case remove(String)
    case createDirectory(String)

    public var description: String {
        switch self {
        case .create(let p): "create \(p)"
        case .write(let p, let b): "write \(p) +\(b.count)"
        case .sync(let p): "sync \(p)"
        case .truncate(let p, let n): "truncate \(p) \(n)"
        case .syncDirectory(let d): "syncdir \(d)"
        case .rename(let a, let b): "rename \(a) → \(b)"
        case .remove(let p): "remove \(p)"
        case .createDirectory(let d): "mkdir \(d)"
        }
    }
}

/// The real file system, with every call that changes it logged in order (reads are not),
/// and a fault injector: a call `failWhen` names fails with that errno (a write after half
/// of its bytes, as a disk that fills up mid-write leaves it). For crash-consistency tests
/// (`CrashStates`) and ENOSPC/EIO drills of the journal and the run record.
public final class RecordingFileSystem: RecordFileSystem, @unchecked Sendable {
    private let base: any RecordFileSystem
    private let state = Mutex<[FileOperation]>([])
    /// Called before each logged call is made, with its index in the log (a test samples
    /// what the rig had done by then). Set before the system is shared between threads.
    public var willPerform: ((Int, FileOperation) -> Void)?
    /// Returns an errno for a call that must fail. Set before sharing, as `willPerform`.
    public var failWhen: ((FileOperation) -> Int32?)?

    public init(base: any RecordFileSystem = PosixFileSystem()) { self.base = base }

    /// Every logged call so far.
    public var operations: [FileOperation] { state.withLock { $0 } }

    func perform<T>(_ op: FileOperation, _ body: () throws(FileError) -> T) throws(FileError) -> T {
        let index = state.withLock { $0.count }
        willPerform?(index, op)
        if let e = failWhen?(op) {
            let message = String(cString: strerror(e)) + " (injected)"
            if case .write(let p, let bytes) = op, bytes.count > 1 {
                let part = Array(bytes.prefix(bytes.count / 2))
                state.withLock { $0.append(.write(p, part)) }
                throw FileError(path: p, message: "write failed after \(part.count) of \(bytes.count) bytes: \(message)")
            }
            throw FileError(path: op.path, message: "\(op.verb) failed: \(message)")
        }
        let result = try body()
        state.withLock { $0.append(op) }
        return result
    }

    public func exists(_ path: String) -> Bool { base.exists(path) }
    public func readAll(_ path: String) throws(FileError) -> [UInt8] { try base.readAll(path) }
    public func remove(_ path: String) throws(FileError) { try perform(.remove(path)) { () throws(FileError) in try base.remove(path) } }
    public func syncDirectory(of path: String) throws(FileError) {
        try perform(.syncDirectory(CrashStates.parent(of: path))) { () throws(FileError) in try base.syncDirectory(of: path) }
    }
    public func openForAppending(_ path: String, creating: Bool, exclusive: Bool) throws(FileError) -> any RecordFile {
        let existed = base.exists(path)
        let open = { () throws(FileError) -> any RecordFile in try self.base.openForAppending(path, creating: creating, exclusive: exclusive) }
        let file: any RecordFile
        if creating && !existed { file = try perform(.create(path), open) } else { file = try open() }
        return RecordingFile(file: file, system: self)
    }
    public func rename(_ from: String, to: String) throws(FileError) {
        try perform(.rename(from, to)) { () throws(FileError) in try base.rename(from, to: to) }
    }
    public func createDirectory(_ path: String) throws(FileError) {
        try perform(.createDirectory(path)) { () throws(FileError) in try base.createDirectory(path) }
    }
}

extension FileOperation {
    var path: String {
        switch self {
        case .create(let p), .write(let p, _), .sync(let p), .truncate(let p, _), .syncDirectory(let p),
             .rename(let p, _), .remove(let p), .createDirectory(let p): p
        }
    }
    var verb: String {
        switch self {
        case .create: "create"
        case .write: "write"
        case .sync: "fdatasync"
        case .truncate: "truncate"
        case .syncDirectory: "fsync of the directory"
        case .rename: "rename"
        case .remove: "remove"
        case .createDirectory: "mkdir"
        }
    }
}

final class RecordingFile: RecordFile {
    let file: any RecordFile
    let system: RecordingFileSystem
    init(file: any RecordFile, system: RecordingFileSystem) {
        self.file = file
        self.system = system
    }
    var path: String { file.path }
    func write(_ bytes: [UInt8]) throws(FileError) {
        try system.perform(.write(path, bytes)) { () throws(FileError) in try file.write(bytes) }
    }
    func sync() throws(FileError) { try system.perform(.sync(path)) { () throws(FileError) in try file.sync() } }
    func truncate(to length: Int) throws(FileError) {
        try system.perform(.truncate(path, length)) { () throws(FileError) in try file.truncate(to: length) }
    }
    func close() { file.close() }
}

/// What a disk may hold after a power cut at some point of a logged run, ALICE-style:
/// after every prefix of the log, the files as written; as synced only (writes after a
/// file's last sync lost, names not yet made durable by a directory sync lost); the two
/// mixes (names landed but not data, data but not names); and, when the last call was a
/// write, that write torn (a prefix of it, or garbage in its place).
public struct CrashState: Sendable {
    /// How many logged calls completed before the cut.
    public var afterOperations: Int
    public var variant: String
    /// Path → bytes of every file that exists.
    public var files: [String: [UInt8]]
    public var directories: [String]
}

public enum CrashStates {
    /// Every distinct crash state of `log` (duplicates, e.g. a sync that changed nothing
    /// on disk, are kept once: the first in log order). `initial`: the files on disk, all
    /// durable, before the first call (a run that starts on what an earlier crash left).
    public static func enumerate(_ log: [FileOperation], initial: [String: [UInt8]] = [:]) -> [CrashState] {
        var model = Model()
        for (path, bytes) in initial.sorted(by: { $0.key < $1.key }) { model.place(path, bytes) }
        var out: [CrashState] = []
        var seen = Set<[String: [UInt8]]>()
        func add(_ k: Int, _ variant: String, _ files: [String: [UInt8]]) {
            if seen.insert(files).inserted {
                out.append(CrashState(afterOperations: k, variant: variant, files: files, directories: model.directories))
            }
        }
        for k in 0...log.count {
            if k > 0 { model.apply(log[k - 1]) }
            add(k, "as written", model.files(names: model.current, data: model.content))
            add(k, "synced only", model.files(names: model.durable, data: model.synced))
            add(k, "names landed, data not", model.files(names: model.current, data: model.synced))
            add(k, "data landed, names not", model.files(names: model.durable, data: model.content))
            guard k > 0, case .write(let p, let bytes) = log[k - 1], bytes.count > 1, let inode = model.current[p] else { continue }
            var names = model.files(names: model.current, data: model.content)
            let before = Array((model.content[inode] ?? []).dropLast(bytes.count))
            var cuts = Set([1, bytes.count / 2, bytes.count - 1])
            cuts.remove(0)
            for m in cuts.sorted() where m < bytes.count {
                names[p] = before + bytes.prefix(m)
                add(k, "last write torn at \(m) of \(bytes.count) bytes", names)
            }
            var garbage = SeededBytes(seed: UInt64(k))
            names[p] = before + (0..<bytes.count).map { _ in garbage.next() }
            add(k, "last write replaced by garbage", names)
            names[p] = before + bytes.prefix(bytes.count / 2) + (0..<(bytes.count - bytes.count / 2)).map { _ in garbage.next() }
            add(k, "last write half written, garbage after", names)
        }
        return out
    }

    /// Writes `state` under `root`: every path that started with `original` is placed
    /// under `root` instead (paths outside it are refused).
    public static func materialize(_ state: CrashState, from original: String, into root: String) throws(FileError) {
        let fs = PosixFileSystem()
        func moved(_ p: String) throws(FileError) -> String {
            guard p == original || p.hasPrefix(original + "/") else {
                throw FileError(path: p, message: "outside the replayed directory \(original)")
            }
            return root + p.dropFirst(original.count)
        }
        try fs.createDirectory(root)
        for d in state.directories where d == original || d.hasPrefix(original + "/") { try fs.createDirectory(try moved(d)) }
        for (p, bytes) in state.files.sorted(by: { $0.key < $1.key }) {
            let target = try moved(p)
            try fs.createDirectory(parent(of: target))
            let f = try AppendOnlyFile(path: target, creating: true, exclusive: true)
            try f.write(bytes)
            f.close()
        }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }

    /// Names → inodes, inodes → bytes: as written, and as made durable.
    struct Model {
        var current: [String: Int] = [:]
        var durable: [String: Int] = [:]
        var content: [Int: [UInt8]] = [:]
        var synced: [Int: [UInt8]] = [:]
        var directories: [String] = []
        var nextInode = 0

        /// A file already on disk, name and data durable.
        mutating func place(_ path: String, _ bytes: [UInt8]) {
            nextInode += 1
            current[path] = nextInode
            durable[path] = nextInode
            content[nextInode] = bytes
            synced[nextInode] = bytes
        }

        mutating func apply(_ op: FileOperation) {
            switch op {
            case .create(let p):
                nextInode += 1
                current[p] = nextInode
                content[nextInode] = []
            case .write(let p, let b):
                if let i = current[p] { content[i, default: []] += b }
            case .sync(let p):
                if let i = current[p] { synced[i] = content[i] }
            case .truncate(let p, let n):
                if let i = current[p] { content[i] = Array((content[i] ?? []).prefix(n)) }
            case .syncDirectory(let d):
                for (name, _) in durable where parent(of: name) == d && current[name] == nil { durable[name] = nil }
                for (name, i) in current where parent(of: name) == d { durable[name] = i }
            case .rename(let a, let b):
                current[b] = current[a]
                current[a] = nil
            case .remove(let p):
                current[p] = nil
            case .createDirectory(let d):
                directories.append(d)
            }
        }

        func files(names: [String: Int], data: [Int: [UInt8]]) -> [String: [UInt8]] {
            names.mapValues { data[$0] ?? [] }
        }
    }
}

/// splitmix64 bytes: the same garbage for the same log, so a failing case can be replayed.
struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt8 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt8(truncatingIfNeeded: z ^ (z >> 31))
    }
}
