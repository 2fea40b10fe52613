import NIOCore

/// The RTMP handshake (C0/C1/C2, S0/S1/S2), in its plain form.
///
/// Toward clients the proxy answers with S1 whose version field is zero, which tells digest-aware
/// clients (ffmpeg, OBS/librtmp) that the server does not use the digest scheme: they accept it
/// whether they sent a plain or a digest ("complex") C1. S2 echoes C1, as both forms allow.
/// Toward backends the proxy is a plain client; nginx-rtmp and SRS both accept that.
enum RTMPHandshake {
    static let version: UInt8 = 3
    /// Size of C1, C2, S1 and S2.
    static let packetSize = 1536

    /// Filler for S1/C1: the handshake's random field has no security role in the plain form,
    /// so one block made at start serves every connection (no per-connection randomness cost).
    static let filler: [UInt8] = (0..<(packetSize - 8)).map { _ in UInt8.random(in: 0...255) }

    /// S0 + S1 + S2 for a client's C1.
    static func serverResponse(c1: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: 1 + 2 * packetSize)
        out.writeInteger(version)
        out.writeInteger(UInt32(0))  // time
        out.writeInteger(UInt32(0))  // zero version: plain handshake
        out.writeBytes(filler)
        var echo = c1
        out.writeBuffer(&echo)
        return out
    }

    /// C0 + C1 for dialing a backend.
    static func clientHello(allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: 1 + packetSize)
        out.writeInteger(version)
        out.writeInteger(UInt32(0))
        out.writeInteger(UInt32(0))
        out.writeBytes(filler)
        return out
    }
}
