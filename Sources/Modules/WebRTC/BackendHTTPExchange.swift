import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore

/// One bounded HTTP/1.1 request to a backend's API: connect, send, read the whole response
/// (body capped), close. The whole exchange has one deadline.
enum BackendHTTPExchange {
    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
        var text: String { String(buffer: body) }
    }

    enum Failure: Error, CustomStringConvertible {
        case connect(String)
        case timeout
        case tooLarge(Int)
        case broken(String)

        var description: String {
            switch self {
            case .connect(let why): "cannot connect to the backend's API: \(why)"
            case .timeout: "the backend's API did not answer in time"
            case .tooLarge(let n): "the backend's answer is larger than \(n) bytes"
            case .broken(let why): "the backend's API broke the exchange: \(why)"
            }
        }
    }

    static func send(
        _ method: HTTPMethod, _ target: String, headers: HTTPHeaders, body: ByteBuffer?, to address: BackendAddress,
        on loop: any EventLoop, timeout: TimeAmount, maxBody: Int = 64 * 1024
    ) -> EventLoopFuture<Response> {
        let promise = loop.makePromise(of: Response.self)
        let deadline = loop.scheduleTask(in: timeout) { promise.fail(Failure.timeout) }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(Collector(promise: promise, maxBody: maxBody))
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.fail(Failure.connect("\(error)"))
                case .success(let channel):
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                    var head = HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)
                    head.headers.replaceOrAdd(name: "Host", value: address.description)
                    head.headers.replaceOrAdd(name: "Connection", value: "close")
                    head.headers.replaceOrAdd(name: "Content-Length", value: String(body?.readableBytes ?? 0))
                    channel.write(HTTPClientRequestPart.head(head), promise: nil)
                    if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                }
            }
        return promise.futureResult
    }

    /// Gathers one response into the promise.
    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        private let promise: EventLoopPromise<Response>
        private let maxBody: Int
        private var head: HTTPResponseHead?
        private var body = ByteBuffer()

        init(promise: EventLoopPromise<Response>, maxBody: Int) {
            self.promise = promise
            self.maxBody = maxBody
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                if h.status.code >= 200 { head = h }
            case .body(var part):
                guard body.readableBytes + part.readableBytes <= maxBody else {
                    promise.fail(Failure.tooLarge(maxBody))
                    context.close(promise: nil)
                    return
                }
                body.writeBuffer(&part)
            case .end:
                guard let head else { return }
                promise.succeed(Response(status: Int(head.status.code), headers: head.headers, body: body))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure.broken("connection closed before the response ended"))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(Failure.broken("\(error)"))
            context.close(promise: nil)
        }
    }
}
