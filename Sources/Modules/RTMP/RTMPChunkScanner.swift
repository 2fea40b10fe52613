import NIOCore

/// Follows a client's chunk stream while it is relayed, to see every command it sends, without
/// holding media: chunk headers are read (a header split over two reads keeps at most 18 bytes),
/// audio, video and data payloads are skipped in place, and only commands and the two control
/// messages that change how chunks are read (Set Chunk Size, Abort) are collected, bounded.
///
/// It continues where RTMPClientSession's decoder stopped (same chunk size, chunk stream states and
/// partial commands), so it reads the bytes exactly as the backend does.
struct RTMPChunkScanner {
    /// The largest header: a 3-byte basic header, an 11-byte message header, an extended timestamp.
    static let maxHeaderSize = 18
    /// The largest command it collects (as the proxy reads commands before the relay).
    static let maxCommandSize = 256 * 1024

    private var decoder: RTMPChunkDecoder
    private var assembler: RTMPMessageAssembler
    /// The start of a header that a read ended inside.
    private var headerBytes = ByteBuffer()
    /// The chunk whose payload is being passed, and how much of it is still to come.
    private var current: RTMPChunkDecoder.ChunkHeader?
    private var left = 0
    /// The current chunk's payload, when it is collected.
    private var collected = ByteBuffer()
    private var collecting = false

    init(decoder: RTMPChunkDecoder, assembler: RTMPMessageAssembler) {
        self.decoder = decoder
        self.assembler = assembler
    }

    /// Reads `bytes` (which the caller relays unchanged) and calls `command` with each command
    /// message completed in them: its payload and whether it is type 17 (AMF3).
    mutating func scan(_ bytes: ByteBuffer, command: (ByteBuffer, Bool) throws(RTMPError) -> Void) throws(RTMPError) {
        var b = bytes
        while true {
            if let header = current {
                let n = min(left, b.readableBytes)
                if collecting {
                    var piece = b.readSlice(length: n)!
                    collected.writeBuffer(&piece)
                } else {
                    b.moveReaderIndex(forwardBy: n)
                }
                left -= n
                guard left == 0 else { return }
                current = nil
                try finish(header, command: command)
                continue
            }
            guard b.readableBytes > 0 else { return }
            guard let header = try nextHeader(&b) else { return }
            decoder.accept(header)
            current = header
            left = header.payloadSize
            collecting = Self.isCollected(header.typeID)
            collected.clear()
            if collecting, header.messageLength > Self.maxCommandSize {
                throw .messageTooLarge(header.messageLength, limit: Self.maxCommandSize)
            }
        }
    }

    /// The next header, from the bytes kept from the previous read and then `b`; nil (keeping what
    /// there is, under 18 bytes) when it is not complete yet.
    private mutating func nextHeader(_ b: inout ByteBuffer) throws(RTMPError) -> RTMPChunkDecoder.ChunkHeader? {
        guard headerBytes.readableBytes > 0 else {
            var probe = b
            if let header = try decoder.readHeader(&probe) {
                b = probe
                return header
            }
            headerBytes.writeBuffer(&b)
            return nil
        }
        let kept = headerBytes.readableBytes
        var joined = headerBytes
        var more = b.getSlice(at: b.readerIndex, length: min(b.readableBytes, Self.maxHeaderSize))!
        joined.writeBuffer(&more)
        let available = joined.readableBytes
        guard let header = try decoder.readHeader(&joined) else {
            headerBytes.writeBuffer(&b)
            return nil
        }
        b.moveReaderIndex(forwardBy: available - joined.readableBytes - kept)
        headerBytes.clear()
        return header
    }

    private mutating func finish(
        _ header: RTMPChunkDecoder.ChunkHeader, command: (ByteBuffer, Bool) throws(RTMPError) -> Void
    ) throws(RTMPError) {
        guard collecting else { return }
        let chunk = header.chunk(payload: collected)
        if chunk.typeID == RTMPMessageType.abort { throw .ambiguousControl("Abort") }
        if chunk.typeID == RTMPMessageType.setChunkSize, !(chunk.isFirst && chunk.isLast) {
            throw .ambiguousControl("a Set Chunk Size split over chunks")
        }
        try decoder.apply(chunk)
        if chunk.isCommand, let payload = try assembler.add(chunk) {
            try command(payload, chunk.typeID == RTMPMessageType.commandAMF3)
        }
    }

    private static func isCollected(_ type: UInt8) -> Bool {
        type == RTMPMessageType.commandAMF0 || type == RTMPMessageType.commandAMF3
            || type == RTMPMessageType.setChunkSize || type == RTMPMessageType.abort
    }
}
