import NIOCore
import NIOHTTP1
import ProxyNet
import ProxyHTTP

/// The last handler of a signalling connection (after NIO's HTTP/1 server pipeline): gathers a
/// request body up to 64 KiB (413 past it, then the connection closes), hands the request to
/// WebRTCSignalling and writes its answer. A client has `headerTimeout` to send a whole request
/// (head and body) from its connection or from its previous answer: a slowloris client, or an
/// idle keep-alive one, is closed then.
final class SignallingHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let signalling: WebRTCSignalling
    private let maxBody: Int
    private let headerTimeout: TimeAmount
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false
    private var timer: Scheduled<Void>?
    /// A request is being answered.
    private var answering = false
    /// The client ended its side: close once the answer in progress (if any) is written.
    private var inputClosed = false

    init(signalling: WebRTCSignalling, headerTimeout: TimeAmount = .seconds(10), maxBody: Int = WebRTCSignalling.Settings.maxBody) {
        self.signalling = signalling
        self.headerTimeout = headerTimeout
        self.maxBody = maxBody
    }

    func handlerAdded(context: ChannelHandlerContext) {
        armTimer(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    /// Closes the connection unless a whole request arrives within `headerTimeout`.
    private func armTimer(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: headerTimeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
            tooLarge = h.headers.first(name: "content-length").flatMap(Int.init).map { $0 > maxBody } ?? false
            if tooLarge { respondTooLarge(h, context: context) }
        case .body(var part):
            guard !tooLarge else { return }
            if body.readableBytes + part.readableBytes > maxBody {
                tooLarge = true
                if let head { respondTooLarge(head, context: context) }
                return
            }
            body.writeBuffer(&part)
        case .end:
            guard let head, !tooLarge else { return }
            self.head = nil
            timer?.cancel()
            timer = nil
            let request = SignallingRequest(
                method: head.method, uri: head.uri, headers: head.headers, body: body, client: context.channel.remoteAddress?.endpointDescription ?? "unknown",
                local: context.channel.localAddress?.ipAddress, clientIP: context.channel.remoteAddress?.ipAddress)
            let keepAlive = head.isKeepAlive
            answering = true
            let signalling = self.signalling
            let promise = context.eventLoop.makePromise(of: SignallingResponse.self)
            promise.completeWithTask { await signalling.handle(request) }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = bound.value
                handler.answering = false
                handler.write(response, keepAlive: keepAlive && !handler.inputClosed, context: context)
            }
        }
    }

    private func respondTooLarge(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        signalling.logger.notice("signalling refused", metadata: [
            "client": "\(context.channel.remoteAddress?.endpointDescription ?? "unknown")", "status": "413", "error": "body over \(maxBody) bytes",
        ])
        var response = SignallingResponse.error(.payloadTooLarge, "the body is larger than \(maxBody) bytes")
        response.headers += signalling.settings.cors.headers(for: head.headers, preflight: false)
        write(response, keepAlive: false, context: context)
    }

    private func write(_ response: SignallingResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(response.headers)
        let body = ByteBuffer(string: response.body)
        headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if keepAlive { armTimer(context) }
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// The listener allows half-closed connections (for the relays): a signalling client that
    /// ended its side sends nothing more, so its connection goes, after the answer in progress.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            inputClosed = true
            if !answering { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension SignallingHTTPHandler: Sendable {}
