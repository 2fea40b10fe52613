import Logging
import NIOCore
import ProxyCore
import ProxyNet

/// The RTMP module: publish and play over RTMP through the proxy. Each connection runs an
/// RTMPClientSession until its stream is relayed; see that type for the stages.
public struct RTMPModule: ProxyModule {
    public static let identity = ModuleIdentity(name: "rtmp", scheme: "rtmp", dials: [.rtmp], renamesStreams: true)
    public static let enabledByDefault = true

    public let config: RTMPConfig
    private let context: ModuleContext
    private let refusals = ReasonCounters<RTMPRefusal>()

    public init(config: RTMPConfig, context: ModuleContext) throws {
        self.config = config
        self.context = context
    }

    public func run() async throws {
        let settings = RTMPClientSession.Settings(
            handshakeTimeout: TimeAmount(config.handshakeTimeout.duration), backendTimeout: TimeAmount(config.backendTimeout.duration),
            limits: RTMPChunkDecoder.Limits(maxMessageSize: config.maxMessageSize), idleTimeout: TimeAmount(config.idleTimeout.duration),
            proxyProtocol: config.proxyProtocol)
        let environment = RTMPClientSession.Environment(sessions: context.sessions(of: Self.identity), logger: context.logger, refusals: refusals)
        let listener = TCPListener(name: Self.name, endpoint: config.listen, context: context) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(RTMPClientSession(settings: settings, environment: environment))
            }
        }
        try await listener.run()
    }
}

extension RTMPModule: MetricsReporting {
    /// The refused connections by reason, every reason from the start.
    public func metricSamples() async -> [MetricSample] {
        refusals.samples(
            name: "rtmp_refused_connections_total",
            help: "RTMP connections the rtmp module closed before relaying them (bad input, refused publish, no backend), by reason.")
    }
}
