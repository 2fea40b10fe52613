import NIOCore

/// The messages the proxy itself sends a client before the backend takes over: replies to the
/// commands it answers (connect, releaseStream, FCPublish, createStream) and error statuses.
/// They look like an origin's (SRS's wording), so a client cannot tell a proxy answered.
enum RTMPReplies {
    /// Chunk streams the proxy writes on: protocol control and commands.
    static let controlCSID: UInt32 = 2
    static let commandCSID: UInt32 = 3
    static let statusCSID: UInt32 = 5
    /// The proxy writes its own messages in 128-byte chunks and never sends Set Chunk Size, so the
    /// client's chunk size stays equal to the backend's (128 until the backend sets its own).
    static let chunkSize = 128
    /// The message stream id the proxy gives the client's createStream (SRS and nginx-rtmp give 1 too).
    static let streamID: Double = 1
    static let windowAckSize: UInt32 = 2_500_000

    static func connectAccepted(transactionID: Double, objectEncoding: Double, into out: inout ByteBuffer) {
        var ack = ByteBuffer()
        ack.writeInteger(windowAckSize)
        RTMPChunkEncoder.writeMessage(csid: controlCSID, typeID: RTMPMessageType.windowAckSize, streamID: 0, payload: ack, chunkSize: chunkSize, into: &out)
        var bandwidth = ByteBuffer()
        bandwidth.writeInteger(windowAckSize)
        bandwidth.writeInteger(UInt8(2))  // dynamic
        RTMPChunkEncoder.writeMessage(csid: controlCSID, typeID: RTMPMessageType.setPeerBandwidth, streamID: 0, payload: bandwidth, chunkSize: chunkSize, into: &out)
        command(
            RTMPCommand(
                name: "_result", transactionID: transactionID,
                commandObject: .object(["fmsVer": .string("FMS/3,5,3,888"), "capabilities": .number(127), "mode": .number(1)]),
                arguments: [.object([
                    "level": .string("status"), "code": .string("NetConnection.Connect.Success"),
                    "description": .string("Connection succeeded"), "objectEncoding": .number(objectEncoding),
                ])]),
            into: &out)
    }

    /// `_result` for releaseStream / FCPublish / FCUnpublish (SRS answers these; clients do not wait for them).
    static func emptyResult(transactionID: Double, into out: inout ByteBuffer) {
        command(RTMPCommand(name: "_result", transactionID: transactionID, commandObject: .null, arguments: [.undefined]), into: &out)
    }

    static func streamCreated(transactionID: Double, into out: inout ByteBuffer) {
        command(RTMPCommand(name: "_result", transactionID: transactionID, commandObject: .null, arguments: [.number(streamID)]), into: &out)
    }

    /// An `onStatus` error on the client's stream, e.g. NetStream.Publish.BadName.
    static func streamError(code: String, description: String, into out: inout ByteBuffer) {
        let status = RTMPCommand(
            name: "onStatus", transactionID: 0, commandObject: .null,
            arguments: [.object(["level": .string("error"), "code": .string(code), "description": .string(description)])])
        RTMPChunkEncoder.writeMessage(
            csid: statusCSID, typeID: RTMPMessageType.commandAMF0, streamID: UInt32(streamID), payload: status.encoded(),
            chunkSize: chunkSize, into: &out)
    }

    /// A `_error` reply to a connect the proxy cannot serve.
    static func connectRefused(transactionID: Double, description: String, into out: inout ByteBuffer) {
        command(
            RTMPCommand(
                name: "_error", transactionID: transactionID, commandObject: .null,
                arguments: [.object(["level": .string("error"), "code": .string("NetConnection.Connect.Rejected"), "description": .string(description)])]),
            into: &out)
    }

    private static func command(_ command: RTMPCommand, into out: inout ByteBuffer) {
        RTMPChunkEncoder.writeMessage(
            csid: commandCSID, typeID: RTMPMessageType.commandAMF0, streamID: 0, payload: command.encoded(), chunkSize: chunkSize, into: &out)
    }
}
