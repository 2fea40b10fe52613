import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyNet

/// One upstream request for every player of one stream on this proxy (HTTP-FLV fan-out).
///
/// The first player's join opens it (that player's request, to its route's origin); the body's
/// FLV is scanned for tag boundaries (FLVTagScanner) and each piece goes once to every event
/// loop with players (FanoutLoopGroup), as the same ByteBuffer slices for all of them. The hub
/// keeps the file header, `onMetaData`, the sequence headers and the current GOP (bounded by
/// `gop_cache_bytes` and `gop_cache_duration`), so a joining player starts on a keyframe at once.
/// It never waits for a player. It closes `linger` after its last player left, and when the
/// origin ends the stream every player's response ends. Confined to `loop` (the first player's).
final class FanoutHub: HTTPBackendHandler.Delegate, @unchecked Sendable {
    struct Settings: Sendable {
        var config: FanoutConfig
        var backendTimeout: TimeAmount
        var stallTimeout: TimeAmount
    }

    /// How the hub's players treat a slow one.
    struct PlayerRules: Sendable {
        var policy: FanoutConfig.SlowPlayerPolicy
        /// A slow player that takes nothing for this long is closed.
        var stallLimit: TimeAmount
    }

    /// What names an upstream: the origin and the stream (not the query: players whose URLs
    /// differ only in tokens share one).
    struct Key: Hashable, Sendable {
        var origin: BackendAddress
        var stream: StreamKey
    }

    private enum Phase { case new, connecting, streaming, closed }

    let key: Key
    let loop: any EventLoop
    private let settings: Settings
    private let rules: PlayerRules
    private let stats: FanoutStats
    private let logger: Logger
    private weak var owner: FanoutHubs?
    private var phase = Phase.new
    private var scanner: FLVTagScanner
    private var pending: [FLVChunk] = []
    private var head: HTTPResponseHead?
    private var preamble: [ByteBuffer] = []
    private var preambleVersion = -1
    private var gop: [ByteBuffer] = []
    private var gopBytes = 0
    private var gopStart: UInt32 = 0
    private var gopValid = false
    private var groups: [ObjectIdentifier: (group: FanoutLoopGroup, players: Int)] = [:]
    private var players = 0
    private var upstream: (any Channel)?
    private var headTimer: Scheduled<Void>?
    private var stallCheck: RepeatedTask?
    private var lingerTimer: Scheduled<Void>?
    private var bytesIn: UInt64 = 0
    private var bytesAtStallCheck: UInt64 = 0

    init(key: Key, loop: any EventLoop, settings: Settings, stats: FanoutStats, owner: FanoutHubs, logger: Logger) {
        self.key = key
        self.loop = loop
        self.settings = settings
        self.rules = PlayerRules(policy: settings.config.slowPlayer, stallLimit: settings.stallTimeout)
        self.stats = stats
        self.owner = owner
        self.logger = logger
        self.scanner = FLVTagScanner(maxTagBytes: settings.config.maxTagBytes)
    }

    // MARK: Players

    /// A player joins (from its loop); `request` opens the upstream when it is the first.
    func add(_ subscriber: FanoutSubscriber, request: HTTPRequestHead) {
        subscriber.hub = self
        if loop.inEventLoop {
            added(subscriber, request: request)
        } else {
            loop.execute { self.added(subscriber, request: request) }
        }
    }

    /// A player left (from its loop, after it left its group).
    func playerLeft(on playerLoop: any EventLoop) {
        let id = ObjectIdentifier(playerLoop)
        if loop.inEventLoop {
            left(id)
        } else {
            loop.execute { self.left(id) }
        }
    }

    private func added(_ subscriber: FanoutSubscriber, request: HTTPRequestHead) {
        guard phase != .closed else {
            subscriber.loop.execute {
                guard subscriber.hub != nil else { return }  // it left meanwhile
                subscriber.hub = nil
                subscriber.connection?.fanoutEnded(.retry)
            }
            return
        }
        lingerTimer?.cancel()
        lingerTimer = nil
        players += 1
        stats.players.wrappingAdd(1, ordering: .relaxed)
        let id = ObjectIdentifier(subscriber.loop)
        let group = groups[id]?.group ?? FanoutLoopGroup(loop: subscriber.loop, rules: rules, stats: stats)
        groups[id] = (group, (groups[id]?.players ?? 0) + 1)
        let cached = gopValid && scanner.hasVideo ? gop : nil
        group.send(.attach(subscriber, .init(head: head, preamble: preamble, gop: head == nil ? nil : cached)))
        if phase == .new { connect(request) }
    }

    private func left(_ id: ObjectIdentifier) {
        guard phase != .closed, let entry = groups[id] else { return }
        players -= 1
        stats.players.wrappingSubtract(1, ordering: .relaxed)
        if entry.players > 1 {
            groups[id] = (entry.group, entry.players - 1)
        } else {
            groups[id] = nil
        }
        guard players == 0 else { return }
        let linger = TimeAmount(settings.config.linger.duration)
        guard linger > .zero else { return close(.ended("no players left")) }
        lingerTimer = loop.scheduleTask(in: linger) { [self] in
            lingerTimer = nil
            if players == 0 { close(.ended("no players left")) }
        }
    }

    private func broadcast(_ message: FanoutLoopGroup.Message) {
        for entry in groups.values { entry.group.send(message) }
    }

    // MARK: Upstream

