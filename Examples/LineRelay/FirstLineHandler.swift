import Logging
import NIOCore
import ProxyCore
import ProxyNet

/// Reads the first line, opens the session on it (publish hook, lease), dials the backend on
/// this channel's event loop, then puts the glue pair in its place. Client reads are held from
/// the end of the line until the glue is installed, so at most one read's worth of bytes waits.
final class FirstLineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = NIOAny

    private enum State { case readingLine, routing, relaying, closed }

    private let config: LineRelayConfig
    private let sessions: StreamSession.Context
    private let logger: Logger
    private var state = State.readingLine
    private var buffered = ByteBuffer()
    private var readHeld = false
    private var lineTimer: Scheduled<Void>?
    /// The session's life cycle, once the line named its stream.
    private var session: StreamSession?

    init(config: LineRelayConfig, sessions: StreamSession.Context, logger: Logger) {
        self.config = config
        self.sessions = sessions
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        lineTimer = context.eventLoop.scheduleTask(in: TimeAmount(config.lineTimeout.duration)) {
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        lineTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state != .closed else { return }
        var bytes = unwrapInboundIn(data)
        buffered.writeBuffer(&bytes)
        guard state == .readingLine else { return }  // kept for the backend

        let view = buffered.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffered.readableBytes > config.maxLine { refuse(context, "no end of line within \(config.maxLine) bytes") }
            return
        }
        let length = view.distance(from: view.startIndex, to: newline)
        guard length <= config.maxLine, var line = buffered.getString(at: buffered.readerIndex, length: length) else {
            return refuse(context, "first line longer than \(config.maxLine) bytes")
        }
        if line.hasSuffix("\r") { line.removeLast() }
        route(context, line: line)
    }

    /// Holds the client's reads while routing and dialling (backpressure).
    func read(context: ChannelHandlerContext) {
        if state == .readingLine {
            context.read()
        } else {
            readHeld = true
        }
    }

    /// The client left before the relay existed: the session ends (its lease goes back even
    /// when the router answers later).
    func channelInactive(context: ChannelHandlerContext) {
        if state != .relaying { refuse(context, "client left before its stream was relayed") }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        refuse(context, "\(error)")
    }

    // MARK: - Steps

    private func route(_ context: ChannelHandlerContext, line: String) {
        let words = line.split(separator: " ", maxSplits: 1)
        guard words.count == 2, words[0] == "PUBLISH" || words[0] == "PLAY" else {
            return refuse(context, "expected 'PUBLISH app/stream' or 'PLAY app/stream'")
        }
        let target = words[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let request: StreamRequest
        do {
            request = try StreamRequest.http(host: nil, path: String(target[0]), query: target.count > 1 ? String(target[1]) : "")
        } catch {
            return refuse(context, "\(error)")
        }

        state = .routing
        let client = context.channel.remoteAddress?.endpointDescription ?? "unknown"
        let session = StreamSession(request, role: words[0] == "PUBLISH" ? .publish : .play, client: client, needs: config.endpoint, context: sessions)
        self.session = session
        // Closed on request (the commands API): the connection ends, and the relay with it.
        let channel = context.channel
        session.onClose { _ in channel.close(promise: nil) }
        // The publish hook, then the router: off the event loop, the answer back on it.
        session.open(on: context.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let lease): self.dial(context, lease)
            case .failure(let error): self.refuse(context, "\(error)")
            }
        }
    }

    private func dial(_ context: ChannelHandlerContext, _ lease: RouteLease) {
        guard state == .routing, let address = lease.address else { return refuse(context, "client gone before the backend was dialled") }
        BackendDialer.connect(to: address, on: context.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .failure(let error):
                // The route fails over; the backend sits out new picks for a while.
                self.session?.endUnreachable(reason: "\(error)")
                self.refuse(context, "backend \(lease.backend.id) at \(address): \(error)")
            case .success(let backend):
                self.splice(context, backend: backend, lease: lease)
            }
        }
    }

    private func splice(_ context: ChannelHandlerContext, backend: any Channel, lease: RouteLease) {
        guard state == .routing, context.channel.isActive, let session else {
            backend.close(promise: nil)
            return refuse(context, "client gone while the backend was dialled")
        }
        let glue = GlueHandler.matchedPair(counters: lease.counters, logger: logger) { report in
            session.end(reason: "relay closed: \(report.reason)")
        }
        do {
            try backend.pipeline.syncOperations.addHandler(glue.backend)
            try context.pipeline.syncOperations.addHandler(glue.client)
        } catch {
            backend.close(promise: nil)
            return refuse(context, "cannot install the relay: \(error)")
        }
        // The backend has the stream: publish_start or play_start, once.
        session.started()
        state = .relaying

        // Re-deliver what was read so far (the line included) through the glue, then step aside.
        let pending = buffered
        buffered = ByteBuffer()
        context.fireChannelRead(wrapInboundOut(pending))
        context.fireChannelReadComplete()
        let channel = context.channel
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        if readHeld { channel.read() }
    }

    private func refuse(_ context: ChannelHandlerContext, _ reason: String) {
        guard state != .closed else { return }
        state = .closed
        // Whatever the session holds goes back: its lease, its end event if it had started.
        session?.end(reason: reason)
        logger.warning("session refused", metadata: [
            "client": "\(context.channel.remoteAddress?.endpointDescription ?? "unknown")", "reason": "\(reason)",
        ])
        context.close(promise: nil)
    }
}
