import Foundation
import ProxyCore

/// The wire format of a hook: SRS's http_hooks (a JSON body) or the streaming coordinator's
/// (an empty body, `x-streaming-*` headers, status 200 as the only yes).
enum HookFormat: String, Sendable, CaseIterable {
    case srs, coordinator

    static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> HookFormat {
        let name = try c.decode(String.self, forKey: key, default: HookFormat.srs.rawValue)
        guard let format = HookFormat(rawValue: name.lowercased()) else {
            throw c.invalid(key, "unknown format '\(name)' (allowed: srs, coordinator)")
        }
        return format
    }
}

/// `hooks:` the publish-auth webhook and the event callbacks (both off unless a url is set).
struct HooksConfig: Decodable, Sendable {
    var publishAuth = PublishAuthConfig()
    /// Asked before every player is relayed (SRS's on_play); off unless a url is set.
    var playAuth = PublishAuthConfig()
    var events = EventsConfig()
    /// The longest channel and key (and streaming id) the coordinator format takes (its `ID_MAX_LENGTH`).
    var idMaxLength = 128

    enum CodingKeys: String, CodingKey, CaseIterable {
        case publishAuth = "publish_auth"
        case playAuth = "play_auth"
        case events
        case idMaxLength = "id_max_length"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HooksConfig()
        publishAuth = try c.decode(PublishAuthConfig.self, forKey: .publishAuth, default: d.publishAuth)
        playAuth = try c.decode(PublishAuthConfig.self, forKey: .playAuth, default: d.playAuth)
        events = try c.decode(EventsConfig.self, forKey: .events, default: d.events)
        idMaxLength = try c.decode(Int.self, forKey: .idMaxLength, default: d.idMaxLength, in: 1...1024, "must be from 1 to 1024")
    }

    /// Channel and key are checked as the coordinator checks them (the publish hook's format).
    var coordinatorIDs: CoordinatorIDs? {
        publishAuth.format == .coordinator || events.format == .coordinator ? CoordinatorIDs(maxLength: idMaxLength) : nil
    }
}

/// `hooks.publish_auth:` asked before every publish is relayed (SRS's on_publish), and
/// `hooks.play_auth:` before every player (SRS's on_play; the same keys but `origin_name`).
struct PublishAuthConfig: Decodable, Sendable {
    enum OnError: String, Sendable, CaseIterable {
        case deny, allow
    }

    /// http:// or https:// URL; absent or empty: every publish is allowed without asking.
    var url: URL?
    /// For the whole exchange: connect, send, answer.
    var timeout = ConfigDuration.seconds(3)
    /// What a publish gets when the hook cannot answer (unreachable, timeout, HTTP 5xx).
    var onError = OnError.deny
    /// `srs`: SRS's on_publish JSON, allowed by `0` or `{"code":0}`. `coordinator`: an empty
    /// POST with `x-streaming-channel` (the app), `x-streaming-key` (the stream name) and
    /// `x-user-ip`; status 200 allows, any other status denies.
    var format = HookFormat.srs
    /// The `Authorization` header (`auth:`, or the older `bearer_token`).
    var auth = HookAuth.none
    /// Extra request headers.
    var headers: [String: String] = [:]
    /// With `format: coordinator`: the name a verified publish is routed and published to the
    /// origin under, `{channel}/STREAM` with STREAM from `{channel}`, `{key}` and `{id}` (the
    /// streaming id), so players play the channel without its secret key.
    var originName = OriginNameTemplate.default

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url, timeout, format, auth
        case onError = "on_error"
        case bearerToken = "bearer_token"
        case headers
        case originName = "origin_name"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PublishAuthConfig()
        if decoder.codingPath.last?.stringValue == "play_auth", c.contains(.originName) {
            throw c.invalid(.originName, "is a publish_auth key: players are not renamed")
        }
        url = try HookURL.decode(c, .url)
        timeout = try c.decodePositive(.timeout, default: d.timeout)
        let onErrorName = try c.decode(String.self, forKey: .onError, default: d.onError.rawValue)
        guard let onError = OnError(rawValue: onErrorName) else {
            throw c.invalid(.onError, "unknown value '\(onErrorName)' (allowed: deny, allow)")
        }
        self.onError = onError
        format = try HookFormat.decode(c, .format)
        auth = try HookAuthConfig.decode(c, auth: .auth, bearerToken: .bearerToken)
        headers = try HookHeaders.decode(c, .headers)
        let template = try c.decode(String.self, forKey: .originName, default: d.originName.text)
        guard let originName = OriginNameTemplate(template) else {
            throw c.invalid(.originName, "'\(template.prefix(80))' is not {channel}/STREAM with STREAM made of {channel}, {key}, {id}, letters, digits, '-' and '_'")
        }
        self.originName = originName
    }
}

