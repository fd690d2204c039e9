import ECMOCore

/// A digital output line. Values are *logical* (true = asserted); active-low wiring is
/// the backend's business, declared in the board file, never the driver's.
public protocol DigitalOutput: AnyObject {
    func set(_ asserted: Bool) throws(HALError)
    /// What the line was last set to, read back from the hardware where it can be.
    func readBack() throws(HALError) -> Bool
}

/// Which edges of an input line produce events.
public enum EdgeDetection: String, Sendable, CaseIterable {
    case none, rising, falling, both
}

/// One edge seen on an input line, timestamped by whoever saw it first (the kernel,
/// for libgpiod), on the same monotonic clock the loop uses.
public struct EdgeEvent: Sendable, BitwiseCopyable, Equatable {
    public enum Kind: UInt8, Sendable, BitwiseCopyable { case rising = 1, falling = 2 }
    public var kind: Kind
    public var timestamp: Instant
    public init(kind: Kind, timestamp: Instant) {
        self.kind = kind
        self.timestamp = timestamp
    }
}

/// A digital input line (logical level: true = asserted).
public protocol DigitalInput: AnyObject {
    func read() throws(HALError) -> Bool
    /// Moves pending edge events into `buffer` without blocking; returns how many.
    /// Lines without edge detection return 0.
    func readEdges(into buffer: UnsafeMutableBufferPointer<EdgeEvent>) throws(HALError) -> Int
}

// Codable is for the records and files the hosted build writes; Embedded Swift has no Codable.
#if !hasFeature(Embedded)
extension EdgeDetection: Codable {}
#endif
