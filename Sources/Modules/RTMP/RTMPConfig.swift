import ProxyCore

/// `modules.rtmp` in proxy.yaml.
public struct RTMPConfig: Decodable, Sendable {
    /// TCP endpoint for RTMP clients. Default 11935 (env PROXY_RTMP_SERVER).
    public var listen: ListenEndpoint

    public init(listen: ListenEndpoint = ListenEndpoint(port: 11935)) {
        self.listen = listen
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(listen: try c.decode(ListenEndpoint.self, forKey: .listen, default: ListenEndpoint(port: 11935)))
    }
}
