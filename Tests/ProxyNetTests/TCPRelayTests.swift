import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ProxyCore
import ProxyTesting
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

@testable import ProxyNet

/// TCPListener + BackendDialer + GlueHandler on real loopback sockets: bytes relayed both ways,
/// half-close end to end, counters, and the listener's two-step shutdown.
@Suite struct TCPRelayTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// Collects what a client receives; completes when the peer ends its output.
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = NIOLockedValueBox(ByteBuffer())
        let ended: EventLoopPromise<Void>
        init(_ promise: EventLoopPromise<Void>) { ended = promise }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            _ = received.withLockedValue { $0.writeBuffer(&b) }
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .inputClosed = event as? ChannelEvent { ended.succeed() }
        }
        func channelInactive(context: ChannelHandlerContext) { ended.succeed() }
    }

    func startEcho() async throws -> any Channel { try await TCPEcho.start(group: group) }

    func relayListener(to backend: SocketAddress, counters: SessionCounters, reports: NIOLockedValueBox<[RelayCloseReport]>? = nil,
                       onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) -> TCPListener {
        let target = BackendAddress(host: "127.0.0.1", port: backend.port!)
        return TCPListener(
            name: "test", endpoint: ListenEndpoint(host: "127.0.0.1", port: 0), group: group,
            logger: Logger(label: "test"), onListening: onListening
        ) { channel in
            BackendDialer.connect(to: target, on: channel.eventLoop).flatMapThrowing { backendChannel in
                let glue = GlueHandler.matchedPair(counters: counters) { report in reports?.withLockedValue { $0.append(report) } }
                try backendChannel.pipeline.syncOperations.addHandler(glue.backend)
                try channel.pipeline.syncOperations.addHandler(glue.client)
            }
        }
    }

    func connectClient(_ address: SocketAddress) async throws -> (any Channel, Collector) {
        let promise = group.next().makePromise(of: Void.self)
        let collector = Collector(promise)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { $0.pipeline.addHandler(collector) }
            .connect(to: address).get()
        return (channel, collector)
    }

    @Test func relaysAMegabyteBothWaysWithHalfClose() async throws {
        let echo = try await startEcho()
        defer { echo.close(promise: nil) }
        let counters = SessionCounters()
        let reports = NIOLockedValueBox<[RelayCloseReport]>([])
        let tracker = ConnectionTracker()
        let server = try await relayListener(to: echo.localAddress!, counters: counters, reports: reports).bind(tracker: tracker)
        defer { server.close(promise: nil) }

        let (client, collector) = try await connectClient(server.localAddress!)
        let pattern = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        var payload = ByteBuffer()
        for _ in 0..<256 { payload.writeBytes(pattern) }
        try await client.writeAndFlush(payload)
        try await client.close(mode: .output).get()
        try await collector.ended.futureResult.get()

        #expect(collector.received.withLockedValue { $0 } == payload, "every byte came back, in order, after the half-close")
        try await Wait.closed(client)
        try await Wait.until { tracker.count == 0 }
        #expect(counters.bytesFromClient == 1 << 20)
        #expect(counters.bytesToClient == 1 << 20)
        try await Wait.until { reports.withLockedValue { $0 }.count == 1 }
        let report = reports.withLockedValue { $0 }[0]
        #expect(report.bytesFromClient == 1 << 20 && report.bytesToClient == 1 << 20)
        #expect(report.reason == "client ended its stream")
    }

    @Test func gracefulShutdownStopsAcceptingAndWaitsForOpenConnections() async throws {
        let echo = try await startEcho()
        defer { echo.close(promise: nil) }
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let listener = relayListener(to: echo.localAddress!, counters: SessionCounters()) { continuation.yield($0) }
        let finished = NIOLockedValueBox(false)

        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await listener.run()
                    finished.withLockedValue { $0 = true }
                }
                var it = addresses.makeAsyncIterator()
                let address = try #require(await it.next())

                let (client, collector) = try await connectClient(address)
                try await client.writeAndFlush(ByteBuffer(string: "before"))
                try await Wait.until { collector.received.withLockedValue { $0.readableBytes } == 6 }

                trigger.triggerGracefulShutdown()
                try await Wait.until {
                    do {
                        let c = try await ClientBootstrap(group: group).connect(to: address).get()
                        try await c.close()
                        return false
                    } catch {
                        return true
                    }
                }
                #expect(!finished.withLockedValue { $0 }, "run() waits while a connection is open")

                try await client.writeAndFlush(ByteBuffer(string: "after"))
                try await Wait.until { collector.received.withLockedValue { $0.readableBytes } == 11 }

                try await client.close()
                try await tasks.next()
                #expect(finished.withLockedValue { $0 }, "run() returns once the last connection closed")
            }
        }
    }

    @Test func cancellationClosesOpenConnections() async throws {
        let echo = try await startEcho()
        defer { echo.close(promise: nil) }
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let listener = relayListener(to: echo.localAddress!, counters: SessionCounters()) { continuation.yield($0) }

        try await testGracefulShutdown { trigger in
            let task = Task { try await listener.run() }
            var it = addresses.makeAsyncIterator()
            let address = try #require(await it.next())
            let (client, collector) = try await connectClient(address)
            defer { client.close(promise: nil) }
            try await client.writeAndFlush(ByteBuffer(string: "relayed"))
            try await Wait.until { collector.received.withLockedValue { $0.readableBytes } == 7 }
            trigger.triggerGracefulShutdown()
            task.cancel()
            // The client set allowRemoteHalfClosure, so the proxy's close arrives as end of input.
            try await collector.ended.futureResult.get()
            try await task.value
        }
    }

    @Test func dialFailureIsReported() async throws {
        // Bind and close a socket to get a port nobody listens on.
        let probe = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        await #expect(throws: (any Error).self) {
            _ = try await BackendDialer.connect(to: BackendAddress(host: "127.0.0.1", port: port), on: group.next(), timeout: .seconds(2)).get()
        }
    }
}

enum Wait {
    static func until(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw ChannelError.connectTimeout(.seconds(10)) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func closed(_ channel: any Channel) async throws {
        try await until { !channel.isActive }
        try await channel.closeFuture.get()
    }
}
