import ProxyCore
import ProxyNet

/// `modules.rtmp` in proxy.yaml.
public struct RTMPConfig: Decodable, Sendable {
    /// TCP endpoint for RTMP clients. Default 11935 (env PROXY_RTMP_SERVER).
    public var listen = ListenEndpoint(port: 11935)
    /// Time a client has for its handshake and the commands up to publish/play. Default 10 s.
    public var handshakeTimeout = ConfigDuration.seconds(10)
    /// Time to connect to a backend, finish its handshake, and have it start the stream. Default 5 s.
    public var backendTimeout = ConfigDuration.seconds(5)
    /// Largest RTMP message accepted (a chunk header announcing more closes the connection). Default 8 MiB.
    public var maxMessageSize = 8 * 1024 * 1024
    /// A relayed session that moves no byte either way for this long is closed. Default 60 s.
    public var idleTimeout = ConfigDuration.seconds(60)
    /// The PROXY protocol header dials to origins start with (`off`, `v1`, `v2`), so an origin
    /// that accepts it (nginx: `listen ... proxy_protocol`) sees the client's address; an origin
    /// that registered its own `proxy_protocol` gets that instead. Default off.
    public var proxyProtocol = ProxyProtocolHeader.Version.off

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
        case handshakeTimeout = "handshake_timeout"
        case backendTimeout = "backend_timeout"
        case maxMessageSize = "max_message_size"
        case idleTimeout = "idle_timeout"
        case proxyProtocol = "proxy_protocol"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RTMPConfig()
        listen = try c.decodeListen(.listen, default: d.listen, over: .tcp, "RTMP")
        handshakeTimeout = try c.decodePositive(.handshakeTimeout, default: d.handshakeTimeout)
        backendTimeout = try c.decodePositive(.backendTimeout, default: d.backendTimeout)
        maxMessageSize = try c.decode(Int.self, forKey: .maxMessageSize, default: d.maxMessageSize)
        guard (1024...(256 * 1024 * 1024)).contains(maxMessageSize) else {
            throw c.invalid(.maxMessageSize, "must be from 1024 to 268435456 bytes")
        }
        idleTimeout = try c.decodePositive(.idleTimeout, default: d.idleTimeout)
        let version = try c.decode(String.self, forKey: .proxyProtocol, default: d.proxyProtocol.rawValue)
        guard let v = ProxyProtocolHeader.Version(rawValue: version) else {
            throw c.invalid(.proxyProtocol, "unknown PROXY protocol version '\(version.prefix(20))' (allowed: off, v1, v2)")
        }
        proxyProtocol = v
    }
}
