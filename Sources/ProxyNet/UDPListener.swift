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
///
/// With a `fastPath` (Linux), the channel does not read: the fast path's thread reads the socket
/// (a duplicate descriptor), relays established routes' datagrams itself and hands the rest to
/// the module's handler on `eventLoop` (`UDPFastPath.setClientSink`, which the handler calls when
/// it is added); the channel still sends the handler's datagrams and carries the shutdown
/// sequence. The fast path stops once the channel has closed.
public struct UDPListener: Sendable {
    public var name: String
    public var endpoint: ListenEndpoint
    public var eventLoop: any EventLoop
    public var logger: Logger
    public var options: UDPSocketOptions
    public var onListening: @Sendable (SocketAddress) -> Void
    public var initializer: @Sendable (any Channel) -> EventLoopFuture<Void>
    public var fastPath: UDPFastPath?

    public init(
        name: String, endpoint: ListenEndpoint, eventLoop: any EventLoop, logger: Logger,
        options: UDPSocketOptions = .listener, fastPath: UDPFastPath? = nil,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) {
        self.fastPath = fastPath
        self.name = name
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        self.logger = logger
        self.options = options
        self.onListening = onListening
        self.initializer = initializer
    }

    /// Binds and serves until graceful shutdown, then waits for the handler to close the
    /// channel (its sessions drained); cancellation closes it.
    public func run() async throws {
        let channel: any Channel
        do {
            channel = try await bind()
        } catch {
            await fastPath?.stop()
            throw error
        }
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
        await fastPath?.stop()
    }

    /// Binds without serving; the caller owns the returned channel (tests, custom lifetimes).
    public func bind() async throws -> any Channel {
        #if os(Linux)
        if let fastPath { return try await bindSharedSocket(fastPath) }
        #endif
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

#if os(Linux)
extension UDPListener {
    /// The socket is made and bound here, given to a channel that does not read, and duplicated
    /// for `fastPath`, which starts once the channel (and its handler) is up.
    private func bindSharedSocket(_ fastPath: UDPFastPath) async throws -> any Channel {
        let fd: CInt
        let duplicate: CInt
        do {
            let address = try SocketAddress.makeAddressResolvingHost(endpoint.bindHost, port: endpoint.port)
            (fd, duplicate) = try UDPSharedSocket.withDuplicate { try UDPSharedSocket.bound(to: address) }
        } catch {
            throw ListenerError.bindFailed(name: name, endpoint: endpoint, underlying: "\(error)")
        }
        let channel: any Channel
        do {
            channel = try await DatagramBootstrap(group: eventLoop)
                .applying(options)
                .channelOption(.autoRead, value: false)
                .channelInitializer(initializer)
                .withBoundSocket(fd)
                .get()
        } catch {
            closeSocket(duplicate)
            throw ListenerError.bindFailed(name: name, endpoint: endpoint, underlying: "\(error)")
        }
        do {
            try fastPath.start(listenSocket: duplicate)
        } catch {
            closeSocket(duplicate)
            try? await channel.close()
            throw ListenerError.bindFailed(name: name, endpoint: endpoint, underlying: "\(error)")
        }
        return channel
    }
}
#endif

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

#if os(Linux)
extension UDPBackendDialer {
    /// Connects a backend socket shared with `fastPath`: the channel (which does not read) sends
    /// the module's own datagrams; the fast path reads the socket and, once the route is
    /// established, relays between it and `client`. Before that, and for errors, `sink` gets
    /// what the fast path reads (on the event loop).
    public static func connect(
        to address: BackendAddress, on eventLoop: any EventLoop, options: UDPSocketOptions = .backend,
        fastPath: UDPFastPath, client: SocketAddress, sink: @escaping UDPFastPath.BackendSink,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<UDPBackendSocket> {
        let socketAddress: SocketAddress
        let fd: CInt
        let duplicate: CInt
        do {
            socketAddress = try SocketAddress(ipAddress: address.host, port: address.port)
        } catch {
            return eventLoop.makeFailedFuture(UDPDialError.notAnIPAddress(address.host))
        }
        do {
            (fd, duplicate) = try UDPSharedSocket.withDuplicate { try UDPSharedSocket.unconnected(for: socketAddress) }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return DatagramBootstrap(group: eventLoop)
            .applying(options)
            .channelOption(.autoRead, value: false)
            .channelInitializer(initializer)
            .withBoundSocket(fd)
            .flatMap { channel in
                channel.connect(to: socketAddress).map { channel }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
            .flatMapErrorThrowing { error in
                closeSocket(duplicate)
                throw error
            }
            .map { channel in
                UDPBackendSocket(channel: channel, route: fastPath.addBackend(socket: duplicate, client: client, sink: sink))
            }
    }
}
#endif

/// A connected backend socket: its channel, and its route when it is shared with a UDPFastPath.
public struct UDPBackendSocket: Sendable {
    public var channel: any Channel
    public var route: UDPFastPathRoute?

    public init(channel: any Channel, route: UDPFastPathRoute? = nil) {
        self.channel = channel
        self.route = route
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
