import Foundation
import ProxyCore
import Testing

@Suite struct MemoryRegistryTests {
    let clock = TestClock()
    let registry: MemoryRegistry
    let a = makeBackend("a")
    let b = makeBackend("b")
    let key = liveKey("s")

    init() {
        registry = MemoryRegistry(backendAlive: .seconds(30), now: clock.source)
    }

    // MARK: backends

    @Test func heartbeatRegistersAnAliveBackend() async throws {
        #expect(try await registry.aliveBackends().isEmpty)
        try await registry.heartbeat(b)
        try await registry.heartbeat(a)
        #expect(try await registry.aliveBackends() == [a, b])  // sorted by id
        let records = try await registry.backends()
        #expect(records.map(\.backend.id) == [a.id, b.id])
        #expect(records.allSatisfy { $0.alive && $0.lastSeen == clock.now })
        #expect(registry.backendAlive == .seconds(30))
    }

    @Test func heartbeatReplacesTheAnnouncedBackend() async throws {
        try await registry.heartbeat(a)
        var changed = a
        changed.ip = "10.9.9.9"
        changed.endpoints[.srt] = [ListenEndpoint(transport: .udp, port: 10080)]
        try await registry.heartbeat(changed)
        let alive = try await registry.aliveBackends()
        #expect(alive.count == 1)
        #expect(alive.first?.ip == "10.9.9.9")
        #expect(alive.first?.exposes(.srt) == true)
    }

    @Test func backendExpiresAfterBackendAlive() async throws {
        try await registry.heartbeat(a)
        clock.advance(.seconds(30))
        #expect(try await registry.aliveBackends() == [a], "alive up to and including backendAlive")
        clock.advance(.seconds(1))
        #expect(try await registry.aliveBackends().isEmpty)
        let records = try await registry.backends()
        #expect(records.count == 1)
        #expect(records.first?.alive == false)
        #expect(records.first?.backend == a)
        #expect(records.first?.lastSeen == clock.now.addingTimeInterval(-31))
    }

    @Test func expiredBackendIsForgottenAfterTwiceBackendAlive() async throws {
        try await registry.heartbeat(a)
        try await registry.heartbeat(b)
        clock.advance(.seconds(45))
        try await registry.heartbeat(b)
        clock.advance(.seconds(15))  // a last seen 60 s ago: exactly 2x, still listed
        #expect(try await registry.backends().map(\.backend.id) == [a.id, b.id])
        clock.advance(.seconds(1))
        let records = try await registry.backends()
        #expect(records.map(\.backend.id) == [b.id])
        #expect(records.first?.alive == true)
        // Forgotten means forgotten: it does not come back when time is read again.
        #expect(try await registry.backends().count == 1)
    }

    @Test func heartbeatRefreshesABackend() async throws {
        try await registry.heartbeat(a)
        for _ in 0..<5 {
            clock.advance(.seconds(20))
            try await registry.heartbeat(a)
            #expect(try await registry.aliveBackends() == [a])
        }
        clock.advance(.seconds(31))
        #expect(try await registry.aliveBackends().isEmpty)
        try await registry.heartbeat(a)  // a returning backend is alive again
        #expect(try await registry.aliveBackends() == [a])
    }

    /// An origin heartbeating every 2 s is dead 3.5 intervals (7 s) after its last heartbeat, not
    /// after backend_alive; SRS's default `interval 9` gives 31.5 s, capped here by the 30 s.
    @Test func aBackendIsDeadAfterThreeMissedHeartbeatsAtItsOwnCadence() async throws {
        for _ in 0..<3 {
            try await registry.heartbeat(a)
            clock.advance(.seconds(2))
        }
        try await registry.heartbeat(a)
        clock.advance(.seconds(7))
        #expect(try await registry.aliveBackends() == [a], "alive up to 3.5 intervals")
        #expect(try await registry.backends().first?.heartbeatInterval == 2)
        clock.advance(.milliseconds(100))
        #expect(try await registry.aliveBackends().isEmpty, "dead after three missed heartbeats")

        try await registry.heartbeat(b)
        clock.advance(.seconds(9))
        try await registry.heartbeat(b)
        clock.advance(.seconds(30))
        #expect(try await registry.aliveBackends().map(\.id) == [b.id], "31.5 s capped by backend_alive (30 s): alive at 30")
        clock.advance(.milliseconds(100))
        #expect(try await registry.aliveBackends().isEmpty)
    }

