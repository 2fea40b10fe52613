import NIOHTTP1
import ProxyCore

/// Cross-origin access to the signalling endpoints, as SRS's `http_api.crossdomain`: a browser's
/// WHIP/WHEP client is a page served from another origin than the proxy's API port, and its
/// `POST application/sdp` (not a simple request), PATCH and DELETE are preflighted.
///
/// `OPTIONS` on a signalling path is answered 204 with the allowed methods and headers; every
/// answer (errors too, so a page can read them) carries the allowed origin and the exposed
/// headers (`Location` and `ETag` are not readable cross-origin otherwise). With
/// `allow_origin: "*"` the request's own `Origin` is answered when it is one well-formed value
/// (with `Vary: Origin`), else `*`. Off (`cors.enabled: false`), nothing is added and `OPTIONS`
/// is 405, as SRS answers without crossdomain.
struct SignallingCORS: Sendable {
    var config: CORSConfig

    static let allowMethods = "POST, PATCH, DELETE, OPTIONS"
    static let allowHeaders = "Content-Type, Authorization, If-Match"
    static let exposeHeaders = "Location, Link, ETag, Accept-Patch"
    /// Seconds a browser may cache a preflight answer (Chromium caps it at 7200).
    static let maxAge = "600"
    /// Longest `Origin` answered back: a scheme, a 253-byte host name and a port fit.
    static let maxOriginLength = 300

    var enabled: Bool { config.enabled }

    /// The headers for the answer to a request with `requestHeaders`; `preflight` for OPTIONS.
    func headers(for requestHeaders: HTTPHeaders, preflight: Bool) -> [(String, String)] {
        guard config.enabled else { return [] }
        var out: [(String, String)] = []
        if config.allowOrigin == "*", let origin = Self.origin(requestHeaders) {
            out.append(("Access-Control-Allow-Origin", origin))
            out.append(("Vary", "Origin"))
        } else {
            out.append(("Access-Control-Allow-Origin", config.allowOrigin))
        }
        out.append(("Access-Control-Allow-Methods", Self.allowMethods))
        out.append(("Access-Control-Allow-Headers", Self.allowHeaders))
        out.append(("Access-Control-Expose-Headers", Self.exposeHeaders))
        if preflight {
            out.append(("Access-Control-Max-Age", Self.maxAge))
            // Private Network Access: a public page may reach a proxy on a private address.
            if requestHeaders.first(name: "access-control-request-private-network")?.lowercased() == "true" {
                out.append(("Access-Control-Allow-Private-Network", "true"))
            }
        }
        return out
    }

    /// The request's `Origin` if it is exactly one value of at most `maxOriginLength` visible
    /// ASCII characters without a comma (`https://host:port`, or `null`); nil otherwise.
    static func origin(_ headers: HTTPHeaders) -> String? {
        let values = headers["origin"]
        guard values.count == 1, let value = values.first, !value.isEmpty, value.utf8.count <= maxOriginLength,
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") })
        else { return nil }
        return value
    }
}
