import ProxyCore
import ProxyTesting
import RedisRegistry
import Testing

/// The commands API's shared state (SessionCountConformance) on RedisRegistry against a real
/// redis-server, one server per check; time passes for real.
@Suite(.serialized) struct RedisSessionCountConformanceTests {
    @Test(arguments: SessionCountConformance.checks)
    func redisRegistry(_ check: SessionCountConformance.Check) async throws {
        let server = try await RedisServer.start()
        defer { server.stop() }
        let registry = RedisRegistryConformanceTests.registry(server)
        try await check.run(CommandsStoreSubject(store: registry, pass: { try await Task.sleep(for: $0) }))
    }
}
