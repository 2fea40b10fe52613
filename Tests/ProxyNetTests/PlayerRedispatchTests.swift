import ProxyCore
import ProxyTesting
import Synchronization
import Testing

@testable import ProxyNet

/// A player whose backend cannot be reached follows its stream's publisher instead of being
/// placed anew: it joins the route the publisher holds now, waits `redispatchWait` for one, and
/// otherwise ends with `.routing(.noStream)` (the module's "not found").
@Suite struct PlayerRedispatchTests {
    /// Route reads of the routers made by `router(wait:)`.
    final class ReadCount: Sendable { let reads = Atomic<Int>(0) }

    static func router(wait: Duration, counting count: ReadCount = ReadCount()) async throws -> Router {
        let registry = ObservedRegistry(onRouteRead: { _ in count.reads.add(1, ordering: .relaxed) })
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
        let count = ReadCount()
        let router = try await Self.router(wait: .milliseconds(700), counting: count)
        let publisher = try StreamSessionTests.session(router, hooks: RecordingHooks())
        try await publisher.open()
        var players: [StreamSession] = []
        for _ in 0..<50 {
            let player = try StreamSessionTests.session(router, hooks: RecordingHooks(), role: .play)
            try await player.open()
            players.append(player)
        }
        publisher.endUnreachable(reason: "connection reset")
        let before = count.reads.load(ordering: .relaxed)
        await withTaskGroup(of: Void.self) { group in
            for player in players { group.addTask { _ = try? await player.redispatch(reason: "refused") } }
        }
        let reads = count.reads.load(ordering: .relaxed) - before
        #expect(players.allSatisfy { $0.isEnded })
        // 50 players polling every 250 ms for 700 ms would read ~150 times; one read per 200 ms is ~4-8.
        #expect(reads < 20, "\(reads) route reads")
    }
}
