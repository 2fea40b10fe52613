import NIOCore

/// Reassembles the few messages the proxy must read whole (commands), chunk by chunk, bounded.
/// Media is never assembled: it is relayed chunk by chunk.
struct RTMPMessageAssembler {
    let maxSize: Int
    private var partial: [UInt32: ByteBuffer] = [:]

    init(maxSize: Int) {
        self.maxSize = maxSize
    }

    /// Adds a chunk; returns the message payload when this chunk completes it.
    mutating func add(_ chunk: RTMPChunk) throws(RTMPError) -> ByteBuffer? {
        if chunk.isFirst && chunk.isLast { return chunk.payload }
        guard chunk.messageLength <= maxSize else { throw .messageTooLarge(chunk.messageLength, limit: maxSize) }
        var piece = chunk.payload
        if chunk.isFirst { partial[chunk.csid] = ByteBuffer() }
        partial[chunk.csid, default: ByteBuffer()].writeBuffer(&piece)
        return chunk.isLast ? partial.removeValue(forKey: chunk.csid) : nil
    }
}

extension RTMPChunk {
    var isCommand: Bool { typeID == RTMPMessageType.commandAMF0 || typeID == RTMPMessageType.commandAMF3 }
}
