import ProxyCore
import ProxyTesting
import Synchronization
import Testing

@testable import ProxyNet

/// A player whose backend cannot be reached follows its stream's publisher instead of being
/// placed anew: it joins the route the publisher holds now, waits `redispatchWait` for one, and
/// otherwise ends with `.routing(.noStream)` (the module's "not found").
@Suite struct PlayerRedispatchTests {
    /// A memory registry that counts route reads.
    final class CountingRegistry: Registry {
        let inner = MemoryRegistry()
        let reads = Atomic<Int>(0)
        var backendAlive: Duration { inner.backendAlive }
        func heartbeat(_ backend: Backend) async throws { try await inner.heartbeat(backend) }
        func backends() async throws -> [BackendRecord] { try await inner.backends() }
        func aliveBackends() async throws -> [Backend] { try await inner.aliveBackends() }
        func route(for key: StreamKey) async throws -> Route? {
            reads.add(1, ordering: .relaxed)
            return try await inner.route(for: key)
        }
        func claim(_ key: StreamKey, backend: Backend.ID, ttl: Duration, replacing: Backend.ID?) async throws -> Route {
            try await inner.claim(key, backend: backend, ttl: ttl, replacing: replacing)
        }
        func refresh(_ key: StreamKey, backend: Backend.ID, ttl: Duration) async throws -> Bool {
            try await inner.refresh(key, backend: backend, ttl: ttl)
        }
        func release(_ key: StreamKey, backend: Backend.ID) async throws { try await inner.release(key, backend: backend) }
        func routes() async throws -> [Route] { try await inner.routes() }
        func putRecord(_ value: String, namespace: String, id: String, ttl: Duration) async throws {
            try await inner.putRecord(value, namespace: namespace, id: id, ttl: ttl)
        }
        func record(namespace: String, id: String) async throws -> String? { try await inner.record(namespace: namespace, id: id) }
        func deleteRecord(namespace: String, id: String) async throws { try await inner.deleteRecord(namespace: namespace, id: id) }
    }

    static func router(wait: Duration) async throws -> Router {
        let registry = CountingRegistry()
        for (i, name) in ["a", "b"].enumerated() {
            try await registry.heartbeat(Backend(
                server: name, service: "s", pid: "1", ip: "127.0.0.1", endpoints: [.rtmp: [ListenEndpoint(port: 19_000 + i)]]))
        }
        return Router(registry: registry, strategy: RoundRobinStrategy(), configuration: RouterConfiguration(redispatchWait: wait))
    }

    @Test func aPlayerOfAStreamWhosePublisherIsGoneIsToldNotFoundAfterTheWait() async throws {
        let router = try await Self.router(wait: .milliseconds(600))
        let publisher = try StreamSessionTests.session(router, hooks: RecordingHooks())
        let route = try await publisher.open()
        let player = try StreamSessionTests.session(router, hooks: RecordingHooks(), role: .play)
        let joined = try await player.open()
        #expect(joined.backend.id == route.backend.id && !joined.claimedRoute, "the player joined the publisher's route")
        // The origin died: the publisher's connection is gone, the player's dial fails.
        publisher.endUnreachable(reason: "connection reset")
        let started = ContinuousClock.now
        var refusal: StreamSession.Refusal?
        do {
            _ = try await player.redispatch(reason: "connection refused")
        } catch {
            refusal = error
        }
        guard case .routing(.noStream(let key))? = refusal else {
            Issue.record("expected .routing(.noStream), got \(String(describing: refusal))")
            return
        }
        #expect(key == route.key)
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(500) && waited < .seconds(3), "it waited for a publisher: \(waited)")
        #expect(player.isEnded && player.lease == nil)
        #expect(await router.sessionCount == 0)
        await router.drainEndings()
        #expect(try await router.registry.route(for: route.key) == nil, "the player placed no route of its own")
    }

    @Test func aPlayerJoinsTheRouteItsReconnectingPublisherClaimsMeanwhile() async throws {
        let router = try await Self.router(wait: .seconds(5))
        let publisher = try StreamSessionTests.session(router, hooks: RecordingHooks())
        let first = try await publisher.open()
        let player = try StreamSessionTests.session(router, hooks: RecordingHooks(), role: .play)
        try await player.open()
        publisher.endUnreachable(reason: "connection reset")
        let waiting = Task { try await player.redispatch(reason: "connection refused") }
        try await Task.sleep(for: .milliseconds(400))
        #expect(!player.isEnded, "still waiting for the publisher")
        // The encoder reconnects: its origin is a suspect, so the stream goes to the other one.
        let again = try StreamSessionTests.session(router, hooks: RecordingHooks())
        let moved = try await again.open()
        #expect(moved.backend.id != first.backend.id)
        let followed = try await waiting.value
        #expect(followed.backend.id == moved.backend.id, "the player follows the publisher")
        #expect(await router.sessionCount == 2)
        again.end(reason: "done")
        player.end(reason: "done")
    }

    @Test func aPlayerThatPlacedTheStreamItselfIsPlacedAgain() async throws {
        let router = try await Self.router(wait: .seconds(5))
        let player = try StreamSessionTests.session(router, hooks: RecordingHooks(), role: .play)
        let first = try await player.open()
        #expect(first.claimedRoute, "no route existed: the player placed the stream")
        let started = ContinuousClock.now
        let second = try await player.redispatch(reason: "connection refused")
        #expect(ContinuousClock.now - started < .seconds(1), "no wait")
        #expect(second.backend.id != first.backend.id)
        player.end(reason: "done")
    }

    @Test func manyWaitingPlayersOfOneStreamShareTheirRegistryReads() async throws {
        let router = try await Self.router(wait: .milliseconds(700))
        let publisher = try StreamSessionTests.session(router, hooks: RecordingHooks())
        try await publisher.open()
        var players: [StreamSession] = []
        for _ in 0..<50 {
            let player = try StreamSessionTests.session(router, hooks: RecordingHooks(), role: .play)
            try await player.open()
            players.append(player)
        }
        publisher.endUnreachable(reason: "connection reset")
        let registry = try #require(router.registry as? CountingRegistry)
        let before = registry.reads.load(ordering: .relaxed)
        await withTaskGroup(of: Void.self) { group in
            for player in players { group.addTask { _ = try? await player.redispatch(reason: "refused") } }
        }
        let reads = registry.reads.load(ordering: .relaxed) - before
        #expect(players.allSatisfy { $0.isEnded })
        // 50 players polling every 250 ms for 700 ms would read ~150 times; one read per 200 ms is ~4-8.
        #expect(reads < 20, "\(reads) route reads")
    }
}
