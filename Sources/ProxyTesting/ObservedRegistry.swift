import ProxyCore

/// A registry that forwards to a MemoryRegistry and lets a test watch (or hold up) what passes:
/// each route read, each record stored. Tests count route lookups, gate racing sessions, or note
/// the records a module writes, without a wrapper of their own.
public final class ObservedRegistry: Registry {
    public let inner: MemoryRegistry
    private let onRouteRead: (@Sendable (StreamKey) async -> Void)?
    private let onPutRecord: (@Sendable (_ namespace: String, _ id: String) -> Void)?

    /// `onRouteRead` runs after each `route(for:)` lookup, before its answer is returned.
    public init(
        _ inner: MemoryRegistry = MemoryRegistry(), onRouteRead: (@Sendable (StreamKey) async -> Void)? = nil,
        onPutRecord: (@Sendable (_ namespace: String, _ id: String) -> Void)? = nil
    ) {
        self.inner = inner
        self.onRouteRead = onRouteRead
        self.onPutRecord = onPutRecord
    }

    public var backendAlive: Duration { inner.backendAlive }
    public func heartbeat(_ backend: Backend) async throws { try await inner.heartbeat(backend) }
    public func backends() async throws -> [BackendRecord] { try await inner.backends() }
    public func aliveBackends() async throws -> [Backend] { try await inner.aliveBackends() }
    public func route(for key: StreamKey) async throws -> Route? {
        let route = try await inner.route(for: key)
        await onRouteRead?(key)
        return route
    }
    public func claim(_ key: StreamKey, backend: Backend.ID, ttl: Duration, replacing: Backend.ID?) async throws -> Route {
        try await inner.claim(key, backend: backend, ttl: ttl, replacing: replacing)
    }
    public func refresh(_ key: StreamKey, backend: Backend.ID, ttl: Duration) async throws -> Bool {
        try await inner.refresh(key, backend: backend, ttl: ttl)
    }
    public func release(_ key: StreamKey, backend: Backend.ID) async throws { try await inner.release(key, backend: backend) }
    public func routes() async throws -> [Route] { try await inner.routes() }
    public func putRecord(_ value: String, namespace: String, id: String, ttl: Duration) async throws {
        onPutRecord?(namespace, id)
        try await inner.putRecord(value, namespace: namespace, id: id, ttl: ttl)
    }
    public func record(namespace: String, id: String) async throws -> String? { try await inner.record(namespace: namespace, id: id) }
    public func deleteRecord(namespace: String, id: String) async throws { try await inner.deleteRecord(namespace: namespace, id: id) }
}
