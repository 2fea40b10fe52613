import Logging

/// `log:` how the proxy writes its log (standard error, one line per entry) and what it logs
/// besides its sessions' own lines.
struct LogConfig: Decodable, Sendable {
    enum Format: String, Sendable, CaseIterable {
        /// swift-log's stream format: `time level label: key=value ... [source] message`.
        case text
        /// One JSON object per line (JSONLogLine).
        case json
    }

    var format = Format.text
    /// The least severe level written; nil: `info` (`debug` with the coordinator's LOG_DEBUG=YES).
    /// The `--log-level` flag wins over it.
    var level: Logger.Level?
    /// One `info` line per request answered by the system API and the commands API (method,
    /// path without its query, status, duration, client); the coordinator's `LOG_REQUESTS`.
    var requests = true

    enum CodingKeys: String, CodingKey, CaseIterable {
        case format, level, requests
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .format, default: Format.text.rawValue)
        guard let format = Format(rawValue: name) else {
            throw c.invalid(.format, "unknown log format '\(name)' (allowed: \(Format.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.format = format
        if let levelName = try c.decodeIfPresent(String.self, forKey: .level) {
            guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
                throw c.invalid(.level, "unknown log level '\(levelName)' (allowed: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            self.level = level
        }
        requests = try c.decode(Bool.self, forKey: .requests, default: LogConfig().requests)
    }
}
