import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ProxyCore
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

@testable import ProxyNet

/// UDPListener + UDPBackendDialer on real loopback sockets: a minimal one-session relay (the
/// shape of the SRT and WebRTC modules) carries datagrams both ways, batch-read slices arrive
/// intact, and graceful shutdown waits for the handler to close the socket.
@Suite(.timeLimit(.minutes(1))) struct UDPListenerTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// Relays one client to one backend: client datagrams go to the connected backend socket,
    /// the backend's answers go back to the client. Quiesce closes the socket when `idle` says
    /// no session is left.
    final class OneSessionRelay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let backend: SocketAddress
        let quiesced = NIOLockedValueBox(false)
        private var client: SocketAddress?
        private var backendChannel: (any Channel)?
        private var pending: [ByteBuffer] = []
        private var listener: (any Channel)?

        init(backend: SocketAddress) { self.backend = backend }

        func handlerAdded(context: ChannelHandlerContext) { listener = context.channel }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            client = envelope.remoteAddress
            if let backendChannel {
                backendChannel.write(envelope.data, promise: nil)
                return
            }
            pending.append(envelope.data)
            guard pending.count == 1 else { return }
            let listener = context.channel
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            UDPBackendDialer.connect(to: backend, on: context.eventLoop) { channel in
                channel.pipeline.addHandler(BackendSide(listener: listener, relay: loopBound))
            }.whenSuccess { channel in
                let relay = loopBound.value
                relay.backendChannel = channel
                for buffer in relay.pending { channel.write(buffer, promise: nil) }
                relay.pending = []
                channel.flush()
            }
        }

        func channelReadComplete(context: ChannelHandlerContext) { backendChannel?.flush() }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent {
                quiesced.withLockedValue { $0 = true }
                return
            }
            context.fireUserInboundEventTriggered(event)
        }

        /// The session ended: close the backend socket and, after quiesce, the listener.
        func endSession() {
            backendChannel?.close(promise: nil)
            backendChannel = nil
            if quiesced.withLockedValue({ $0 }) { listener?.close(promise: nil) }
        }

        final class BackendSide: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = AddressedEnvelope<ByteBuffer>
            let listener: any Channel
            let relay: NIOLoopBound<OneSessionRelay>
            init(listener: any Channel, relay: NIOLoopBound<OneSessionRelay>) {
                self.listener = listener
                self.relay = relay
            }
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let envelope = unwrapInboundIn(data)
                guard let client = relay.value.client else { return }
                listener.write(AddressedEnvelope(remoteAddress: client, data: envelope.data), promise: nil)
            }
            func channelReadComplete(context: ChannelHandlerContext) { listener.flush() }
        }
    }

    /// A client socket that collects what it receives.
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let received = NIOLockedValueBox<[String]>([])
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            received.withLockedValue { $0.append(String(buffer: envelope.data)) }
        }
    }

    func startEcho() async throws -> any Channel {
        try await DatagramBootstrap(group: group)
            .channelInitializer { $0.pipeline.addHandler(UDPEchoHandler()) }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func startClient() async throws -> (any Channel, Collector) {
        let collector = Collector()
        let channel = try await DatagramBootstrap(group: group)
            .channelInitializer { $0.pipeline.addHandler(collector) }
            .bind(host: "127.0.0.1", port: 0).get()
        return (channel, collector)
    }

    func listener(relay: OneSessionRelay, onListening: @escaping @Sendable (SocketAddress) -> Void) -> UDPListener {
        UDPListener(
            name: "udp-test", endpoint: ListenEndpoint(transport: .udp, host: "127.0.0.1", port: 0),
            eventLoop: group.next(), logger: Logger(label: "test"), onListening: onListening
        ) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(relay) }
        }
    }

    /// Runs a relay to an echo backend under a graceful-shutdown trigger; `body` gets the relay,
    /// the listener, its bound address, the task running it and the trigger.
    func withRunningRelay(
        _ body: (OneSessionRelay, UDPListener, SocketAddress, Task<Void, any Error>, GracefulShutdownTestTrigger) async throws -> Void
    ) async throws {
        let echo = try await startEcho()
        defer { echo.close(promise: nil) }
        let relay = OneSessionRelay(backend: echo.localAddress!)
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let udp = listener(relay: relay) { continuation.yield($0) }
        try await testGracefulShutdown { trigger in
            let task = Task { try await udp.run() }
            var it = addresses.makeAsyncIterator()
            let address = try #require(await it.next())
            try await body(relay, udp, address, task, trigger)
        }
    }

    @Test func datagramsCrossTheRelayBothWaysIntact() async throws {
        try await withRunningRelay { relay, udp, address, task, trigger in
            let (client, collector) = try await startClient()
            defer { client.close(promise: nil) }

            // Bursts larger than one batch (the slices of one receive buffer must not overlap),
            // small enough for the default kernel buffers of the test's own sockets.
            let sent = (0..<200).map { "packet-\($0)-" + String(repeating: "x", count: $0 * 5) }
            for burst in stride(from: 0, to: sent.count, by: 40) {
                for text in sent[burst..<(burst + 40)] {
                    client.write(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(string: text)), promise: nil)
                }
                client.flush()
                try await Wait.until { collector.received.withLockedValue { $0.count } == burst + 40 }
            }
            let received = collector.received.withLockedValue { $0 }
            #expect(Set(received) == Set(sent.map { "echo:" + $0 }), "every datagram came back intact")

            trigger.triggerGracefulShutdown()
            try await Wait.until { relay.quiesced.withLockedValue { $0 } }
            // Live sessions still relay after quiesce.
            client.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(string: "late")), promise: nil)
            try await Wait.until { collector.received.withLockedValue { $0.contains("echo:late") } }

            try await udp.eventLoop.submit { relay.endSession() }.get()
            try await task.value
        }
    }

    @Test func cancellationClosesTheSocketAtOnce() async throws {
        try await withRunningRelay { relay, _, _, task, trigger in
            trigger.triggerGracefulShutdown()
            try await Wait.until { relay.quiesced.withLockedValue { $0 } }
            task.cancel()
            try await task.value
        }
    }

    @Test func aSecondSocketOnTheSamePortFailsToBind() async throws {
        let relay = OneSessionRelay(backend: try SocketAddress(ipAddress: "127.0.0.1", port: 9))
        let first = try await listener(relay: relay) { _ in }.bind()
        defer { first.close(promise: nil) }
        let port = try #require(first.localAddress?.port)
        let second = UDPListener(
            name: "udp-test", endpoint: ListenEndpoint(transport: .udp, host: "127.0.0.1", port: port),
            eventLoop: group.next(), logger: Logger(label: "test")
        ) { $0.eventLoop.makeSucceededVoidFuture() }
        await #expect(throws: ListenerError.self, "a second proxy on one UDP port must not start and share its traffic") {
            try await second.bind().close()
        }
    }

    @Test func aBackendHostThatIsNotAnIPAddressIsRefused() async throws {
        let future = UDPBackendDialer.connect(to: BackendAddress(host: "origin.example", port: 9), on: group.next()) {
            $0.eventLoop.makeSucceededVoidFuture()
        }
        await #expect(throws: UDPDialError.self) { try await future.get() }
    }
}
