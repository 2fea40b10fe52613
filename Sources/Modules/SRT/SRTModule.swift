import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

/// The SRT module: publish and play over SRT through the proxy. One UDP socket takes every
/// caller; SRTServerHandler answers inductions, turns conclusions into sessions routed by their
/// Stream ID, runs the backend handshake with the caller's own parameters, and then relays packets
/// both ways by socket id without reading their payload.
public struct SRTModule: ProxyModule {
    public static let name = "srt"
    public static let enabledByDefault = true

    public let config: SRTConfig
    private let context: ModuleContext

    public init(config: SRTConfig, context: ModuleContext) throws {
        self.config = config
        self.context = context
    }

    public func run() async throws {
        let settings = SRTServerHandler.Settings(
            idleTimeout: TimeAmount(config.idleTimeout.duration), backendTimeout: TimeAmount(config.backendTimeout.duration),
            maxSessions: config.maxSessions, gso: config.gso)
        let environment = SRTServerHandler.Environment(
            router: context.router, hooks: context.hooks, logger: context.logger,
            dialer: { address, loop in
                UDPBackendDialer.connect(to: address, on: loop) { $0.eventLoop.makeSucceededVoidFuture() }
            })
        let listener = UDPListener(name: Self.name, endpoint: config.listen, context: context) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(SRTServerHandler(settings: settings, environment: environment))
            }
        }
        try await listener.run()
    }
}

extension SRTModule: SessionLimitedModule {
    public var maxSessions: Int { config.maxSessions }
}
