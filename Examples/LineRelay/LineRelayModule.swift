import NIOCore
import ProxyCore
import ProxyNet

/// An illustrative raw TCP forwarder: the client's first line names the stream
/// (`PUBLISH app/stream[?query]` or `PLAY app/stream[?query]`); everything it sends, the line
/// included, is relayed to the stream's backend. (docs/adding-a-module.md walks through it; the
/// HostTests build it into a host beside the real modules.)
public struct LineRelayModule: ProxyModule {
    /// Its name under `modules:`, its clients' URL scheme (hooks' tcUrl), what it dials.
    public static let identity = ModuleIdentity(name: "line-relay", scheme: "line", dials: [.rtmp, .http, .api, .srt, .rtc])
    public static let enabledByDefault = false

    private let config: LineRelayConfig
    private let context: ModuleContext

    public init(config: LineRelayConfig, context: ModuleContext) throws {
        // Validate and store only: nothing binds before every module was built.
        self.config = config
        self.context = context
    }

    public func run() async throws {
        let config = self.config
        let logger = context.logger
        // Every session's life cycle shares the router, the hooks and this module's identity.
        let sessions = context.sessions(of: Self.identity)
        // On the module's event loops and logger; the bound address goes to context.onListening.
        let listener = TCPListener(name: Self.name, endpoint: config.listen, context: context) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(FirstLineHandler(config: config, sessions: sessions, logger: logger))
            }
        }
        // Serves until graceful shutdown, then waits for open relays; cancellation closes them.
        try await listener.run()
    }
}
