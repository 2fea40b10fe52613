import Logging
import NIOCore
import ProxyCore
import ProxyHTTP

/// The first handler of an HTTP client connection: gathers bytes into request heads within
/// `ClientRequestHead.Limits` and passes each head on. Gives up with a `Rejection` event (the
/// session answers 400/408/414/431 and closes) when a head is malformed, too large, or not
/// finished within the header timeout. After a head that announces a body, reading stops: the
/// proxy does not take request bodies, and the session closes the connection after its answer.
final class HTTPRequestReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ClientRequestHead

    /// Why no further heads come from this connection.
    struct Rejection: Sendable {
        var refusal: HTTPRefusal
        var reason: String
    }

    private let limits: ClientRequestHead.Limits
    private let headerTimeout: TimeAmount
    private var pending: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var done = false

    init(limits: ClientRequestHead.Limits = .init(), headerTimeout: TimeAmount) {
        self.limits = limits
        self.headerTimeout = headerTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        if var p = pending {
            pending = nil
            p.writeBuffer(&bytes)
            bytes = p
        }
        while bytes.readableBytes > 0, !done {
            do {
                switch try ClientRequestHead.parse(bytes.readableBytesView, limits: limits) {
                case .needMore:
                    pending = bytes
                    armTimer(context: context)
                    return
                case .head(let head, let consumed):
                    bytes.moveReaderIndex(forwardBy: consumed)
                    if head.declaresBody { done = true }
                    context.fireChannelRead(wrapInboundOut(head))
                }
            } catch {
                reject(context: context, refusal: HTTPRefusal(error), reason: error.description)
                return
            }
        }
        timer?.cancel()
        timer = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func armTimer(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: headerTimeout) {
            let (reader, context) = loop.value
            reader.timer = nil
            reader.reject(context: context, refusal: .headerTimeout, reason: "request head not complete within the header timeout")
        }
    }

    private func reject(context: ChannelHandlerContext, refusal: HTTPRefusal, reason: String) {
        done = true
        pending = nil
        timer?.cancel()
        timer = nil
        context.fireUserInboundEventTriggered(Rejection(refusal: refusal, reason: reason))
    }
}

@available(*, unavailable)
extension HTTPRequestReader: Sendable {}
