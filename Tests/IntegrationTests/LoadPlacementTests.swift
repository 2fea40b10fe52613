import Foundation
import ProxyTesting
import Testing

/// Load- and capacity-aware placement through the built proxy, with nginx-rtmp origins and ffmpeg
/// publishers: a capacity from the register body refuses new streams once reached, and
/// `least-load` counts the sessions of every proxy on one redis-server.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct LoadPlacementTests {
    static func config(balancer: String, registry: String = "") -> String {
        """
        balancer: \(balancer)
        system_api: { listen: 127.0.0.1:0 }
        commands_api: { enabled: true, listen: 127.0.0.1:0, auth: { bearer: { token: tok-123 } } }
        \(registry)
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { enabled: false }
          srt: { enabled: false }
        """
    }

    static func withCapacity(_ nginx: NginxRTMP, server: String, _ capacity: String) -> String {
        String(nginx.registration(server: server).dropLast()) + #","capacity":\#(capacity)}"#
    }

    @Test func anOriginAtItsRegisteredCapacityTakesNoNewStream() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(balancer: "round-robin"), healthChecks: true)
        let port = try await DrainTests.rtmp(proxy)
        let nginx = try await NginxRTMP.start()
        try await SharedRegistryTests.register(Self.withCapacity(nginx, server: "small", #"{"streams":1}"#), with: proxy)
        let origin = try #require(try await DrainTests.origin(proxy, server: "small"))
        #expect((origin["capacity"] as? [String: Any])?["streams"] as? Int == 1, "\(origin)")

        let name = SharedRegistryTests.unique("cap")
        let live = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 30)
        defer { live.stop() }
        try await Wait.until("the first stream at the origin", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }
        let loaded = try await DrainTests.origin(proxy, server: "small")?["load"] as? [String: Any]
        #expect(loaded?["streams"] as? Int == 1 && loaded?["sessions"] as? Int == 1, "\(String(describing: loaded))")
        let refused = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)-2", seconds: 1)
        #expect(try await refused.wait(timeout: .seconds(20)) != 0, "a second stream is refused")
        #expect(nginx.published == [name])
        try await RTMPRelayTests.waitForRefusals(proxy, ["no_capacity": 1])
        #expect(await proxy.logContains("no capacity for a new stream", "1 streams, capacity 1"))
        let capacity = try await CommandsAPITests.get(proxy, "capacity").json
        #expect(capacity["verdict"] as? String == "full", "\(capacity)")
        // A player of the stream that is there is still served.
        let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\(name)")
        try await Wait.until("the player at the full origin", timeout: .seconds(10)) { nginx.played == [name] ? true : nil }
        player.stop()
        try await proxy.stop()
    }

    @Test func leastLoadCountsTheSessionsOfEveryProxyOnTheRegistry() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let registry = "registry: { type: redis, redis: { host: 127.0.0.1, port: \(redis.port), key_prefix: ll\(UInt32.random(in: 0...UInt32.max)), timeout: 500ms } }"
        let a = try await ProxyProcess.start(config: Self.config(balancer: "least-load", registry: registry), healthChecks: true)
        let b = try await ProxyProcess.start(config: Self.config(balancer: "least-load", registry: registry), healthChecks: true)
        let busy = try await NginxRTMP.start(), idle = try await NginxRTMP.start()
        try await SharedRegistryTests.register(busy.registration(server: "busy"), with: a)
        let portA = try await DrainTests.rtmp(a), portB = try await DrainTests.rtmp(b)
        let long = try (0..<2).map { i in try MediaTools.publish("rtmp://127.0.0.1:\(portA)/live/\(SharedRegistryTests.unique("long-\(i)"))", seconds: 40) }
        defer { long.forEach { $0.stop() } }
        try await Wait.until("two streams through A at the busy origin", timeout: .seconds(10)) { busy.published.count == 2 ? true : nil }
        try await SharedRegistryTests.register(idle.registration(server: "idle"), with: a)
        // B learns A's sessions from the shared counts (published and read every 2 s).
        try await Wait.until("B counting A's two sessions", timeout: .seconds(10)) { () async throws -> Bool? in
            let load = try await DrainTests.origin(b, server: "busy")?["load"] as? [String: Any]
            return load?["sessions"] as? Int == 2 ? true : nil
        }
        var names: [String] = []
        for i in 0..<2 {
            let n = SharedRegistryTests.unique("via-b-\(i)")
            names.append(n)
            let p = try MediaTools.publish("rtmp://127.0.0.1:\(portB)/live/\(n)", seconds: 12)
            defer { p.stop() }
            try await Wait.until("\(n) at an origin", timeout: .seconds(10)) { (busy.published + idle.published).contains(n) ? true : nil }
        }
        #expect(idle.published == names, "both new streams through B went to the origin with fewer sessions: idle \(idle.published), busy \(busy.published)")
        try await a.stop()
        try await b.stop()
    }
}
