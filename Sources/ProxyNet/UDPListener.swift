import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ServiceLifecycle

/// The UDP socket of a UDP module (SRT, WebRTC): binds an endpoint on one event loop with batch
/// reads (UDPSocketOptions), hands the channel to the module's handler, and shuts down in two
/// steps. A UDP module's sessions arrive on this one socket, so it cannot simply stop reading:
/// on graceful shutdown the pipeline receives `ChannelShouldQuiesceEvent` (refuse new sessions,
/// keep relaying the live ones) and the handler closes the channel once its last session ended;
/// on task cancellation (force quit) the channel is closed at once.
///
/// The module should make its backend sockets on `eventLoop` too (UDPBackendDialer), so a
/// datagram crosses the proxy on one thread, without a lock or a hop between loops.
public struct UDPListener: Sendable {
    public var name: String
    public var endpoint: ListenEndpoint
    public var eventLoop: any EventLoop
    public var logger: Logger
    public var options: UDPSocketOptions
    public var onListening: @Sendable (SocketAddress) -> Void
    public var initializer: @Sendable (any Channel) -> EventLoopFuture<Void>

    public init(
        name: String, endpoint: ListenEndpoint, eventLoop: any EventLoop, logger: Logger,
        options: UDPSocketOptions = .listener, onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) {
        self.name = name
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        self.logger = logger
        self.options = options
        self.onListening = onListening
        self.initializer = initializer
    }

    /// A module's UDP socket: named `name`, on one of the module's event loops, with its logger,
    /// reporting its address through `context.onListening`.
    public init(
        name: String, endpoint: ListenEndpoint, context: ModuleContext, options: UDPSocketOptions = .listener,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) {
        let onListening = context.onListening
        self.init(
            name: name, endpoint: endpoint, eventLoop: context.eventLoopGroup.next(), logger: context.logger,
            options: options, onListening: { onListening(name, $0) }, initializer: initializer)
    }

    /// Binds and serves until graceful shutdown, then waits for the handler to close the
    /// channel (its sessions drained); cancellation closes it.
    public func run() async throws {
        let channel = try await bind()
        if let address = channel.localAddress {
            logger.info("listening", metadata: ["listener": "\(name)", "address": "\(address.endpointDescription)"])
            onListening(address)
        }
        try? await gracefulShutdown()
        logger.info("stopped accepting new sessions; waiting for live ones", metadata: ["listener": "\(name)"])
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Binds without serving; the caller owns the returned channel (tests, custom lifetimes).
    public func bind() async throws -> any Channel {
        do {
            // No SO_REUSEADDR: on Linux it lets a second UDP socket bind the same port and take
            // its traffic; a second proxy on one port must fail to start instead.
            return try await DatagramBootstrap(group: eventLoop)
                .applying(options)
                .channelInitializer(initializer)
                .bind(host: endpoint.bindHost, port: endpoint.port)
                .get()
        } catch {
            throw ListenerError.bindFailed(name: name, endpoint: endpoint, underlying: "\(error)")
        }
    }
}

/// Connects a UDP socket to a backend on a given event loop (the listener's, so both directions
/// of a session stay on one thread). The channel is connected: it reads only the backend's
/// datagrams and takes plain ByteBuffer writes.
public enum UDPBackendDialer {
    public static func connect(
        to address: SocketAddress, on eventLoop: any EventLoop, options: UDPSocketOptions = .backend,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<any Channel> {
        DatagramBootstrap(group: eventLoop)
            .applying(options)
            .channelInitializer(initializer)
            .connect(to: address)
    }

    /// Resolves `address` (an IP literal, as origins register) and connects.
    public static func connect(
        to address: BackendAddress, on eventLoop: any EventLoop, options: UDPSocketOptions = .backend,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<any Channel> {
        do {
            let socketAddress = try SocketAddress(ipAddress: address.host, port: address.port)
            return connect(to: socketAddress, on: eventLoop, options: options, initializer: initializer)
        } catch {
            return eventLoop.makeFailedFuture(UDPDialError.notAnIPAddress(address.host))
        }
    }
}

public enum UDPDialError: Error, CustomStringConvertible {
    case notAnIPAddress(String)

    public var description: String {
        switch self {
        case .notAnIPAddress(let host): "backend host '\(host)' is not an IP address (UDP backends register by ip)"
        }
    }
}
