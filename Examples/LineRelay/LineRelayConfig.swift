import ProxyCore

/// `modules.line-relay` in proxy.yaml.
public struct LineRelayConfig: Decodable, Sendable {
    /// TCP endpoint for clients. Default 19350.
    public var listen: ListenEndpoint
    /// The backend endpoint to dial. Default rtmp.
    public var endpoint: EndpointKind
    /// Longest first line accepted, in bytes. Default 1024.
    public var maxLine: Int
    /// How long a client may take to send its first line. Default 10s.
    public var lineTimeout: ConfigDuration

    public init(
        listen: ListenEndpoint = ListenEndpoint(port: 19350), endpoint: EndpointKind = .rtmp,
        maxLine: Int = 1024, lineTimeout: ConfigDuration = .seconds(10)
    ) {
        self.listen = listen
        self.endpoint = endpoint
        self.maxLine = maxLine
        self.lineTimeout = lineTimeout
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen, endpoint
        case maxLine = "max_line"
        case lineTimeout = "line_timeout"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LineRelayConfig()
        listen = try c.decode(ListenEndpoint.self, forKey: .listen, default: d.listen)
        let kind = try c.decode(String.self, forKey: .endpoint, default: d.endpoint.rawValue)
        guard let endpoint = EndpointKind(rawValue: kind) else {
            throw c.invalid(.endpoint, "unknown endpoint kind '\(kind)' (allowed: \(EndpointKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.endpoint = endpoint
        maxLine = try c.decode(Int.self, forKey: .maxLine, default: d.maxLine)
        guard (16...65536).contains(maxLine) else { throw c.invalid(.maxLine, "must be from 16 to 65536") }
        lineTimeout = try c.decode(ConfigDuration.self, forKey: .lineTimeout, default: d.lineTimeout)
        guard lineTimeout.duration > .zero else { throw c.invalid(.lineTimeout, "must be greater than 0") }
    }
}
