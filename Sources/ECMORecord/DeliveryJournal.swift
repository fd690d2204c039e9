import ECMOCore
import ECMOPosix
import ECMORuntime

/// The crash-safe delivery journal: an append-only file of fixed 64-byte records, each
/// with a CRC, each made durable (`fdatasync`) before the loop may step past it.
///
/// A record holds *reservations*: how many forward steps per channel the loop may have
/// issued. The loop never issues a step beyond the newest durable reservation, so after a
/// kill -9 or a power cut at any instant the last valid record is an upper bound on what
/// was delivered. A restart counts it as delivered: the plan can only come out short, by
/// at most one reservation lookahead, never over. A torn last record (power cut mid-write)
/// fails its CRC and is dropped; its reservation was never acted on, because the loop
/// waits for the write to be durable.
///
/// Layout (little-endian): a 64-byte header (magic `ECMOJRN1`, version, record size, plan
/// hash, prescribed steps per channel, CRC), then records (magic, flags, sequence,
/// reserved steps ×2, item index, item start, protocol time, heparin rate, CRC).
public final class DeliveryJournal: DurableJournal {
    public static let recordSize = 64
    static let headerMagic: [UInt8] = Array("ECMOJRN1".utf8)
    static let recordMagic: UInt32 = 0x4A52_4543
    static let version: UInt32 = 1

    public let path: String
    public let planHash: UInt64
    private let file: any RecordFile
    private var buffer = [UInt8](repeating: 0, count: DeliveryJournal.recordSize)
    /// The file's length up to the end of the last record known written whole. A failed
    /// write is cut back to it before anything else is written, so a torn record never
    /// sits in the middle of the journal.
    private var goodLength = 0
    /// A failed write could not be cut back: no further record (so no further authority)
    /// until it can.
    public private(set) var needsRepair = false
    /// Tests: the next append writes only this many bytes of its record, then fails (a
    /// short write on a failing disk).
    public var injectShortWriteForTesting: Int?
    public private(set) var recordsWritten = 0
    public private(set) var lastSequence: UInt64 = 0

    /// What a journal says about an earlier run.
    public struct Recovered: Sendable, Equatable {
        public var reserved: [Int64]
        public var itemIndex: Int
        public var itemStartedAt: Duration
        public var elapsed: Duration
        public var completed: Bool
        public var closedCleanly: Bool
        public var heparinRate: HeparinRate?
        public var records: Int
        /// Bytes after the last valid record (a torn write), dropped on open.
        public var discardedBytes: Int
        /// Bytes between valid records that were skipped (a torn record in the middle).
        public var skippedBytes = 0
        public var lastSequence: UInt64 = 0
    }

    public typealias Flags = JournalRecordFlags

    /// Opens `path`, creating it if absent. An existing journal must belong to the same
    /// plan (hash) or it is refused: resuming someone else's experiment is never right.
    /// Returns what the journal recorded (nil for a new journal).
    /// `syncDirectory` makes the new file's directory entry durable (a parameter so that a
    /// test can make it fail; by default `fileSystem`'s). `fileSystem` is where every file
    /// call goes (tests: a log of them, replayed as a power cut leaves it; ENOSPC, EIO).
    public static func open(path: String, planHash: UInt64, prescribed: (Int64, Int64),
                            syncDirectory: ((String) throws(FileError) -> Void)? = nil,
                            fileSystem: any RecordFileSystem = PosixFileSystem())
        throws(JournalError) -> (DeliveryJournal, Recovered?) {
        var recovered: Recovered?
        var validLength = 0
        var exists = fileSystem.exists(path)
        if exists {
            let partial = try readAll(path, fileSystem)
            if partial.count < recordSize && (partial.isEmpty || Array(headerMagic.prefix(partial.count)) == Array(partial.prefix(headerMagic.count))) {
                // A crash while the header was being written: no record, so nothing was
                // ever authorized. Start the journal again.
                do throws(FileError) { try fileSystem.remove(path) } catch {
                    throw JournalError(path: path, message: "cannot replace a partial header: \(error.message)")
                }
                exists = false
            }
        }
        if exists {
            let (hash, r, valid) = try inspect(path: path, fileSystem: fileSystem)
            guard hash == planHash else {
                throw JournalError(path: path, message: "journal belongs to another protocol or board (plan hash \(hex(hash)), this plan \(hex(planHash))): use a new journal path")
            }
            recovered = r
            validLength = valid
            let lastSeq = r.lastSequence
            let j = try DeliveryJournal(path: path, planHash: planHash, create: false, fileSystem: fileSystem)
            j.lastSequence = lastSeq
            j.goodLength = validLength
            if r.discardedBytes > 0 {
                // Drop the torn tail so the next record follows the last valid one.
                do throws(FileError) { try j.file.truncateDurably(to: validLength) } catch {
                    throw JournalError(path: path, message: "cannot truncate a torn tail: \(error.message)")
                }
            }
            return (j, recovered)
        }
        let j = try DeliveryJournal(path: path, planHash: planHash, create: true, fileSystem: fileSystem)
        var header = [UInt8](repeating: 0, count: recordSize)
        header.replaceSubrange(0..<8, with: headerMagic)
        putU32(&header, 8, version)
        putU32(&header, 12, UInt32(recordSize))
        putU64(&header, 16, planHash)
        putU64(&header, 24, UInt64(bitPattern: prescribed.0))
        putU64(&header, 32, UInt64(bitPattern: prescribed.1))
        putU32(&header, 60, crc32(header[0..<60]))
        try j.writeDurably(header)
        j.goodLength = recordSize
        // The directory entry must be durable too, or a power cut can lose the new file and
        // with it every reservation: then a restart would dose them again. No dosing on it.
        do throws(FileError) {
            if let syncDirectory { try syncDirectory(path) } else { try fileSystem.syncDirectory(of: path) }
        } catch {
            j.file.close()
            try? fileSystem.remove(path)
            throw JournalError(path: path, message: "the new journal's directory entry cannot be made durable (\(error.path): \(error.message)): refusing to dose on a journal a power cut could lose")
        }
        return (j, nil)
    }

