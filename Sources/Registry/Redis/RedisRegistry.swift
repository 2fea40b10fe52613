import Foundation
import ProxyCore

/// The Registry in a shared Redis, for several proxies: the same semantics as MemoryRegistry
/// (the shared conformance checks run on both), with every read-modify-write done by one Lua
/// script on the server, so racing proxies never overwrite each other. Time is the server's
/// (`TIME` inside the scripts), so proxies with skewed clocks agree on expiry.
///
/// Keys, under `keyPrefix`:
/// - `<p>:backend:<id>`: the backend's JSON, expiring 2 x backendAlive after its last heartbeat;
/// - `<p>:backends`: sorted set of backend ids by last heartbeat (ms);
/// - `<p>:backends:gaps`: hash of backend id -> ms between its last two heartbeats (its cadence,
///   which `Liveness` turns into its lifetime);
/// - `<p>:route:<vhost/app/stream>`: `<backend id>\n<claimed ms>\n<stream key JSON>`, expiring with the route;
/// - `<p>:routes`: sorted set of route keys by expiry (ms), the index `routes()` reads;
/// - `<p>:rec:<namespace>:<id>`: a record, expiring with its ttl.
public struct RedisRegistry: Registry {
    public let backendAlive: Duration
    public let liveness: Liveness
    public let client: RedisClient
    private let prefix: String

    public init(client: RedisClient, backendAlive: Duration = .seconds(300), heartbeatMisses: Int = 3) {
        self.liveness = Liveness(backendAlive: backendAlive, misses: heartbeatMisses)
        self.client = client
        self.backendAlive = backendAlive
        self.prefix = client.configuration.keyPrefix
    }

    private var backendsIndex: String { "\(prefix):backends" }
    private var heartbeatGaps: String { "\(prefix):backends:gaps" }
    private var routesIndex: String { "\(prefix):routes" }
    private func backendKey(_ id: Backend.ID) -> String { "\(prefix):backend:\(id.rawValue)" }
    private func routeKey(_ key: StreamKey) -> String { "\(prefix):route:\(key)" }
    private func recordKey(_ namespace: String, _ id: String) -> String { "\(prefix):rec:\(namespace):\(id)" }
    private var aliveMS: Int { Int(backendAlive.seconds * 1000) }

    private func eval(_ script: String, keys: [String], _ args: [String]) async throws -> RedisReply {
        try await client.send(["EVAL", script, String(keys.count)] + keys + args)
    }

    // MARK: Backends

    public func heartbeat(_ backend: Backend) async throws {
        let json = String(decoding: try JSONEncoder().encode(backend), as: UTF8.self)
        _ = try await eval(
            Scripts.heartbeat, keys: [backendsIndex, backendKey(backend.id), heartbeatGaps], [json, String(2 * aliveMS), backend.id.rawValue])
    }

    public func backends() async throws -> [BackendRecord] {
        let reply = try await eval(Scripts.backends, keys: [backendsIndex, heartbeatGaps], [String(aliveMS), "\(prefix):backend:"]).array
        return try backendRecords(reply[...])
    }

    public func aliveBackends() async throws -> [Backend] {
        try await backends().filter(\.alive).map(\.backend)
    }

    /// Backends from a script's `{now, json, seen, gap, json, seen, gap, ...}`.
    private func backendRecords(_ reply: ArraySlice<RedisReply>) throws -> [BackendRecord] {
        guard let now = reply.first?.integer else { throw RedisError.unexpected("backends: \(reply.prefix(1))") }
        var records: [BackendRecord] = []
        var i = reply.startIndex + 1
        while i + 2 < reply.endIndex {
            defer { i += 3 }
            guard let json = reply[i].string, let seen = reply[i + 1].integer, let gap = reply[i + 2].integer,
                  let backend = try? JSONDecoder().decode(Backend.self, from: Data(json.utf8)) else { continue }
            let interval = gap >= 0 ? Double(gap) / 1000 : nil
            records.append(BackendRecord(
                backend: backend, lastSeen: Self.date(ms: seen),
                alive: liveness.isAlive(age: Double(now - seen) / 1000, interval: interval), heartbeatInterval: interval))
        }
        return records.sorted { $0.backend.id < $1.backend.id }
    }

    // MARK: Routes

    public func route(for key: StreamKey) async throws -> Route? {
        let reply = try await eval(Scripts.route, keys: [routeKey(key)], []).array
        guard reply.count == 2 else { return nil }
        return try Self.route(reply[0], reply[1])
    }

    public func claim(_ key: StreamKey, backend: Backend.ID, ttl: Duration, replacing: Backend.ID?) async throws -> Route {
        let keyJSON = String(decoding: try JSONEncoder().encode(key), as: UTF8.self)
        let reply = try await eval(
            Scripts.claim, keys: [routeKey(key), routesIndex],
            [backend.rawValue, String(Self.ms(ttl)), replacing?.rawValue ?? "", keyJSON]
        ).array
        guard reply.count == 2 else { throw RedisError.unexpected("claim: \(reply)") }
        return try Self.route(reply[0], reply[1])
    }

    public func refresh(_ key: StreamKey, backend: Backend.ID, ttl: Duration) async throws -> Bool {
        try await eval(Scripts.refresh, keys: [routeKey(key), routesIndex], [backend.rawValue, String(Self.ms(ttl))]).integer == 1
    }

    public func release(_ key: StreamKey, backend: Backend.ID) async throws {
        _ = try await eval(Scripts.release, keys: [routeKey(key), routesIndex], [backend.rawValue])
    }

    public func routes() async throws -> [Route] {
        let reply = try await eval(Scripts.routes, keys: [routesIndex], [String(Self.maxListedRoutes)]).array
        var routes: [Route] = []
        var i = 0
        while i + 1 < reply.count {
            if let route = try? Self.route(reply[i], reply[i + 1]) { routes.append(route) }
            i += 2
        }
        return routes.sorted { $0.key < $1.key }
    }

    // MARK: Records

    public func putRecord(_ value: String, namespace: String, id: String, ttl: Duration) async throws {
        _ = try await client.send(["SET", recordKey(namespace, id), value, "PX", String(max(1, Self.ms(ttl)))])
    }

    public func record(namespace: String, id: String) async throws -> String? {
        try await client.send(["GET", recordKey(namespace, id)]).string
    }

    public func deleteRecord(namespace: String, id: String) async throws {
        _ = try await client.send(["DEL", recordKey(namespace, id)])
    }

    // MARK: Encoding

    /// Upper bound on routes listed at once (the streams API); a bounded reply, never the whole keyspace.
    static let maxListedRoutes = 100_000

    static func ms(_ d: Duration) -> Int { Int((d.seconds * 1000).rounded()) }

    static func date(ms: Int) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

    /// A route from its stored value (`id\nclaimed ms\nkey JSON`) and its remaining time to live.
    static func route(_ value: RedisReply, _ pttl: RedisReply) throws -> Route {
        guard let text = value.string, let ttl = pttl.integer else { throw RedisError.unexpected("route: \(value), \(pttl)") }
        let parts = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let claimed = Int(parts[1]),
              let key = try? JSONDecoder().decode(StreamKey.self, from: Data(parts[2].utf8)) else {
            throw RedisError.unexpected("route value '\(text.prefix(200))'")
        }
        return Route(key: key, backendID: Backend.ID(String(parts[0])), claimedAt: date(ms: claimed),
                     expiresAt: Date().addingTimeInterval(Double(max(ttl, 0)) / 1000))
    }
}
