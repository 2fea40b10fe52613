import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyHTTP
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
    public static let identity = ModuleIdentity(name: "webrtc", scheme: "webrtc", dials: [.api, .rtc], renamesStreams: true)
    public static let enabledByDefault = false

    public let config: WebRTCConfig
    private let context: ModuleContext
    private let metrics = MetricsSlot()

    public init(config: WebRTCConfig, context: ModuleContext) throws {
        self.config = config
        self.context = context
    }

    public func run() async throws {
        let loop = context.eventLoopGroup.next()
        let idle = config.idleTimeout.duration
        let recordTTL = idle + .seconds(30)
        let sessions = context.sessions(of: Self.identity)
        let relay = try await WebRTCRelay.Handle.make(
            on: loop,
            settings: .init(
                idleTimeout: TimeAmount(idle), maxSessions: config.maxSessions, recordTTL: recordTTL, lookUpRate: config.sessionRate,
                lookUpBurst: config.sessionBurst),
            sessions: sessions, background: context.background, logger: context.logger)
        metrics.set { WebRTCModule.samples(await relay.drops()) }
        let bound = loop.makePromise(of: SocketAddress.self)
        let onListening = context.onListening
        let udp = UDPListener(
            name: "webrtc-udp", endpoint: config.udpListen, eventLoop: loop, logger: context.logger,
            onListening: { address in
                onListening("webrtc-udp", address)
                bound.succeed(address)
            }
        ) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.syncOptions?.setOption(.writeBufferWaterMark, value: WebRTCRelay.writeWaterMark)
                try channel.pipeline.syncOperations.addHandler(RelayListenerHandler(relay: relay.onLoop))
                relay.onLoop.attach(channel)
            }
        }
        let config = self.config, context = self.context
        // The media socket and the signalling listener run side by side (structured: the scope
        // ends when both have, and a failure of either cancels the other).
        async let media: Void = Self.serveMedia(udp, relay: relay, bound: bound)
        let udpPort = try await bound.futureResult.get().port ?? 0
        let signalling = WebRTCSignalling(
            settings: .init(
                candidate: config.candidate, udpPort: udpPort, backendTimeout: TimeAmount(config.backendTimeout.duration),
                recordTTL: recordTTL, cors: CORSPolicy(config: config.cors, profile: .signalling),
                forwardAuthorization: config.forwardAuthorization),
            sessions: sessions, logger: context.logger, relay: relay,
            offers: AddressRateLimiter(.init(rate: config.sessionRate, burst: config.sessionBurst)))
        let headerTimeout = TimeAmount(config.headerTimeout.duration)
        let api = TCPListener(name: "webrtc-api", endpoint: config.apiListen, context: context) { channel in
            channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                try channel.pipeline.syncOperations.addHandler(SignallingHTTPHandler(signalling: signalling, headerTimeout: headerTimeout))
            }
        }
        try await api.run()
        try await media
    }

    /// The UDP side until it drained: then every session left ends.
    private static func serveMedia(_ udp: UDPListener, relay: WebRTCRelay.Handle, bound: EventLoopPromise<SocketAddress>) async throws {
        defer { bound.fail(CancellationError()) }
        try await udp.run()
        try await relay.closeAll(reason: "proxy stopping")
    }
}

extension WebRTCModule: SessionLimitedModule {
    public var maxSessions: Int { config.maxSessions }
}

extension WebRTCModule: MetricsReporting {
    public func metricSamples() async -> [MetricSample] { await metrics.read() }

    /// The relay's drop counters (WebRTCRelay.Drops), one sample per reason.
    static func samples(_ drops: WebRTCRelay.Drops) -> [MetricSample] {
        [
            ("unknown_address", drops.unknownAddress), ("bad_stun", drops.badSTUN), ("unknown_username", drops.unknownUsername),
            ("sessions_full", drops.sessionsFull), ("not_writable", drops.notWritable), ("backend_failed", drops.backendFailed),
            ("unconsented", drops.unconsented),
        ].map { reason, n in
            MetricSample(
                name: "webrtc_dropped_datagrams_total", help: "Datagrams the webrtc relay dropped, by reason.",
                kind: .counter, labels: [.init("reason", reason)], value: Double(n))
        }
    }
}
