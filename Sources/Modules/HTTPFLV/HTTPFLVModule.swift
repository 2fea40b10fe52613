import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyHTTP
import ProxyNet

/// The HTTP-FLV, HTTP-TS and HLS module: live HTTP playback through the proxy. Each
/// connection runs HTTPRequestReader -> HTTPResponseEncoder -> HTTPFLVSession; HLS play
/// sessions live in one HLSSessionStore shared by all connections (and, through the Registry,
/// by every proxy).
public struct HTTPFLVModule: ProxyModule {
    public static let identity = ModuleIdentity(name: "http-flv", scheme: "http", dials: [.http])
    public static let enabledByDefault = true

    public let config: HTTPFLVConfig
    private let context: ModuleContext
    private let staticRoot: StaticFileRoot?
    private let refusals = ReasonCounters<HTTPRefusal>()
    private let fanout: FanoutHubs?
    private let hlsCache: HLSCache?

    public init(config: HTTPFLVConfig, context: ModuleContext) throws {
        self.config = config
        self.context = context
        fanout = config.fanout.enabled
            ? FanoutHubs(
                settings: .init(
                    config: config.fanout, backendTimeout: TimeAmount(config.backendTimeout.duration),
                    stallTimeout: TimeAmount(config.backendStallTimeout.duration)),
                logger: context.logger)
            : nil
        hlsCache = config.hlsCache.enabled ? HLSCache(config: config.hlsCache) : nil
        do {
            staticRoot = config.staticFiles.isEmpty ? nil : try StaticFileRoot(path: config.staticFiles)
        } catch {
            throw ModuleError.invalidConfig(module: Self.name, key: "static_files", "'\(config.staticFiles)' is not a directory")
        }
    }

    public func run() async throws {
        let hls = HLSSessionStore(
            sessions: context.sessions(of: Self.identity), background: context.background, ttl: config.hlsSessionTTL.duration,
            logger: context.logger)
        let settings = HTTPFLVSession.Settings(
            idleTimeout: TimeAmount(config.idleTimeout.duration), backendTimeout: TimeAmount(config.backendTimeout.duration),
            backendStallTimeout: TimeAmount(config.backendStallTimeout.duration),
            maxPlaylistSize: config.maxPlaylistSize, cors: CORSPolicy(config: config.cors, profile: .playback))
        let environment = HTTPFLVSession.Environment(
            sessions: context.sessions(of: Self.identity), logger: context.logger, hls: hls,
            staticRoot: staticRoot, fileIO: NonBlockingFileIO(threadPool: .singleton), refusals: refusals,
            newSessions: AddressRateLimiter(.init(rate: config.sessionRate, burst: config.sessionBurst)), fanout: fanout,
            hlsCache: hlsCache.map {
                ($0, HLSOriginFetcher(group: context.eventLoopGroup, maxBytes: config.hlsCache.maxObjectBytes, timeout: TimeAmount(config.backendTimeout.duration)))
            })
        let headerTimeout = TimeAmount(config.headerTimeout.duration)
        let listener = TCPListener(name: Self.name, endpoint: config.listen, context: context) { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(HTTPRequestReader(headerTimeout: headerTimeout))
                try sync.addHandler(HTTPResponseEncoder())
                try sync.addHandler(HTTPFLVSession(settings: settings, environment: environment))
            }
        }
        // The HLS session sweeper runs beside the listener; leaving this scope when the listener
        // has stopped cancels it (structured: it ends before run() returns).
        async let _ = hls.run()
        do {
            try await listener.run()
        } catch {
            await environment.hlsCache?.1.shutdown()
            throw error
        }
        await environment.hlsCache?.1.shutdown()
    }
}

extension HTTPFLVModule: MetricsReporting {
    /// The refused requests by reason, every reason from the start; the fan-out's counters when it is on.
    public func metricSamples() async -> [MetricSample] {
        refusals.samples(
            name: "http_flv_refused_requests_total",
            help: "Requests the http-flv module answered with an error of its own (or closed without an answer), by reason.")
            + (fanout?.stats.samples() ?? []) + (hlsCache?.samples() ?? [])
    }
}
