import NIOCore

/// One RTMP chunk as read from the wire: its message header (absolute timestamp) and its payload
/// as a slice of the read buffer (no copy).
struct RTMPChunk {
    var csid: UInt32
    var timestamp: UInt32
    var messageLength: Int
    var typeID: UInt8
    var streamID: UInt32
    /// The chunk carries the start of its message.
    var isFirst: Bool
    /// The chunk carries the end of its message.
    var isLast: Bool
    var payload: ByteBuffer
}

/// Reads the RTMP chunk stream incrementally: all four header formats, 1-3 byte basic headers,
/// extended timestamps, Set Chunk Size and Abort. Bounded: message size, number of chunk streams.
struct RTMPChunkDecoder {
    struct Limits {
        var maxMessageSize = 8 * 1024 * 1024
        var maxChunkStreams = 64
        /// Refuse a new message header on a chunk stream whose message is unfinished (peers differ
        /// on what that means). Used for client bytes the proxy will replay to a backend.
        var strict = false
    }

    /// The state a chunk stream id carries from one chunk to the next.
    fileprivate struct StreamState {
        var timestamp: UInt32 = 0
        /// The raw timestamp field of the last type 0/1/2 header (a delta for types 1/2),
        /// reused by a type 3 chunk that starts a new message (as ffmpeg and librtmp read it).
        var timestampField: UInt32 = 0
        var messageLength = 0
        var typeID: UInt8 = 0
        var streamID: UInt32 = 0
        var remaining = 0
        var extended = false
        var started = false
    }

    let limits: Limits
    private(set) var chunkSize = 128
    private var streams: [UInt32: StreamState] = [:]

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// A chunk whose header was read: what its payload is, and its chunk stream's state after it.
    struct ChunkHeader {
        var csid: UInt32
        fileprivate var state: StreamState
        var isFirst: Bool
        /// Payload bytes that follow the header.
        var payloadSize: Int
        var typeID: UInt8 { state.typeID }
        var messageLength: Int { state.messageLength }

        /// The chunk, given its payload.
        func chunk(payload: ByteBuffer) -> RTMPChunk {
            RTMPChunk(
                csid: csid, timestamp: state.timestamp, messageLength: state.messageLength, typeID: state.typeID,
                streamID: state.streamID, isFirst: isFirst, isLast: state.remaining == 0, payload: payload)
        }
    }

    /// The next whole chunk in `buffer`, consuming it; nil (consuming nothing) when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws(RTMPError) -> RTMPChunk? {
        var b = buffer
        guard let header = try readHeader(&b), let payload = b.readSlice(length: header.payloadSize) else { return nil }
        buffer = b
        accept(header)
        let chunk = header.chunk(payload: payload)
        try apply(chunk)
        return chunk
    }

    /// Reads the next chunk header from `b` (its payload is not needed); nil when `b` ends inside
    /// the header. Nothing changes until `accept`: a caller that reads payloads itself (the relay's
    /// command watch, which never holds media) accepts the header, then passes the whole chunk to
    /// `apply`.
    func readHeader(_ b: inout ByteBuffer) throws(RTMPError) -> ChunkHeader? {
        guard let first: UInt8 = b.readInteger() else { return nil }
        let fmt = first >> 6
        var csid = UInt32(first & 0x3f)
        if csid == 0 {
            guard let x: UInt8 = b.readInteger() else { return nil }
            csid = 64 + UInt32(x)
        } else if csid == 1 {
            guard let lo: UInt8 = b.readInteger(), let hi: UInt8 = b.readInteger() else { return nil }
            csid = 64 + UInt32(lo) + UInt32(hi) * 256
        }
        var state = streams[csid] ?? StreamState()
        if streams[csid] == nil, streams.count >= limits.maxChunkStreams { throw .tooManyChunkStreams(limits.maxChunkStreams) }

        var field: UInt32 = 0
        if fmt <= 2 {
            guard let t = b.readUInt24() else { return nil }
            field = t
            if fmt <= 1 {
                guard let length = b.readUInt24(), let type: UInt8 = b.readInteger() else { return nil }
                state.messageLength = Int(length)
                state.typeID = type
                if fmt == 0 {
                    guard let sid: UInt32 = b.readInteger(endianness: .little) else { return nil }
                    state.streamID = sid
                }
            }
            state.extended = field == 0xFF_FFFF
        } else if !state.started {
            throw .continuationWithoutHeader(csid: csid)
        }
        if state.extended {
            // Type 3 chunks repeat the extended timestamp of their header (ffmpeg, nginx, SRS do).
            guard let ext: UInt32 = b.readInteger() else { return nil }
            if fmt <= 2 { field = ext }
        }

        if limits.strict, fmt <= 2, state.remaining > 0 { throw .interruptedMessage(csid: csid) }
        let isFirst = fmt <= 2 || state.remaining == 0
        if isFirst {
            guard state.messageLength <= limits.maxMessageSize else { throw .messageTooLarge(state.messageLength, limit: limits.maxMessageSize) }
            if fmt <= 2 { state.timestampField = field }
            state.timestamp = fmt == 0 ? field : state.timestamp &+ state.timestampField
            state.remaining = state.messageLength
        }
        let size = min(state.remaining, chunkSize)
        state.remaining -= size
        state.started = true
        return ChunkHeader(csid: csid, state: state, isFirst: isFirst, payloadSize: size)
    }

    /// Makes a header read by `readHeader` the chunk stream's state.
    mutating func accept(_ header: ChunkHeader) {
        streams[header.csid] = header.state
    }

    /// Set Chunk Size and Abort change how the following chunks are read, whatever chunk stream and
    /// message stream carry them: peers (nginx-rtmp, SRS, ffmpeg) apply Set Chunk Size by its type
    /// alone, and the client's bytes are replayed to the backend, so the proxy's parser must end
    /// where the backend's does.
    mutating func apply(_ chunk: RTMPChunk) throws(RTMPError) {
        guard chunk.isFirst, chunk.isLast, chunk.payload.readableBytes >= 4 else { return }
        switch chunk.typeID {
        case RTMPMessageType.setChunkSize:
            let size = chunk.payload.getInteger(at: chunk.payload.readerIndex, as: UInt32.self)!
            guard (1...0x7FFF_FFFF).contains(size) else { throw .badChunkSize(size) }
            chunkSize = Int(size)
        case RTMPMessageType.abort:
            let csid = chunk.payload.getInteger(at: chunk.payload.readerIndex, as: UInt32.self)!
            streams[csid]?.remaining = 0
        default:
            return
        }
    }
}
