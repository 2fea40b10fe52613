import ProxyCore
import ProxyHTTP

/// `modules.http-flv` in proxy.yaml.
public struct HTTPFLVConfig: Decodable, Sendable {
    /// TCP endpoint for HTTP players. Default 18080 (env PROXY_HTTP_SERVER).
    public var listen = ListenEndpoint(port: 18080)
    /// Directory served for paths that are not live streams; empty disables it (env PROXY_STATIC_FILES).
    public var staticFiles = ""
    /// Time a client has to send a whole request head once it started one (408 after). Default 10 s.
    public var headerTimeout = ConfigDuration.seconds(10)
    /// Time an idle keep-alive connection stays open between requests. Default 60 s.
    public var idleTimeout = ConfigDuration.seconds(60)
    /// Time to connect to a backend and receive its response head (502/504 after). Default 5 s.
    public var backendTimeout = ConfigDuration.seconds(5)
    /// A backend response whose body sends nothing for this long is ended (a stalled origin
    /// must not hold the player forever). Default 20 s.
    public var backendStallTimeout = ConfigDuration.seconds(20)
    /// New live streams and HLS sessions one client address may start per second (each makes
    /// a route, a lease, a registry record), and in a burst. Defaults 20 and 40; past them 429.
    public var sessionRate = 20.0
    public var sessionBurst = 40.0
    /// How long an HLS play session lives after its last request. Default 120 s.
    public var hlsSessionTTL = ConfigDuration.seconds(120)
    /// Largest playlist body read from a backend for rewriting (502 above it). Default 1 MiB.
    public var maxPlaylistSize = 1024 * 1024
    /// CORS headers on responses and OPTIONS preflight answers.
    public var cors = CORSConfig()
    /// HTTP-FLV fan-out: the players of one stream share one upstream request (off by default).
    public var fanout = FanoutConfig()
    /// HLS objects fetched once per proxy for all its players (off by default).
    public var hlsCache = HLSCacheConfig()

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
        case staticFiles = "static_files"
        case headerTimeout = "header_timeout"
        case idleTimeout = "idle_timeout"
        case backendTimeout = "backend_timeout"
        case backendStallTimeout = "backend_stall_timeout"
        case sessionRate = "session_rate"
        case sessionBurst = "session_burst"
        case hlsSessionTTL = "hls_session_ttl"
        case maxPlaylistSize = "max_playlist_size"
        case cors
        case fanout
        case hlsCache = "hls_cache"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HTTPFLVConfig()
        listen = try c.decodeListen(.listen, default: d.listen, over: .tcp, "HTTP")
        staticFiles = try c.decode(String.self, forKey: .staticFiles, default: d.staticFiles)
        headerTimeout = try c.decodePositive(.headerTimeout, default: d.headerTimeout)
        idleTimeout = try c.decodePositive(.idleTimeout, default: d.idleTimeout)
        backendTimeout = try c.decodePositive(.backendTimeout, default: d.backendTimeout)
        backendStallTimeout = try c.decodePositive(.backendStallTimeout, default: d.backendStallTimeout)
        sessionRate = try c.decode(Double.self, forKey: .sessionRate, default: d.sessionRate, in: 0.001...1_000_000, "must be from 0.001 to 1000000 (per second)")
        sessionBurst = try c.decode(Double.self, forKey: .sessionBurst, default: d.sessionBurst, in: 1...1_000_000, "must be from 1 to 1000000")
        hlsSessionTTL = try c.decodePositive(.hlsSessionTTL, default: d.hlsSessionTTL)
        maxPlaylistSize = try c.decode(Int.self, forKey: .maxPlaylistSize, default: d.maxPlaylistSize)
        guard (1024...(64 * 1024 * 1024)).contains(maxPlaylistSize) else {
            throw c.invalid(.maxPlaylistSize, "must be from 1024 to 67108864 bytes")
        }
        cors = try c.decode(CORSConfig.self, forKey: .cors, default: d.cors)
        fanout = try c.decode(FanoutConfig.self, forKey: .fanout, default: d.fanout)
        hlsCache = try c.decode(HLSCacheConfig.self, forKey: .hlsCache, default: d.hlsCache)
    }
}
