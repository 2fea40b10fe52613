import NIOCore
import NIOHTTP1
import ProxyNet
import ProxyHTTP

/// The last handler of a signalling connection (after NIO's HTTP/1 server pipeline): gathers a
/// request body up to 64 KiB (413 past it, then the connection closes), hands the request to
/// WebRTCSignalling and writes its answer.
final class SignallingHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let signalling: WebRTCSignalling
    private let maxBody: Int
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false

    init(signalling: WebRTCSignalling, maxBody: Int = WebRTCSignalling.Settings.maxBody) {
        self.signalling = signalling
        self.maxBody = maxBody
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
            let request = SignallingRequest(
                method: head.method, uri: head.uri, headers: head.headers, body: body, client: context.channel.remoteAddress?.endpointDescription ?? "unknown",
                local: context.channel.localAddress?.ipAddress)
            let keepAlive = head.isKeepAlive
            let signalling = self.signalling
            let promise = context.eventLoop.makePromise(of: SignallingResponse.self)
            promise.completeWithTask { await signalling.handle(request) }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = bound.value
                handler.write(response, keepAlive: keepAlive, context: context)
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
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension SignallingHTTPHandler: Sendable {}
