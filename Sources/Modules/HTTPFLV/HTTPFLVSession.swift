import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyNet

/// One HTTP client connection: takes request heads from HTTPRequestReader one at a time and
/// answers each before the next (pipelined heads wait in a short queue).
///
/// - `*.flv` / `*.ts` without a session id: a live stream. The Router gives the backend; the
///   response streams through as it arrives (status, headers and body), with backpressure.
/// - `*.m3u8` without a session id: a new HLS play session is routed and recorded, and the
///   player is redirected (302) to the same URL carrying `spsid=<id>`.
/// - any request with `spsid=<id>`: goes to the session's backend; playlists come back with
///   every URI rewritten to carry the id (HLSPlaylistRewriter), so segments, keys and maps stick.
/// - anything else: the static file root when configured, else 404.
///
/// The client going away closes the backend connection at once; the backend ending closes the
/// response. A backend connection is kept alive between requests to the same backend.
final class HTTPFLVSession: ChannelInboundHandler, HTTPBackendHandler.Delegate {
    typealias InboundIn = ClientRequestHead
    typealias OutboundOut = HTTPServerResponsePart

    struct Settings: Sendable {
        var idleTimeout: TimeAmount
        var backendTimeout: TimeAmount
        var maxPlaylistSize: Int
        var cors: CORSConfig
        var maxQueuedRequests = 16
    }

    struct Environment: Sendable {
        var router: Router
        var hooks: any ProxyHooks
        var logger: Logger
        var module: String
        var hls: HLSSessionStore
        var staticRoot: StaticFileRoot?
        var fileIO: NonBlockingFileIO
        /// The module's counters of refused requests (every connection adds to the same ones).
        var refusals = ReasonCounters<HTTPRefusal>()
    }

    /// The request being answered.
    private final class Exchange {
        let head: ClientRequestHead
        let isHEAD: Bool
        var lease: RouteLease?
        /// A live stream's lease, released with the exchange (HLS leases belong to the session store).
        var ownsLease = false
        var playEvent: StreamEvent?
        var rewriter: HLSPlaylistRewriter?
        var playlist: ByteBuffer?
        var pendingHead: HTTPResponseHead?
        var backendKeepAlive = false
        /// The exchange went to a backend connection (`link`), and whether that response ended cleanly.
        var usesBackend = false
        var backendDone = false
        var headSent = false
        var bytesToClient: UInt64 = 0
        var timer: Scheduled<Void>?

        init(head: ClientRequestHead) {
            self.head = head
            self.isHEAD = head.method == "HEAD"
        }
    }

    /// A backend connection, kept between requests while both sides allow it.
    private struct BackendLink {
        var channel: any Channel
        var address: BackendAddress
        var handler: HTTPBackendHandler
    }

    private let settings: Settings
    private let env: Environment
    private var context: ChannelHandlerContext?
    private var clientAddress = "unknown"
    private var clientIP: String?
    private var queue = CircularBuffer<ClientRequestHead>(initialCapacity: 2)
    private var exchange: Exchange?
    private var link: BackendLink?
    private var idleTimer: Scheduled<Void>?
    private var closeAfterResponse = false
    private var closed = false

    init(settings: Settings, environment: Environment) {
        self.settings = settings
        self.env = environment
    }

