import Foundation
import ProxyCore
import ProxyTesting
import Testing

/// A registry that is down: every call fails.
private struct UnavailableRegistry: Registry {
    var backendAlive: Duration { .seconds(30) }
    private var down: RegistryError { .unavailable("connection refused") }
    func heartbeat(_ backend: Backend) async throws { throw down }
    func backends() async throws -> [BackendRecord] { throw down }
    func aliveBackends() async throws -> [Backend] { throw down }
    func route(for key: StreamKey) async throws -> Route? { throw down }
    func claim(_ key: StreamKey, backend: Backend.ID, ttl: Duration, replacing: Backend.ID?) async throws -> Route { throw down }
    func refresh(_ key: StreamKey, backend: Backend.ID, ttl: Duration) async throws -> Bool { throw down }
    func release(_ key: StreamKey, backend: Backend.ID) async throws { throw down }
    func routes() async throws -> [Route] { throw down }
    func putRecord(_ value: String, namespace: String, id: String, ttl: Duration) async throws { throw down }
    func record(namespace: String, id: String) async throws -> String? { throw down }
    func deleteRecord(namespace: String, id: String) async throws { throw down }
}

/// Holds the first `parties` `route(for:)` calls of each key until all of them are waiting, then
/// lets them go (later calls pass straight through). Routers racing for a new stream then all see
/// "no route" before any of them claims: the race the atomic claim must settle happens on every run,
/// not by chance of scheduling.
private actor Gate {
    private let parties: Int
    private var arrived: [StreamKey: Int] = [:]
    private var waiting: [StreamKey: [CheckedContinuation<Void, Never>]] = [:]

    init(parties: Int) { self.parties = parties }

    func arrive(_ key: StreamKey) async {
        arrived[key, default: 0] += 1
        if arrived[key, default: 0] < parties {
            await withCheckedContinuation { waiting[key, default: []].append($0) }
        } else {
            for continuation in waiting.removeValue(forKey: key) ?? [] { continuation.resume() }
        }
    }
}

/// `registry` with its route reads held at `gate` (the race every run must settle).
private func gated(_ registry: MemoryRegistry, _ gate: Gate) -> ObservedRegistry {
    ObservedRegistry(registry, onRouteRead: { await gate.arrive($0) })
}

