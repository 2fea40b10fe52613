import NIOCore

extension ByteBuffer {
    mutating func readUInt24() -> UInt32? {
        guard readableBytes >= 3, let hi: UInt8 = readInteger(), let lo: UInt16 = readInteger() else { return nil }
        return UInt32(hi) << 16 | UInt32(lo)
    }

    mutating func writeUInt24(_ value: UInt32) {
        writeInteger(UInt8(truncatingIfNeeded: value >> 16))
        writeInteger(UInt8(truncatingIfNeeded: value >> 8))
        writeInteger(UInt8(truncatingIfNeeded: value))
    }
}
