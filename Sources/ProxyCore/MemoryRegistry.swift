import Foundation
import Synchronization

/// The registry of a single proxy: everything in this process, behind one lock.
///
/// Expired backends stay listed (with `alive == false`) for another `backendAlive`, then are
/// forgotten; expired routes and records vanish on the next access.
public final class MemoryRegistry: Registry {
    public let backendAlive: Duration
    public let liveness: Liveness
    private let now: @Sendable () -> Date
    private let state = Mutex(State())
    /// The event-callback queue (MemoryRegistry+EventQueue.swift).
    let events: MemoryEventQueue
    /// Session counts and close requests (MemoryRegistry+SessionCounts, MemoryRegistry+CloseRequests).
    let commandsState: MemoryCommandsState

    private struct State {
        var backends: [Backend.ID: (backend: Backend, lastSeen: Date, interval: TimeInterval?)] = [:]
        var routes: [StreamKey: Route] = [:]
        var records: [String: (value: String, expiresAt: Date)] = [:]
        /// Record count after the last sweep of expired records; the next sweep runs when it doubles.
        var recordsAfterSweep = 0
    }

    /// - Parameter now: the wall clock; tests pass a controllable one.
    public init(backendAlive: Duration = .seconds(300), heartbeatMisses: Int = 3, now: @escaping @Sendable () -> Date = { Date() }) {
        self.backendAlive = backendAlive
        self.liveness = Liveness(backendAlive: backendAlive, misses: heartbeatMisses)
        self.now = now
        self.events = MemoryEventQueue(now: now)
        self.commandsState = MemoryCommandsState(now: now)
    }

    public func heartbeat(_ backend: Backend) async throws {
        let t = now()
        state.withLock { s in
            let previous = s.backends[backend.id]
            let gap = previous.map { t.timeIntervalSince($0.lastSeen) }
            s.backends[backend.id] = (backend, t, Liveness.cadence(gap: gap, previous: previous?.interval))
        }
    }

    public func backends() async throws -> [BackendRecord] {
        let t = now()
        let alive = backendAlive.timeInterval
        return state.withLock { s in
            s.backends = s.backends.filter { t.timeIntervalSince($0.value.lastSeen) <= 2 * alive }
            return s.backends.values
                .map {
                    BackendRecord(
                        backend: $0.backend, lastSeen: $0.lastSeen,
                        alive: liveness.isAlive(age: t.timeIntervalSince($0.lastSeen), interval: $0.interval), heartbeatInterval: $0.interval)
                }
                .sorted { $0.backend.id < $1.backend.id }
        }
    }

    public func aliveBackends() async throws -> [Backend] {
        try await backends().filter(\.alive).map(\.backend)
    }

    public func route(for key: StreamKey) async throws -> Route? {
        let t = now()
        return state.withLock { s in
            guard let r = s.routes[key] else { return nil }
            if r.expiresAt <= t {
                s.routes[key] = nil
                return nil
            }
            return r
        }
    }

    public func claim(_ key: StreamKey, backend: Backend.ID, ttl: Duration, replacing: Backend.ID?) async throws -> Route {
        let t = now()
        return state.withLock { s in
            if let r = s.routes[key], r.expiresAt > t, r.backendID != replacing || r.backendID == backend {
                return r
            }
            let r = Route(key: key, backendID: backend, claimedAt: t, expiresAt: t.addingTimeInterval(ttl.timeInterval))
            s.routes[key] = r
            return r
        }
    }

    public func refresh(_ key: StreamKey, backend: Backend.ID, ttl: Duration) async throws -> Bool {
        let t = now()
        return state.withLock { s in
            guard var r = s.routes[key], r.backendID == backend, r.expiresAt > t else { return false }
            r.expiresAt = max(r.expiresAt, t.addingTimeInterval(ttl.timeInterval))
            s.routes[key] = r
            return true
        }
    }

    public func release(_ key: StreamKey, backend: Backend.ID) async throws {
        state.withLock { s in
            if s.routes[key]?.backendID == backend { s.routes[key] = nil }
        }
    }

    public func routes() async throws -> [Route] {
        let t = now()
        return state.withLock { s in
            s.routes = s.routes.filter { $0.value.expiresAt > t }
            return s.routes.values.sorted { $0.key < $1.key }
        }
    }

    public func putRecord(_ value: String, namespace: String, id: String, ttl: Duration) async throws {
        let expiry = now().addingTimeInterval(ttl.timeInterval)
        let t = now()
        state.withLock { s in
            s.records["\(namespace)/\(id)"] = (value, expiry)
            if s.records.count > 2 * s.recordsAfterSweep + 1024 {
                s.records = s.records.filter { $0.value.expiresAt > t }
                s.recordsAfterSweep = s.records.count
            }
        }
    }

    public func record(namespace: String, id: String) async throws -> String? {
        let t = now()
        return state.withLock { s in
            let k = "\(namespace)/\(id)"
            guard let r = s.records[k] else { return nil }
            if r.expiresAt <= t {
                s.records[k] = nil
                return nil
            }
            return r.value
        }
    }

    public func deleteRecord(namespace: String, id: String) async throws {
        state.withLock { _ = $0.records.removeValue(forKey: "\(namespace)/\(id)") }
    }
}
