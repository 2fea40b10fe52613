import NIOCore
import NIOPosix
import ProxyCore

/// Dials a backend on a given event loop (the client channel's own, so the glue pair shares one
/// loop), with a connect timeout and half-close enabled.
public enum BackendDialer {
    public static let defaultTimeout: TimeAmount = .seconds(5)

    public static func connect(
        to address: BackendAddress, on eventLoop: any EventLoop, timeout: TimeAmount = defaultTimeout,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void> = { $0.eventLoop.makeSucceededVoidFuture() }
    ) -> EventLoopFuture<any Channel> {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer(initializer)
            .connect(host: address.host, port: address.port)
    }
}
