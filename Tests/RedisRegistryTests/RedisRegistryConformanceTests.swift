import ProxyCore
import ProxyTesting
import RedisRegistry
import Testing

/// The shared Registry conformance checks on RedisRegistry against a real redis-server; time
/// passes for real (the server expires keys), so the checks use second-scale durations.
@Suite(.serialized) struct RedisRegistryConformanceTests {
    /// A registry on `server` under a prefix of its own.
    static func registry(_ server: RedisServer, prefix: String = "conformance-\(UInt32.random(in: 0...UInt32.max))") -> RedisRegistry {
        let client = RedisClient(configuration: RedisConfiguration(port: server.port, keyPrefix: prefix))
        return RedisRegistry(client: client, backendAlive: RegistryConformance.backendAlive)
    }

    @Test(arguments: RegistryConformance.checks)
    func redisRegistry(_ check: RegistryConformance.Check) async throws {
        let server = try await RedisServer.start()
        defer { server.stop() }
        let registry = Self.registry(server)
        try await check.run(RegistrySubject(registry: registry, pass: { try await Task.sleep(for: $0) }))
    }

    /// Liveness from the cadence, with the server's clock: two heartbeats 1.1 s apart and one
    /// miss allowed make the backend dead 1.65 s after the second, long before backend_alive.
    @Test func aBackendThatStopsHeartbeatingIsDeadAfterItsMissesNotAfterBackendAlive() async throws {
        let server = try await RedisServer.start()
        defer { server.stop() }
        let client = RedisClient(configuration: RedisConfiguration(port: server.port, keyPrefix: "cadence-\(UInt32.random(in: 0...UInt32.max))"))
        let registry = RedisRegistry(client: client, backendAlive: .seconds(300), heartbeatMisses: 1)
        let a = Backend(server: "cad", service: "s", pid: "1", ip: "127.0.0.1", endpoints: [.rtmp: [ListenEndpoint(port: 1935)]])
        try await registry.heartbeat(a)
        try await Task.sleep(for: .milliseconds(1100))
        try await registry.heartbeat(a)
        #expect(try await registry.aliveBackends() == [a])
        try await Task.sleep(for: .milliseconds(1000))
        #expect(try await registry.aliveBackends() == [a], "alive within 1.5 intervals")
        try await Task.sleep(for: .milliseconds(900))
        #expect(try await registry.aliveBackends().isEmpty, "dead after its missed heartbeat")
        let record = try #require(try await registry.backends().first)
        #expect(!record.alive && abs((record.heartbeatInterval ?? 0) - 1.1) < 0.3, "listed as dead, with its cadence: \(record)")
    }

    @Test func twoPrefixesDoNotSeeEachOther() async throws {
        let server = try await RedisServer.start()
        defer { server.stop() }
        let one = Self.registry(server), two = Self.registry(server)
        let key = try StreamKey(vhost: nil, app: "live", stream: "shared-name")
        _ = try await one.claim(key, backend: Backend.ID("a"), ttl: .seconds(10), replacing: nil)
        #expect(try await two.route(for: key) == nil, "another prefix is another deployment")
        #expect(try await two.claim(key, backend: Backend.ID("b"), ttl: .seconds(10), replacing: nil).backendID == Backend.ID("b"))
    }

    @Test func aDownServerGivesAClearErrorAndNoCrash() async throws {
        let client = RedisClient(configuration: RedisConfiguration(port: try FreePort.tcp(), connectTimeout: .milliseconds(200)))
        let registry = RedisRegistry(client: client)
        await #expect(throws: RedisError.self) { try await registry.aliveBackends() }
        do {
            _ = try await registry.routes()
            Issue.record("a command to a server that is not there must fail")
        } catch {
            #expect("\(error)".contains("redis unavailable"), "\(error)")
        }
    }
}