@Suite(.timeLimit(.minutes(1))) struct RouterTests {
    let clock = TestClock()
    let registry: MemoryRegistry
    let a = makeBackend("a")
    let b = makeBackend("b")
    let c = makeBackend("c")

    init() {
        registry = MemoryRegistry(backendAlive: .seconds(30), now: clock.source)
    }

    func makeRouter(
        _ strategy: any BalancingStrategy = RoundRobinStrategy(), configuration: RouterConfiguration = .init(),
        registry: (any Registry)? = nil
    ) -> Router {
        Router(registry: registry ?? self.registry, strategy: strategy, configuration: configuration, now: clock.source)
    }

    func heartbeat(_ backends: Backend...) async throws {
        for backend in backends { try await registry.heartbeat(backend) }
    }

    func request(_ stream: String) -> StreamRequest { StreamRequest(key: liveKey(stream)) }

    // MARK: candidates

    @Test func sessionsOnlyLandOnBackendsExposingTheirProtocol() async throws {
        let rtmpOnly = makeBackend("a", kinds: [.rtmp])
        let withSRT = makeBackend("b", kinds: [.rtmp, .srt], ip: "10.0.0.2")
        try await heartbeat(rtmpOnly, withSRT)
        let router = makeRouter()
        for i in 0..<20 {
            let lease = try await router.acquire(request("srt-\(i)"), needs: .srt)
            #expect(lease.backend.id == withSRT.id)
            #expect(lease.kind == .srt)
            #expect(lease.address == BackendAddress(host: "10.0.0.2", port: 10_001))
        }
        // Without the filter in play, both backends take streams.
        var rtmpBackends = Set<Backend.ID>()
        for i in 0..<20 {
            rtmpBackends.insert(try await router.acquire(request("rtmp-\(i)"), needs: .rtmp).backend.id)
        }
        #expect(rtmpBackends == [rtmpOnly.id, withSRT.id])
    }

    @Test func noCandidateIsNoBackend() async throws {
        try await heartbeat(makeBackend("a", kinds: [.rtmp]), makeBackend("b", kinds: [.rtmp, .http]))
        let router = makeRouter()
        let error = await #expect(throws: RoutingError.self) { try await router.acquire(request("s"), needs: .srt) }
        guard case .noBackend(let kind)? = error else {
            Issue.record("expected noBackend, got \(String(describing: error))")
            return
        }
        #expect(kind == .srt)
        #expect(try await registry.route(for: liveKey("s")) == nil, "nothing was claimed")
        #expect(await router.sessionCount == 0)
    }

    @Test func noAliveBackendIsNoBackend() async throws {
        let router = makeRouter()
        let empty = await #expect(throws: RoutingError.self) { try await router.acquire(request("s"), needs: .rtmp) }
        guard case .noBackend(.rtmp)? = empty else {
            Issue.record("expected noBackend(rtmp), got \(String(describing: empty))")
            return
        }
        try await heartbeat(a)
        clock.advance(.seconds(31))
        let expired = await #expect(throws: RoutingError.self) { try await router.acquire(request("s"), needs: .rtmp) }
        guard case .noBackend(.rtmp)? = expired else {
            Issue.record("expected noBackend(rtmp), got \(String(describing: expired))")
            return
        }
    }

    @Test func registryFailureIsARoutingError() async throws {
        let router = makeRouter(registry: UnavailableRegistry())
        let error = await #expect(throws: RoutingError.self) { try await router.acquire(request("s"), needs: .rtmp) }
        guard case .registry(let why)? = error else {
            Issue.record("expected registry, got \(String(describing: error))")
            return
        }
        #expect(why.contains("connection refused"))
    }

    // MARK: one stream, one backend

    @Test func oneKeyAlwaysRoutesToTheSameBackend() async throws {
        try await heartbeat(a, b, c)
        let router = makeRouter()  // round-robin: a fresh pick would rotate
        let first = try await router.acquire(request("s"), needs: .rtmp)
        for kind in [EndpointKind.rtmp, .http, .rtmp, .http, .rtmp] {
            let lease = try await router.acquire(request("s"), needs: kind)
            #expect(lease.backend.id == first.backend.id)
        }
        let other = try await router.acquire(request("other"), needs: .rtmp)
        #expect(other.backend.id != first.backend.id, "round-robin moved on for a new key")
        #expect(try await registry.route(for: liveKey("s"))?.backendID == first.backend.id)
        #expect(await router.sessionCount == 7)
    }

    @Test func thousandConcurrentAcquiresOfANewKeyAgree() async throws {
        try await heartbeat(a, b, c)
        // Round-robin: each racer picks a different backend than the one before it.
        let router = makeRouter(registry: gated(registry, Gate(parties: 1_000)))
        let req = request("hot")
        let ids = await withTaskGroup(of: Backend.ID?.self) { group in
            for _ in 0..<1_000 {
                group.addTask { try? await router.acquire(req, needs: .rtmp).backend.id }
            }
            return await group.reduce(into: [Backend.ID?]()) { $0.append($1) }
        }
        #expect(ids.count == 1_000)
        #expect(!ids.contains(nil))
        #expect(Set(ids).count == 1)
        let winner = try #require(ids.first ?? nil)
        #expect(try await registry.route(for: req.key)?.backendID == winner)
        let local = await router.localRoutes()
        #expect(local.count == 1)
        #expect(local.first?.backendID == winner)
        #expect(local.first?.sessions == 1_000)
    }

    @Test func twoProxiesSharingARegistryAgree() async throws {
        try await heartbeat(a, b, c)
        // Two proxies, each with its own strategy state, racing for the same new streams.
        let gated = gated(registry, Gate(parties: 200))
        let proxy1 = makeRouter(RoundRobinStrategy(), registry: gated)
        let proxy2 = makeRouter(RoundRobinStrategy(), registry: gated)
        for stream in ["x", "y", "z"] {
            let req = request(stream)
            let ids = await withTaskGroup(of: Backend.ID?.self) { group in
                for i in 0..<200 {
                    let router = i.isMultiple(of: 2) ? proxy1 : proxy2
                    group.addTask { try? await router.acquire(req, needs: .rtmp).backend.id }
                }
                return await group.reduce(into: [Backend.ID?]()) { $0.append($1) }
            }
            #expect(ids.count == 200)
            #expect(!ids.contains(nil))
            #expect(Set(ids).count == 1, "\(stream): \(Set(ids))")
            #expect(try await registry.route(for: req.key)?.backendID == ids.first ?? nil)
        }
        #expect(await proxy1.sessionCount == 300)
        #expect(await proxy2.sessionCount == 300)
    }

    // MARK: failover

    @Test func expiredBackendFailsOverToAnAliveOne() async throws {
        try await heartbeat(a, b)
        let router = makeRouter()
        let first = try await router.acquire(request("s"), needs: .rtmp)
        let routed = first.backend
        let other = routed.id == a.id ? b : a
        #expect(try await registry.route(for: liveKey("s"))?.backendID == routed.id)

        clock.advance(.seconds(20))
        try await heartbeat(other)
        clock.advance(.seconds(11))  // routed: 31 s without heartbeat; its route (90 s ttl) still live
        try await heartbeat(other)
        #expect(try await registry.route(for: liveKey("s"))?.backendID == routed.id)

        let next = try await router.acquire(request("s"), needs: .rtmp)
        #expect(next.backend.id == other.id)
        #expect(try await registry.route(for: liveKey("s"))?.backendID == other.id)
        // And it stays there.
        #expect(try await router.acquire(request("s"), needs: .http).backend.id == other.id)
    }

    @Test func failoverFindsNoBackendWhenNoAliveOneExposesTheProtocol() async throws {
        let srtA = makeBackend("a", kinds: [.srt])
        let rtmpB = makeBackend("b", kinds: [.rtmp])
        try await heartbeat(srtA, rtmpB)
        let router = makeRouter()
        _ = try await router.acquire(request("s"), needs: .srt)
        clock.advance(.seconds(31))
        try await heartbeat(rtmpB)
        let error = await #expect(throws: RoutingError.self) { try await router.acquire(request("s"), needs: .srt) }
        guard case .noBackend(.srt)? = error else {
            Issue.record("expected noBackend(srt), got \(String(describing: error))")
            return
        }
    }

    @Test func unreachableBackendIsSuspectedAndTheRouteMoves() async throws {
        try await heartbeat(a, b, c)
        let suspectTime = Duration.seconds(10)
        let router = makeRouter(HashStrategy(), configuration: .init(suspectTime: suspectTime))
        let alive = [a, b, c]
        let first = try await router.acquire(request("s"), needs: .rtmp)
        let bad = first.backend.id
        #expect(bad == HashStrategy().pick(liveKey("s"), from: alive)?.id)

        await first.reportUnreachable("connection refused")
        #expect(try await registry.route(for: liveKey("s")) == nil, "the route was released")
        #expect(await router.sessionCount == 0)

        // Hash alone would pick the same backend again; the suspect list must steer away.
        let next = try await router.acquire(request("s"), needs: .rtmp)
        #expect(next.backend.id != bad)
        #expect(try await registry.route(for: liveKey("s"))?.backendID == next.backend.id)

        // While suspect, other new streams that hash to it go elsewhere too ...
        let hashingToBad = try #require((0..<100).map { liveKey("k\($0)") }.first { HashStrategy().pick($0, from: alive)?.id == bad })
        let during = try await router.acquire(StreamRequest(key: hashingToBad), needs: .rtmp)
        #expect(during.backend.id != bad)
        await during.release()

        // ... and once the suspect time is over, it takes new streams again.
        try await registry.release(hashingToBad, backend: during.backend.id)
        clock.advance(suspectTime + .seconds(1))
        try await heartbeat(a, b, c)
        let after = try await router.acquire(StreamRequest(key: hashingToBad), needs: .rtmp)
        #expect(after.backend.id == bad)
    }

    @Test func suspectBackendIsStillUsedWhenItIsTheOnlyCandidate() async throws {
        try await heartbeat(a)
        let router = makeRouter()
        let first = try await router.acquire(request("s"), needs: .rtmp)
        await first.reportUnreachable("reset")
        let again = try await router.acquire(request("s"), needs: .rtmp)
        #expect(again.backend.id == a.id)
    }

    @Test func lingerOfOneProxyDoesNotEndARouteAnotherProxyStillUses() async throws {
        try await heartbeat(a, b)
        let configuration = RouterConfiguration(routeLinger: .seconds(5))
        let proxyA = makeRouter(configuration: configuration)
        let proxyB = makeRouter(configuration: configuration)
        let onA = try await proxyA.acquire(request("s"), needs: .rtmp)
        let onB = try await proxyB.acquire(request("s"), needs: .rtmp)
        #expect(onA.backend.id == onB.backend.id)
        await onA.release()
        for _ in 0..<6 {
            clock.advance(.seconds(2))
            try await heartbeat(a, b)
            await proxyA.tick()
            await proxyB.tick()
        }
        #expect(try await registry.route(for: liveKey("s"))?.backendID == onB.backend.id, "B's session keeps the route past A's linger")
        // Round-robin on A would pick the other backend for a stream without a route.
        let again = try await proxyA.acquire(request("s"), needs: .rtmp)
        #expect(again.backend.id == onB.backend.id)
        await again.release()
        await onB.release()
        clock.advance(.seconds(4))
        #expect(try await registry.route(for: liveKey("s")) != nil)
        clock.advance(.seconds(1))
        #expect(try await registry.route(for: liveKey("s")) == nil, "the route ends linger after the last session on any proxy")
    }

    @Test func sessionsLeftOnAFailedBackendDoNotClaimTheRouteBack() async throws {
        try await heartbeat(a, b)
        let router = makeRouter(configuration: RouterConfiguration(routeLinger: .seconds(30), refreshInterval: .seconds(5)))
        let survivor = try await router.acquire(request("s"), needs: .rtmp)
        let failed = try await router.acquire(request("s"), needs: .rtmp)
        await failed.reportUnreachable("connection refused")
        for _ in 0..<6 {  // 30 s: well past the suspect time and several refresh intervals
            clock.advance(.seconds(5))
            try await heartbeat(a, b)
            await router.tick()
            #expect(try await registry.route(for: liveKey("s")) == nil, "the failed-over route stays released")
        }
        let next = try await router.acquire(request("s"), needs: .rtmp)
        #expect(next.backend.id != survivor.backend.id)
    }

    @Test func sessionsLeftOnAnExpiredBackendDoNotClaimTheRouteBack() async throws {
        try await heartbeat(a, b)
        let router = makeRouter(configuration: RouterConfiguration(routeLinger: .seconds(30), refreshInterval: .seconds(5)))
        let survivor = try await router.acquire(request("s"), needs: .rtmp)
        let other = survivor.backend.id == a.id ? b : a
        // The survivor's backend stops heartbeating: the next session fails over.
        clock.advance(.seconds(31))
        try await heartbeat(other)
        let moved = try await router.acquire(request("s"), needs: .rtmp)
        #expect(moved.backend.id == other.id)
        await moved.release()
        // The moved route lingers, then expires; the old backend comes back; the survivor's session
        // is still open. Its refreshes must not put the stream back on the old backend.
        for _ in 0..<12 {
            clock.advance(.seconds(5))
            try await heartbeat(a, b)
            await router.tick()
            #expect(try await registry.route(for: liveKey("s"))?.backendID != survivor.backend.id)
        }
        #expect(await router.sessionCount == 1)
    }

    @Test func routeOnABackendLackingTheProtocolIsAnError() async throws {
        let rtmpOnly = makeBackend("a", kinds: [.rtmp])
        let withSRT = makeBackend("b", kinds: [.rtmp, .srt])
        try await heartbeat(rtmpOnly, withSRT)
        let key = liveKey("s")
        _ = try await registry.claim(key, backend: rtmpOnly.id, ttl: .seconds(60), replacing: nil)
        let router = makeRouter()
        let error = await #expect(throws: RoutingError.self) { try await router.acquire(StreamRequest(key: key), needs: .srt) }
        guard case .backendLacksProtocol(let k, let id, let kind)? = error else {
            Issue.record("expected backendLacksProtocol, got \(String(describing: error))")
            return
        }
        #expect(k == key)
        #expect(id == rtmpOnly.id)
        #expect(kind == .srt)
        #expect(try await registry.route(for: key)?.backendID == rtmpOnly.id, "the stream was not split")
        #expect(try await router.acquire(StreamRequest(key: key), needs: .rtmp).backend.id == rtmpOnly.id)
    }

    // MARK: lifetime

    @Test func idleRouteLingersThenIsReleased() async throws {
        try await heartbeat(a, b)
        let router = makeRouter(configuration: .init(routeLinger: .seconds(60)))
        let key = liveKey("s")
        let lease = try await router.acquire(StreamRequest(key: key), needs: .rtmp)
        await lease.release()
        await router.tick()
        clock.advance(.seconds(59))
        await router.tick()
        #expect(try await registry.route(for: key)?.backendID == lease.backend.id)
        let lingering = await router.localRoutes()
        #expect(lingering.map(\.key) == [key])
        #expect(lingering.first?.sessions == 0)

        clock.advance(.seconds(2))
        await router.tick()
        #expect(try await registry.route(for: key) == nil)
        #expect(await router.localRoutes().isEmpty)
    }

    @Test func aSessionOfARecentlyRefreshedRouteSkipsTheRefreshAndTheRouteNeverLapses() async throws {
        try await heartbeat(a, b)
        // ttl 60 s, refreshed every 20 s: a session refreshes the route only when the last
        // refresh is more than 20 s old (less than 40 s of it left).
        let router = makeRouter(configuration: .init(routeLinger: .seconds(60)))
        let key = liveKey("busy")
        let start = clock.now
        let first = try await router.acquire(StreamRequest(key: key), needs: .rtmp)
        clock.advance(.seconds(10))
        let second = try await router.acquire(StreamRequest(key: key), needs: .rtmp)
        #expect(try await registry.route(for: key)?.expiresAt == start.addingTimeInterval(60), "10 s after the claim: not refreshed")
        clock.advance(.seconds(15))
        let third = try await router.acquire(StreamRequest(key: key), needs: .rtmp)
        #expect(try await registry.route(for: key)?.expiresAt == start.addingTimeInterval(85), "25 s after the claim: refreshed")
        #expect(Set([first, second, third].map(\.backend.id)).count == 1)

        // With sessions live, the slot's own refreshes keep the route for ten lifetimes.
        for elapsed in 0..<600 {
            if elapsed % 10 == 0 { try await heartbeat(a, b) }
            clock.advance(.seconds(1))
            await router.tick()
            guard try await registry.route(for: key)?.backendID == first.backend.id else {
                Issue.record("the route lapsed at +\(clock.now.timeIntervalSince(start)) s while sessions were live")
                break
            }
        }
        for lease in [first, second, third] { await lease.release() }
    }

    @Test func reacquiringDuringLingerKeepsTheRoute() async throws {
        try await heartbeat(a, b)
        let router = makeRouter(configuration: .init(routeLinger: .seconds(60)))
        let first = try await router.acquire(request("s"), needs: .rtmp)
        await first.release()
        clock.advance(.seconds(50))
        try await heartbeat(a, b)
        let second = try await router.acquire(request("s"), needs: .rtmp)
        #expect(second.backend.id == first.backend.id, "a reconnecting publisher returns to its backend")
        clock.advance(.seconds(20))
        await router.tick()
        #expect(try await registry.route(for: liveKey("s"))?.backendID == first.backend.id)
        await second.release()
        clock.advance(.seconds(59))
        await router.tick()
        #expect(try await registry.route(for: liveKey("s")) != nil, "linger counts from the last release")
        clock.advance(.seconds(1))
        await router.tick()
        #expect(try await registry.route(for: liveKey("s")) == nil)
    }

    @Test func releaseIsIdempotent() async throws {
        try await heartbeat(a)
        let router = makeRouter(configuration: .init(routeLinger: .seconds(60)))
        let first = try await router.acquire(request("s"), needs: .rtmp)
        await first.release()
        await first.release()
        #expect(await router.sessionCount == 0)
        let second = try await router.acquire(request("s"), needs: .rtmp)
        await first.release()  // a stale release must not end the new session
        #expect(await router.sessionCount == 1)
        #expect(await router.localRoutes().first?.sessions == 1)
        clock.advance(.seconds(120))
        await router.tick()
        #expect(try await registry.route(for: liveKey("s"))?.backendID == second.backend.id)
        await second.release()
        await second.release()
        #expect(await router.sessionCount == 0)
    }

    @Test func heldRouteIsRefreshedPastItsTTL() async throws {
        try await heartbeat(a)
        let configuration = RouterConfiguration(routeLinger: .seconds(5), routeTTL: .seconds(30), refreshInterval: .seconds(10))
        let router = makeRouter(configuration: configuration)
        let key = liveKey("s")
        let lease = try await router.acquire(StreamRequest(key: key), needs: .rtmp)
        let control = liveKey("unused")
        _ = try await registry.claim(control, backend: a.id, ttl: .seconds(30), replacing: nil)
        let originalExpiry = try #require(try await registry.route(for: key)?.expiresAt)

        for _ in 0..<4 {
            clock.advance(.seconds(11))
            try await heartbeat(a)
            await router.tick()
        }
        #expect(clock.now > originalExpiry)
        let route = try #require(try await registry.route(for: key))
        #expect(route.backendID == lease.backend.id)
        #expect(route.expiresAt == clock.now.addingTimeInterval(30))
        #expect(try await registry.route(for: control) == nil, "an unrefreshed route of the same ttl expired")
    }

    @Test func tickDoesNotRefreshBeforeTheRefreshInterval() async throws {
        try await heartbeat(a)
        let configuration = RouterConfiguration(routeLinger: .seconds(5), routeTTL: .seconds(30), refreshInterval: .seconds(10))
        let router = makeRouter(configuration: configuration)
        _ = try await router.acquire(request("s"), needs: .rtmp)
        let expiry = try #require(try await registry.route(for: liveKey("s"))?.expiresAt)
        clock.advance(.seconds(9))
        await router.tick()
        #expect(try await registry.route(for: liveKey("s"))?.expiresAt == expiry)
    }

    @Test func tickReclaimsALapsedRouteWhileSessionsAreLive() async throws {
        try await heartbeat(a, b)
        let configuration = RouterConfiguration(routeLinger: .seconds(5), routeTTL: .seconds(30), refreshInterval: .seconds(10))
        let router = makeRouter(configuration: configuration)
        let lease = try await router.acquire(request("s"), needs: .rtmp)
        clock.advance(.seconds(31))  // no tick ran: the route lapsed
        try await heartbeat(a, b)
        #expect(try await registry.route(for: liveKey("s")) == nil)
        await router.tick()
        #expect(try await registry.route(for: liveKey("s"))?.backendID == lease.backend.id)
    }

    // MARK: reporting

    @Test func localRoutesReportSessionsAndCounters() async throws {
        try await heartbeat(a)
        let router = makeRouter()
        let t0 = clock.now
        let k1 = liveKey("one"), k2 = liveKey("two")
        let l1 = try await router.acquire(StreamRequest(key: k1), needs: .rtmp, client: "192.0.2.1:5000")
        clock.advance(.seconds(1))
        let l2 = try await router.acquire(StreamRequest(key: k1, query: "token=t"), needs: .http, client: "192.0.2.2:6000")
        let l3 = try await router.acquire(StreamRequest(key: k2), needs: .rtmp, client: "192.0.2.3:7000")
        l1.counters.addFromClient(1_000)
        l1.counters.addToClient(10)
        l2.counters.addFromClient(500)
        l2.counters.addToClient(20_000)
        l3.counters.addToClient(7)
        #expect(l2.request.query == "token=t")
        #expect(l1.since == t0)
        #expect(l2.since == t0.addingTimeInterval(1))

        let routes = await router.localRoutes()
        #expect(routes.map(\.key) == [k1, k2])
        #expect(routes.map(\.sessions) == [2, 1])
        #expect(routes.map(\.backendID) == [a.id, a.id])
        #expect(routes[0].since == t0)
        #expect(routes[0].bytesFromClients == 1_500)
        #expect(routes[0].bytesToClients == 20_010)
        #expect(routes[1].bytesFromClients == 0)
        #expect(routes[1].bytesToClients == 7)
        #expect(routes[0].clients.map(\.address) == ["192.0.2.1:5000", "192.0.2.2:6000"])
        #expect(routes[0].clients.map(\.kind) == [.rtmp, .http])
        #expect(routes[0].clients.map(\.since) == [t0, t0.addingTimeInterval(1)])
        #expect(await router.sessionCount == 3)

        await l1.release()
        let after = await router.localRoutes()
        #expect(after.map(\.sessions) == [1, 1])
        #expect(after[0].bytesFromClients == 500, "a finished session no longer counts")
        #expect(after[0].clients.map(\.address) == ["192.0.2.2:6000"])
        #expect(await router.sessionCount == 2)
    }

    @Test func hashThroughTheRouterKeepsKeysStable() async throws {
        try await heartbeat(a, b, c)
        let alive = try await registry.aliveBackends()
        let keys = (0..<60).map { liveKey("h\($0)") }
        // Unbounded (the bound follows loads, which two proxies without a shared registry do not share).
        let linger = RouterConfiguration(routeLinger: .seconds(1), placement: PlacementPolicy(hashLoadFactor: 0))
        let router = makeRouter(HashStrategy(), configuration: linger)

        // A second proxy with its own registry: no shared state, same answers.
        let otherRegistry = MemoryRegistry(backendAlive: .seconds(30), now: clock.source)
        for backend in [c, a, b] { try await otherRegistry.heartbeat(backend) }
        let otherProxy = makeRouter(HashStrategy(), configuration: linger, registry: otherRegistry)

        var placed: [StreamKey: Backend.ID] = [:]
        for key in keys {
            let lease = try await router.acquire(StreamRequest(key: key), needs: .rtmp)
            placed[key] = lease.backend.id
            #expect(lease.backend.id == HashStrategy().pick(key, from: alive)?.id)
            #expect(try await otherProxy.acquire(StreamRequest(key: key), needs: .rtmp).backend.id == lease.backend.id)
            await lease.release()
        }
        #expect(Set(placed.values).count == 3, "the keys spread over all backends")

        // Routes expire after linger; a fresh pick puts every key back where it was.
        clock.advance(.seconds(2))
        await router.tick()
        #expect(try await registry.routes().isEmpty)
        for key in keys {
            #expect(try await router.acquire(StreamRequest(key: key), needs: .rtmp).backend.id == placed[key])
        }
    }

    @Test func configurationDefaultsDeriveFromLinger() {
        let defaults = RouterConfiguration()
        #expect(defaults.routeLinger == .seconds(60))
        #expect(defaults.routeTTL == .seconds(60), "a live route expires no later than linger after its last refresh")
        #expect(defaults.refreshInterval == .seconds(20))
        #expect(defaults.suspectTime == .seconds(10))
        let short = RouterConfiguration(routeLinger: .milliseconds(200))
        #expect(short.routeTTL == .seconds(1), "the ttl has a floor so refreshes stay infrequent")
        #expect(short.refreshInterval < short.routeTTL)
    }
}
