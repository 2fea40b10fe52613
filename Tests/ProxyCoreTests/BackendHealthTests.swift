import Foundation
import Synchronization
import ProxyCore
import Testing

@Suite struct BackendHealthTests {
    let key = HealthKey(Backend.ID("a-svc-1"), .rtmp)

    @Test func anEndpointIsDownAfterFallFailuresAndUpAfterRisePasses() {
        let health = BackendHealth(policy: .init(fall: 3, rise: 2))
        #expect(!health.isDown(key.backend, .rtmp), "a new endpoint starts up")
        #expect(health.record(key, ok: false, error: "refused") == nil)
        #expect(health.record(key, ok: true) == nil, "a pass resets the failures")
        #expect(health.record(key, ok: false, error: "refused") == nil)
        #expect(health.record(key, ok: false, error: "refused") == nil)
        #expect(!health.isDown(key.backend, .rtmp))
        #expect(health.record(key, ok: false, error: "timeout") == .down("timeout"), "the third failure in a row")
        #expect(health.isDown(key.backend, .rtmp))
        #expect(!health.isDown(key.backend, .http), "only that endpoint kind")
        #expect(health.record(key, ok: true) == nil)
        #expect(health.record(key, ok: false) == nil, "a failure resets the passes")
        #expect(health.record(key, ok: true) == nil)
        #expect(health.record(key, ok: true) == .up)
        #expect(!health.isDown(key.backend, .rtmp))
        #expect(health.failures[.rtmp] == 5)
    }

    @Test func placementFollowsTheMajorityOfTheProxiesThatCheck() {
        let health = BackendHealth(policy: .init(fall: 1, rise: 1))
        health.record(key, ok: false)
        #expect(health.isDown(key.backend, .rtmp), "alone, its own view decides")
        // One other proxy sees it up: one of two is no majority, so it stays in placement.
        health.setOthers([HealthView(proxy: "p2", up: [key], down: [])])
        #expect(!health.isDown(key.backend, .rtmp), "a proxy cut off from an origin does not take it out for everyone")
        health.setOthers([HealthView(proxy: "p2", up: [], down: [key]), HealthView(proxy: "p3", up: [key], down: [])])
        #expect(health.isDown(key.backend, .rtmp), "two of three see it down")
        health.record(key, ok: true)
        #expect(!health.isDown(key.backend, .rtmp), "one of three")
        // Others seeing it down outvote this proxy's up.
        health.setOthers([HealthView(proxy: "p2", up: [], down: [key]), HealthView(proxy: "p3", up: [], down: [key])])
        #expect(health.isDown(key.backend, .rtmp))
        #expect(health.snapshot()[key]?.voters == 3)
    }

    @Test func aBackendNoLongerAliveIsForgottenAndItsViewShared() {
        let health = BackendHealth(policy: .init(fall: 1, rise: 1))
        let other = HealthKey(Backend.ID("b-svc-1"), .srt)
        health.record(key, ok: false)
        health.record(other, ok: true)
        #expect(health.view(proxy: "me") == HealthView(proxy: "me", up: [other], down: [key]))
        health.retain([other.backend])
        #expect(health.view(proxy: "me") == HealthView(proxy: "me", up: [other], down: []))
        #expect(!health.isDown(key.backend, .rtmp))
    }

    @Test func theRouterPlacesNoNewStreamOnADownEndpointAndMovesItsRoute() async throws {
        let clock = TestClock()
        let registry = MemoryRegistry(backendAlive: .seconds(30), now: clock.source)
        let a = makeBackend("a"), b = makeBackend("b")
        try await registry.heartbeat(a)
        let health = BackendHealth(policy: .init(fall: 1, rise: 1))
        let router = Router(registry: registry, strategy: RoundRobinStrategy(), now: clock.source, health: health)
        let key = liveKey("s")
        #expect(try await router.acquire(StreamRequest(key: key), needs: .rtmp, role: .publish).backend.id == a.id)
        try await registry.heartbeat(b)
        health.record(HealthKey(a.id, .rtmp), ok: false, error: "no S0")
        for i in 0..<6 {
            #expect(try await router.acquire(StreamRequest(key: liveKey("n\(i)")), needs: .rtmp).backend.id == b.id)
        }
        var httpPicks = Set<Backend.ID>()
        for i in 0..<4 { httpPicks.insert(try await router.acquire(StreamRequest(key: liveKey("h\(i)")), needs: .http).backend.id) }
        #expect(httpPicks == [a.id, b.id], "its http endpoint is not down")
        #expect(try await router.acquire(StreamRequest(key: key), needs: .rtmp).backend.id == b.id, "the stream on the down endpoint moved")
        health.record(HealthKey(b.id, .rtmp), ok: false)
        let error = await #expect(throws: RoutingError.self) { try await router.acquire(StreamRequest(key: liveKey("z")), needs: .rtmp) }
        guard case .noBackend(.rtmp)? = error else {
            Issue.record("expected noBackend(rtmp), got \(String(describing: error))")
            return
        }
    }

    @Test func sessionsOnADownEndpointAreAskedToCloseOnceAndTheirRouteReleased() async throws {
        let clock = TestClock()
        let registry = MemoryRegistry(backendAlive: .seconds(30), now: clock.source)
        let a = makeBackend("a")
        try await registry.heartbeat(a)
        let health = BackendHealth(policy: .init(fall: 1, rise: 1))
        let router = Router(registry: registry, strategy: RoundRobinStrategy(), now: clock.source, health: health)
        let lease = try await router.acquire(StreamRequest(key: liveKey("s")), needs: .rtmp, role: .publish)
        let closed = Mutex<[String]>([])
        lease.onClose { reason in closed.withLock { $0.append(reason) } }
        await router.tick()
        #expect(closed.withLock { $0 }.isEmpty)
        health.record(HealthKey(a.id, .http), ok: false)
        await router.tick()
        #expect(closed.withLock { $0 }.isEmpty, "another endpoint kind failing leaves the rtmp session")
        health.record(HealthKey(a.id, .rtmp), ok: false, error: "no S0")
        await router.tick()
        await router.tick()
        #expect(closed.withLock { $0 } == ["backend \(a.id) fails its rtmp health checks"], "asked once")
        #expect(try await registry.route(for: liveKey("s")) == nil, "the route was released")
    }
}
