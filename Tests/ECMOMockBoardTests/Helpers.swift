import ECMOCore
import ECMOHAL
import ECMOMockBoard

/// Raw transfers with arrays, for tests only (drivers use their own buffers).
func write(_ device: any I2CDevice, _ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try device.write($0) }
}

func read(_ device: any I2CDevice, count: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    try out.withUnsafeMutableBytes { try device.read(into: $0) }
    return out
}

func writeRead(_ device: any I2CDevice, _ bytes: [UInt8], count: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    try bytes.withUnsafeBytes { w in
        try out.withUnsafeMutableBytes { r in try device.writeRead(w, into: r) }
    }
    return out
}

/// A model that records what it was sent and answers from a fixed register file with an
/// auto-incrementing pointer (a generic EEPROM-like chip).
final class RegisterFileModel: I2CDeviceModel {
    var registers = [UInt8](repeating: 0, count: 256)
    var pointer = 0
    var writes: [[UInt8]] = []

    func write(_ bytes: UnsafeRawBufferPointer, at now: Instant) -> Bool {
        writes.append(Array(bytes))
        guard let first = bytes.first else { return true }
        pointer = Int(first)
        for b in bytes.dropFirst() {
            registers[pointer] = b
            pointer = (pointer + 1) & 0xFF
        }
        return true
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at now: Instant) -> Bool {
        for i in 0..<buffer.count {
            buffer[i] = registers[pointer]
            pointer = (pointer + 1) & 0xFF
        }
        return true
    }
}

extension Instant {
    static func ms(_ v: Int64) -> Instant { .origin + .milliseconds(v) }
}
