import Foundation
import ProxyCore
import Synchronization
import Testing

/// `Router.close(key)` and the leases' close handlers (what the commands API's close uses), and
/// the roles and per-session bytes the commands API counts.
@Suite struct RouterCloseTests {
    final class Closed: Sendable {
        let reasons = Mutex<[String]>([])
        var all: [String] { reasons.withLock { $0 } }
        func add(_ reason: String) { reasons.withLock { $0.append(reason) } }
    }

    func router() async throws -> Router {
        let clock = TestClock()
        let registry = MemoryRegistry(backendAlive: .seconds(30), now: clock.source)
        try await registry.heartbeat(makeBackend("a"))
        return Router(registry: registry, strategy: RoundRobinStrategy(), now: clock.source)
    }

    @Test func closeAsksEverySessionOfTheKeyOnceAndNoOther() async throws {
        let router = try await router()
        let publisher = try await router.acquire(StreamRequest(key: liveKey("s")), needs: .rtmp, role: .publish)
        let player = try await router.acquire(StreamRequest(key: liveKey("s")), needs: .http, role: .play)
        let other = try await router.acquire(StreamRequest(key: liveKey("other")), needs: .rtmp, role: .publish)
        let closed = Closed(), untouched = Closed()
        publisher.onClose { closed.add("publisher: \($0)") }
        player.onClose { closed.add("player: \($0)") }
        other.onClose { untouched.add($0) }

        #expect(await router.close(liveKey("s"), reason: "test") == 2)
        #expect(closed.all.sorted() == ["player: test", "publisher: test"])
        #expect(untouched.all.isEmpty, "another stream's session is not asked")
        #expect(await router.close(liveKey("s"), reason: "again") == 2, "the sessions are still held until the modules release them")
        #expect(closed.all.count == 2, "a handler runs at most once")
        await publisher.release()
        await player.release()
        #expect(await router.close(liveKey("s"), reason: "late") == 0, "released sessions are gone")
        #expect(await router.close(liveKey("nothing"), reason: "none") == 0)
    }

    @Test func aCloseBeforeTheHandlerIsSetRunsItWhenItIsSet() async throws {
        let router = try await router()
        let lease = try await router.acquire(StreamRequest(key: liveKey("early")), needs: .rtmp)
        #expect(await router.close(liveKey("early"), reason: "early") == 1)
        let closed = Closed()
        lease.onClose { closed.add($0) }
        #expect(closed.all == ["early"], "the pending close ran when the module set its handler")
    }

    @Test func localRoutesCarryEachSessionsRoleAndBytes() async throws {
        let router = try await router()
        let publisher = try await router.acquire(StreamRequest(key: liveKey("r")), needs: .rtmp, role: .publish, client: "1.2.3.4:5")
        let player = try await router.acquire(StreamRequest(key: liveKey("r")), needs: .rtmp, client: "1.2.3.4:6")
        publisher.counters.addFromClient(1000)
        player.counters.addToClient(700)
        let clients = await router.localRoutes().first { $0.key == liveKey("r") }?.clients ?? []
        #expect(clients.map(\.role) == [.publish, .play], "roles given to acquire; play is the default")
        #expect(clients.map(\.bytesFromClient) == [1000, 0] && clients.map(\.bytesToClient) == [0, 700])
        #expect(publisher.role == .publish && player.role == .play)
    }
}
