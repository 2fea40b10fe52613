import Foundation
import ProxyCore
import Synchronization
import Testing

/// Drained origins (OriginDrain) as the Router honours them: no new streams, existing streams
/// stay until the grace time ends, then their sessions are asked to close and the route moves.
@Suite(.timeLimit(.minutes(1))) struct RouterDrainTests {
    let clock = TestClock()
    let registry: MemoryRegistry
    let a = makeBackend("a")
    let b = makeBackend("b")

    init() {
        registry = MemoryRegistry(backendAlive: .seconds(30), now: clock.source)
    }

    func makeRouter() -> Router { Router(registry: registry, strategy: RoundRobinStrategy(), now: clock.source) }

    func request(_ stream: String) -> StreamRequest { StreamRequest(key: liveKey(stream)) }

    @Test func aDrainedBackendTakesNoNewStreamButKeepsItsOwn() async throws {
        try await registry.heartbeat(a)
        let router = makeRouter()
        let before = try await router.acquire(request("old"), needs: .rtmp, role: .publish)
        #expect(before.backend.id == a.id)
        try await registry.heartbeat(b)
        _ = try await registry.drain(a.id, grace: nil)
        await router.reloadDrains()
        #expect(await router.drainStates[a.id] != nil)
        for i in 0..<10 {
            #expect(try await router.acquire(request("new-\(i)"), needs: .rtmp).backend.id == b.id, "new streams avoid the drained one")
        }
        let player = try await router.acquire(request("old"), needs: .rtmp)
        #expect(player.backend.id == a.id, "a player of a stream already there joins it")
        _ = try await registry.undrain(a.id)
        await router.reloadDrains()
        var picked = Set<Backend.ID>()
        for i in 0..<4 { picked.insert(try await router.acquire(request("after-\(i)"), needs: .rtmp).backend.id) }
        #expect(picked == [a.id, b.id], "undrained, it takes new streams again")
    }

    @Test func everyBackendDrainedIsNoCapacity() async throws {
        try await registry.heartbeat(a)
        _ = try await registry.drain(a.id, grace: nil)
        let router = makeRouter()
        await router.reloadDrains()
        let error = await #expect(throws: RoutingError.self) { try await router.acquire(request("s"), needs: .rtmp) }
        guard case .noCapacity(.rtmp, _)? = error else {
            Issue.record("expected noCapacity(rtmp), got \(String(describing: error))")
            return
        }
        #expect(try await registry.route(for: liveKey("s")) == nil, "nothing was claimed")
    }

    @Test func afterTheGraceTheSessionsAreClosedAndTheStreamMoves() async throws {
        try await registry.heartbeat(a)
        let router = makeRouter()
        let lease = try await router.acquire(request("s"), needs: .rtmp, role: .publish)
        let closed = Mutex<[String]>([])
        lease.onClose { reason in closed.withLock { $0.append(reason) } }
        try await registry.heartbeat(b)
        _ = try await registry.drain(a.id, grace: .seconds(30))
        await router.tick()
        #expect(closed.withLock { $0 }.isEmpty, "within the grace time the session continues")
        #expect(try await router.acquire(request("s"), needs: .rtmp).backend.id == a.id)

        clock.advance(.seconds(31))
        try await registry.heartbeat(a)
        try await registry.heartbeat(b)
        await router.tick()
        #expect(closed.withLock { $0 } == ["backend \(a.id) drained"], "asked to close once, naming why")
        #expect(try await registry.route(for: liveKey("s")) == nil, "its route was released")
        await router.tick()
        #expect(closed.withLock { $0 }.count == 1, "not asked again")
        let again = try await router.acquire(request("s"), needs: .rtmp, role: .publish)
        #expect(again.backend.id == b.id, "the stream's next session lands on the other backend")
    }

    @Test func theHousekeepingTickReadsTheDrainStates() async throws {
        try await registry.heartbeat(a)
        try await registry.heartbeat(b)
        _ = try await registry.drain(a.id, grace: nil)
        let router = makeRouter()
        await router.tick()
        #expect(await router.drainStates.keys.sorted() == [a.id], "the tick read the drains")
    }
}
