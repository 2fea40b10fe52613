import Foundation
import ProxyCore
import Testing

/// Load- and capacity-aware placement: weights for every strategy, least-load, hash with bounded
/// loads, capacity and summaries thresholds in the Router.
@Suite struct PlacementTests {
    static let four = ["a", "b", "c", "d"].map { makeBackend("origin-\($0)") }

    static func weighted(_ backend: Backend, _ weight: Int) -> Backend {
        var b = backend
        b.placement = BackendPlacement(weight: weight)
        return b
    }

    /// Places `count` new streams one after another, each adding a stream and a session to its
    /// backend's load (as the router's own counts do); `initial` is load already there.
    static func place(
        _ strategy: some BalancingStrategy, _ candidates: [Backend], count: Int, policy: PlacementPolicy = .init(),
        initial: [Backend.ID: BackendLoad] = [:], keys: String = "s"
    ) -> (spread: [Backend.ID: Int], placed: [Backend.ID]) {
        var loads = initial
        var spread: [Backend.ID: Int] = [:]
        var placed: [Backend.ID] = []
        for i in 0..<count {
            let pick = strategy.pick(liveKey("\(keys)-\(i)"), from: candidates, context: PlacementContext(policy: policy, loads: loads))!.id
            loads[pick, default: .zero].streams += 1
            loads[pick, default: .zero].sessions += 1
            spread[pick, default: 0] += 1
            placed.append(pick)
        }
        return (spread, placed)
    }

    @Test func roundRobinHonoursWeights() {
        let pool = [Self.weighted(Self.four[0], 3), Self.four[1]]
        let (spread, _) = Self.place(RoundRobinStrategy(), pool, count: 400)
        #expect(spread[pool[0].id] == 300 && spread[pool[1].id] == 100, "3:1: \(spread)")
    }

    @Test func leastLoadFillsTheEmptiestAndSpreadsTies() {
        let initial: [Backend.ID: BackendLoad] = [Self.four[0].id: BackendLoad(streams: 30, sessions: 30)]
        let (spread, placed) = Self.place(LeastLoadStrategy(), Self.four, count: 200, initial: initial)
        #expect(!placed.prefix(30).contains(Self.four[0].id), "the loaded one gets nothing until the others catch up")
        let finals = Self.four.map { (spread[$0.id] ?? 0) + (initial[$0.id]?.sessions ?? 0) }
        #expect(finals.max()! - finals.min()! <= 1, "equal load at the end: \(finals)")
        #expect(Set(placed.prefix(3)).count == 3, "ties go round robin: \(placed.prefix(3))")
    }

    @Test func leastLoadCountsPerUnitOfWeightAndCanCountStreams() {
        let pool = [Self.weighted(Self.four[0], 2), Self.four[1]]
        let (spread, _) = Self.place(LeastLoadStrategy(), pool, count: 300, policy: PlacementPolicy(measure: .streams))
        #expect(spread[pool[0].id] == 200 && spread[pool[1].id] == 100, "2:1 by streams: \(spread)")
    }

    @Test func boundedHashKeepsEveryBackendUnderTheFactorTimesTheAverage() {
        let policy = PlacementPolicy(measure: .streams, hashLoadFactor: 1.25)
        let initial: [Backend.ID: BackendLoad] = [Self.four[0].id: BackendLoad(streams: 150, sessions: 150)]
        let (spread, _) = Self.place(HashStrategy(), Self.four, count: 1000, policy: policy, initial: initial)
        let totals = Self.four.map { Double((spread[$0.id] ?? 0) + (initial[$0.id]?.streams ?? 0)) }
        let mean = totals.reduce(0, +) / 4
        #expect(totals.max()! / mean <= 1.26, "max/mean \(totals.max()! / mean): \(totals)")
        let unbounded = Self.place(HashStrategy(), Self.four, count: 1000, policy: PlacementPolicy(hashLoadFactor: 0), initial: initial).spread
        let plain = Self.four.map { Double((unbounded[$0.id] ?? 0) + (initial[$0.id]?.streams ?? 0)) }
        #expect(plain.max()! / mean > 1.26, "without the bound the preloaded one stays over: \(plain)")
    }

