import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyNet
import ServiceLifecycle

/// The WebRTC module: WHIP/WHEP and SRS's JSON signalling on `api_listen` (HTTP), ICE, DTLS,
/// SRTP and SRTCP relayed on `udp_listen` (one UDP port for every session).
///
/// Signalling (WebRTCSignalling) routes the stream, forwards the offer without the client's
/// candidates, rewrites the answer to the proxy's UDP port, and records the session in the
/// registry; the relay (WebRTCRelay) finds each new client by its STUN USERNAME and relays its
/// datagrams through one connected socket per session.
public struct WebRTCModule: ProxyModule {
    public static let name = "webrtc"
    public static let enabledByDefault = false

    public let config: WebRTCConfig
    private let context: ModuleContext

    public init(config: WebRTCConfig, context: ModuleContext) throws {
        self.config = config
        self.context = context
    }

    public func run() async throws {
        let loop = context.eventLoopGroup.next()
        let idle = config.idleTimeout.duration
        let relay = WebRTCRelay(
            loop: loop,
            settings: .init(
                idleTimeout: TimeAmount(idle), maxSessions: config.maxSessions, recordTTL: idle + .seconds(30), module: Self.name),
            router: context.router, hooks: context.hooks, logger: context.logger)
        let udp = try await bindUDP(relay: relay, loop: loop)
        defer { udp.close(promise: nil) }
        guard let udpAddress = udp.localAddress, let udpPort = udpAddress.port else { throw ModuleError.invalidConfig(module: Self.name, key: "udp_listen", "no bound port") }
        context.logger.info("listening", metadata: ["listener": "webrtc-udp", "address": "\(udpAddress.endpointDescription)"])
        context.onListening("webrtc-udp", udpAddress)

        let signalling = WebRTCSignalling(
            settings: .init(
                candidate: config.candidate, udpPort: udpPort, backendTimeout: TimeAmount(config.backendTimeout.duration),
                recordTTL: idle + .seconds(30), module: Self.name),
            router: context.router, hooks: context.hooks, logger: context.logger, relay: relay)
        let listener = TCPListener(name: "webrtc-api", endpoint: config.apiListen, context: context) { channel in
            channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                try channel.pipeline.syncOperations.addHandler(SignallingHTTPHandler(signalling: signalling))
            }
        }
        try await listener.run()
        try await loop.submit { relay.closeAll(reason: "proxy stopping") }.get()
    }

    private func bindUDP(relay: WebRTCRelay, loop: any EventLoop) async throws -> any Channel {
        do {
            return try await DatagramBootstrap(group: loop)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
                .channelOption(.socketOption(.so_sndbuf), value: 4 << 20)
                .channelOption(.datagramVectorReadMessageCount, value: 32)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 32 * 2048))
                .channelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 4 << 20))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RelayListenerHandler(relay: relay))
                        relay.attach(channel)
                    }
                }
                .bind(host: config.udpListen.bindHost, port: config.udpListen.port)
                .get()
        } catch {
            throw ListenerError.bindFailed(name: "webrtc-udp", endpoint: config.udpListen, underlying: "\(error)")
        }
    }
}
