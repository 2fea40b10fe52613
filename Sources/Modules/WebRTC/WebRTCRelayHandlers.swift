import NIOCore
import ProxyNet

/// The handler of one session's backend socket: datagrams go to the client, a read burst ends
/// with one flush of the listener; client datagrams go out through ProxyNet's UDPBackendWriter.
final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = ByteBuffer
    private let relay: WebRTCRelay
    /// Set once the session exists (before any datagram is sent to the backend).
    var session: WebRTCRelay.Session?
    /// Client-to-backend writes: batching, UDP GSO for runs of same-size datagrams, writability.
    private var writer: UDPBackendWriter

    init(relay: WebRTCRelay, gso: Bool) {
        self.relay = relay
        self.writer = UDPBackendWriter(gso: gso)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        writer.attach(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        writer.detach()
    }

    /// Writes a client datagram to the backend without flushing; false when the socket cannot take it.
    @inline(__always) func write(_ data: ByteBuffer) -> Bool {
        writer.write(data)
    }

    func flush() {
        writer.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writer.writabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session else { return }
        relay.backendDatagram(session, unwrapInboundIn(data).data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session?.accountToClient()
        relay.flushListener()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session { relay.backendClosed(session) }
        session = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable on a connected socket (the backend's port closed): keep the
        // session until it idles out; the client's retransmissions may still find it restarted.
        // EIO on a segmented send: the route's device cannot checksum-offload it; stop using GSO.
        writer.noteError(error)
    }
}

@available(*, unavailable)
extension BackendHandler: Sendable {}

/// The handler of the listening socket.
final class RelayListenerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let relay: WebRTCRelay

    init(relay: WebRTCRelay) {
        self.relay = relay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        relay.clientDatagram(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        relay.clientReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            relay.quiesce()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket reports ICMP errors of earlier sends here; the socket stays usable.
    }
}

@available(*, unavailable)
extension RelayListenerHandler: Sendable {}
