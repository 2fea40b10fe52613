/// Helpers that make Codable config strict and defaulted, so every module's Config reads the same
/// way: an unknown key is an error naming the allowed keys, and an absent key takes its default.
///
///     init(from decoder: any Decoder) throws {
///         try decoder.rejectUnknownKeys(CodingKeys.self)
///         let c = try decoder.container(keyedBy: CodingKeys.self)
///         listen = try c.decode(ListenEndpoint.self, forKey: .listen, default: ListenEndpoint(port: 1935))
///     }
public struct AnyCodingKey: CodingKey, Hashable {
    public var stringValue: String
    public var intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue }
    public init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension Decoder {
    /// Throws for the first key not in `Keys`, naming the allowed ones. A null section is allowed.
    public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_: Keys.Type) throws {
        if let single = try? singleValueContainer(), single.decodeNil() { return }
        let container = try self.container(keyedBy: AnyCodingKey.self)
        let allowed = Keys.allCases.map(\.stringValue)
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container,
                debugDescription: "unknown key '\(key.stringValue)' (allowed: \(allowed.joined(separator: ", ")))")
        }
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `defaultValue` when the key is absent or null.
    public func decode<T: Decodable>(_ type: T.Type, forKey key: Key, default defaultValue: @autoclosure () -> T) throws -> T {
        try decodeIfPresent(type, forKey: key) ?? defaultValue()
    }

    /// A duration at `key` (or `defaultValue`) that must be greater than 0: timeouts and lifetimes.
    public func decodePositive(_ key: Key, default defaultValue: ConfigDuration) throws -> ConfigDuration {
        let value = try decode(ConfigDuration.self, forKey: key, default: defaultValue)
        guard value.duration > .zero else { throw invalid(key, "must be greater than 0") }
        return value
    }

    /// A number in `range` (absent or null: the default), else an error saying `message`.
    public func decode<T: Decodable & Comparable>(_: T.Type, forKey key: Key, default defaultValue: T, in range: ClosedRange<T>, _ message: String) throws -> T {
        let value = try decode(T.self, forKey: key, default: defaultValue)
        guard range.contains(value) else { throw invalid(key, message) }
        return value
    }

    /// A listen endpoint served over one transport: an endpoint naming the other (`udp://` for
    /// a TCP listener, `tcp://` for a UDP one) is an error saying `what` is served over `transport`.
    public func decodeListen(
        _ key: Key, default defaultValue: ListenEndpoint, over transport: ListenEndpoint.Transport, _ what: String
    ) throws -> ListenEndpoint {
        let value = try decode(ListenEndpoint.self, forKey: key, default: defaultValue)
        let other: ListenEndpoint.Transport = transport == .tcp ? .udp : .tcp
        guard value.transport != other else {
            throw invalid(key, "\(what) is served over \(transport == .tcp ? "TCP" : "UDP"); remove \(other.rawValue)://")
        }
        return value
    }

    /// An error for `key` with a message, for checks after decoding (ranges, choices).
    public func invalid(_ key: Key, _ message: String) -> DecodingError {
        DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: message)
    }
}
