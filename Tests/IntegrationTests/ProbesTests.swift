import Foundation
import ProxyTesting
import Testing

/// `GET /healthz` and `GET /readyz` on the system API of the built proxy, with a real origin, a real
/// redis-server that goes away, and a SIGTERM during a live session.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct ProbesTests {
    static func probe(_ proxy: ProxyProcess, _ path: String) async throws -> (status: Int, json: [String: Any]) {
        let r = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent(path))
        return (r.status, r.json)
    }

    @Test func readyOnlyWithAnAliveOriginWhileHealthyAlways() async throws {
        let proxy = try await ProxyProcess.start(config: RTMPRelayTests.config())
        let health = try await Self.probe(proxy, "healthz")
        #expect(health.status == 200 && health.json["status"] as? String == "ok")
        let empty = try await Self.probe(proxy, "readyz")
        #expect(empty.status == 503 && empty.json["ready"] as? Bool == false && empty.json["reason"] as? String == "no alive origin", "\(empty.json)")

        let nginx = try await NginxRTMP.start()
        try await RTMPRelayTests.register(nginx, as: "n", with: proxy)
        let ready = try await Self.probe(proxy, "readyz")
        #expect(ready.status == 200 && ready.json["ready"] as? Bool == true && ready.json["alive_origins"] as? Int == 1, "\(ready.json)")
        try await proxy.stop()
    }

    @Test func aLostRegistryMakesItUnreadyButStillHealthy() async throws {
        let redis = try await RedisServer.start()
        let proxy = try await ProxyProcess.start(config: SharedRegistryTests.config(redis: redis, prefix: "probes-\(UInt32.random(in: 0...UInt32.max))"))
        let nginx = try await NginxRTMP.start()
        try await RTMPRelayTests.register(nginx, as: "n", with: proxy)
        #expect(try await Self.probe(proxy, "readyz").status == 200)
        redis.stop()
        let lost = try await Wait.until("readyz to fail without Redis", timeout: .seconds(10)) { () async throws -> [String: Any]? in
            let r = try await Self.probe(proxy, "readyz")
            return r.status == 503 ? r.json : nil
        }
        #expect((lost["reason"] as? String)?.hasPrefix("registry unreachable") == true, "\(lost)")
        #expect(try await Self.probe(proxy, "healthz").status == 200, "health never depends on the registry")
        try await proxy.stop()
    }

    /// From the signal on, readyz says 503 while the live session drains (quit.grace), so a load
    /// balancer stops sending new clients before the proxy goes.
    @Test func aShutdownSignalTurnsReadyzTo503AtOnceWhileSessionsDrain() async throws {
        let (proxy, nginx, port) = try await ShutdownTests.start(grace: "20s", force: "30s")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/probe-drain", seconds: 4)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == ["probe-drain"] ? true : nil }
        #expect(try await Self.probe(proxy, "readyz").status == 200)

        kill(proxy.process.processIdentifier, SIGTERM)
        let draining = try await Wait.until("readyz 503 after SIGTERM", timeout: .seconds(2)) { () async throws -> [String: Any]? in
            let r = try await Self.probe(proxy, "readyz")
            return r.status == 503 ? r.json : nil
        }
        #expect(draining["reason"] as? String == "shutting down")
        #expect(proxy.process.isRunning, "still draining the live session")
        #expect(try await Self.probe(proxy, "healthz").status == 200)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0)
        #expect(try await proxy.stop(timeout: .seconds(10)) == 0)
    }
}