/// `hooks.events:` callbacks for stream starts and ends, queued in the registry and retried.
struct EventsConfig: Decodable, Sendable {
    /// Every url gets every selected event; empty: no callbacks.
    var urls: [URL] = []
    /// Which events are sent.
    var events: [StreamEvent.Kind] = [.publishStart, .publishEnd, .playStart, .playEnd]
    /// For one delivery attempt to one url.
    var timeout = ConfigDuration.seconds(3)
    /// `srs`: SRS's JSON bodies for the selected `events`. `coordinator`: `stream-available`
    /// (publish start) and `stream-closed` (publish end), empty bodies with `x-streaming-*`
    /// headers, retried until answered 200 (`retry.max_attempts` does not apply).
    var format = HookFormat.srs
    var auth = HookAuth.none
    var headers: [String: String] = [:]
    var retry = RetryConfig()
    /// Most deliveries waiting in the queue (shared by all proxies in redis mode); past it new ones are dropped.
    var queueLimit = 10_000

    enum CodingKeys: String, CodingKey, CaseIterable {
        case urls, events, timeout, format, auth
        case bearerToken = "bearer_token"
        case headers, retry
        case queueLimit = "queue_limit"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EventsConfig()
        let texts = try c.decode([String].self, forKey: .urls, default: [])
        guard texts.count <= 16 else { throw c.invalid(.urls, "at most 16 urls") }
        urls = try texts.enumerated().map { i, text in
            guard let url = HookURL.parse(text) else { throw c.invalid(.urls, "item \(i): \(HookURL.problem(text))") }
            return url
        }
        let names = try c.decode([String].self, forKey: .events, default: d.events.map(\.rawValue))
        let allowed = d.events.map(\.rawValue).joined(separator: ", ")
        events = try names.map { name in
            guard let kind = StreamEvent.Kind(rawValue: name) else { throw c.invalid(.events, "unknown event '\(name)' (allowed: \(allowed))") }
            return kind
        }
        timeout = try c.decodePositive(.timeout, default: d.timeout)
        format = try HookFormat.decode(c, .format)
        auth = try HookAuthConfig.decode(c, auth: .auth, bearerToken: .bearerToken)
        headers = try HookHeaders.decode(c, .headers)
        retry = try c.decode(RetryConfig.self, forKey: .retry, default: d.retry)
        queueLimit = try c.decode(Int.self, forKey: .queueLimit, default: d.queueLimit)
        guard (1...10_000_000).contains(queueLimit) else { throw c.invalid(.queueLimit, "must be from 1 to 10000000") }
    }
}

/// `hooks.events.retry:` exponential backoff between delivery attempts.
struct RetryConfig: Decodable, Sendable {
    /// Attempts per delivery, the first included; then it is dropped with a log line (the
    /// coordinator format retries without a limit).
    var maxAttempts = 8
    /// Delay after the first failure; doubled after each further one, up to `max_backoff`.
    var initialBackoff = ConfigDuration.seconds(1)
    var maxBackoff = ConfigDuration.seconds(60)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxAttempts = "max_attempts"
        case initialBackoff = "initial_backoff"
        case maxBackoff = "max_backoff"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RetryConfig()
        maxAttempts = try c.decode(Int.self, forKey: .maxAttempts, default: d.maxAttempts)
        guard (1...100).contains(maxAttempts) else { throw c.invalid(.maxAttempts, "must be from 1 to 100") }
        initialBackoff = try c.decodePositive(.initialBackoff, default: d.initialBackoff)
        maxBackoff = try c.decodePositive(.maxBackoff, default: d.maxBackoff)
        guard maxBackoff.duration >= initialBackoff.duration else {
            throw c.invalid(.maxBackoff, "must not be shorter than initial_backoff (\(initialBackoff))")
        }
    }

    /// The delay before attempt `attempts + 1`, after `attempts` failed ones.
    func backoff(afterAttempts attempts: Int) -> Duration {
        let doublings = min(max(attempts - 1, 0), 30)
        let delay = initialBackoff.duration * (1 << doublings)
        return min(delay, maxBackoff.duration)
    }
}

/// A hook URL: absolute http or https with a host, at most 2048 bytes.
enum HookURL {
    static func parse(_ text: String) -> URL? {
        guard text.utf8.count <= 2048, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty else { return nil }
        return url
    }

    static func problem(_ text: String) -> String {
        "'\(text.prefix(100))' is not an http:// or https:// URL with a host"
    }

    /// The url at `key`: nil when absent or empty, an error when it is not a hook URL.
    static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> URL? {
        let text = try c.decode(String.self, forKey: key, default: "")
        if text.isEmpty { return nil }
        guard let url = parse(text) else { throw c.invalid(key, problem(text)) }
        return url
    }
}

/// Extra request headers: token-character names, values without line breaks, at most 32.
enum HookHeaders {
    static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> [String: String] {
        let headers = try c.decode([String: String].self, forKey: key, default: [:])
        guard headers.count <= 32 else { throw c.invalid(key, "at most 32 headers") }
        let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for (name, value) in headers {
            guard !name.isEmpty, name.allSatisfy(tokenCharacters.contains) else { throw c.invalid(key, "'\(name)' is not a header name") }
            guard !value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                throw c.invalid(key, "the value of \(name) has a line break")
            }
        }
        return headers
    }
}
