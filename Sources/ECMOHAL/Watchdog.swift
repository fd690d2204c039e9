/// A hardware (or simulated) watchdog: if not kicked within its timeout it resets the
/// board, whose boot defaults are the safe values. Kick only from a healthy loop.
public protocol Watchdog: AnyObject {
    func start(timeout: Duration) throws(HALError)
    func kick() throws(HALError)
    /// Disarms it (the magic close). Only on a clean shutdown, after outputs are safe.
    func stop() throws(HALError)
}
