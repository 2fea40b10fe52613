import Foundation
import ProxyTesting
import Testing

/// `registry.redis.sentinels`: the proxy finds the primary through a real redis-sentinel and
/// follows its failover. The primary is killed while an ffmpeg publish and player run through
/// the proxy to nginx-rtmp: the relay goes on, a new publish works again within 5 s of the
/// promotion, and the stream keeps exactly one route.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct SentinelTests {
    @Test func thePrimaryDiesMidStreamAndTheProxyFollowsTheFailover() async throws {
        let redis = try await RedisSentinelSet.start()
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 127.0.0.1:0 }
            registry:
              type: redis
              redis: { sentinels: ["127.0.0.1:\(redis.sentinelPort)"], master_name: \(RedisSentinelSet.masterName), timeout: 500ms }
            modules:
              rtmp: { listen: 127.0.0.1:0 }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            """)
        let origin = try await NginxRTMP.start(applications: ["live"])
        try await RTMPRelayTests.register(origin, as: "o", with: proxy)
        let port = try await HooksTests.port(proxy, "rtmp")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/through-failover", seconds: 14)
        try await Wait.until("the stream on the origin", timeout: .seconds(15)) { origin.published.contains("through-failover") ? true : nil }
        let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/through-failover", idleTimeout: .seconds(4))
        try await Wait.until("the player playing", timeout: .seconds(15)) { MediaTools.timestamps(player.output).count > 10 ? true : nil }
        try await Wait.until("the route in the registry", timeout: .seconds(5)) {
            try RedisSentinelSet.cli(redis.primary.port, ["--scan", "--pattern", "streamproxy:route:*"]).isEmpty ? nil : true
        }

        try await redis.primary.stopAndWait()
        try await Wait.until("the sentinel promoting the replica", timeout: .seconds(30), interval: .milliseconds(50)) {
            try redis.primaryPort() == redis.replica.port ? true : nil
        }
        let promoted = ContinuousClock.now

        // New sessions work again within 5 s: a new publish through the proxy reaches the origin.
        var attempt = 0
        var accepted = false
        while !accepted, ContinuousClock.now - promoted < .seconds(5) {
            attempt += 1
            let name = "after-failover-\(attempt)"
            let next = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 1)
            accepted = try await next.wait(timeout: .seconds(10)) == 0 && origin.published.contains(name)
        }
        #expect(accepted, "a new publish within 5 s of the promotion (\(attempt) attempts)")
        #expect(ContinuousClock.now - promoted < .seconds(8))

        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "the live publish went on: \(publisher.output.suffix(300))")
        try await player.wait(timeout: .seconds(30))
        #expect(MediaTools.timestamps(player.output).count > 200, "the player got the whole stream: \(MediaTools.timestamps(player.output).count) frames")
        #expect(origin.published.filter { $0 == "through-failover" }.count == 1, "published once: no second route moved it")
        let routes = try RedisSentinelSet.cli(redis.replica.port, ["--scan", "--pattern", "streamproxy:route:*through-failover"])
        #expect(routes.split(separator: "\n").count == 1, "one route for the stream on the new primary: \(routes)")
        #expect(try await proxy.stop() == 0)
    }
}
