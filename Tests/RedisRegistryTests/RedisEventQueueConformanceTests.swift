import ProxyCore
import ProxyTesting
import RedisRegistry
import Testing

/// The shared EventQueue conformance checks on RedisRegistry against a real redis-server (time
/// passes for real), and the queue's isolation between key prefixes.
@Suite(.serialized) struct RedisEventQueueConformanceTests {
    @Test(arguments: EventQueueConformance.checks)
    func redisRegistry(_ check: EventQueueConformance.Check) async throws {
        let server = try await RedisServer.start()
        defer { server.stop() }
        let registry = RedisRegistryConformanceTests.registry(server)
        try await check.run(EventQueueSubject(queue: registry, pass: { try await Task.sleep(for: $0) }))
    }

    @Test func twoRegistriesOnOnePrefixShareTheQueueAndTwoPrefixesDoNot() async throws {
        let server = try await RedisServer.start()
        defer { server.stop() }
        let one = RedisRegistryConformanceTests.registry(server, prefix: "shared-q")
        let two = RedisRegistryConformanceTests.registry(server, prefix: "shared-q")
        let other = RedisRegistryConformanceTests.registry(server, prefix: "other-q")
        #expect(try await one.enqueue(id: "x", payload: "from one", limit: 10))
        #expect(try await other.claim(max: 10, lease: .seconds(10)).isEmpty, "another prefix is another deployment")
        let claimed = try await two.claim(max: 10, lease: .seconds(10))
        #expect(claimed == [QueuedEvent(id: "x", payload: "from one", attempts: 1)], "the other proxy claims what the first enqueued")
        #expect(try await one.claim(max: 10, lease: .seconds(10)).isEmpty, "and the first no longer sees it during the lease")
    }
}
