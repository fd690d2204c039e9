import ECMOCore

/// Software debounce of one input line, for when the kernel cannot debounce it (libgpiod
/// v1 has no debounce at all; v2 without a driver or kernel debounce for the line). The
/// board file's `debounce_us` is then honoured here instead of silently ignored.
///
/// Levels: the first sample is taken as it is (there is nothing to compare it with); after
/// that a new level is accepted once every sample has read it for `window` (a contact
/// bouncing faster than the window never changes the level). Edges (a tachometer, or any
/// line with edge events): an edge within `window` of the last accepted edge is a bounce
/// and dropped; the first edge of a change passes at once, with its kernel timestamp.
/// Pure: time is handed in, nothing allocates.
public struct InputDebouncer: Sendable, BitwiseCopyable {
    public let window: Duration
    /// The debounced level (nil before the first sample).
    public private(set) var level: Bool?
    private var candidateSince: Instant?
    private var lastEdge: Instant?
    /// Samples and edges rejected as bounce.
    public private(set) var rejected: UInt32 = 0

    public init(window: Duration) {
        self.window = window
    }

    /// Feeds the raw level read at `now`; returns the debounced level.
    public mutating func update(_ raw: Bool, at now: Instant) -> Bool {
        guard let current = level else {
            level = raw
            return raw
        }
        if raw == current {
            if candidateSince != nil { rejected &+= 1 }
            candidateSince = nil
            return current
        }
        guard let since = candidateSince else {
            candidateSince = now
            return window <= .zero ? accept(raw) : current
        }
        return now - since >= window ? accept(raw) : current
    }

    private mutating func accept(_ raw: Bool) -> Bool {
        level = raw
        candidateSince = nil
        return raw
    }

    /// Whether an edge stamped `timestamp` is a real one (true) or a bounce (false).
    public mutating func acceptEdge(at timestamp: Instant) -> Bool {
        if let last = lastEdge, timestamp >= last, timestamp - last < window {
            rejected &+= 1
            return false
        }
        lastEdge = timestamp
        return true
    }
}
