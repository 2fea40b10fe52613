import Foundation
import ProxyTesting
import Testing

/// Active health checks with real peers: nginx-rtmp origins (an RTMP handshake; with its http
/// port, an HTTP status too), srt-live-transmit (an SRT induction), a hang (SIGSTOP: the kernel still
/// accepts connections, nothing answers) and a kill, with the default settings (every 2 s,
/// 1 s timeout, down after 2 failures, up after 2 passes).
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct HealthCheckTests {
    static func config(healthCheck: String = "", registry: String = "") -> String {
        """
        balancer: round-robin
        system_api: { listen: 127.0.0.1:0 }
        registry: { \(healthCheck)\(registry) }
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0 }
        """
    }

    /// The `health` object of the origin registered as `server`, once it has `kind` in it.
    static func health(_ proxy: ProxyProcess, _ server: String, _ kind: String) async throws -> [String: Any]? {
        let origin = try await LivenessTests.origins(proxy).first { $0["server"] as? String == server }
        return (origin?["health"] as? [String: Any])?[kind] as? [String: Any]
    }

    static func waitFor(_ proxy: ProxyProcess, _ server: String, _ kind: String, up: Bool, timeout: Duration = .seconds(15)) async throws {
        try await Wait.until("\(server) \(kind) \(up ? "up" : "down") in /api/v1/origins", timeout: timeout) { () async throws -> Bool? in
            try await Self.health(proxy, server, kind)?["up"] as? Bool == up ? true : nil
        }
    }

    @Test func aHungOriginIsOutOfPlacementWithinFiveSecondsAndItsStreamMoves() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: true)
        let port = try await RTMPRelayTests.rtmpPort(proxy)
        let hung = try await NginxRTMP.start(hls: true), live = try await NginxRTMP.start()
        defer { hung.resume() }
        try await SharedRegistryTests.register(hung.registration(server: "hung"), with: proxy)
        try await SharedRegistryTests.register(live.registration(server: "live"), with: proxy)
        try await Self.waitFor(proxy, "hung", "rtmp", up: true)
        try await Self.waitFor(proxy, "hung", "http", up: true)
        #expect(hung.healthCheckRequests.contains("HEAD / HTTP/1.1"), "the http check reached nginx: \(hung.healthCheckRequests)")
        #expect(try await Self.health(proxy, "hung", "srt") == nil, "an origin without srt has no srt check")

        // Publish until the stream is on the origin about to hang.
        var name = ""
        for i in 0..<4 {
            let n = RTMPRelayTests.unique("hang-\(i)")
            let p = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(n)", seconds: 1)
            #expect(try await p.wait(timeout: .seconds(20)) == 0, "\(p.output)")
            if hung.published.contains(n) { name = n; break }
        }
        #expect(!name.isEmpty, "round-robin put a stream on each origin")
        hung.hang()
        let hungAt = ContinuousClock.now
        try await Self.waitFor(proxy, "hung", "rtmp", up: false)
        let took = ContinuousClock.now - hungAt
        try await Self.waitFor(proxy, "hung", "http", up: false, timeout: .seconds(3))
        #expect(took <= .seconds(7), "within interval x fall + timeout (5 s), a round and a probe of the API (bench/failover measures it): \(took)")
        #expect(await proxy.logContains("backend endpoint failed its health checks: no new sessions", "protocol=rtmp", "check=rtmp handshake"))
        let down = MetricsTests.value(try await MetricsTests.scrape(proxy).samples, "stream_proxy_backend_endpoints_down", ["protocol": "rtmp"])
        #expect(down == 1)
        #expect((MetricsTests.value(try await MetricsTests.scrape(proxy).samples, "stream_proxy_health_check_failures_total", ["protocol": "rtmp"]) ?? 0) >= 2)

        // The publisher coming back lands on the live origin at once; new streams too.
        let back = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 1)
        #expect(try await back.wait(timeout: .seconds(20)) == 0, "\(back.output)")
        #expect(live.published.contains(name), "the stream moved off the hung origin")
        let before = live.published.count
        for i in 0..<3 {
            let p = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(RTMPRelayTests.unique("after-\(i)"))", seconds: 1)
            #expect(try await p.wait(timeout: .seconds(20)) == 0, "\(p.output)")
        }
        #expect(live.published.count == before + 3, "no new stream on the hung origin")

        hung.resume()
        try await Self.waitFor(proxy, "hung", "rtmp", up: true)
        #expect(await proxy.logContains("backend endpoint passed its health checks again", "protocol=rtmp"))
        try await proxy.stop()
    }

    @Test func anSRTOriginIsCheckedWithAnInductionAndIsDownOnceKilled() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(healthCheck: "health_check: { interval: 500ms, timeout: 400ms }"), healthChecks: true)
        let origin = try await SRTLiveTransmit.start()
        try await SharedRegistryTests.register(origin.registration(server: "srt"), with: proxy)
        try await Self.waitFor(proxy, "srt", "srt", up: true)
        #expect(try await Self.health(proxy, "srt", "srt")?["checked_by"] as? Int == 1)
        origin.stop()
        try await Self.waitFor(proxy, "srt", "srt", up: false)
        let error = try await Self.health(proxy, "srt", "srt")?["error"] as? String
        #expect(error != nil, "the last failure is named")
        try await proxy.stop()
    }

    @Test func twoProxiesOnOneRedisShareTheirViews() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let registry = "type: redis, redis: { host: 127.0.0.1, port: \(redis.port), key_prefix: hc\(UInt32.random(in: 0...UInt32.max)), timeout: 500ms }"
        let config = Self.config(healthCheck: "health_check: { interval: 500ms, timeout: 400ms }, ", registry: registry)
        let a = try await ProxyProcess.start(config: config, healthChecks: true), b = try await ProxyProcess.start(config: config, healthChecks: true)
        let nginx = try await NginxRTMP.start()
        defer { nginx.resume() }
        try await SharedRegistryTests.register(nginx.registration(server: "n"), with: a)
        try await Wait.until("both proxies check the origin", timeout: .seconds(10)) { () async throws -> Bool? in
            try await Self.health(b, "n", "rtmp")?["checked_by"] as? Int == 2 ? true : nil
        }
        nginx.hang()
        try await Self.waitFor(a, "n", "rtmp", up: false)
        try await Self.waitFor(b, "n", "rtmp", up: false)
        #expect(try await Self.health(a, "n", "rtmp")?["up_here"] as? Bool == false)
        try await a.stop()
        try await b.stop()
    }

    @Test func checksCanBeTurnedOff() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(healthCheck: "health_check: { enabled: false }"), healthChecks: true)
        let nginx = try await NginxRTMP.start()
        try await SharedRegistryTests.register(nginx.registration(server: "off"), with: proxy)
        let origin = try await LivenessTests.origins(proxy).first { $0["server"] as? String == "off" }
        #expect(origin != nil && origin?["health"] == nil, "no checks, no health field")
        #expect(MetricsTests.value(try await MetricsTests.scrape(proxy).samples, "stream_proxy_backend_endpoints_up", ["protocol": "rtmp"]) == nil)
        try await proxy.stop()
    }
}
