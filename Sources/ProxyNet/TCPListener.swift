import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ServiceLifecycle
import Synchronization

/// A TCP server socket shared by the TCP modules: binds an endpoint, hands each accepted
/// connection to `childInitializer` (on the connection's own event loop), and shuts down in two
/// steps: on graceful shutdown it stops accepting and waits for open connections to end; on task
/// cancellation (force quit) it closes them.
public struct TCPListener: Sendable {
    public var name: String
    public var endpoint: ListenEndpoint
    public var group: any EventLoopGroup
    public var logger: Logger
    public var backlog: Int32 = 1024
    /// Connections held at once, in all and per client address; past them a connection is closed
    /// as it is accepted (logged, at most once a second per listener).
    public var limits = ConnectionLimits.none
    public var childInitializer: @Sendable (any Channel) -> EventLoopFuture<Void>
    public var onListening: @Sendable (SocketAddress) -> Void

    public init(
        name: String, endpoint: ListenEndpoint, group: any EventLoopGroup, logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        childInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) {
        self.name = name
        self.endpoint = endpoint
        self.group = group
        self.logger = logger
        self.onListening = onListening
        self.childInitializer = childInitializer
    }

    /// A module's listener: named `name`, on the module's event loops and logger, reporting its
    /// address through `context.onListening`.
    public init(
        name: String, endpoint: ListenEndpoint, context: ModuleContext,
        childInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) {
        let onListening = context.onListening
        self.init(
            name: name, endpoint: endpoint, group: context.eventLoopGroup, logger: context.logger,
            onListening: { onListening(name, $0) }, childInitializer: childInitializer)
        limits = context.connectionLimits
    }

    /// Binds and serves until graceful shutdown, then drains.
    public func run() async throws {
        let tracker = ConnectionTracker(limits: limits)
        let server = try await bind(tracker: tracker)
        defer { server.close(promise: nil) }
        if let address = server.localAddress {
            logger.info("listening", metadata: ["listener": "\(name)", "address": "\(address.endpointDescription)"])
            onListening(address)
        }
        try? await gracefulShutdown()
        try? await server.close()
        logger.info("stopped accepting; waiting for open connections", metadata: ["listener": "\(name)", "open": "\(tracker.count)"])
        tracker.quiesceAll()
        await withTaskCancellationHandler {
            await tracker.waitUntilEmpty()
        } onCancel: {
            tracker.closeAll()
        }
    }

    /// Binds without serving loop; the caller owns the returned server channel. For tests and modules
    /// that manage their own lifetime.
    public func bind(tracker: ConnectionTracker) async throws -> any Channel {
        let initializer = childInitializer
        let name = self.name, logger = self.logger
        let lastLog = Mutex(NIODeadline.distantPast)
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    if let refusal = tracker.add(channel) {
                        let now = NIODeadline.now()
                        let log = lastLog.withLock { last in
                            guard now - last >= .seconds(1) else { return false }
                            last = now
                            return true
                        }
                        if log {
                            logger.warning("connection refused", metadata: [
                                "listener": "\(name)", "reason": "\(refusal.rawValue)", "client": "\(channel.remoteAddress?.endpointDescription ?? "?")",
                                "refused": "\(tracker.refused.values.reduce(0, +))",
                            ])
                        }
                        return channel.close()
                    }
                    return initializer(channel)
                }
                .bind(host: endpoint.bindHost, port: endpoint.port)
                .get()
        } catch {
            throw ListenerError.bindFailed(name: name, endpoint: endpoint, underlying: "\(error)")
        }
    }
}

public enum ListenerError: Error, CustomStringConvertible {
    case bindFailed(name: String, endpoint: ListenEndpoint, underlying: String)

    public var description: String {
        switch self {
        case .bindFailed(let name, let endpoint, let underlying): "\(name): cannot listen on \(endpoint): \(underlying)"
        }
    }
}

extension SocketAddress {
    /// `ip:port` (`[v6]:port`) without NIO's type prefix, for logs and APIs.
    public var endpointDescription: String {
        guard let ip = ipAddress, let port else { return "\(self)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
