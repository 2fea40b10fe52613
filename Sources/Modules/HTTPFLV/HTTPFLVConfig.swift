import ProxyCore

/// `modules.http-flv` in proxy.yaml.
public struct HTTPFLVConfig: Decodable, Sendable {
    /// TCP endpoint for HTTP players. Default 18080 (env PROXY_HTTP_SERVER).
    public var listen: ListenEndpoint
    /// Directory served for paths that are not live streams; empty disables it (env PROXY_STATIC_FILES).
    public var staticFiles: String

    public init(listen: ListenEndpoint = ListenEndpoint(port: 18080), staticFiles: String = "") {
        self.listen = listen
        self.staticFiles = staticFiles
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
        case staticFiles = "static_files"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            listen: try c.decode(ListenEndpoint.self, forKey: .listen, default: ListenEndpoint(port: 18080)),
            staticFiles: try c.decode(String.self, forKey: .staticFiles, default: ""))
    }
}
