import ECMOLinux
import CLinuxIO

/// A kernel in memory behind `LinuxSyscalls`: files with contents (a fake sysfs), device
/// nodes, scripted errors per call, an ioctl handler per test and a clock that moves only
/// when the backend sleeps. Every call is logged, so tests can check order and count.
final class FakeKernel {
    var files: [String: String] = [:]
    var openErrors: [String: Int32] = [:]
    /// Errors returned by successive opens of a path (then the normal behaviour).
    var openErrorQueue: [String: [Int32]] = [:]
    var writeErrors: [String: [Int32]] = [:]
    var readErrors: [String: [Int32]] = [:]
    var fds: [Int32: String] = [:]
    var closed: [String] = []
    var nextFD: Int32 = 10
    var log: [String] = []
    var writes: [(path: String, text: String)] = []
    var now: UInt64 = 1_000_000_000
    var sleeps = 0
    /// Called after a write to a path (e.g. `export` creating the channel's files).
    var onWrite: [String: (String) -> Void] = [:]
    /// Called on each sleep (e.g. udev fixing a file's group later).
    var onSleep: (() -> Void)?
    var ioctlHandler: (_ path: String, _ request: UInt, _ argument: UnsafeMutableRawPointer?) -> Int32 = { _, _, _ in 0 }
    var ioctlValueHandler: (_ path: String, _ request: UInt, _ argument: UInt) -> Int32 = { _, _, _ in 0 }
    var ioctlCount = 0
    var logging = true

    func path(_ fd: Int32) -> String { fds[fd] ?? "<bad fd \(fd)>" }

    var syscalls: LinuxSyscalls {
        LinuxSyscalls(
            open: { [self] p, _ in
                let path = String(cString: p)
                if logging { log.append("open \(path)") }
                if var q = openErrorQueue[path], !q.isEmpty {
                    let e = q.removeFirst()
                    openErrorQueue[path] = q
                    return -e
                }
                if let e = openErrors[path] { return -e }
                guard files[path] != nil else { return -Errno.ENOENT }
                nextFD += 1
                fds[nextFD] = path
                return nextFD
            },
            close: { [self] fd in
                if logging { log.append("close \(path(fd))") }
                closed.append(path(fd))
                fds[fd] = nil
                return 0
            },
            read: { [self] fd, b, n in pread(fd, b, n) },
            write: { [self] fd, b, n in pwrite(fd, b, n) },
            pread: { [self] fd, b, n, _ in pread(fd, b, n) },
            pwrite: { [self] fd, b, n, _ in pwrite(fd, b, n) },
            ioctl: { [self] fd, r, a in
                ioctlCount += 1
                return ioctlHandler(path(fd), r, a)
            },
            ioctlValue: { [self] fd, r, a in
                if logging { log.append("ioctl \(path(fd)) \(r) \(a)") }
                return ioctlValueHandler(path(fd), r, a)
            },
            monotonicNanoseconds: { [self] in now },
            sleepUntil: { [self] deadline in
                sleeps += 1
                if deadline > now { now = deadline }
                onSleep?()
                return 0
            },
            exists: { [self] p in files[String(cString: p)] != nil ? 0 : -Errno.ENOENT })
    }

    private func pread(_ fd: Int32, _ b: UnsafeMutableRawPointer, _ n: Int) -> Int {
        let p = path(fd)
        if var q = readErrors[p], !q.isEmpty {
            let e = q.removeFirst()
            readErrors[p] = q
            return -Int(e)
        }
        let bytes = Array((files[p] ?? "").utf8.prefix(n))
        for (i, c) in bytes.enumerated() { b.storeBytes(of: c, toByteOffset: i, as: UInt8.self) }
        return bytes.count
    }

    private func pwrite(_ fd: Int32, _ b: UnsafeRawPointer, _ n: Int) -> Int {
        let p = path(fd)
        if var q = writeErrors[p], !q.isEmpty {
            let e = q.removeFirst()
            writeErrors[p] = q
            return -Int(e)
        }
        let text = String(decoding: UnsafeRawBufferPointer(start: b, count: n), as: UTF8.self)
        if logging { log.append("write \(p) \(text)") }
        writes.append((p, text))
        files[p] = text + "\n"
        onWrite[p]?(text)
        return n
    }
}
