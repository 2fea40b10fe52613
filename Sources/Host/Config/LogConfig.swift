/// `log:` what the proxy logs besides its sessions' own lines.
struct LogConfig: Decodable, Sendable {
    /// One `info` line per request answered by the system API and the commands API (method,
    /// path without its query, status, duration, client); the coordinator's `LOG_REQUESTS`.
    var requests = true

    enum CodingKeys: String, CodingKey, CaseIterable {
        case requests
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        requests = try c.decode(Bool.self, forKey: .requests, default: LogConfig().requests)
    }
}