    @Test func heartbeatsCloserThanOneSecondSetNoCadenceAndNoMissesMeansBackendAlive() async throws {
        try await registry.heartbeat(a)
        clock.advance(.milliseconds(10))
        try await registry.heartbeat(a)
        #expect(try await registry.backends().first?.heartbeatInterval == nil, "a register retried at once is no cadence")
        clock.advance(.seconds(30))
        #expect(try await registry.aliveBackends() == [a], "backend_alive rules")
        try await registry.heartbeat(a)
        clock.advance(.seconds(2))
        try await registry.heartbeat(a)
        clock.advance(.milliseconds(500))
        try await registry.heartbeat(a)
        #expect(try await registry.backends().first?.heartbeatInterval == 2, "the half-second gap keeps the cadence known")
        clock.advance(.seconds(7))
        #expect(try await registry.aliveBackends() == [a])
        clock.advance(.seconds(1))
        #expect(try await registry.aliveBackends().isEmpty)

        let patient = MemoryRegistry(backendAlive: .seconds(30), heartbeatMisses: 0, now: clock.source)
        try await patient.heartbeat(a)
        clock.advance(.seconds(1))
        try await patient.heartbeat(a)
        clock.advance(.seconds(30))
        #expect(try await patient.aliveBackends() == [a], "heartbeat_misses 0: only backend_alive")
    }

    // MARK: routes

    @Test func firstClaimWins() async throws {
        #expect(try await registry.route(for: key) == nil)
        let first = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        #expect(first.backendID == a.id)
        #expect(first.key == key)
        #expect(first.claimedAt == clock.now)
        #expect(first.expiresAt == clock.now.addingTimeInterval(60))
        clock.advance(.seconds(5))
        let second = try await registry.claim(key, backend: b.id, ttl: .seconds(60), replacing: nil)
        #expect(second == first)
        #expect(try await registry.route(for: key) == first)
    }

    @Test func claimsOfDifferentKeysAreIndependent() async throws {
        let other = liveKey("other")
        _ = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        let route = try await registry.claim(other, backend: b.id, ttl: .seconds(60), replacing: nil)
        #expect(route.backendID == b.id)
        #expect(try await registry.route(for: key)?.backendID == a.id)
    }

    @Test func claimReplacingTheHolderTakesOver() async throws {
        _ = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        clock.advance(.seconds(5))
        let taken = try await registry.claim(key, backend: b.id, ttl: .seconds(60), replacing: a.id)
        #expect(taken.backendID == b.id)
        #expect(taken.claimedAt == clock.now)
        #expect(try await registry.route(for: key)?.backendID == b.id)
        // A second failover racing with the same stale view loses to the first.
        let c = makeBackend("c")
        let late = try await registry.claim(key, backend: c.id, ttl: .seconds(60), replacing: a.id)
        #expect(late.backendID == b.id)
    }

    @Test func claimReplacingANonHolderDoesNotTakeOver() async throws {
        let first = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        let c = makeBackend("c")
        let route = try await registry.claim(key, backend: b.id, ttl: .seconds(60), replacing: c.id)
        #expect(route == first)
        #expect(try await registry.route(for: key)?.backendID == a.id)
    }

