import ProxyCore
import ProxyHTTP

/// `modules.webrtc` in proxy.yaml.
public struct WebRTCConfig: Decodable, Sendable {
    /// TCP endpoint for WHIP/WHEP and SRS's RTC API. Default 11985 (env PROXY_HTTP_API).
    public var apiListen = ListenEndpoint(port: 11985)
    /// UDP endpoint for ICE, DTLS and SRTP. Default 18000 (env PROXY_WEBRTC_SERVER).
    public var udpListen = ListenEndpoint(port: 18000)
    /// The address put in rewritten ICE candidates; `*` takes it from each request's Host header.
    public var candidate = "*"
    /// A media session without a datagram either way for this long ends. Default 30 s.
    public var idleTimeout = ConfigDuration.seconds(30)
    /// Most media sessions at once; a new session past it is refused (503) or its STUN dropped. Default 10000.
    public var maxSessions = 10_000
    /// Time to connect to a backend's API and receive its whole answer (502/504 after). Default 5 s.
    public var backendTimeout = ConfigDuration.seconds(5)
    /// Time a signalling client has to send a whole request, from its connection or its previous
    /// answer. Default 10 s.
    public var headerTimeout = ConfigDuration.seconds(10)
    /// Offers (WHIP, WHEP, SRS JSON) and session look-ups one client address may start per
    /// second, and in a burst. Defaults 10 and 20; past them 429 (offers) or a dropped datagram.
    public var sessionRate = 10.0
    public var sessionBurst = 20.0
    /// Pass the client's Authorization header on to the origin's WebRTC API. Default false: a
    /// token the client presents to the proxy is not the origin's.
    public var forwardAuthorization = false
    /// CORS on the signalling endpoints for browser clients on other origins; on by default, as SRS.
    public var cors = CORSConfig()

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiListen = "api_listen"
        case udpListen = "udp_listen"
        case candidate
        case idleTimeout = "idle_timeout"
        case maxSessions = "max_sessions"
        case backendTimeout = "backend_timeout"
        case headerTimeout = "header_timeout"
        case sessionRate = "session_rate"
        case sessionBurst = "session_burst"
        case forwardAuthorization = "forward_authorization"
        case cors
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = WebRTCConfig()
        apiListen = try c.decodeListen(.apiListen, default: d.apiListen, over: .tcp, "the RTC API (HTTP)")
        udpListen = try c.decodeListen(.udpListen, default: d.udpListen, over: .udp, "WebRTC media")
        candidate = try c.decode(String.self, forKey: .candidate, default: d.candidate)
        guard !candidate.isEmpty, candidate.utf8.count <= 253, !candidate.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
            throw c.invalid(.candidate, "must be an IP address, a host name or *")
        }
        idleTimeout = try c.decodePositive(.idleTimeout, default: d.idleTimeout)
        backendTimeout = try c.decodePositive(.backendTimeout, default: d.backendTimeout)
        headerTimeout = try c.decodePositive(.headerTimeout, default: d.headerTimeout)
        sessionRate = try c.decode(Double.self, forKey: .sessionRate, default: d.sessionRate, in: 0.001...1_000_000, "must be from 0.001 to 1000000 (per second)")
        sessionBurst = try c.decode(Double.self, forKey: .sessionBurst, default: d.sessionBurst, in: 1...1_000_000, "must be from 1 to 1000000")
        forwardAuthorization = try c.decode(Bool.self, forKey: .forwardAuthorization, default: d.forwardAuthorization)
        maxSessions = try c.decode(Int.self, forKey: .maxSessions, default: d.maxSessions)
        guard (1...1_000_000).contains(maxSessions) else { throw c.invalid(.maxSessions, "must be from 1 to 1000000") }
        cors = try c.decode(CORSConfig.self, forKey: .cors, default: d.cors)
    }
}
