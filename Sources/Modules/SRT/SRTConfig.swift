import ProxyCore

/// `modules.srt` in proxy.yaml.
public struct SRTConfig: Decodable, Sendable {
    /// UDP endpoint for SRT callers. Default 20080 (env PROXY_SRT_SERVER).
    public var listen: ListenEndpoint

    public init(listen: ListenEndpoint = ListenEndpoint(port: 20080)) {
        self.listen = listen
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(listen: try c.decode(ListenEndpoint.self, forKey: .listen, default: ListenEndpoint(port: 20080)))
    }
}