    private func connect(_ request: HTTPRequestHead) {
        phase = .connecting
        stats.streams.wrappingAdd(1, ordering: .relaxed)
        logger.info("fan-out upstream opening", metadata: ["stream": "\(key.stream)", "backend": "\(key.origin)"])
        headTimer = loop.scheduleTask(in: settings.backendTimeout) { [self] in
            guard head == nil else { return }
            fail(.timeout("backend sent no response head within \(settings.backendTimeout.nanoseconds / 1_000_000) ms"))
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        BackendDialer.connect(to: key.origin, on: loop, timeout: settings.backendTimeout) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.syncOptions?.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16_384, maximum: 262_144))
                try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                try channel.pipeline.syncOperations.addHandler(HTTPBackendHandler(delegate: bound.value))
            }
        }.whenComplete { result in
            let hub = bound.value
            switch result {
            case .failure(let error):
                hub.fail(.unreachable("backend \(hub.key.origin) unreachable: \(error)"))
            case .success(let channel):
                guard hub.phase == .connecting else { return channel.close(promise: nil) }
                hub.upstream = channel
                channel.write(HTTPClientRequestPart.head(request), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            }
        }
    }

    var clientWritable: Bool { true }

    func backendResponseHead(_ head: HTTPResponseHead) {
        guard phase == .connecting else { return }
        headTimer?.cancel()
        guard (200..<300).contains(head.status.code) else { return fail(.refused(head.status)) }
        phase = .streaming
        self.head = head
        broadcast(.head(head))
        watchStall()
    }

    func backendResponseBody(_ body: ByteBuffer) {
        guard phase == .streaming else { return }
        bytesIn &+= UInt64(body.readableBytes)
        stats.upstreamBytes.wrappingAdd(UInt64(body.readableBytes), ordering: .relaxed)
        do {
            // Collected first: handling a chunk reads the scanner's preamble.
            try scanner.scan(body) { pending.append($0) }
        } catch {
            pending.removeAll()
            return fail(.broken("\(error)"))
        }
        for chunk in pending { handle(chunk) }
        pending.removeAll(keepingCapacity: true)
    }

    func backendReadComplete() {}

    func backendResponseEnd() {
        close(.ended("the origin ended the stream"))
    }

    func backendFailed(_ reason: String) {
        if phase == .streaming { close(.ended(reason)) } else { fail(.unreachable(reason)) }
    }

    private func handle(_ chunk: FLVChunk) {
        guard phase == .streaming else { return }
        if scanner.preambleVersion != preambleVersion {
            preambleVersion = scanner.preambleVersion
            preamble = scanner.preamble.buffers
        }
        cache(chunk)
        broadcast(.chunk(chunk, preamble: preamble, hasVideo: scanner.hasVideo))
    }

    /// The current GOP: from the last keyframe on, dropped when over its bounds until the next.
    private func cache(_ chunk: FLVChunk) {
        let limit = settings.config.gopCacheBytes
        guard limit > 0 else { return }
        if let keyframe = chunk.lastKeyframe {
            gop.removeAll(keepingCapacity: true)
            let piece = keyframe == 0 ? chunk.bytes : chunk.suffix(from: keyframe)
            gop.append(piece)
            gopBytes = piece.readableBytes
            gopStart = chunk.keyframeTimestamp
            gopValid = gopBytes <= limit
        } else if gopValid {
            gop.append(chunk.bytes)
            gopBytes += chunk.bytes.readableBytes
            let span = Int64(chunk.lastTimestamp.map { $0 &- gopStart } ?? 0)
            gopValid = gopBytes <= limit && Duration.milliseconds(span) <= settings.config.gopCacheDuration.duration
        }
        if !gopValid && !gop.isEmpty {
            gop.removeAll()
            gopBytes = 0
        }
    }

    /// Ends the response when the origin sends nothing for `backend_stall_timeout`.
    private func watchStall() {
        let interval = settings.stallTimeout
        stallCheck = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] task in
            guard phase == .streaming else { return task.cancel() }
            defer { bytesAtStallCheck = bytesIn }
            guard bytesIn == bytesAtStallCheck else { return }
            task.cancel()
            close(.ended("backend sent no byte for \(interval.nanoseconds / 1_000_000_000) s"))
        }
    }

    /// The upstream failed before it streamed: every waiting player hears why.
    private func fail(_ end: FanoutEnd) {
        guard phase != .closed else { return }
        logger.warning("fan-out upstream failed", metadata: ["stream": "\(key.stream)", "backend": "\(key.origin)", "reason": "\(end)"])
        close(end)
    }

    private func close(_ end: FanoutEnd) {
        guard phase != .closed else { return }
        let opened = phase != .new
        phase = .closed
        owner?.remove(self)
        headTimer?.cancel()
        stallCheck?.cancel()
        lingerTimer?.cancel()
        if let upstream {
            self.upstream = nil
            if let handler = try? upstream.pipeline.syncOperations.handler(type: HTTPBackendHandler.self) { handler.detach() }
            upstream.close(promise: nil)
        }
        broadcast(.end(end))
        groups.removeAll()
        stats.players.wrappingSubtract(players, ordering: .relaxed)
        players = 0
        if opened { stats.streams.wrappingSubtract(1, ordering: .relaxed) }
        gop.removeAll()
        if case .ended(let why) = end {
            logger.info("fan-out upstream closed", metadata: ["stream": "\(key.stream)", "backend": "\(key.origin)", "reason": "\(why)"])
        }
    }
}
