import Hummingbird
import HummingbirdCore
import HummingbirdTLS

/// The HTTP server an API runs on: HTTP/1.1, inside TLS when the API has `tls:` files.
enum APIServer {
    static func builder(_ tls: APITLSConfig?) throws -> HTTPServerBuilder {
        guard let tls else { return .http1() }
        return try .tls(.http1(), tlsConfiguration: tls.tlsConfiguration)
    }
}
