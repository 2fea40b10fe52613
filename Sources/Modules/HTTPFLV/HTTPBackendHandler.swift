import NIOCore
import NIOHTTP1

/// The last handler of a backend connection (after NIO's HTTP client codec): passes response
/// parts to the session that owns the connection, on the shared event loop, and holds the
/// backend's reads while the client cannot take more bytes (backpressure: a slow player slows
/// its own upstream read, nothing is buffered without bound).
final class HTTPBackendHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    /// What the session hears from its backend connection.
    protocol Delegate: AnyObject {
        func backendResponseHead(_ head: HTTPResponseHead)
        func backendResponseBody(_ body: ByteBuffer)
        func backendResponseEnd()
        func backendReadComplete()
        func backendFailed(_ reason: String)
        var clientWritable: Bool { get }
    }

    private weak var delegate: (any Delegate)?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var reported = false

    init(delegate: any Delegate) {
        self.delegate = delegate
    }

    /// The session no longer wants this connection's events (it closes or reuses it).
    func detach() {
        delegate = nil
    }

    func attach(_ delegate: any Delegate) {
        self.delegate = delegate
        reported = false
    }

    /// The client drained: issue a read held back earlier.
    func resumeRead() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard head.status.code >= 200 || head.status == .switchingProtocols else { return }  // 1xx: wait for the final head
            delegate?.backendResponseHead(head)
        case .body(let body):
            delegate?.backendResponseBody(body)
        case .end:
            delegate?.backendResponseEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.backendReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail("backend closed the connection")
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Half-closure is on for backend connections: the backend's end of input arrives here
        // (after the decoder ended a close-delimited body, if there was one).
        if let event = event as? ChannelEvent, case .inputClosed = event {
            fail("backend closed the connection")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("backend sent an invalid response (\(error))")
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if delegate?.clientWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func fail(_ reason: String) {
        guard !reported else { return }
        reported = true
        delegate?.backendFailed(reason)
    }
}

@available(*, unavailable)
extension HTTPBackendHandler: Sendable {}