    @Test func boundedHashMovesFewKeysWhenABackendJoins() {
        let policy = PlacementPolicy(measure: .streams, hashLoadFactor: 1.25)
        let before = Self.place(HashStrategy(), Self.four, count: 10_000, policy: policy).placed
        let five = Self.four + [makeBackend("origin-e")]
        let after = Self.place(HashStrategy(), five, count: 10_000, policy: policy).placed
        let moved = Double(zip(before, after).filter { $0 != $1 }.count) / 10_000
        // Ideal 1/5 of the keys move (to the new backend); bounded loads add a little churn.
        #expect(moved >= 0.15 && moved <= 0.3, "moved \(moved)")
        let toNew = Double(after.filter { $0 == five[4].id }.count) / 10_000
        #expect(abs(toNew - 0.2) < 0.03, "the new one takes its share: \(toNew)")
    }

    @Test func hashHonoursWeights() {
        let pool = [Self.weighted(Self.four[0], 3), Self.four[1]]
        let (spread, _) = Self.place(HashStrategy(), pool, count: 8000, policy: PlacementPolicy(hashLoadFactor: 0))
        let share = Double(spread[pool[0].id] ?? 0) / 8000
        #expect(abs(share - 0.75) < 0.03, "3:1 by weighted rendezvous: \(share)")
    }

    @Test func aFullBackendTakesNoNewStreamAndAllFullIsNoCapacity() async throws {
        let clock = TestClock()
        let registry = MemoryRegistry(backendAlive: .seconds(30), now: clock.source)
        var small = makeBackend("small")
        small.placement = BackendPlacement(maxStreams: 2)
        let big = makeBackend("big")
        try await registry.heartbeat(small)
        let router = Router(
            registry: registry, strategy: RoundRobinStrategy(), configuration: RouterConfiguration(placement: PlacementPolicy(maxSessions: 3)),
            now: clock.source)
        let first = try await router.acquire(StreamRequest(key: liveKey("1")), needs: .rtmp)
        let second = try await router.acquire(StreamRequest(key: liveKey("2")), needs: .rtmp)
        #expect(first.backend.id == small.id && second.backend.id == small.id)
        #expect(await router.loads[small.id] == BackendLoad(streams: 2, sessions: 2))
        let error = await #expect(throws: RoutingError.self) { try await router.acquire(StreamRequest(key: liveKey("3")), needs: .rtmp) }
        guard case .noCapacity(.rtmp, let why)? = error else {
            Issue.record("expected noCapacity, got \(String(describing: error))")
            return
        }
        #expect(why.contains("2 streams, capacity 2"), "\(why)")
        let player = try await router.acquire(StreamRequest(key: liveKey("1")), needs: .rtmp)
        #expect(player.backend.id == small.id, "a stream already there still takes players")
        try await registry.heartbeat(big)
        for i in 0..<3 {
            #expect(try await router.acquire(StreamRequest(key: liveKey("b\(i)")), needs: .rtmp).backend.id == big.id)
        }
        let overBig = await #expect(throws: RoutingError.self) { try await router.acquire(StreamRequest(key: liveKey("b9")), needs: .rtmp) }
        #expect(overBig != nil, "big is at the default 3 sessions")
        first.end()
        player.end()
        await router.drainEndings()
        #expect(await router.loads[small.id] == BackendLoad(streams: 1, sessions: 1), "ended sessions leave the load")
        #expect(try await router.acquire(StreamRequest(key: liveKey("4")), needs: .rtmp).backend.id == small.id, "room again")
    }

    @Test func summariesThresholdsTakeABusyOriginOutOfPlacement() {
        let policy = PlacementPolicy(maxCPUPercent: 80, maxConnections: 1000)
        var busy = makeBackend("busy")
        busy.placement = BackendPlacement(cpuPercent: 85)
        var crowded = makeBackend("crowded")
        crowded.placement = BackendPlacement(cpuPercent: 10, connections: 1000)
        var fine = makeBackend("fine")
        fine.placement = BackendPlacement(cpuPercent: 79.9, connections: 999)
        #expect(policy.fullness(of: busy, at: .zero)?.contains("CPU 85.0%") == true)
        #expect(policy.fullness(of: crowded, at: .zero)?.contains("1000 connections") == true)
        #expect(policy.fullness(of: fine, at: .zero) == nil)
        #expect(PlacementPolicy().fullness(of: busy, at: .zero) == nil, "thresholds are off by default")
    }
}
