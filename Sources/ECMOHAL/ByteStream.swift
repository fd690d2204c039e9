import ECMOCore

/// A byte stream device (the UART to the safety co-processor). Never blocks: the loop reads
/// what has arrived and queues what it sends, every tick, and never waits on the other side.
public protocol ByteStream: AnyObject {
    /// Reads what has arrived, at most the buffer's size; 0 when nothing has.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(HALError) -> Int
    /// Queues bytes for sending (a frame is far smaller than the device's buffer).
    func write(_ bytes: UnsafeRawBufferPointer) throws(HALError)
}