    // MARK: Client channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress {
            clientAddress = "\(remote)"
            clientIP = remote.ipAddress
        }
        if context.channel.isActive { armIdleTimer() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The context holds this handler: dropping it here breaks the cycle when the channel goes.
        idleTimer?.cancel()
        idleTimer = nil
        exchange?.timer?.cancel()
        dropLink()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        guard queue.count < settings.maxQueuedRequests else {
            log(.notice, "too many pipelined requests; closing")
            env.refusals.increment(.tooManyPipelined)
            close()
            return
        }
        queue.append(unwrapInboundIn(data))
        if exchange == nil { startNext() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let rejection = event as? HTTPRequestReader.Rejection {
            log(.notice, "request rejected: \(rejection.reason)", ["status": "\(rejection.refusal.status?.code ?? 0)"])
            if exchange == nil && queue.isEmpty && !closed {
                closeAfterResponse = true
                idleTimer?.cancel()
                exchange = Exchange(head: ClientRequestHead(method: "GET", target: "/", minorVersion: 1, headers: []))
                respond(rejection.refusal, error: rejection.reason)
            } else {
                // Busy with an earlier request: the rejected one is not answered, only counted.
                if !closed { env.refusals.increment(rejection.refusal) }
                close()
            }
            return
        }
        if let event = event as? ChannelEvent, case .inputClosed = event {
            // A player that closed its side is gone: end its upstream request now.
            close()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { link?.handler.resumeRead() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        idleTimer?.cancel()
        if let exchange { end(exchange, reason: "client closed") }
        exchange = nil
        dropLink()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        log(.debug, "client connection error: \(error)")
        close()
    }

    var clientWritable: Bool { context?.channel.isWritable ?? false }

    // MARK: Dispatch

    private func startNext() {
        guard exchange == nil, !closed else { return }
        guard let head = queue.popFirst() else {
            armIdleTimer()
            return
        }
        idleTimer?.cancel()
        idleTimer = nil
        let exchange = Exchange(head: head)
        self.exchange = exchange
        if !head.keepAlive { closeAfterResponse = true }
        dispatch(exchange)
    }

    private func dispatch(_ exchange: Exchange) {
        let head = exchange.head
        if head.declaresBody {
            closeAfterResponse = true
            let allowed = head.method == "GET" || head.method == "HEAD"
            return respond(allowed ? .requestBody : .methodNotAllowed, error: "request bodies are not accepted", extra: allowHeader)
        }
        switch head.method {
        case "GET", "HEAD": break
        case "OPTIONS" where settings.cors.enabled:
            var headers = HTTPHeaders()
            HTTPProxyHeaders.addCORS(&headers, settings.cors)
            headers.add(name: "Allow", value: "GET, HEAD, OPTIONS")
            return respond(status: .ok, headers: headers, body: nil)
        default:
            return respond(.methodNotAllowed, error: "method \(head.method) is not served", extra: allowHeader)
        }

        let path = head.path
        let query = QueryString(head.query)
        var ext = Self.fileExtension(path)
        if query.value("app") != nil, let stream = query.value("stream"), !Self.fileExtension(stream).isEmpty {
            ext = Self.fileExtension(stream)  // SRS's player form: /?app=live&stream=demo.flv
        }
        if let sessionID = query.value(HLSSessionStore.parameter), !sessionID.isEmpty {
            return continueHLSSession(exchange, id: sessionID, ext: ext)
        }
        switch ext {
        case "m3u8": startHLSSession(exchange)
        case "flv", "ts": startLiveStream(exchange)
        default:
            if let root = env.staticRoot { return serveStatic(exchange, root: root) }
            respond(.notAStream, error: "not a live stream (.flv, .ts, .m3u8) and no static_files root")
        }
    }

    private var allowHeader: HTTPHeaders { ["Allow": "GET, HEAD, OPTIONS"] }

    /// The stream a request names, or nil after answering 400.
    private func streamRequest(_ head: ClientRequestHead) -> StreamRequest? {
        do {
            return try StreamRequest.http(host: head.host, path: head.path, query: head.query)
        } catch {
            respond(.noStream, error: "no stream in the request: \(error)")
            return nil
        }
    }

    // MARK: Live streams

    private func startLiveStream(_ exchange: Exchange) {
        let head = exchange.head
        guard let request = streamRequest(head) else { return }
        let router = env.router
        let client = clientAddress
        whenDone({ try await router.acquire(request, needs: .http, client: client) }) { session, result in
            switch result {
            case .failure(let error):
                session.respondRouting(error)
            case .success(let lease):
                guard session.exchange === exchange, !session.closed else {
                    Task { await lease.release() }
                    return
                }
                exchange.lease = lease
                exchange.ownsLease = true
                // Closed on request (the commands API): the player's connection ends.
                if let channel = session.context?.channel { lease.onClose { _ in channel.close(promise: nil) } }
                let event = StreamEvent(kind: .playStart, request: request, module: session.env.module, client: client, backend: lease.backend.id)
                exchange.playEvent = event
                session.env.hooks.report(event)
                session.forward(exchange, to: lease.address, target: Self.originForm(head, droppingSession: false))
            }
        }
    }

    // MARK: HLS

    private func startHLSSession(_ exchange: Exchange) {
        let head = exchange.head
        guard let request = streamRequest(head) else { return }
        let hls = env.hls
        let client = clientAddress
        whenDone({ try await hls.create(for: request, client: client) }) { session, result in
            switch result {
            case .failure(let error):
                session.respondRouting(error)
            case .success(let hlsSession):
                let rewriter = HLSPlaylistRewriter(parameter: HLSSessionStore.parameter, sessionID: hlsSession.id)
                let location = rewriter.rewriteURI(Self.localReference(Self.originForm(head, droppingSession: true)))
                session.respond(status: .found, headers: ["Location": location, "Cache-Control": "no-cache"], body: nil)
            }
        }
    }

    private func continueHLSSession(_ exchange: Exchange, id: String, ext: String) {
        let hls = env.hls
        let client = clientAddress
        whenDone({ try await hls.session(id, client: client) }) { session, result in
            switch result {
            case .failure(let error):
                switch error as? HLSSessionStore.LookupError {
                case .unknown?, .backendGone?:
                    // A playlist can start over on a fresh session; a segment of a lost session cannot be found.
                    if ext == "m3u8" {
                        session.log(.info, "HLS session not usable (\(error)); starting a new one")
                        session.startHLSSession(exchange)
                    } else {
                        session.respond(.unknownHLSSession, error: "\(error)")
                    }
                default:
                    session.respond(.registryError, error: "\(error)")
                }
            case .success(let hlsSession):
                exchange.lease = hlsSession.lease
                exchange.rewriter = HLSPlaylistRewriter(
                    parameter: HLSSessionStore.parameter, sessionID: hlsSession.id,
                    ownAuthorities: Self.authorities(of: hlsSession.backend))
                session.forward(exchange, to: hlsSession.backend.address(for: .http), target: Self.originForm(exchange.head, droppingSession: true))
            }
        }
    }

    // MARK: Backend exchange

    private func forward(_ exchange: Exchange, to address: BackendAddress?, target: String) {
        guard let context, let address else {
            return respond(.backendLacksProtocol, error: "the backend has no http endpoint")
        }
        var request = HTTPProxyHeaders.backendRequest(exchange.head, target: target, clientIP: clientIP)
        if exchange.rewriter != nil && Self.fileExtension(exchange.head.path) == "m3u8" {
            // The rewritten playlist has other byte offsets: always fetch it whole.
            request.headers.remove(name: "range")
            request.headers.remove(name: "if-range")
        }
        let backendRequest = request
        let timeout = settings.backendTimeout
        let bound = NIOLoopBound((self, exchange), eventLoop: context.eventLoop)
        exchange.usesBackend = true
        exchange.timer = context.eventLoop.scheduleTask(in: timeout) {
            let (session, exchange) = bound.value
            session.backendTimedOut(exchange)
        }
        if let link, link.address == address, link.channel.isActive {
            link.handler.attach(self)
            send(backendRequest, on: link.channel)
            return
        }
        dropLink()
        BackendDialer.connect(to: address, on: context.eventLoop, timeout: timeout) { channel in
            channel.eventLoop.makeCompletedFuture {
                // One read per readiness event: the client's write queue is checked between reads,
                // so at most one read buffer is queued beyond the write watermark per player.
                try channel.syncOptions?.setOption(.maxMessagesPerRead, value: 1)
                try channel.syncOptions?.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 262_144))
                try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                try channel.pipeline.syncOperations.addHandler(HTTPBackendHandler(delegate: bound.value.0))
            }
        }.whenComplete { result in
            let (session, exchange) = bound.value
            switch result {
            case .failure(let error):
                guard session.exchange === exchange else { return }
                if let lease = exchange.lease, exchange.ownsLease {
                    exchange.ownsLease = false
                    Task { await lease.reportUnreachable("\(error)") }
                }
                session.respond(.backendUnreachable, error: "backend \(address) unreachable: \(error)")
            case .success(let channel):
                guard session.exchange === exchange, !session.closed else {
                    channel.close(promise: nil)
                    return
                }
                guard let handler = try? channel.pipeline.syncOperations.handler(type: HTTPBackendHandler.self) else {
                    channel.close(promise: nil)
                    return
                }
                session.link = BackendLink(channel: channel, address: address, handler: handler)
                session.send(backendRequest, on: channel)
            }
        }
    }

    private func send(_ request: HTTPRequestHead, on channel: any Channel) {
        channel.write(HTTPClientRequestPart.head(request), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    private func backendTimedOut(_ exchange: Exchange) {
        guard self.exchange === exchange, !exchange.headSent, exchange.pendingHead == nil else { return }
        dropLink()
        respond(.backendTimeout, error: "backend sent no response head within \(settings.backendTimeout.nanoseconds / 1_000_000) ms")
    }

    func backendResponseHead(_ head: HTTPResponseHead) {
        guard let exchange, exchange.usesBackend else { return }
        exchange.timer?.cancel()
        exchange.backendKeepAlive = head.isKeepAlive
        let isPlaylist = exchange.rewriter != nil && head.status == .ok
            && (Self.fileExtension(exchange.head.path) == "m3u8" || (head.headers.first(name: "content-type")?.lowercased().contains("mpegurl") ?? false))
        if isPlaylist && !exchange.isHEAD {
            exchange.pendingHead = head
            exchange.playlist = context?.channel.allocator.buffer(capacity: 4096)
            return
        }
        var out = clientHead(from: head, exchange: exchange)
        if let rewriter = exchange.rewriter, (300..<400).contains(head.status.code), let location = head.headers.first(name: "location") {
            out.headers.replaceOrAdd(name: "Location", value: rewriter.rewriteURI(location))
        }
        writeHead(out, exchange: exchange)
    }

    func backendResponseBody(_ body: ByteBuffer) {
        guard let exchange, exchange.usesBackend, !exchange.isHEAD else { return }
        if exchange.playlist != nil {
            guard exchange.playlist!.readableBytes + body.readableBytes <= settings.maxPlaylistSize else {
                dropLink()
                return respond(.backendBadResponse, error: "backend playlist larger than max_playlist_size (\(settings.maxPlaylistSize) bytes)")
            }
            var body = body
            exchange.playlist!.writeBuffer(&body)
            return
        }
        exchange.bytesToClient &+= UInt64(body.readableBytes)
        exchange.lease?.counters.addToClient(body.readableBytes)
        context?.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    }

    func backendReadComplete() {
        context?.flush()
    }

    func backendResponseEnd() {
        guard let exchange, exchange.usesBackend, let context else { return }
        exchange.timer?.cancel()
        exchange.backendDone = true
        if !exchange.backendKeepAlive { dropLink() }
        if let head = exchange.pendingHead, let playlist = exchange.playlist, let rewriter = exchange.rewriter {
            let text = String(buffer: playlist)
            guard HLSPlaylistRewriter.isPlaylist(Substring(text)) else {
                return respond(.backendBadResponse, error: "backend answered a playlist request with something that is not a playlist")
            }
            var out = clientHead(from: head, exchange: exchange)
            let body = context.channel.allocator.buffer(string: rewriter.rewrite(text))
            out.headers.remove(name: "content-length")
            out.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            exchange.lease?.counters.addToClient(body.readableBytes)
            exchange.bytesToClient &+= UInt64(body.readableBytes)
            writeHead(out, exchange: exchange)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        if exchange.isHEAD {
            // The encoder cannot tell a HEAD response has no body: end by closing.
            closeAfterResponse = true
            context.flush()
            return finish(exchange, reason: "response complete")
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finish(exchange, reason: "response complete")
    }

    func backendFailed(_ reason: String) {
        guard let exchange, exchange.usesBackend, !exchange.backendDone else {
            dropLink()  // an idle kept-alive connection went away
            return
        }
        exchange.timer?.cancel()
        dropLink()
        if exchange.headSent {
            log(.info, "backend ended the response early: \(reason)", ["bytes_to_client": "\(exchange.bytesToClient)"])
            closeAfterResponse = true
            finish(exchange, reason: reason)
        } else {
            respond(.backendBadResponse, error: reason)
        }
    }

    private func clientHead(from head: HTTPResponseHead, exchange: Exchange) -> HTTPResponseHead {
        var headers = HTTPProxyHeaders.clientResponseHeaders(head.headers, dropCORS: settings.cors.enabled)
        HTTPProxyHeaders.addCORS(&headers, settings.cors)
        if closeAfterResponse || exchange.isHEAD { headers.replaceOrAdd(name: "Connection", value: "close") }
        let version: HTTPVersion = exchange.head.minorVersion == 0 ? .http1_0 : .http1_1
        return HTTPResponseHead(version: version, status: head.status, headers: headers)
    }

    private func writeHead(_ head: HTTPResponseHead, exchange: Exchange) {
        exchange.headSent = true
        if head.version == .http1_0 && head.headers.first(name: "content-length") == nil {
            closeAfterResponse = true  // HTTP/1.0 without a length: the body ends with the connection
        }
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    // MARK: Static files

    private func serveStatic(_ exchange: Exchange, root: StaticFileRoot) {
        let path = exchange.head.path
        let fileIO = env.fileIO
        guard let context else { return }
        let lookup = root.lookup(path)
        guard case .file(let file, let contentType) = lookup else {
            return lookup == .forbidden
                ? respond(.forbiddenPath, error: "path leaves the static root") : respond(.noSuchFile, error: "no such file")
        }
        let bound = NIOLoopBound((self, exchange), eventLoop: context.eventLoop)
        fileIO.openFile(_deprecatedPath: file, eventLoop: context.eventLoop).whenComplete { result in
            let (session, exchange) = bound.value
            guard session.exchange === exchange, let context = session.context, !session.closed else {
                if case .success(let (handle, _)) = result { try? handle.close() }
                return
            }
            switch result {
            case .failure:
                session.respond(.noSuchFile, error: "no such file")
            case .success(let (handle, region)):
                var headers: HTTPHeaders = ["Content-Type": contentType, "Content-Length": "\(region.readableBytes)"]
                HTTPProxyHeaders.addCORS(&headers, session.settings.cors)
                if session.closeAfterResponse || exchange.isHEAD { headers.add(name: "Connection", value: "close") }
                let version: HTTPVersion = exchange.head.minorVersion == 0 ? .http1_0 : .http1_1
                context.write(session.wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))), promise: nil)
                if exchange.isHEAD {
                    try? handle.close()
                    session.closeAfterResponse = true
                    context.flush()
                    return session.finish(exchange, reason: "static file")
                }
                context.write(session.wrapOutboundOut(.body(.fileRegion(region))), promise: nil)
                context.writeAndFlush(session.wrapOutboundOut(.end(nil))).whenComplete { _ in try? handle.close() }
                session.finish(exchange, reason: "static file")
            }
        }
    }

    // MARK: Answers made by the proxy

    private func respondRouting(_ error: any Error) {
        log(.warning, "no backend: \(error)")
        respond(HTTPRefusal(routing: error), error: "\(error)")
    }

    /// An error answer in SRS's JSON form, with the refusal's status, counted by its reason.
    private func respond(_ refusal: HTTPRefusal, error: String, extra: HTTPHeaders = [:]) {
        guard context != nil, exchange != nil else { return }  // the client left: nothing is refused
        env.refusals.increment(refusal)
        guard let status = refusal.status else { return close() }
        let json = "{\"code\":\(status.code),\"error\":\(Self.jsonString(error))}\n"
        log(.info, "answered \(status.code): \(error)", ["target": "\(exchange?.head.target.prefix(256) ?? "")"])
        var headers = extra
        headers.add(name: "Content-Type", value: "application/json")
        respond(status: status, headers: headers, body: json)
    }

    private func respond(status: HTTPResponseStatus, headers: HTTPHeaders, body: String?) {
        guard let context, let exchange else { return }
        exchange.timer?.cancel()
        guard !exchange.headSent else {
            closeAfterResponse = true
            return finish(exchange, reason: "\(status.code) after the response started")
        }
        var headers = headers
        HTTPProxyHeaders.addCORS(&headers, settings.cors)
        let bytes = body.map { context.channel.allocator.buffer(string: $0) }
        headers.replaceOrAdd(name: "Content-Length", value: "\(bytes?.readableBytes ?? 0)")
        if closeAfterResponse || exchange.isHEAD { headers.replaceOrAdd(name: "Connection", value: "close") }
        let version: HTTPVersion = exchange.head.minorVersion == 0 ? .http1_0 : .http1_1
        exchange.headSent = true
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if exchange.isHEAD {
            closeAfterResponse = true
            context.flush()
        } else {
            if let bytes { context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        finish(exchange, reason: "\(status.code)")
    }

    // MARK: Ending

    private func finish(_ exchange: Exchange, reason: String) {
        end(exchange, reason: reason)
        if self.exchange === exchange { self.exchange = nil }
        if closeAfterResponse {
            closeWhenWritten()
        } else {
            startNext()
        }
    }

    /// Releases what the exchange holds and reports the end of a live play.
    private func end(_ exchange: Exchange, reason: String) {
        exchange.timer?.cancel()
        if let event = exchange.playEvent {
            exchange.playEvent = nil
            var ended = event
            ended.kind = .playEnd
            env.hooks.report(ended)
            env.logger.info("relay closed", metadata: [
                "stream": "\(event.request.key)", "client": "\(clientAddress)", "reason": "\(reason)",
                "bytes_to_client": "\(exchange.bytesToClient)",
            ])
        }
        if exchange.ownsLease, let lease = exchange.lease {
            exchange.ownsLease = false
            Task { await lease.release() }
        }
        // A backend connection left mid-response is in an unknown state: never reuse it.
        if exchange.usesBackend && !exchange.backendDone && self.exchange === exchange { dropLink() }
    }

    private func dropLink() {
        guard let link else { return }
        self.link = nil
        link.handler.detach()
        link.channel.close(promise: nil)
    }

    /// Closes now: queued writes are dropped (the client is gone or misbehaved).
    private func close() {
        guard !closed, let context else { return }
        closed = true
        idleTimer?.cancel()
        dropLink()
        context.close(promise: nil)
    }

    /// Closes once every queued write reached the socket (closing at once would drop the end of
    /// the response), or after `idle_timeout` if the client stops reading.
    private func closeWhenWritten() {
        guard !closed, let context else { return }
        closed = true
        idleTimer?.cancel()
        dropLink()
        // An empty body part writes no bytes (no chunk either) and completes after every earlier write.
        let barrier = context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(capacity: 0)))))
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: settings.idleTimeout) { bound.value.close(promise: nil) }
        barrier.whenComplete { _ in
            deadline.cancel()
            bound.value.close(promise: nil)
        }
    }

    private func armIdleTimer() {
        guard let context, idleTimer == nil, !closed else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: settings.idleTimeout) {
            let session = bound.value
            session.idleTimer = nil
            guard session.exchange == nil else { return }
            session.log(.debug, "idle keep-alive connection closed")
            session.close()
        }
    }

    // MARK: Helpers

    /// Runs `operation` off the event loop and `then` back on it, with this session.
    private func whenDone<T: Sendable>(
        _ operation: @escaping @Sendable () async throws -> T, _ then: @escaping (HTTPFLVSession, Result<T, any Error>) -> Void
    ) {
        guard let context else { return }
        let bound = NIOLoopBound((self, then), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask { try await operation() }.whenComplete { result in
            let (session, then) = bound.value
            then(session, result)
        }
    }

    private func log(_ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata = [:]) {
        var metadata = metadata
        metadata["client"] = "\(clientAddress)"
        env.logger.log(level: level, "\(message)", metadata: metadata)
    }

    static func fileExtension(_ path: String) -> String {
        let last = path.split(separator: "/").last ?? ""
        guard let dot = last.lastIndex(of: ".") else { return "" }
        return last[last.index(after: dot)...].lowercased()
    }

    /// The target in origin form (`/path?query`), optionally without the proxy's session parameter.
    static func originForm(_ head: ClientRequestHead, droppingSession: Bool) -> String {
        var query = head.query
        if droppingSession {
            query = query.split(separator: "&").filter {
                $0 != HLSSessionStore.parameter && !$0.hasPrefix(HLSSessionStore.parameter + "=")
            }.joined(separator: "&")
        }
        return query.isEmpty ? head.path : head.path + "?" + query
    }

    /// An origin-form target made safe for a `Location` header: a path starting `//` or `/\`
    /// would be read as a reference to another host (an open redirect), so it gets `/.` in front,
    /// which names the same path on this host.
    static func localReference(_ originForm: String) -> String {
        let u = originForm.utf8
        return u.starts(with: "//".utf8) || u.starts(with: "/\\".utf8) ? "/." + originForm : originForm
    }

    static func authorities(of backend: Backend) -> Set<String> {
        guard let address = backend.address(for: .http) else { return [] }
        var set: Set<String> = ["\(address)"]
        if address.port == 80 { set.insert(address.host) }
        return set
    }

    static func jsonString(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

@available(*, unavailable)
extension HTTPFLVSession: Sendable {}
