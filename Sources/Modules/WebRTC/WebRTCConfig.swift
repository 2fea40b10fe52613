import ProxyCore

/// `modules.webrtc` in proxy.yaml.
public struct WebRTCConfig: Decodable, Sendable {
    /// TCP endpoint for WHIP/WHEP and SRS's RTC API. Default 11985 (env PROXY_HTTP_API).
    public var apiListen: ListenEndpoint
    /// UDP endpoint for ICE, DTLS and SRTP. Default 18000 (env PROXY_WEBRTC_SERVER).
    public var udpListen: ListenEndpoint
    /// The address put in rewritten ICE candidates; `*` takes it from each request's Host header.
    public var candidate: String

    public init(
        apiListen: ListenEndpoint = ListenEndpoint(port: 11985), udpListen: ListenEndpoint = ListenEndpoint(port: 18000),
        candidate: String = "*"
    ) {
        self.apiListen = apiListen
        self.udpListen = udpListen
        self.candidate = candidate
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiListen = "api_listen"
        case udpListen = "udp_listen"
        case candidate
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            apiListen: try c.decode(ListenEndpoint.self, forKey: .apiListen, default: ListenEndpoint(port: 11985)),
            udpListen: try c.decode(ListenEndpoint.self, forKey: .udpListen, default: ListenEndpoint(port: 18000)),
            candidate: try c.decode(String.self, forKey: .candidate, default: "*"))
    }
}
