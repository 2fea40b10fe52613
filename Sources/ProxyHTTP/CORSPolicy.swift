import NIOHTTP1

/// Cross-origin access for the modules browsers reach from pages served elsewhere: HTTP-FLV and
/// HLS players (SRS's HTTP server headers) and WebRTC's WHIP/WHEP clients (SRS's
/// `http_api.crossdomain`). One mechanism on one `cors:` config; what differs between the two
/// is a `Profile`: the methods and headers allowed and exposed, and how the origin is answered.
///
/// Off (`cors.enabled: false`) nothing is added (and the modules answer OPTIONS with 405, as
/// SRS does without crossdomain).
public struct CORSPolicy: Sendable {
    /// What one kind of endpoint allows.
    public struct Profile: Sendable {
        public var allowMethods: String
        public var allowHeaders: String
        public var exposeHeaders: String
        /// With `allow_origin: "*"`, answer the request's own `Origin` when it is one well-formed
        /// value (with `Vary: Origin`) instead of `*`.
        public var echoesOrigin: Bool
        /// `Access-Control-Max-Age` on every answer (SRS's players) or on preflights only.
        public var maxAgeOnEveryAnswer: Bool
        /// Answer a preflight asking for Private Network Access (a public page reaching a
        /// proxy on a private address).
        public var allowsPrivateNetwork: Bool

        /// SRS's headers on its HTTP-FLV, HTTP-TS and HLS responses.
        public static let playback = Profile(
            allowMethods: "GET, HEAD, OPTIONS",
            allowHeaders: "origin, range, accept-encoding, referer, cache-control, x-proxy-authorization, x-requested-with, content-type",
            exposeHeaders: "Server, range, Content-Length, Content-Range", echoesOrigin: false, maxAgeOnEveryAnswer: true,
            allowsPrivateNetwork: false)

        /// WHIP/WHEP and SRS's JSON signalling: `POST application/sdp` (not a simple request),
        /// PATCH and DELETE are preflighted; `Location` and `ETag` must be readable.
        public static let signalling = Profile(
            allowMethods: "POST, PATCH, DELETE, OPTIONS", allowHeaders: "Content-Type, Authorization, If-Match",
            exposeHeaders: "Location, Link, ETag, Accept-Patch", echoesOrigin: true, maxAgeOnEveryAnswer: false, allowsPrivateNetwork: true)
    }

    /// Seconds a browser may cache a preflight answer (Chromium caps it at 7200).
    public static let maxAge = "600"
    /// Longest `Origin` answered back: a scheme, a 253-byte host name and a port fit.
    public static let maxOriginLength = 300

    public var config: CORSConfig
    public var profile: Profile

    public init(config: CORSConfig, profile: Profile) {
        self.config = config
        self.profile = profile
    }

    public var enabled: Bool { config.enabled }

    /// The headers for the answer to a request with `requestHeaders`; `preflight` for OPTIONS.
    public func headers(for requestHeaders: HTTPHeaders? = nil, preflight: Bool = false) -> [(String, String)] {
        guard config.enabled else { return [] }
        var out: [(String, String)] = []
        if profile.echoesOrigin, config.allowOrigin == "*", let requestHeaders, let origin = Self.origin(requestHeaders) {
            out.append(("Access-Control-Allow-Origin", origin))
            out.append(("Vary", "Origin"))
        } else {
            out.append(("Access-Control-Allow-Origin", config.allowOrigin))
        }
        out.append(("Access-Control-Allow-Methods", profile.allowMethods))
        out.append(("Access-Control-Allow-Headers", profile.allowHeaders))
        out.append(("Access-Control-Expose-Headers", profile.exposeHeaders))
        if preflight || profile.maxAgeOnEveryAnswer { out.append(("Access-Control-Max-Age", Self.maxAge)) }
        if preflight, profile.allowsPrivateNetwork,
            requestHeaders?.first(name: "access-control-request-private-network")?.lowercased() == "true"
        {
            out.append(("Access-Control-Allow-Private-Network", "true"))
        }
        return out
    }

    /// Sets the headers on a response (replacing the backend's own CORS fields of the same names).
    public func apply(to headers: inout HTTPHeaders, request: HTTPHeaders? = nil, preflight: Bool = false) {
        for (name, value) in self.headers(for: request, preflight: preflight) { headers.replaceOrAdd(name: name, value: value) }
    }

    /// The request's `Origin` if it is exactly one value of at most `maxOriginLength` visible
    /// ASCII characters without a comma (`https://host:port`, or `null`); nil otherwise.
    public static func origin(_ headers: HTTPHeaders) -> String? {
        let values = headers["origin"]
        guard values.count == 1, let value = values.first, !value.isEmpty, value.utf8.count <= maxOriginLength,
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") })
        else { return nil }
        return value
    }
}
