import Logging
import NIOCore
import ProxyCore
import ProxyNet
import Hummingbird
import HummingbirdCore
import HummingbirdTLS

/// The HTTP server an API runs on: HTTP/1.1, inside TLS when the API has `tls:` files, with the
/// `limits:` every API listener keeps (connections in all and per address, the header and idle
/// timeouts).
enum APIServer {
    static func builder(_ tls: APITLSConfig?, limits: LimitsConfig, logger: Logger) throws -> HTTPServerBuilder {
        let tracker = ConnectionTracker(limits: limits.connections)
        let headerTimeout = TimeAmount(limits.httpHeaderTimeout.duration)
        let http = HTTPServerBuilder.http1(configuration: HTTP1Channel.Configuration(
            additionalChannelHandlers: APIConnectionLimits.handlers(tracker: tracker, headerTimeout: headerTimeout, logger: logger),
            idleTimeout: TimeAmount(limits.httpIdleTimeout.duration)))
        guard let tls else { return http }
        return try .tls(http, tlsConfiguration: tls.tlsConfiguration)
    }

    /// One API's Hummingbird application: served on `listen` (HTTPS when `tls` is set), logging
    /// `listening` and reporting the bound address under `name` once the server runs.
    static func application<Context: RequestContext>(
        name: String, router: Hummingbird.Router<Context>, listen: ListenEndpoint, tls: APITLSConfig?, limits: LimitsConfig,
        group: any EventLoopGroup, logger: Logger, onListening: @escaping @Sendable (String, SocketAddress) -> Void
    ) throws -> some ApplicationProtocol where Context.Source == ApplicationRequestContextSource {
        let secure = tls != nil
        return Application(
            router: router,
            server: try builder(tls, limits: limits, logger: logger),
            configuration: .init(address: .hostname(listen.bindHost, port: listen.port), serverName: ProxyVersion.name),
            onServerRunning: { channel in
                if let address = channel.localAddress {
                    logger.info("listening", metadata: ["listener": "\(name)", "address": "\(address.endpointDescription)", "tls": "\(secure)"])
                    onListening(name, address)
                }
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger)
    }
}
