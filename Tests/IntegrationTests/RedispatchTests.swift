import Foundation
import ProxyTesting
import Testing

@testable import ProxyCore

/// Redispatch inside the session: when the routed backend cannot be reached, the same client
/// session is routed to another backend and the client sees a normal connect. Real peers: nginx-rtmp
/// (RTMP), ffmpeg HTTP origins (HTTP-FLV), srt-live-transmit (SRT); the unreachable backend is a
/// registered port nothing listens on, or an origin that was killed.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct RedispatchTests {
    static func config(balancer: String = "hash", registry: String = "") -> String {
        """
        balancer: \(balancer)\(registry)
        system_api: { listen: 127.0.0.1:0 }
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0 }
        """
    }

    static func port(_ proxy: ProxyProcess, _ listener: String) async throws -> Int {
        Int(try await proxy.waitForListener(listener).split(separator: ":").last!)!
    }

    static func register(_ body: String, with proxy: ProxyProcess) async throws {
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body)
        #expect(r.status == 200, "\(r.text)")
    }

    /// A stream name (in app `live`) the hash balancer places on the dead backend (`dead-x-1`)
    /// whatever the other backend's id: the dead one's score is in the top 2^-16 of the range,
    /// so another id outranks it once in 65,536 runs.
    static func nameHashedToTheDeadBackend() throws -> String {
        let dead = Backend.ID("dead-x-1")
        while true {
            let name = "redispatch-\(UInt32.random(in: 0...UInt32.max))"
            let key = try StreamKey(vhost: nil, app: "live", stream: name)
            if HashStrategy.score(HashStrategy.fnv1a(key.description), dead) >= UInt64.max - UInt64.max >> 16 { return name }
        }
    }

    static func redispatches(_ proxy: ProxyProcess) async throws -> Double? {
        MetricsTests.value(try await MetricsTests.scrape(proxy).samples, "stream_proxy_redispatches_total")
    }

    static func deadBackend(_ kind: String, port: Int) -> String {
        #"{"ip":"127.0.0.1","server":"dead","service":"x","pid":"1","\#(kind)":["\#(port)"]}"#
    }

    @Test func anRTMPPublishRoutedToAnUnreachableBackendLandsOnAnotherOnTheFirstAttempt() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "rtmp")
        let nginx = try await NginxRTMP.start()
        try await Self.register(Self.deadBackend("rtmp", port: try FreePort.tcp()), with: proxy)
        try await Self.register(nginx.registration(server: "live"), with: proxy)
        #expect(try await Self.redispatches(proxy) == 0)
        let name = try Self.nameHashedToTheDeadBackend()

        let started = ContinuousClock.now
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 2)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "the first attempt succeeds: \(publisher.output)")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(nginx.published == [name], "relayed to the backend that works")
        #expect(await proxy.logContains("backend unreachable, routing the session again"))
        #expect(await proxy.logContains("session redispatched", "failed=dead-x-1"))
        #expect(try await Self.redispatches(proxy) == 1)
        try await RTMPRelayTests.waitForRefusals(proxy, [:])
        try await proxy.stop()
    }

    /// The stream's route names an origin that was killed since (the benchmark's failover case):
    /// the publisher coming back is relayed to the survivor on its first attempt.
    @Test func aRepublishAfterItsOriginDiedMovesTheRouteOnTheFirstAttempt() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(balancer: "round-robin"), healthChecks: false)
        let port = try await Self.port(proxy, "rtmp")
        let first = try await NginxRTMP.start()
        try await Self.register(first.registration(server: "first"), with: proxy)
        let name = RTMPRelayTests.unique("moved")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 1)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output)")
        #expect(first.published == [name])
        // The route lingers on the first origin; the origin dies, a second one is there.
        first.stop()
        let second = try await NginxRTMP.start()
        try await Self.register(second.registration(server: "second"), with: proxy)

        let again = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 2)
        #expect(try await again.wait(timeout: .seconds(20)) == 0, "the republish succeeds at once: \(again.output)")
        #expect(second.published == [name], "the stream moved to the survivor")
        #expect(await proxy.logContains("route failed over"))
        #expect(try await Self.redispatches(proxy) == 1)
        let streams = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/streams"))
        #expect(streams.text.contains("second-nginx-"), "the route names the survivor: \(streams.text)")
        try await proxy.stop()
    }

    @Test func anHTTPFLVPlayerRoutedToAnUnreachableBackendIsServedByAnother() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")
        try await Self.register(Self.deadBackend("http", port: try FreePort.tcp()), with: proxy)
        let name = try Self.nameHashedToTheDeadBackend()
        let origin = try await FFmpegHTTPOrigin.start(.flv, seconds: 3, path: "/live/\(name)")
        try await Self.register(origin.registration(server: "live"), with: proxy)
        let player = try MediaTools.play("http://127.0.0.1:\(port)/live/\(name).flv")
        try await player.wait(timeout: .seconds(20))
        #expect(MediaTools.timestamps(player.output).count > 20, "the player got the stream: \(player.output.suffix(400))")
        #expect(await proxy.logContains("backend unreachable, routing the request again"))
        #expect(try await Self.redispatches(proxy) ?? 0 >= 1)
        try await HTTPFLVRelayTests.waitForRefusals(proxy, [:])
        try await proxy.stop()
    }

    @Test func anSRTPublishRoutedToAnUnreachableBackendLandsOnAnother() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "srt")
        let origin = try await SRTLiveTransmit.start()
        try await Self.register(Self.deadBackend("srt", port: try FreePort.udp()), with: proxy)
        try await Self.register(origin.registration(server: "live"), with: proxy)
        let name = try Self.nameHashedToTheDeadBackend()

        let publisher = try SRTTools.publish(
            try await SRTTools.fixture(), to: SRTTools.url(port: port, streamID: "#!::r=live/\(name),m=publish"))
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "the first attempt succeeds: \(publisher.output)")
        try await origin.wait(timeout: .seconds(10))
        let received = try Data(contentsOf: origin.received)
        #expect(received.count > 100_000, "the origin that works got the stream (\(received.count) bytes)")
        #expect(await proxy.logContains("backend unreachable, routing the session again"))
        #expect(try await Self.redispatches(proxy) == 1)
        try await proxy.stop()
    }

    /// `registry.redispatch_attempts: 0`: the first failure refuses the client (the behaviour
    /// before redispatch existed).
    @Test func withRedispatchOffTheFirstFailureRefusesTheClient() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(registry: "\nregistry: { redispatch_attempts: 0 }"), healthChecks: false)
        let port = try await Self.port(proxy, "rtmp")
        let nginx = try await NginxRTMP.start()
        try await Self.register(Self.deadBackend("rtmp", port: try FreePort.tcp()), with: proxy)
        try await Self.register(nginx.registration(server: "live"), with: proxy)
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(try Self.nameHashedToTheDeadBackend())", seconds: 1)
        #expect(try await publisher.wait(timeout: .seconds(10)) != 0, "refused")
        #expect(nginx.published.isEmpty)
        try await RTMPRelayTests.waitForRefusals(proxy, ["backend_unreachable": 1])
        try await proxy.stop()
    }

    /// With nowhere else to go the client is refused as before, within its backend timeout.
    @Test func withNoOtherBackendTheSessionIsRefusedFast() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "rtmp")
        try await Self.register(Self.deadBackend("rtmp", port: try FreePort.tcp()), with: proxy)
        let started = ContinuousClock.now
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(RTMPRelayTests.unique("alone"))", seconds: 1)
        #expect(try await publisher.wait(timeout: .seconds(10)) != 0)
        #expect(ContinuousClock.now - started < .seconds(5))
        try await RTMPRelayTests.waitForRefusals(proxy, ["backend_unreachable": 1])
        #expect(try await Self.redispatches(proxy) == 0)
        try await proxy.stop()
    }

    // MARK: players follow their publisher

    /// A stream published through the proxy to `first`, whose origin then died with its
    /// publisher (the route still names it); `second` is alive. Returns the stream name.
    static func streamWhoseOriginDied(_ proxy: ProxyProcess, first: NginxRTMP, second: NginxRTMP) async throws -> String {
        let port = try await Self.port(proxy, "rtmp")
        try await Self.register(first.registration(server: "first"), with: proxy)
        let name = RTMPRelayTests.unique("follow")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 60)
        try await Wait.until("the stream on the first origin", timeout: .seconds(15)) { first.published == [name] ? true : nil }
        first.stop()
        #expect(try await publisher.wait(timeout: .seconds(15)) != 0, "the publisher lost its origin")
        try await Self.register(second.registration(server: "second"), with: proxy)
        return name
    }

    /// The player's route names a dead origin and nobody publishes the stream any more: after
    /// `redispatch_wait` it is told so the protocol's way (NetStream.Play.StreamNotFound, an
    /// HTTP 404), and no route is left for it.
    @Test func aPlayerOfAStreamWithNoPublisherLeftIsToldItIsNotFound() async throws {
        let proxy = try await ProxyProcess.start(
            config: Self.config(balancer: "round-robin", registry: "\nregistry: { redispatch_wait: 1s }"), healthChecks: false)
        let first = try await NginxRTMP.start(), second = try await NginxRTMP.start(hls: true)
        let name = try await Self.streamWhoseOriginDied(proxy, first: first, second: second)
        let port = try await Self.port(proxy, "rtmp")

        let started = ContinuousClock.now
        let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\(name)")
        #expect(try await player.wait(timeout: .seconds(15)) != 0, "refused: \(player.output)")
        let waited = ContinuousClock.now - started
        #expect(waited >= .seconds(1) && waited < .seconds(8), "it waited redispatch_wait for a publisher: \(waited)")
        #expect(MediaTools.timestamps(player.output).isEmpty)
        #expect(player.output.contains("no live publisher"), "the StreamNotFound status names why: \(player.output)")
        // RTMP places the player on the other origin at once (to be there before a returning
        // publisher's first keyframe) and holds the origin's answers until media comes.
        #expect(second.played == [name], "placed on the other origin")
        try await RTMPRelayTests.waitForRefusals(proxy, ["stream_not_found": 1])
        let streams = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/streams"))
        #expect(!streams.text.contains(name), "no route left for it: \(streams.text)")
        try await proxy.stop()
    }

    /// The same for an HTTP-FLV player: 404 with SRS's JSON error body.
    @Test func anHTTPFLVPlayerOfAStreamWithNoPublisherLeftGetsA404() async throws {
        let proxy = try await ProxyProcess.start(
            config: Self.config(balancer: "round-robin", registry: "\nregistry: { redispatch_wait: 1s }"), healthChecks: false)
        let first = try await NginxRTMP.start(hls: true), second = try await NginxRTMP.start(hls: true)
        let name = try await Self.streamWhoseOriginDied(proxy, first: first, second: second)
        let port = try await Self.port(proxy, "http-flv")
        let answer = try await HTTPTestClient.get(URL(string: "http://127.0.0.1:\(port)/live/\(name).flv")!)
        #expect(answer.status == 404, "\(answer.status) \(answer.text)")
        #expect(answer.text.contains("no live publisher"), "\(answer.text)")
        #expect(second.httpRequests.isEmpty, "nothing asked of the other origin: \(second.httpRequests)")
        try await HTTPFLVRelayTests.waitForRefusals(proxy, ["stream_not_found": 1])
        try await proxy.stop()
    }

    /// The encoder reconnects while the player waits: the player follows the stream to the
    /// origin it moved to and plays, without noticing.
    @Test func aPlayerWaitingForItsStreamFollowsTheRepublishToTheOtherOrigin() async throws {
        let proxy = try await ProxyProcess.start(
            config: Self.config(balancer: "round-robin", registry: "\nregistry: { redispatch_wait: 4s }"), healthChecks: false)
        let first = try await NginxRTMP.start(), second = try await NginxRTMP.start()
        let name = try await Self.streamWhoseOriginDied(proxy, first: first, second: second)
        let port = try await Self.port(proxy, "rtmp")

        let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\(name)")
        #expect(await proxy.logContains("backend unreachable, routing the session again", within: .seconds(10)), "the player waits for its stream")
        let republish = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 4)
        #expect(try await republish.wait(timeout: .seconds(20)) == 0, "\(republish.output)")
        try await player.wait(timeout: .seconds(20))
        #expect(MediaTools.timestamps(player.output).count > 40, "the player got the stream: \(player.output.suffix(400))")
        #expect(second.published == [name] && second.played == [name], "both on the origin the stream moved to")
        try await RTMPRelayTests.waitForRefusals(proxy, [:])
        try await proxy.stop()
    }
}
