import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyHTTP
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
        /// A response body without a byte for this long is ended.
        var backendStallTimeout: TimeAmount = .seconds(20)
        var maxPlaylistSize: Int
        var cors: CORSPolicy
        var maxQueuedRequests = 16
    }

    struct Environment: Sendable {
        /// What every live stream's StreamSession shares (router, hooks, the module's identity).
        var sessions: StreamSession.Context
        var logger: Logger
        var hls: HLSSessionStore
        var staticRoot: StaticFileRoot?
        var fileIO: NonBlockingFileIO
        /// The module's counters of refused requests (every connection adds to the same ones).
        var refusals = ReasonCounters<HTTPRefusal>()
        /// How many new live streams and HLS sessions each client address may start.
        var newSessions = AddressRateLimiter(.init(rate: 20, burst: 40))
        /// The fan-out upstreams, when `fanout` is enabled (`.flv` players share them).
        var fanout: FanoutHubs?
        /// The HLS cache and its fetcher, when `hls_cache` is enabled.
        var hlsCache: (HLSCache, HLSOriginFetcher)?
    }

    /// The request being answered.
    final class Exchange {
        let head: ClientRequestHead
        let isHEAD: Bool
        /// The lease the exchange's bytes are counted on: its live stream's, or its HLS session's.
        var lease: RouteLease?
        /// A live stream's session, ended with the exchange (HLS sessions belong to the session store).
        var stream: StreamSession?
        /// The backend answered 404: the stream is not there (its route is not kept).
        var streamMissing = false
        var rewriter: HLSPlaylistRewriter?
        var playlist: ByteBuffer?
        var pendingHead: HTTPResponseHead?
        var backendKeepAlive = false
        /// The exchange went to a backend connection (`link`), and whether that response ended cleanly.
        var usesBackend = false
        var backendDone = false
        var headSent = false
        var bytesToClient: UInt64 = 0
        /// Body bytes from the backend, and their count at the last stall check.
        var bytesFromBackend: UInt64 = 0
        var bytesAtStallCheck: UInt64 = 0
        var timer: Scheduled<Void>?
        var stallCheck: RepeatedTask?
        /// A live `.flv` stream that may be served from a fan-out upstream.
        var fansOut = false
        /// Its place among the fan-out upstream's players, while it has one.
        var fanout: FanoutSubscriber?
        /// The origin-form target and the response-head deadline of its backend request.
        var target = ""
        var deadline: NIODeadline?

        init(head: ClientRequestHead) {
            self.head = head
            self.isHEAD = head.method == "HEAD"
        }
    }

    /// A backend connection, kept between requests while both sides allow it.
    struct BackendLink {
        var channel: any Channel
        var address: BackendAddress
        var handler: HTTPBackendHandler
    }

    let settings: Settings
    let env: Environment
    var context: ChannelHandlerContext?
    var clientAddress = "unknown"
    var clientIP: String?
    var queue = CircularBuffer<ClientRequestHead>(initialCapacity: 2)
    var exchange: Exchange?
    var link: BackendLink?
    var idleTimer: Scheduled<Void>?
    var closeAfterResponse = false
    var closed = false
    /// The response encoder was taken out (a fan-out response: raw bytes after the head).
    var rawBody = false

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

    func startNext() {
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

    func dispatch(_ exchange: Exchange) {
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
            settings.cors.apply(to: &headers)
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
        case "m3u8", "flv", "ts":
            guard env.newSessions.allow(clientIP ?? clientAddress) else {
                return respond(.rateLimited, error: "too many new streams from this address; try again in a second", extra: ["Retry-After": "1"])
            }
            exchange.fansOut = env.fanout != nil && ext == "flv" && !exchange.isHEAD && !Self.hasRange(head)
            if ext == "m3u8" { startHLSSession(exchange) } else { startLiveStream(exchange) }
        default:
            if let root = env.staticRoot { return serveStatic(exchange, root: root) }
            respond(.notAStream, error: "not a live stream (.flv, .ts, .m3u8) and no static_files root")
        }
    }

    var allowHeader: HTTPHeaders { ["Allow": "GET, HEAD, OPTIONS"] }

    /// The stream a request names, or nil after answering 400.
    func streamRequest(_ head: ClientRequestHead) -> StreamRequest? {
        do {
            return try StreamRequest.http(host: head.host, path: head.path, query: head.query)
        } catch {
            respond(.noStream, error: "no stream in the request: \(error)")
            return nil
        }
    }

    // MARK: Helpers

    /// Runs `operation` off the event loop (the HLS session store) and `then` back on it, with this session.
    func whenDone<T: Sendable>(
        _ operation: @escaping @Sendable () async throws -> T, _ then: @escaping (HTTPFLVSession, Result<T, any Error>) -> Void
    ) {
        guard let context else { return }
        whenDone(context.eventLoop.makeFutureWithTask { try await operation() }, then)
    }

    /// Runs `then` with this session when `future` (on this connection's loop) completes.
    func whenDone<T: Sendable>(_ future: EventLoopFuture<T>, _ then: @escaping (HTTPFLVSession, Result<T, any Error>) -> Void) {
        guard let context else { return }
        let bound = NIOLoopBound((self, then), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (session, then) = bound.value
            then(session, result)
        }
    }

    func log(_ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata = [:]) {
        var metadata = metadata
        metadata["client"] = "\(clientAddress)"
        env.logger.log(level: level, "\(message)", metadata: metadata)
    }

    /// A `Range` other than `bytes=0-` (which ffmpeg sends on every request: the whole stream).
    static func hasRange(_ head: ClientRequestHead) -> Bool {
        head.headers.contains { $0.name.lowercased() == "range" && $0.value.trimmingCharacters(in: .whitespaces) != "bytes=0-" }
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