    /// Opens any writable path as a journal without reading or writing a header (tests:
    /// `/dev/full` stands in for a full disk).
    public static func openForTesting(path: String, planHash: UInt64) throws(JournalError) -> (DeliveryJournal, Recovered?) {
        (try DeliveryJournal(path: path, planHash: planHash, create: false), nil)
    }

    /// Reads a journal without changing it: its plan hash, what it recorded, and the
    /// length of its valid prefix. For recovery and for tools and tests that audit it.
    public static func inspect(path: String, fileSystem: any RecordFileSystem = PosixFileSystem())
        throws(JournalError) -> (planHash: UInt64, recovered: Recovered, validLength: Int) {
        let bytes = try readAll(path, fileSystem)
        guard bytes.count >= recordSize else {
            throw JournalError(path: path, message: "file is \(bytes.count) bytes, shorter than a journal header (64): not a delivery journal")
        }
        let header = Array(bytes[0..<recordSize])
        guard Array(header[0..<8]) == headerMagic else {
            throw JournalError(path: path, message: "not a delivery journal (bad magic)")
        }
        guard crc32(header[0..<60]) == readU32(header, 60) else {
            throw JournalError(path: path, message: "journal header is corrupt (CRC mismatch): refusing to guess what was delivered")
        }
        guard readU32(header, 8) == version else {
            throw JournalError(path: path, message: "journal version \(readU32(header, 8)) is not supported (expected \(version))")
        }
        let hash = readU64(header, 16)
        var r = Recovered(reserved: [0, 0], itemIndex: 0, itemStartedAt: .zero, elapsed: .zero, completed: false,
                          closedCleanly: false, heparinRate: nil, records: 0, discardedBytes: 0)
        var offset = recordSize
        var lastSeq: UInt64 = 0
        var validEnd = recordSize
        var skipped = 0
        var pendingSkip = 0
        while offset + recordSize <= bytes.count {
            let rec = Array(bytes[offset..<(offset + recordSize)])
            // A record that fails its check may be a torn write with good records after it
            // (a failed write, then a good one): resynchronise on the next record magic with
            // a valid CRC and a newer sequence, a byte at a time, so that no durable
            // reservation after it is lost (a restart would dose it again).
            guard readU32(rec, 0) == recordMagic, crc32(rec[0..<60]) == readU32(rec, 60), readU64(rec, 8) > lastSeq else {
                offset += 1
                pendingSkip += 1
                continue
            }
            skipped += pendingSkip
            pendingSkip = 0
            let seq = readU64(rec, 8)
            lastSeq = seq
            let flags = Flags(rawValue: readU32(rec, 4))
            // Reservations only grow; keep the maximum in case of any reordering.
            r.reserved[0] = max(r.reserved[0], Int64(bitPattern: readU64(rec, 16)))
            r.reserved[1] = max(r.reserved[1], Int64(bitPattern: readU64(rec, 24)))
            r.itemIndex = Int(Int32(bitPattern: readU32(rec, 32)))
            r.itemStartedAt = .nanoseconds(Int64(bitPattern: readU64(rec, 40)))
            r.elapsed = .nanoseconds(Int64(bitPattern: readU64(rec, 48)))
            let rate = Float(bitPattern: readU32(rec, 56))
            r.heparinRate = rate >= 0 ? HeparinRate(unitsPerKilogramPerHour: Double(rate)) : nil
            r.completed = flags.contains(.completed)
            r.closedCleanly = flags.contains(.closedCleanly)
            r.records += 1
            offset += recordSize
            validEnd = offset
        }
        r.discardedBytes = bytes.count - validEnd
        r.skippedBytes = skipped
        r.lastSequence = lastSeq
        return (hash, r, validEnd)
    }

