/// Splits a byte stream into lines (`\n`, an optional `\r` before it is dropped) and
/// enforces the line limit without ever buffering more than it. Used by both peers.
public struct LineFramer: Sendable {
    public enum Item: Sendable, Equatable {
        case line([UInt8])
        /// A line passed `maxLineBytes`: the peer gets an error and is disconnected.
        /// The framer then refuses everything after it.
        case tooLong
    }

    public let maxLineBytes: Int
    private var buffer: [UInt8] = []
    public private(set) var failed = false

    public init(maxLineBytes: Int = LinkProtocol.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes in → complete lines out (empty lines skipped).
    public mutating func push<C: Collection>(_ bytes: C) -> [Item] where C.Element == UInt8 {
        if failed { return [] }
        var out: [Item] = []
        for b in bytes {
            if b == 0x0A {
                if buffer.last == 0x0D { buffer.removeLast() }
                if buffer.count > maxLineBytes { return fail(out) }
                if !buffer.isEmpty { out.append(.line(buffer)) }
                buffer.removeAll(keepingCapacity: true)
            } else {
                // One byte of slack for a `\r` that the newline will drop.
                if buffer.count > maxLineBytes { return fail(out) }
                buffer.append(b)
            }
        }
        return out
    }

    private mutating func fail(_ out: [Item]) -> [Item] {
        failed = true
        buffer = []
        return out + [.tooLong]
    }

    /// Bytes of an unfinished line held.
    public var pending: Int { buffer.count }
}
