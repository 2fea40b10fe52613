import Foundation

/// The identity of a live stream across protocols: `vhost/app/stream`.
///
/// Normalisation (the same for every protocol, so one stream has one key):
/// - vhost is the client's host name when it contains a dot and is not an IP literal,
///   else `__defaultVhost__`; a `vhost=` query parameter overrides it and is taken as given
///   (SRS vhost names need no dot); it is lower-cased.
/// - port, extension (`.flv`, `.ts`, `.m3u8`) and query are not part of the key.
public struct StreamKey: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public static let defaultVhost = "__defaultVhost__"
    /// Longest `vhost/app/stream` accepted, in bytes.
    public static let maxLength = 1024

    public let vhost: String
    public let app: String
    public let stream: String

    /// Builds a key from already separated parts, validating them. `vhost` is taken as given
    /// (lower-cased; nil or empty means `__defaultVhost__`): derive it from a host name with
    /// `vhost(fromHost:)`.
    public init(vhost: String?, app: String, stream: String) throws(StreamKeyError) {
        let v = Self.normalisedVhost(vhost)
        let a = app.trimmingSlashes()
        guard !a.isEmpty else { throw .missingApp }
        guard !stream.isEmpty else { throw .missingStream }
        guard !stream.contains("/") else { throw .invalidCharacters(stream) }
        guard v.utf8.count + a.utf8.count + stream.utf8.count + 2 <= Self.maxLength else { throw .tooLong }
        guard !v.contains("/") else { throw .invalidCharacters(v) }
        for part in [v, a, stream] where part.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw .invalidCharacters(part)
        }
        self.vhost = v
        self.app = a
        self.stream = stream
    }

    public var description: String { "\(vhost)/\(app)/\(stream)" }

    enum CodingKeys: String, CodingKey {
        case vhost, app, stream
    }

    /// Decoding (from a shared registry) applies the same validation as `init`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(
                vhost: try c.decode(String.self, forKey: .vhost), app: try c.decode(String.self, forKey: .app),
                stream: try c.decode(String.self, forKey: .stream))
        } catch let error as StreamKeyError {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: error.description))
        }
    }

    public static func < (a: StreamKey, b: StreamKey) -> Bool { a.description < b.description }

    /// The vhost a client's host name stands for: the host when it has a dot and is not
    /// an IP literal, else `__defaultVhost__`. Accepts `host`, `host:port`, `[v6]:port`.
    public static func vhost(fromHost host: String?) -> String {
        guard var h = host?.trimmingCharacters(in: .whitespaces), !h.isEmpty else { return defaultVhost }
        if h.hasPrefix("[") { return defaultVhost }  // IPv6 literal
        if let colon = h.lastIndex(of: ":") {
            if h[h.startIndex..<colon].contains(":") { return defaultVhost }  // bare IPv6
            h = String(h[h.startIndex..<colon])
        }
        guard h.contains("."), !isIPv4Literal(h) else { return defaultVhost }
        return normalisedVhost(h)
    }

    static func normalisedVhost(_ vhost: String?) -> String {
        guard let v = vhost?.lowercased(), !v.isEmpty, v != defaultVhost.lowercased() else { return defaultVhost }
        return v
    }

    static func isIPv4Literal(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCIIDigit) && Int(p)! <= 255 }
    }
}

public enum StreamKeyError: Error, Equatable, CustomStringConvertible {
    case missingApp
    case missingStream
    case tooLong
    case invalidCharacters(String)
    case invalidURL(String)
    case invalidStreamID(String)

    public var description: String {
        switch self {
        case .missingApp: "the stream URL names no app (expected app/stream)"
        case .missingStream: "the stream URL names no stream (expected app/stream)"
        case .tooLong: "the stream name is longer than \(StreamKey.maxLength) bytes"
        case .invalidCharacters(let part): "invalid characters in '\(part.prefix(64))'"
        case .invalidURL(let url): "cannot parse '\(url.prefix(128))' as a stream URL"
        case .invalidStreamID(let why): "invalid SRT streamid: \(why)"
        }
    }
}

/// A stream key plus what the client asked with it: the query string (tokens), kept verbatim
/// and forwarded to the backend.
public struct StreamRequest: Hashable, Sendable, CustomStringConvertible {
    public var key: StreamKey
    /// The query without its leading `?`; empty when there was none.
    public var query: String

    public init(key: StreamKey, query: String = "") {
        self.key = key
        self.query = query
    }

    public var description: String { query.isEmpty ? key.description : "\(key)?\(query)" }
}

extension String {
    func trimmingSlashes() -> String {
        var s = Substring(self)
        while s.first == "/" { s = s.dropFirst() }
        while s.last == "/" { s = s.dropLast() }
        return String(s)
    }
}
