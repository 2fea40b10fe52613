#if os(Linux)
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ProxyCore
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

@testable import ProxyNet

/// UDPFastPath under a UDPListener on real loopback sockets, with an echo backend: before a route
/// is established every datagram reaches the handler (client side) or the backend sink; after,
/// the fast path relays both ways itself (intact, counted, the route's last-seen time moving),
/// a datagram from another address with the route's key still goes to the handler, `notify`
/// copies reach the sink, and graceful shutdown stops the thread once the handler closed the socket.
@Suite(.timeLimit(.minutes(1))) struct UDPFastPathTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// Key: the first 4 bytes (big-endian) of a datagram that does not start with "ctl:".
    static let rules = UDPFastPath.Rules(
        clientKey: { bytes in
            guard bytes.count >= 4, !bytes.starts(with: Array("ctl:".utf8)) else { return nil }
            return bytes.loadUnaligned(as: UInt32.self).bigEndian
        },
        notify: { bytes in bytes.starts(with: Array("echo:\0\0\0\u{7}BYE".utf8)) || bytes.starts(with: Array("\0\0\0\u{7}BYE".utf8)) })

    /// The session logic of a one-session relay on top of the fast path.
    final class Relay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let fastPath: UDPFastPath
        let backend: SocketAddress
        let counters = SessionCounters()
        /// What the handler saw from clients, and from the backend sink.
        let fromClients = NIOLockedValueBox<[String]>([])
        let backendEvents = NIOLockedValueBox<[String]>([])
        private(set) var route: UDPFastPathRoute?
        private var listener: (any Channel)?
        private var client: SocketAddress?
        private var backendChannel: (any Channel)?

        init(fastPath: UDPFastPath, backend: SocketAddress) {
            self.fastPath = fastPath
            self.backend = backend
        }

        func handlerAdded(context: ChannelHandlerContext) {
            listener = context.channel
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            fastPath.setClientSink { bound.value.received($0) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            Issue.record("the channel must not read: the fast path does")
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
            if let route { fastPath.remove(route) }
            backendChannel?.close(promise: nil)
            context.close(promise: nil)
        }

        private func received(_ datagrams: [UDPFastPath.ClientDatagram]) {
            for datagram in datagrams {
                fromClients.withLockedValue { $0.append(String(buffer: datagram.data)) }
                if client == nil {
                    client = datagram.from
                    dial(first: datagram.data)
                } else if datagram.from == client {
                    backendChannel?.writeAndFlush(datagram.data, promise: nil)
                }
            }
        }

        private func dial(first: ByteBuffer) {
            guard let listener, let client else { return }
            let bound = NIOLoopBound(self, eventLoop: listener.eventLoop)
            UDPBackendDialer.connect(
                to: BackendAddress(host: "127.0.0.1", port: backend.port!), on: listener.eventLoop, fastPath: fastPath, client: client,
                sink: { bound.value.backendEvent($0) }
            ) { $0.eventLoop.makeSucceededVoidFuture() }.whenSuccess { socket in
                let relay = bound.value
                relay.backendChannel = socket.channel
                relay.route = socket.route
                socket.channel.writeAndFlush(first, promise: nil)
            }
        }

        private func backendEvent(_ event: UDPFastPath.BackendEvent) {
            switch event {
            case .datagrams(let datagrams):
                for datagram in datagrams {
                    backendEvents.withLockedValue { $0.append(String(buffer: datagram)) }
                    if let client { listener?.writeAndFlush(AddressedEnvelope(remoteAddress: client, data: datagram), promise: nil) }
                }
            case .relayedFromClient(let datagram): backendEvents.withLockedValue { $0.append("to backend: " + String(buffer: datagram)) }
            case .relayedToClient(let datagram): backendEvents.withLockedValue { $0.append("to client: " + String(buffer: datagram)) }
            case .error(let error): backendEvents.withLockedValue { $0.append("error: \(error)") }
            }
        }

        func establish(key: UInt32) {
            if let route { fastPath.establish(route, key: key, counters: counters) }
        }
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let received = NIOLockedValueBox<[String]>([])
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received.withLockedValue { $0.append(String(buffer: unwrapInboundIn(data).data)) }
        }
    }

    func socket(_ handler: some ChannelHandler & Sendable) async throws -> any Channel {
        try await DatagramBootstrap(group: group).channelInitializer { $0.pipeline.addHandler(handler) }.bind(host: "127.0.0.1", port: 0).get()
    }

    struct Timeout: Error, CustomStringConvertible {
        var what: String
        var description: String { "timed out waiting for \(what)" }
    }

    static func until(_ what: String, _ condition: () async throws -> Bool) async throws {
        do {
            try await Wait.until(condition)
        } catch {
            throw Timeout(what: what)
        }
    }

    /// A datagram of `key` (4 bytes) and `text`.
    static func datagram(_ key: UInt32, _ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(key)
        buffer.writeString(text)
        return buffer
    }

    @Test func establishedRoutesAreRelayedByTheFastPathAndTheRestReachesTheHandler() async throws {
        let echo = try await socket(UDPEchoHandler())
        defer { echo.close(promise: nil) }
        let loop = group.next()
        let fastPath = try UDPFastPath(eventLoop: loop, rules: Self.rules, logger: Logger(label: "test"))
        let relay = Relay(fastPath: fastPath, backend: echo.localAddress!)
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let udp = UDPListener(
            name: "fast-test", endpoint: ListenEndpoint(transport: .udp, host: "127.0.0.1", port: 0), eventLoop: loop,
            logger: Logger(label: "test"), fastPath: fastPath, onListening: { continuation.yield($0) }
        ) { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(relay) } }
        let collector = Collector()
        let client = try await socket(collector)
        defer { client.close(promise: nil) }
        let other = try await socket(Collector())
        defer { other.close(promise: nil) }

        try await testGracefulShutdown { trigger in
            let task = Task { try await udp.run() }
            var it = addresses.makeAsyncIterator()
            let address = try #require(await it.next())
            let key: UInt32 = 7

            // Before the route is established: the handler relays, the backend's answer comes through the sink.
            client.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: Self.datagram(key, "first")), promise: nil)
            try await Self.until("the first echo") { collector.received.withLockedValue { $0.count } == 1 }
            #expect(relay.fromClients.withLockedValue { $0 } == ["\0\0\0\u{7}first"])
            #expect(relay.backendEvents.withLockedValue { $0 } == ["echo:\0\0\0\u{7}first"])
            try await loop.submit { relay.establish(key: key) }.get()

            // Established: bursts of same-size datagrams (one GSO run each) and odd sizes, relayed
            // both ways without the handler.
            var sent: [String] = []
            for burst in 0..<5 {
                for i in 0..<40 {
                    let text = burst % 2 == 0 ? "b\(burst)-\(100 + i)-" + String(repeating: "x", count: 1_300) : "odd-\(burst)-\(i)-" + String(repeating: "y", count: i * 7)
                    sent.append("\0\0\0\u{7}" + text)
                    client.write(AddressedEnvelope(remoteAddress: address, data: Self.datagram(key, text)), promise: nil)
                }
                client.flush()
                try await Self.until("burst") { collector.received.withLockedValue { $0.count } == 1 + sent.count }
            }
            #expect(Set(collector.received.withLockedValue { $0 }.dropFirst()) == Set(sent.map { "echo:" + $0 }), "every datagram came back intact")
            #expect(relay.fromClients.withLockedValue { $0.count } == 1, "the handler saw none of them")
            #expect(relay.backendEvents.withLockedValue { $0.count } == 1)
            let bytes = sent.reduce(0) { $0 + $1.utf8.count }
            try await Self.until("the byte counters") { relay.counters.bytesFromClient == UInt64(bytes) && relay.counters.bytesToClient == UInt64(bytes + 5 * sent.count) }
            #expect(try #require(try await loop.submit { relay.route?.lastSeen }.get()) > .uptimeNanoseconds(0))

            // Not relayed: a control datagram, and the route's key from another address.
            client.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(string: "ctl:hello")), promise: nil)
            other.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: Self.datagram(key, "intruder")), promise: nil)
            try await Self.until("the two unrelayed datagrams") { relay.fromClients.withLockedValue { $0.count } == 3 }
            #expect(Set(relay.fromClients.withLockedValue { $0 }.dropFirst()) == ["ctl:hello", "\0\0\0\u{7}intruder"])

            // Relayed and reported: "BYE" both ways.
            client.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: Self.datagram(key, "BYE")), promise: nil)
            try await Self.until("the BYE reports") { relay.backendEvents.withLockedValue { $0.count } == 3 }
            #expect(Set(relay.backendEvents.withLockedValue { $0 }.dropFirst()) == ["to backend: \0\0\0\u{7}BYE", "to client: echo:\0\0\0\u{7}BYE"])
            #expect(fastPath.takeLost() == 0)

            trigger.triggerGracefulShutdown()
            try await task.value
        }
    }

    @Test func aFastPathThatNeverStartedStopsAtOnce() async throws {
        let fastPath = try UDPFastPath(eventLoop: group.next(), rules: Self.rules, logger: Logger(label: "test"))
        await fastPath.stop()
        await fastPath.stop()
    }
}
#endif
