import NIOCore

/// Writes RTMP chunk headers. The proxy only ever writes a full (type 0) header at the start of a
/// message and a type 3 header on its continuation chunks, so the receiver's per-stream state is
/// reset by every message and never depends on what the proxy did not send it.
enum RTMPChunkEncoder {
    static func writeBasicHeader(fmt: UInt8, csid: UInt32, into out: inout ByteBuffer) {
        switch csid {
        case 2...63: out.writeInteger(fmt << 6 | UInt8(csid))
        case 64...319:
            out.writeInteger(fmt << 6)
            out.writeInteger(UInt8(csid - 64))
        default:
            out.writeInteger(fmt << 6 | 1)
            out.writeInteger(UInt8((csid - 64) & 0xff))
            out.writeInteger(UInt8((csid - 64) >> 8))
        }
    }

    /// The header of a message's first chunk.
    static func writeFirstHeader(csid: UInt32, timestamp: UInt32, length: Int, typeID: UInt8, streamID: UInt32, into out: inout ByteBuffer) {
        writeBasicHeader(fmt: 0, csid: csid, into: &out)
        out.writeUInt24(timestamp >= 0xFF_FFFF ? 0xFF_FFFF : timestamp)
        out.writeUInt24(UInt32(length))
        out.writeInteger(typeID)
        out.writeInteger(streamID, endianness: .little)
        if timestamp >= 0xFF_FFFF { out.writeInteger(timestamp) }
    }

    /// The header of a continuation chunk.
    static func writeContinuationHeader(csid: UInt32, timestamp: UInt32, into out: inout ByteBuffer) {
        writeBasicHeader(fmt: 3, csid: csid, into: &out)
        if timestamp >= 0xFF_FFFF { out.writeInteger(timestamp) }
    }

    /// A whole message, chunked at `chunkSize` (for the proxy's own small messages).
    static func writeMessage(
        csid: UInt32, timestamp: UInt32 = 0, typeID: UInt8, streamID: UInt32, payload: ByteBuffer, chunkSize: Int,
        into out: inout ByteBuffer
    ) {
        var rest = payload
        writeFirstHeader(csid: csid, timestamp: timestamp, length: rest.readableBytes, typeID: typeID, streamID: streamID, into: &out)
        var piece = rest.readSlice(length: min(chunkSize, rest.readableBytes))!
        out.writeBuffer(&piece)
        while rest.readableBytes > 0 {
            writeContinuationHeader(csid: csid, timestamp: timestamp, into: &out)
            piece = rest.readSlice(length: min(chunkSize, rest.readableBytes))!
            out.writeBuffer(&piece)
        }
    }
}
