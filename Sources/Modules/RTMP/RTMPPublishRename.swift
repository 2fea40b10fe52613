import NIOCore

/// The publish command as the client sent it, located in the bytes the proxy replays to the
/// backend, so that the stream can be published there under another name (the coordinator
/// format's `origin_name`).
struct RTMPRoutedCommand {
    /// Offsets in the replay buffer (from its reader index) of the command's chunks.
    var range: Range<Int>
    /// The command came in one chunk (nothing of another message is inside `range`).
    var singleChunk: Bool
    var csid: UInt32
    var timestamp: UInt32
    var streamID: UInt32
    var command: RTMPCommand
}

enum RTMPPublishRename {
    /// The replay with the routed command's stream name replaced by `name`: the command is
    /// written again as one message with a type 0 header (the same chunk stream, timestamp and
    /// message stream), chunked at the client's chunk size; every other byte is the client's.
    /// Nil when the command spanned several chunks (other messages may sit between them).
    static func replay(_ stream: ByteBuffer, _ routed: RTMPRoutedCommand, name: String, chunkSize: Int) -> ByteBuffer? {
        guard routed.singleChunk, !routed.command.arguments.isEmpty, routed.range.upperBound <= stream.readableBytes else { return nil }
        var command = routed.command
        command.arguments[0] = .string(name)
        var out = ByteBuffer()
        out.reserveCapacity(stream.readableBytes + name.utf8.count)
        var prefix = stream.getSlice(at: stream.readerIndex, length: routed.range.lowerBound)!
        out.writeBuffer(&prefix)
        RTMPChunkEncoder.writeMessage(
            csid: routed.csid, timestamp: routed.timestamp, typeID: RTMPMessageType.commandAMF0, streamID: routed.streamID,
            payload: command.encoded(), chunkSize: chunkSize, into: &out)
        var suffix = stream.getSlice(at: stream.readerIndex + routed.range.upperBound, length: stream.readableBytes - routed.range.upperBound)!
        out.writeBuffer(&suffix)
        return out
    }
}