    @Test func claimByTheHolderKeepsTheRoute() async throws {
        let first = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        let again = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: a.id)
        #expect(again.backendID == a.id)
        #expect(again.claimedAt == first.claimedAt)
    }

    @Test func routeExpiresAfterItsTTL() async throws {
        _ = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        clock.advance(.seconds(59))
        #expect(try await registry.route(for: key)?.backendID == a.id)
        clock.advance(.seconds(1))
        #expect(try await registry.route(for: key) == nil)
        #expect(try await registry.routes().isEmpty)
        // Once expired, anyone may claim it.
        let route = try await registry.claim(key, backend: b.id, ttl: .seconds(60), replacing: nil)
        #expect(route.backendID == b.id)
    }

    @Test func refreshExtendsOnlyForTheHolder() async throws {
        _ = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        clock.advance(.seconds(50))
        #expect(try await registry.refresh(key, backend: b.id, ttl: .seconds(60)) == false)
        #expect(try await registry.route(for: key)?.expiresAt == clock.now.addingTimeInterval(10))
        #expect(try await registry.refresh(key, backend: a.id, ttl: .seconds(60)) == true)
        #expect(try await registry.route(for: key)?.expiresAt == clock.now.addingTimeInterval(60))
        clock.advance(.seconds(50))  // 100 s after the claim: alive only thanks to the refresh
        #expect(try await registry.route(for: key)?.backendID == a.id)
    }

    @Test func refreshDoesNotReviveAnExpiredRoute() async throws {
        _ = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        clock.advance(.seconds(61))
        #expect(try await registry.refresh(key, backend: a.id, ttl: .seconds(60)) == false)
        #expect(try await registry.route(for: key) == nil)
        #expect(try await registry.refresh(liveKey("never"), backend: a.id, ttl: .seconds(60)) == false)
    }

    @Test func releaseOnlyByTheHolder() async throws {
        _ = try await registry.claim(key, backend: a.id, ttl: .seconds(60), replacing: nil)
        try await registry.release(key, backend: b.id)
        #expect(try await registry.route(for: key)?.backendID == a.id)
        try await registry.release(key, backend: a.id)
        #expect(try await registry.route(for: key) == nil)
        try await registry.release(key, backend: a.id)  // releasing nothing is fine
        let route = try await registry.claim(key, backend: b.id, ttl: .seconds(60), replacing: nil)
        #expect(route.backendID == b.id)
    }

    @Test func routesListsOnlyLiveRoutesSortedByKey() async throws {
        let k1 = liveKey("b"), k2 = liveKey("a"), k3 = liveKey("c")
        _ = try await registry.claim(k1, backend: a.id, ttl: .seconds(60), replacing: nil)
        _ = try await registry.claim(k2, backend: b.id, ttl: .seconds(120), replacing: nil)
        _ = try await registry.claim(k3, backend: a.id, ttl: .seconds(10), replacing: nil)
        let all = try await registry.routes()
        #expect(all.map(\.key) == [k2, k1, k3])
        #expect(all.map(\.backendID) == [b.id, a.id, a.id])
        clock.advance(.seconds(30))
        #expect(try await registry.routes().map(\.key) == [k2, k1])
        try await registry.release(k2, backend: b.id)
        #expect(try await registry.routes().map(\.key) == [k1])
        clock.advance(.seconds(30))
        #expect(try await registry.routes().isEmpty)
    }

    @Test func concurrentClaimsAgreeOnOneWinner() async throws {
        let backends = (0..<8).map { makeBackend("b\($0)") }
        let registry = self.registry
        let key = self.key
        let winners = try await withThrowingTaskGroup(of: Backend.ID.self) { group in
            for i in 0..<400 {
                group.addTask { try await registry.claim(key, backend: backends[i % 8].id, ttl: .seconds(60), replacing: nil).backendID }
            }
            return try await group.reduce(into: Set<Backend.ID>()) { $0.insert($1) }
        }
        #expect(winners.count == 1)
        #expect(try await registry.route(for: key)?.backendID == winners.first)
    }

    // MARK: records

    @Test func recordsPutGetExpireDelete() async throws {
        #expect(try await registry.record(namespace: "hls", id: "x") == nil)
        try await registry.putRecord("v1", namespace: "hls", id: "x", ttl: .seconds(10))
        try await registry.putRecord("w", namespace: "rtc", id: "x", ttl: .seconds(100))
        #expect(try await registry.record(namespace: "hls", id: "x") == "v1")
        #expect(try await registry.record(namespace: "rtc", id: "x") == "w", "namespaces are separate")
        #expect(try await registry.record(namespace: "hls", id: "y") == nil)

        try await registry.putRecord("v2", namespace: "hls", id: "x", ttl: .seconds(10))
        #expect(try await registry.record(namespace: "hls", id: "x") == "v2", "put overwrites")

        clock.advance(.seconds(9))
        #expect(try await registry.record(namespace: "hls", id: "x") == "v2")
        clock.advance(.seconds(1))
        #expect(try await registry.record(namespace: "hls", id: "x") == nil, "expired at its ttl")
        #expect(try await registry.record(namespace: "rtc", id: "x") == "w")

        try await registry.deleteRecord(namespace: "rtc", id: "x")
        #expect(try await registry.record(namespace: "rtc", id: "x") == nil)
        try await registry.deleteRecord(namespace: "rtc", id: "x")  // deleting nothing is fine
    }

    @Test func putRefreshesARecordsTTL() async throws {
        try await registry.putRecord("v", namespace: "hls", id: "x", ttl: .seconds(10))
        clock.advance(.seconds(8))
        try await registry.putRecord("v", namespace: "hls", id: "x", ttl: .seconds(10))
        clock.advance(.seconds(8))
        #expect(try await registry.record(namespace: "hls", id: "x") == "v")
    }

    @Test func manyRecordsSurviveSweepsWhileLive() async throws {
        // The sweep of expired records must not drop live ones.
        for i in 0..<3_000 {
            try await registry.putRecord("v\(i)", namespace: "ns", id: "\(i)", ttl: i < 1_500 ? .seconds(5) : .seconds(500))
        }
        clock.advance(.seconds(10))
        for i in 0..<3_000 {
            try await registry.putRecord("n\(i)", namespace: "new", id: "\(i)", ttl: .seconds(500))
        }
        #expect(try await registry.record(namespace: "ns", id: "10") == nil)
        #expect(try await registry.record(namespace: "ns", id: "2999") == "v2999")
        #expect(try await registry.record(namespace: "new", id: "0") == "n0")
        #expect(try await registry.record(namespace: "new", id: "2999") == "n2999")
    }
}