    private init(path: String, planHash: UInt64, create: Bool, fileSystem: any RecordFileSystem = PosixFileSystem()) throws(JournalError) {
        self.path = path
        self.planHash = planHash
        do throws(FileError) { file = try fileSystem.openForAppending(path, creating: create, exclusive: true) } catch {
            throw JournalError(path: path, message: error.message)
        }
    }

    /// Appends a snapshot and makes it durable before returning. The loop is told about
    /// the new reservation only after this returns.
    public func append(_ s: JournalSnapshot, flags: Flags = []) throws(JournalError) {
        lastSequence &+= 1
        for i in 0..<buffer.count { buffer[i] = 0 }
        putU32(&buffer, 0, Self.recordMagic)
        putU32(&buffer, 4, flags.rawValue | (s.completed ? Flags.completed.rawValue : 0))
        putU64(&buffer, 8, lastSequence)
        putU64(&buffer, 16, UInt64(bitPattern: s.reserved.0))
        putU64(&buffer, 24, UInt64(bitPattern: s.reserved.1))
        putU32(&buffer, 32, UInt32(bitPattern: s.itemIndex))
        putU64(&buffer, 40, UInt64(bitPattern: s.itemStartedAt))
        putU64(&buffer, 48, UInt64(bitPattern: s.elapsed))
        putU32(&buffer, 56, Float(s.heparinRate).bitPattern)
        putU32(&buffer, 60, crc32(buffer[0..<60]))
        try writeDurably(buffer)
        recordsWritten += 1
    }

    private func writeDurably(_ bytes: [UInt8]) throws(JournalError) {
        if needsRepair {
            do throws(FileError) { try file.truncateDurably(to: goodLength) } catch {
                throw JournalError(path: path, message: "an earlier failed write could not be cut back: \(error.message)")
            }
            needsRepair = false
        }
        do throws(FileError) {
            if let n = injectShortWriteForTesting {
                injectShortWriteForTesting = nil
                try file.appendDurably(Array(bytes.prefix(max(0, min(n, bytes.count - 1)))))
                throw FileError(path: path, message: "write failed: injected short write")
            }
            try file.appendDurably(bytes)
            goodLength += bytes.count
        } catch {
            // Cut the torn bytes off now; if that fails too, before the next write.
            do throws(FileError) { try file.truncateDurably(to: goodLength) } catch { needsRepair = true }
            throw JournalError(path: path, message: error.message)
        }
    }

    /// FNV-1a 64-bit: the plan hash (of the protocol file's bytes and the board's name).
    public static func hash(_ parts: [[UInt8]]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for p in parts {
            for b in p { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01b3 }
            h ^= 0xff; h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    // MARK: bytes

    private static func readAll(_ path: String, _ fileSystem: any RecordFileSystem) throws(JournalError) -> [UInt8] {
        do throws(FileError) { return try fileSystem.readAll(path) } catch {
            throw JournalError(path: path, message: error.message)
        }
    }
}

/// A journal that cannot be used, naming the file and the cause.
public struct JournalError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "delivery journal \(path): \(message)" }
}

// MARK: - little-endian helpers and CRC-32 (IEEE 802.3, as zlib)

@inline(__always) func putU32(_ b: inout [UInt8], _ o: Int, _ v: UInt32) {
    for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
}
@inline(__always) func putU64(_ b: inout [UInt8], _ o: Int, _ v: UInt64) {
    for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
}
@inline(__always) func readU32(_ b: [UInt8], _ o: Int) -> UInt32 {
    var v: UInt32 = 0
    for i in 0..<4 { v |= UInt32(b[o + i]) << (8 * UInt32(i)) }
    return v
}
@inline(__always) func readU64(_ b: [UInt8], _ o: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<8 { v |= UInt64(b[o + i]) << (8 * UInt64(i)) }
    return v
}

private let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

/// CRC-32 (the zlib/PNG polynomial).
public func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
