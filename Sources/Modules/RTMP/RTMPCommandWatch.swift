import Logging
import NIOCore

/// Watches a relayed client's commands for the whole connection. The session was authorised and
/// routed for one stream and one role; a later publish, play or connect would reach the origin
/// without the hook or the router (a player turning publisher, a publisher switching streams), so
/// the connection is closed on it, with a log line naming the command. Everything else (media,
/// deleteStream, FCUnpublish, a second createStream) passes. The bytes go on unchanged: this
/// handler reads chunk headers and command messages only (RTMPChunkScanner) and never copies media.
final class RTMPCommandWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Commands that would start another stream, or another role, on the relayed connection.
    static let refused: Set<String> = ["publish", "play", "play2", "connect"]

    private var scanner: RTMPChunkScanner
    private let logger: Logger
    private let onRefused: (RTMPError) -> Void
    private var closed = false

    /// `scanner` has already read what the client sent before the relay (see `check`).
    init(scanner: RTMPChunkScanner, logger: Logger, onRefused: @escaping (RTMPError) -> Void) {
        self.scanner = scanner
        self.logger = logger
        self.onRefused = onRefused
    }

    /// Reads client bytes the relay will send before this handler sees any (those after the
    /// command that was routed); throws when they hold a refused command.
    static func check(_ bytes: ByteBuffer, with scanner: inout RTMPChunkScanner) throws(RTMPError) {
        try scanner.scan(bytes, command: Self.inspect)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        do {
            try scanner.scan(unwrapInboundIn(data), command: Self.inspect)
        } catch {
            closed = true
            logger.warning("closing relayed connection", metadata: ["error": "\(error)"])
            onRefused(error)
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }

    private static func inspect(_ payload: ByteBuffer, amf3: Bool) throws(RTMPError) {
        let command: RTMPCommand
        do {
            command = try RTMPCommand(decoding: payload, amf3: amf3)
        } catch {
            throw .badCommand("\(error)")
        }
        if refused.contains(command.name) { throw .streamChange(command.name) }
    }
}
