import Logging
import NIOCore
import NIOHTTPTypes
import ProxyNet

/// The API listeners' connection limits, as Hummingbird's additional channel handlers (after the
/// HTTP codec): a connection past `limits:` is closed as it is set up (APIConnectionGate), and a
/// client that does not send a request head within `limits.http_header_timeout` of its connection
/// or of its previous response is closed (APIHeaderTimeout: a slowloris client that dribbles a head
/// byte by byte keeps the idle timer alive, never this one).
enum APIConnectionLimits {
    /// The handlers for one new connection of an API listener sharing `tracker`.
    static func handlers(tracker: ConnectionTracker, headerTimeout: TimeAmount, logger: Logger) -> [any RemovableChannelHandler] {
        [APIConnectionGate(tracker: tracker, logger: logger), APIHeaderTimeout(timeout: headerTimeout)]
    }
}

/// Counts the connection in the listener's tracker, or closes it when the listener or its client
/// address is at its limit.
final class APIConnectionGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    private let tracker: ConnectionTracker
    private let logger: Logger

    init(tracker: ConnectionTracker, logger: Logger) {
        self.tracker = tracker
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let refusal = tracker.add(context.channel) else { return }
        logger.debug("connection refused", metadata: [
            "reason": "\(refusal.rawValue)", "client": "\(context.channel.remoteAddress?.endpointDescription ?? "?")",
        ])
        context.close(promise: nil)
    }
}

/// Closes a connection whose next request head has not arrived within `timeout`: armed when the
/// connection starts and when a response ends, disarmed when a head arrives.
final class APIHeaderTimeout: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}
