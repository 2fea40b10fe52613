import Logging
import NIOCore
import ProxyCore

/// What the host hands every module: the shared router (and through it the registry and the
/// balancing strategy), the event loops, a logger labelled `proxy.<name>`, the hooks, the queue
/// of the module's background work, and a callback to report bound addresses (tests bind port 0
/// and learn the real port from it).
public struct ModuleContext: Sendable {
    public var router: Router
    public var eventLoopGroup: any EventLoopGroup
    public var logger: Logger
    public var hooks: any ProxyHooks
    /// Registry writes and other awaited work an event loop starts and does not wait for; the
    /// host runs it beside the module (ModuleGroup), and the test harness does the same.
    public var background: BackgroundWork
    /// What each of the module's TCP listeners holds at once (`limits:` in proxy.yaml).
    public var connectionLimits: ConnectionLimits
    /// Called once per bound socket with a listener name (`rtmp`, `webrtc-udp`, ...) and its address.
    public var onListening: @Sendable (_ listener: String, _ address: SocketAddress) -> Void

    public init(
        router: Router, eventLoopGroup: any EventLoopGroup, logger: Logger, hooks: any ProxyHooks = NoHooks(),
        background: BackgroundWork = BackgroundWork(), connectionLimits: ConnectionLimits = ConnectionLimits(),
        onListening: @escaping @Sendable (String, SocketAddress) -> Void = { _, _ in }
    ) {
        self.router = router
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.hooks = hooks
        self.background = background
        self.connectionLimits = connectionLimits
        self.onListening = onListening
    }

    /// What the sessions of `module` share (StreamSession).
    public func sessions(of module: ModuleIdentity) -> StreamSession.Context {
        StreamSession.Context(router: router, hooks: hooks, module: module)
    }
}
