import Logging
import NIOCore
import ProxyCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS

/// The HTTP server an API runs on: HTTP/1.1, inside TLS when the API has `tls:` files.
enum APIServer {
    static func builder(_ tls: APITLSConfig?) throws -> HTTPServerBuilder {
        guard let tls else { return .http1() }
        return try .tls(.http1(), tlsConfiguration: tls.tlsConfiguration)
    }

    /// One API's Hummingbird application: served on `listen` (HTTPS when `tls` is set), logging
    /// `listening` and reporting the bound address under `name` once the server runs.
    static func application(
        name: String, router: Hummingbird.Router<BasicRequestContext>, listen: ListenEndpoint, tls: APITLSConfig?,
        group: any EventLoopGroup, logger: Logger, onListening: @escaping @Sendable (String, SocketAddress) -> Void
    ) throws -> some ApplicationProtocol {
        let secure = tls != nil
        return Application(
            router: router,
            server: try builder(tls),
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
