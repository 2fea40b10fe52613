import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyNet

/// The HTTP-FLV, HTTP-TS and HLS module: live HTTP playback through the proxy. Each
/// connection runs HTTPRequestReader -> HTTPResponseEncoder -> HTTPFLVSession; HLS play
/// sessions live in one HLSSessionStore shared by all connections (and, through the Registry,
/// by every proxy).
public struct HTTPFLVModule: ProxyModule {
    public static let name = "http-flv"
    public static let enabledByDefault = true

    public let config: HTTPFLVConfig
    private let context: ModuleContext
    private let staticRoot: StaticFileRoot?
    private let refusals = ReasonCounters<HTTPRefusal>()

    public init(config: HTTPFLVConfig, context: ModuleContext) throws {
        self.config = config
        self.context = context
        do {
            staticRoot = config.staticFiles.isEmpty ? nil : try StaticFileRoot(path: config.staticFiles)
        } catch {
            throw ModuleError.invalidConfig(module: Self.name, key: "static_files", "'\(config.staticFiles)' is not a directory")
        }
    }

    public func run() async throws {
        let hls = HLSSessionStore(
            router: context.router, hooks: context.hooks, module: Self.name, ttl: config.hlsSessionTTL.duration, logger: context.logger)
        let settings = HTTPFLVSession.Settings(
            idleTimeout: TimeAmount(config.idleTimeout.duration), backendTimeout: TimeAmount(config.backendTimeout.duration),
            maxPlaylistSize: config.maxPlaylistSize, cors: config.cors)
        let environment = HTTPFLVSession.Environment(
            router: context.router, hooks: context.hooks, logger: context.logger, module: Self.name, hls: hls,
            staticRoot: staticRoot, fileIO: NonBlockingFileIO(threadPool: .singleton), refusals: refusals)
        let headerTimeout = TimeAmount(config.headerTimeout.duration)
        let listener = TCPListener(name: Self.name, endpoint: config.listen, context: context) { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(HTTPRequestReader(headerTimeout: headerTimeout))
                try sync.addHandler(HTTPResponseEncoder())
                try sync.addHandler(HTTPFLVSession(settings: settings, environment: environment))
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await hls.run() }
            group.addTask { try await listener.run() }
            // The listener returns when the module stops; then the session sweeper stops too.
            _ = try await group.next()
            group.cancelAll()
        }
    }
}

extension HTTPFLVModule: MetricsReporting {
    /// The refused requests by reason, every reason from the start.
    public func metricSamples() async -> [MetricSample] {
        refusals.samples(
            name: "http_flv_refused_requests_total",
            help: "Requests the http-flv module answered with an error of its own (or closed without an answer), by reason.")
    }
}
