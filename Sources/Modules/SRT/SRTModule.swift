import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

/// The SRT module: publish and play over SRT through the proxy. One UDP socket takes every
/// caller; SRTServerHandler answers inductions, turns conclusions into sessions routed by their
/// Stream ID, runs the backend handshake with the caller's own parameters, and then relays packets
/// both ways by socket id without reading their payload: on Linux in a UDPFastPath (recvmmsg /
/// sendmmsg on its own thread), elsewhere (or with `fast_path: false`) through NIO.
public struct SRTModule: ProxyModule {
    public static let identity = ModuleIdentity(name: "srt", scheme: "srt", dials: [.srt], renamesStreams: true)
    public static let enabledByDefault = true

    public let config: SRTConfig
    private let context: ModuleContext
    private let metrics = MetricsSlot()

    public init(config: SRTConfig, context: ModuleContext) throws {
        self.config = config
        self.context = context
    }

    public func run() async throws {
        let settings = SRTServerHandler.Settings(
            idleTimeout: TimeAmount(config.idleTimeout.duration), backendTimeout: TimeAmount(config.backendTimeout.duration),
            maxSessions: config.maxSessions, gso: config.gso)
        let loop = context.eventLoopGroup.next()
        let fastPath: UDPFastPath? =
            if config.fastPath && UDPFastPath.isSupported {
                try UDPFastPath(eventLoop: loop, rules: SRTPacket.fastPathRules, settings: .init(gso: config.gso), logger: context.logger)
            } else {
                nil
            }
        let environment = SRTServerHandler.Environment(
            sessions: context.sessions(of: Self.identity), logger: context.logger, fastPath: fastPath,
            dialer: { address, loop, client, sink in
                #if os(Linux)
                if let fastPath {
                    return UDPBackendDialer.connect(to: address, on: loop, fastPath: fastPath, client: client, sink: sink) {
                        $0.eventLoop.makeSucceededVoidFuture()
                    }
                }
                #endif
                return UDPBackendDialer.connect(to: address, on: loop) { $0.eventLoop.makeSucceededVoidFuture() }.map { UDPBackendSocket(channel: $0) }
            }, newSessions: AddressRateLimiter(.init(rate: config.sessionRate, burst: config.sessionBurst)))
        let onListening = context.onListening
        let metrics = self.metrics
        let listener = UDPListener(
            name: Self.name, endpoint: config.listen, eventLoop: loop, logger: context.logger, fastPath: fastPath,
            onListening: { onListening(Self.name, $0) }
        ) { channel in
            channel.eventLoop.makeCompletedFuture {
                let handler = SRTServerHandler(settings: settings, environment: environment)
                try channel.pipeline.syncOperations.addHandler(handler)
                let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                let loop = channel.eventLoop
                metrics.set { SRTModule.samples((try? await loop.submit { bound.value.drops.counts }.get()) ?? []) }
            }
        }
        try await listener.run()
    }
}

extension SRTModule: SessionLimitedModule {
    public var maxSessions: Int { config.maxSessions }
}

extension SRTModule: MetricsReporting {
    public func metricSamples() async -> [MetricSample] { await metrics.read() }

    /// The drop counters of SRTDropCounters (which include the fast path's lost datagrams, folded
    /// in as `not_writable` every second), one sample per cause.
    static func samples(_ counts: [UInt64]) -> [MetricSample] {
        guard counts.count == SRTDropCause.allCases.count else { return [] }
        return SRTDropCause.allCases.map { cause in
            MetricSample(
                name: "srt_dropped_datagrams_total", help: "Datagrams from SRT clients the srt module dropped, by cause.",
                kind: .counter, labels: [.init("cause", cause.description)], value: Double(counts[cause.rawValue]))
        }
    }
}
