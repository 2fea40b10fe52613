import Foundation

/// All routing state: backends and their heartbeats, stream routes, and small session records
/// that other proxy instances must see (HLS play sessions, WebRTC ufrag -> route).
///
/// Every implementation (memory, redis) keeps the same semantics; one conformance suite tests them.
public protocol Registry: Sendable {
    /// How long a backend stays alive after its last heartbeat.
    var backendAlive: Duration { get }

    /// Records a backend's heartbeat (register and refresh are the same call).
    func heartbeat(_ backend: Backend) async throws
    /// Every known backend, alive or recently expired, with its last heartbeat.
    func backends() async throws -> [BackendRecord]
    /// Backends heard from within `backendAlive`.
    func aliveBackends() async throws -> [Backend]

    /// The live (unexpired) route of `key`, if any.
    func route(for key: StreamKey) async throws -> Route?
    /// Claims `key` for `backend` unless another live route holds it; `replacing` names a
    /// backend whose route may be taken over (failover). Atomic: of racing claims exactly one
    /// wins, and every caller gets the winning route back.
    func claim(_ key: StreamKey, backend: Backend.ID, ttl: Duration, replacing: Backend.ID?) async throws -> Route
    /// Makes the route live at least `ttl` from now when `backend` still holds it (never
    /// shortens it: several proxies refresh one route); false when `backend` does not hold it.
    func refresh(_ key: StreamKey, backend: Backend.ID, ttl: Duration) async throws -> Bool
    /// Drops the route when `backend` still holds it (failover). Routes otherwise end by expiring.
    func release(_ key: StreamKey, backend: Backend.ID) async throws
    /// Every live route.
    func routes() async throws -> [Route]

    /// Stores a record shared between proxies under `namespace`/`id` for `ttl`.
    func putRecord(_ value: String, namespace: String, id: String, ttl: Duration) async throws
    /// A live record, or nil.
    func record(namespace: String, id: String) async throws -> String?
    func deleteRecord(namespace: String, id: String) async throws
}

public enum RegistryError: Error, CustomStringConvertible {
    case unavailable(String)

    public var description: String {
        switch self {
        case .unavailable(let why): "registry unavailable: \(why)"
        }
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    public var timeInterval: TimeInterval { seconds }
}
