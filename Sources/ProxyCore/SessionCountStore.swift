import Foundation

/// One proxy's sessions, as it publishes them for the others (the commands API's report and
/// capacity read every live proxy's figures from here).
public struct SessionCounts: Codable, Sendable, Equatable {
    /// Sessions of one stream on one backend through one module.
    public struct Entry: Codable, Sendable, Equatable {
        public var key: StreamKey
        public var backend: Backend.ID
        public var kind: EndpointKind
        /// The module the sessions came through (`rtmp`, `http-flv`, ...).
        public var module: String
        public var publishers: Int
        public var players: Int
        public var bytesFromClients: UInt64
        public var bytesToClients: UInt64
        /// The ids of its publishing sessions (the coordinator's streaming ids).
        public var publisherSessions: [String] = []

        public init(
            key: StreamKey, backend: Backend.ID, kind: EndpointKind, module: String, publishers: Int, players: Int, bytesFromClients: UInt64,
            bytesToClients: UInt64, publisherSessions: [String] = []
        ) {
            self.publisherSessions = publisherSessions
            self.key = key
            self.backend = backend
            self.kind = kind
            self.module = module
            self.publishers = publishers
            self.players = players
            self.bytesFromClients = bytesFromClients
            self.bytesToClients = bytesToClients
        }

        public var sessions: Int { publishers + players }

        enum CodingKeys: String, CodingKey {
            case key, backend, kind, module, publishers, players, bytesFromClients, bytesToClients, publisherSessions
        }

        /// A proxy of an earlier version publishes no module: its endpoint kind stands in.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            key = try c.decode(StreamKey.self, forKey: .key)
            backend = try c.decode(Backend.ID.self, forKey: .backend)
            kind = try c.decode(EndpointKind.self, forKey: .kind)
            module = try c.decodeIfPresent(String.self, forKey: .module) ?? kind.rawValue
            publishers = try c.decode(Int.self, forKey: .publishers)
            players = try c.decode(Int.self, forKey: .players)
            bytesFromClients = try c.decode(UInt64.self, forKey: .bytesFromClients)
            bytesToClients = try c.decode(UInt64.self, forKey: .bytesToClients)
            publisherSessions = try c.decodeIfPresent([String].self, forKey: .publisherSessions) ?? []
        }
    }

    /// The proxy's id (its system API `server` id).
    public var proxy: String
    public var entries: [Entry]
    /// Module name -> its configured session limit, for modules that have one (SRT, WebRTC).
    public var limits: [String: Int]
    /// When the figures were published (the store's clock); set by the store.
    public var updatedAt: Date

    public init(proxy: String, entries: [Entry], limits: [String: Int] = [:], updatedAt: Date = Date()) {
        self.proxy = proxy
        self.entries = entries
        self.limits = limits
        self.updatedAt = updatedAt
    }

    /// At most this many entries are published per proxy (the rest are left out of the report).
    public static let maxEntries = 10_000
}

/// Session counts shared between proxies: each proxy publishes its own every few seconds with a
/// TTL, so a proxy that died disappears by itself. Each proxy writes only its own record, whole,
/// in one step: there is no read-modify-write to race on.
public protocol SessionCountStore: Sendable {
    /// Replaces `counts.proxy`'s figures; they live for `ttl` unless published again.
    func publishSessionCounts(_ counts: SessionCounts, ttl: Duration) async throws
    /// Every live proxy's figures, sorted by proxy id.
    func liveSessionCounts() async throws -> [SessionCounts]
    /// Drops a proxy's figures at once (its graceful shutdown).
    func removeSessionCounts(proxy: String) async throws
}
