import NIOCore

/// An RTMP command message (type 20, AMF0, or type 17, AMF3): a name, a transaction id, a
/// command object and arguments.
public struct RTMPCommand: Sendable, Equatable {
    public var name: String
    public var transactionID: Double
    /// The third value; `.null` when the message has only a name and a transaction id.
    public var commandObject: AMF0Value
    public var arguments: [AMF0Value]

    public init(name: String, transactionID: Double, commandObject: AMF0Value = .null, arguments: [AMF0Value] = []) {
        self.name = name
        self.transactionID = transactionID
        self.commandObject = commandObject
        self.arguments = arguments
    }

    /// Decodes a command message's payload. With `amf3` (message type 17) the first byte, a
    /// format byte that clients send as 0x00, is skipped whatever its value, as SRS and
    /// nginx-rtmp do; the rest is AMF0, which is what real clients send in type 17.
    public init(decoding payload: ByteBuffer, amf3: Bool, limits: AMF0Limits = .default) throws(AMF0Error) {
        var buffer = payload
        if amf3 {
            guard buffer.readInteger(as: UInt8.self) != nil else { throw .truncated(reading: "AMF3 command format byte") }
        }
        var values = try AMF0Decoder.decodeAll(&buffer, limits: limits)[...]
        guard let first = values.popFirst() else { throw .notACommand("empty payload") }
        guard let name = first.string else { throw .notACommand("first value is \(first.kind), not a string") }
        guard let second = values.popFirst() else { throw .notACommand("no transaction id after \"\(name)\"") }
        guard let transactionID = second.number else { throw .notACommand("transaction id is \(second.kind), not a number") }
        self.init(name: name, transactionID: transactionID, commandObject: values.popFirst() ?? .null, arguments: Array(values))
    }

    /// The payload of a type 20 (AMF0) command message: name, transaction id, command object
    /// (always written, `.null` included) and arguments.
    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        AMF0Encoder.encode([.string(name), .number(transactionID), commandObject], into: &buffer)
        AMF0Encoder.encode(arguments, into: &buffer)
        return buffer
    }
}
