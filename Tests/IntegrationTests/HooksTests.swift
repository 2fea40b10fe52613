import Foundation
import ProxyTesting
import Synchronization
import Testing

/// `hooks:` through the built proxy with real peers: a real HTTP hook server (HookServer),
/// ffmpeg publishers, nginx-rtmp and srt-live-transmit origins, redis-server for the shared queue.
@Suite(.serialized, .timeLimit(.minutes(4)), .peerDiagnostics) struct HooksTests {
    static func config(hooks: String, registry: String = "", modules: String = "", quit: String = "", srt: String = "") -> String {
        """
        system_api: { listen: 127.0.0.1:0 }
        \(registry)
        \(quit)
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0\(srt) }
        \(modules)
        hooks:
        \(hooks)
        """
    }

    static func port(_ proxy: ProxyProcess, _ listener: String) async throws -> Int {
        Int(try await proxy.waitForListener(listener).split(separator: ":").last!)!
    }

    static func register(_ body: String, with proxy: ProxyProcess) async throws {
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body)
        #expect(r.status == 200, "register: \(r.status)")
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    /// The hook's answer: allow when the publish carries `secret=good`, else SRS's non-zero code.
    static let secretChecker: HookServer.Respond = { request, _ in
        request.fields["param"]?.contains("secret=good") == true ? (200, "0") : (200, #"{"code":403,"error":"bad secret"}"#)
    }

    // MARK: - publish_auth

    @Test func rtmpPublishesTheHookRefusesNeverReachTheOriginAndAllowedOnesCarryTheirKey() async throws {
        let hook = try await HookServer.start(Self.secretChecker)
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config(hooks: "  publish_auth: { url: \"\(hook.url("/auth"))\", bearer_token: t0ken }"), healthChecks: false)
        try await Self.register(nginx.registration(server: "n"), with: proxy)
        let port = try await Self.port(proxy, "rtmp")
        let name = Self.unique("auth")

        let refused = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)?secret=bad", seconds: 2)
        #expect(try await refused.wait(timeout: .seconds(15)) != 0, "ffmpeg fails when the hook says no")
        #expect(nginx.published.isEmpty, "the origin never saw the refused publish: \(nginx.published)")
        #expect(await proxy.logContains("publish denied by hook", "code 403"), "the reason is logged")

        let allowed = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)?secret=good", seconds: 2)
        #expect(try await allowed.wait(timeout: .seconds(20)) == 0, "allowed publish: \(allowed.output)")
        #expect(nginx.published == [name], "the allowed publish reached the origin")

        let asked = hook.requests("/auth")
        #expect(asked.count == 2, "one question per publish: \(asked.count)")
        let last = asked.last?.fields ?? [:]
        #expect(last["action"] == "on_publish" && last["app"] == "live" && last["stream"] == name, "\(last)")
        #expect(last["param"] == "?secret=good" && last["vhost"] == "__defaultVhost__" && last["protocol"] == "rtmp", "\(last)")
        #expect(last["ip"] == "127.0.0.1" && last["stream_url"] == "/live/\(name)" && !(last["server_id"] ?? "").isEmpty, "\(last)")
        #expect(asked.last?.headers["authorization"] == "Bearer t0ken", "\(asked.last?.headers ?? [:])")
        try await proxy.stop()
        hook.stop()
    }

    // MARK: - play_auth

    @Test func rtmpPlayersThePlayHookRefusesNeverReachTheOrigin() async throws {
        let hook = try await HookServer.start(Self.secretChecker)
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config(hooks: "  play_auth: { url: \"\(hook.url("/play"))\" }"), healthChecks: false)
        try await Self.register(nginx.registration(server: "n"), with: proxy)
        let port = try await Self.port(proxy, "rtmp")
        let name = Self.unique("play")
        // Publishing is not asked about: only players.
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 12)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }
        let refused = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\(name)?secret=bad")
        #expect(try await refused.wait(timeout: .seconds(15)) != 0, "ffprobe fails when the play hook says no")
        #expect(await proxy.logContains("play denied by hook"), "the reason is logged")
        let allowed = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\(name)?secret=good", idleTimeout: .seconds(2))
        try await Wait.until("the allowed player at the origin", timeout: .seconds(10)) { nginx.played.contains(name) ? true : nil }
        #expect(nginx.played == [name], "only the allowed player reached the origin: \(nginx.played)")
        let asked = hook.requests("/play")
        #expect(asked.count == 2 && asked.allSatisfy { $0.fields["action"] == "on_play" }, "one on_play per player: \(asked.map(\.fields))")
        try await RTMPRelayTests.waitForRefusals(proxy, ["play_denied": 1])
        allowed.stop(SIGKILL)
        publisher.stop(SIGKILL)
        try await proxy.stop()
    }

    @Test func anUnreachableHookDeniesByDefaultAndOnErrorAllowLetsThePublishThrough() async throws {
        let nginx = try await NginxRTMP.start()
        let nowhere = "http://127.0.0.1:\(try FreePort.tcp())/auth"
        let closed = try await ProxyProcess.start(config: Self.config(hooks: "  publish_auth: { url: \"\(nowhere)\", timeout: 1s }"), healthChecks: false)
        try await Self.register(nginx.registration(server: "n"), with: closed)
        let denied = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(closed, "rtmp"))/live/\(Self.unique("closed"))", seconds: 1)
        #expect(try await denied.wait(timeout: .seconds(15)) != 0, "fail closed")
        #expect(await closed.logContains("publish hook failed; denied (on_error: deny)"), "\(closed.log.suffix(2000))")
        #expect(nginx.published.isEmpty)
        try await closed.stop()

        let open = try await ProxyProcess.start(config: Self.config(hooks: "  publish_auth: { url: \"\(nowhere)\", timeout: 1s, on_error: allow }"), healthChecks: false)
        try await Self.register(nginx.registration(server: "n"), with: open)
        let name = Self.unique("open")
        let allowed = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(open, "rtmp"))/live/\(name)", seconds: 1)
        #expect(try await allowed.wait(timeout: .seconds(20)) == 0, "\(allowed.output)")
        #expect(nginx.published == [name])
        #expect(await open.logContains("allowed by on_error: allow"))
        try await open.stop()
    }

    @Test func aSlowHookTimesOutAndAnOversizedAnswerIsNotReadBothDeny() async throws {
        let hook = try await HookServer.start { request, _ in
            if request.path == "/slow" {
                try? await Task.sleep(for: .seconds(5))
                return (200, "0")
            }
            return (200, "0" + String(repeating: " ", count: 200_000))
        }
        let nginx = try await NginxRTMP.start()
        for (path, reason) in [("/slow", "no answer within 0.5 seconds"), ("/huge", "the answer is larger than 65536 bytes")] {
            let proxy = try await ProxyProcess.start(config: Self.config(hooks: "  publish_auth: { url: \"\(hook.url(path))\", timeout: 500ms }"), healthChecks: false)
            try await Self.register(nginx.registration(server: "n"), with: proxy)
            let started = ContinuousClock.now
            let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(proxy, "rtmp"))/live/\(Self.unique("bounded"))", seconds: 1)
            #expect(try await publisher.wait(timeout: .seconds(15)) != 0, "\(path): denied")
            #expect(ContinuousClock.now - started < .seconds(4), "\(path): the timeout bounds the wait")
            #expect(await proxy.logContains("publish hook failed; denied", reason), "\(path):\n\(proxy.log.suffix(1500))")
            try await proxy.stop()
        }
        #expect(nginx.published.isEmpty)
        hook.stop()
    }

    @Test func srtAndWhipPublishesTheHookRefusesAreRejectedByTheirProtocols() async throws {
        let hook = try await HookServer.start(Self.secretChecker)
        let origin = try await SRTLiveTransmit.start()
        let proxy = try await ProxyProcess.start(config: Self.config(
            hooks: "  publish_auth: { url: \"\(hook.url("/auth"))\" }",
            modules: "  webrtc: { enabled: true, api_listen: 127.0.0.1:0, udp_listen: 127.0.0.1:0, candidate: 127.0.0.1 }"), healthChecks: false)
        try await Self.register(origin.registration(server: "o"), with: proxy)

        let srt = try SRTTools.publish(try await SRTTools.fixture(), to: SRTTools.url(port: try await Self.port(proxy, "srt"), streamID: "#!::r=live/srtdenied,m=publish"))
        #expect(try await srt.wait(timeout: .seconds(15)) != 0, "the SRT caller is rejected")
        let received = (try? Data(contentsOf: origin.received))?.count ?? 0
        #expect(received == 0, "the origin received nothing (\(received) bytes)")

        let api = try await Self.port(proxy, "webrtc-api")
        let whip = try await HTTPTestClient.post(
            URL(string: "http://127.0.0.1:\(api)/rtc/v1/whip/?app=live&stream=whipdenied&secret=bad")!,
            body: Data("v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\n".utf8), headers: ["Content-Type": "application/sdp"])
        #expect(whip.status == 403 && whip.text.contains("publish refused"), "\(whip.status) \(whip.text)")

        let asked = hook.requests("/auth").map(\.fields)
        #expect(asked.contains { $0["protocol"] == "srt" && $0["stream"] == "srtdenied" }, "\(asked)")
        #expect(asked.contains { $0["protocol"] == "webrtc" && $0["stream"] == "whipdenied" && $0["param"]?.contains("secret=bad") == true }, "\(asked)")
        try await proxy.stop()
        hook.stop()
    }

    @Test func anSRTPublishWaitsForItsHookWithoutUsingUpTheBackendTimeout() async throws {
        // The hook answers after 1.5 s, within its 3 s timeout; the backend timeout is 1 s and
        // bounds only routing and the backend handshake, which come after the answer.
        let hook = try await HookServer.start { _, _ in
            try? await Task.sleep(for: .milliseconds(1500))
            return (200, "0")
        }
        let origin = try await SRTLiveTransmit.start()
        let proxy = try await ProxyProcess.start(config: Self.config(
            hooks: "  publish_auth: { url: \"\(hook.url("/auth"))\", timeout: 3s }", srt: ", backend_timeout: 1s"), healthChecks: false)
        try await Self.register(origin.registration(server: "o"), with: proxy)
        let url = SRTTools.url(port: try await Self.port(proxy, "srt"), streamID: "#!::r=live/slowhook,m=publish") + "&connect_timeout=8000"
        let srt = try SRTTools.publish(try await SRTTools.fixture(), to: url)
        #expect(try await srt.wait(timeout: .seconds(30)) == 0, "the publish went through: \(srt.output) \(proxy.log.suffix(1500))")
        let received = (try? Data(contentsOf: origin.received))?.count ?? 0
        #expect(received > 100_000, "the origin received the stream (\(received) bytes)")
        #expect(hook.requests("/auth").count == 1)
        try await proxy.stop()
        hook.stop()
    }

    // MARK: - events

    @Test func publishStartAndEndAreDeliveredAndUnselectedEventsAreNot() async throws {
        let hook = try await HookServer.start { _, _ in (200, "ok") }
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config(hooks: """
              events: { urls: ["\(hook.url("/events"))"], events: [publish_start, publish_end] }
            """), healthChecks: false)
        try await Self.register(nginx.registration(server: "n"), with: proxy)
        let port = try await Self.port(proxy, "rtmp")
        let name = Self.unique("events")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)?k=v", seconds: 3)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }
        let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\(name)", idleTimeout: .seconds(1))
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0)
        try await player.wait(timeout: .seconds(20))

        let events = try await Wait.until("publish_start and publish_end at the hook", timeout: .seconds(10)) { () -> [[String: String]]? in
            let got = hook.requests("/events").map(\.fields)
            return got.count >= 2 ? got : nil
        }
        #expect(events.map { $0["event"] ?? "" } == ["publish_start", "publish_end"], "\(events)")
        #expect(events.map { $0["action"] ?? "" } == ["on_publish", "on_unpublish"])
        #expect(events.allSatisfy { $0["stream"] == name && $0["param"] == "?k=v" && $0["backend"]?.hasPrefix("n-nginx-") == true }, "\(events)")
        #expect(events[0]["client_id"] == events[1]["client_id"], "start and end name the same client")
        #expect(Set(events.compactMap { $0["event_id"] }).count == 2, "each event has its own id")
        #expect(nginx.played == [name], "the player played (and play events were not selected)")
        try await proxy.stop()
        #expect(hook.requests("/events").count == 2, "no play_start/play_end sent")
        hook.stop()
    }

    @Test func aReceiverFailingTwiceGetsTheEventOnTheThirdAttemptAfterBackoffAndADeadOneIsDropped() async throws {
        let hook = try await HookServer.start { request, earlier in
            request.path == "/flaky" && earlier >= 2 ? (200, "0") : (500, "down")
        }
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config(hooks: """
              events:
                urls: ["\(hook.url("/flaky"))", "\(hook.url("/dead"))"]
                events: [publish_start]
                retry: { max_attempts: 3, initial_backoff: 300ms, max_backoff: 5s }
            """), healthChecks: false)
        try await Self.register(nginx.registration(server: "n"), with: proxy)
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(proxy, "rtmp"))/live/\(Self.unique("retry"))", seconds: 1)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0)

        try await Wait.until("the dead receiver given up", timeout: .seconds(15)) { proxy.log.contains("dropped after 3 attempts") ? true : nil }
        let flaky = hook.requests("/flaky"), dead = hook.requests("/dead")
        #expect(flaky.count == 3, "delivered on the 3rd attempt, then never again: \(flaky.count)")
        #expect(dead.count == 3, "max_attempts bounds the dead receiver: \(dead.count)")
        #expect(Set(flaky.compactMap { $0.fields["event_id"] }).count == 1, "every attempt carries the same event id")
        if flaky.count == 3 {
            let gaps = [flaky[1].at - flaky[0].at, flaky[2].at - flaky[1].at]
            print("gaps between the three attempts (initial_backoff 300ms): \(gaps)")
            #expect(gaps[0] >= .milliseconds(280) && gaps[1] >= .milliseconds(580), "exponential backoff 300ms then 600ms: \(gaps)")
            #expect(gaps[1] < .seconds(3), "not slower than the poll allows: \(gaps)")
        }
        #expect(await proxy.logContains("event callback failed; retrying"))
        try await proxy.stop()
        #expect(await proxy.logContains("delivered=1", "dropped=1"), "counts logged at stop:\n\(proxy.log.suffix(1500))")
        hook.stop()
    }

    @Test func eventsReportedDuringGracefulShutdownAreDeliveredBeforeTheProxyExits() async throws {
        let hook = try await HookServer.start { _, _ in (200, "0") }
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config(
            hooks: "  events: { urls: [\"\(hook.url("/events"))\"], events: [publish_end] }", quit: "quit: { grace: 10s, force: 15s }"), healthChecks: false)
        try await Self.register(nginx.registration(server: "n"), with: proxy)
        let name = Self.unique("drain")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(proxy, "rtmp"))/live/\(name)", seconds: 3)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }
        let started = ContinuousClock.now
        // SIGTERM while the publish runs: it ends during the grace time, its publish_end is queued then.
        let status = try await proxy.stop(signal: SIGTERM, timeout: .seconds(20))
        #expect(status == 0, "a clean exit")
        #expect(ContinuousClock.now - started < .seconds(10), "within quit.grace")
        #expect(try await publisher.wait(timeout: .seconds(10)) == 0)
        #expect(hook.requests("/events").map { $0.fields["event"] } == ["publish_end"], "publish_end delivered before exit")
        hook.stop()
    }

    // MARK: - the queue in Redis

    static func redisConfig(_ redis: RedisServer, prefix: String) -> String {
        """
        registry:
          type: redis
          redis: { host: 127.0.0.1, port: \(redis.port), key_prefix: \(prefix), timeout: 500ms }
        """
    }

    @Test func anEventQueuedByAProxyThatDiedIsDeliveredByAnotherOnTheSameRedis() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let open = Open()
        let hook = try await HookServer.start { _, _ in open.isOpen ? (200, "0") : (503, "later") }
        let prefix = "hooks\(UInt32.random(in: 0...UInt32.max))"
        let hooks = """
              events: { urls: ["\(hook.url("/events"))"], events: [publish_start], timeout: 1s, retry: { initial_backoff: 500ms, max_backoff: 1s } }
            """
        let a = try await ProxyProcess.start(config: Self.config(hooks: hooks, registry: Self.redisConfig(redis, prefix: prefix)), healthChecks: false)
        let nginx = try await NginxRTMP.start()
        try await Self.register(nginx.registration(server: "n"), with: a)
        let aServer = try await HTTPTestClient.get(try a.systemAPI.appendingPathComponent("api/v1/versions")).json["server"] as? String
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(a, "rtmp"))/live/\(Self.unique("survive"))", seconds: 1)
        try await Wait.until("A's first attempt", timeout: .seconds(10)) { hook.requests().isEmpty ? nil : true }
        _ = try await a.stop(signal: SIGKILL)
        let attemptsByA = hook.requests().count
        open.isOpen = true
        _ = try await publisher.wait(timeout: .seconds(10))

        let b = try await ProxyProcess.start(config: Self.config(hooks: hooks, registry: Self.redisConfig(redis, prefix: prefix)), healthChecks: false)
        let delivered = try await Wait.until("B delivers A's event", timeout: .seconds(20)) { () -> HookServer.Received? in
            hook.requests().dropFirst(attemptsByA).first
        }
        #expect(delivered.fields["server_id"] == aServer && aServer != nil, "the event A reported: \(delivered.fields)")
        #expect(delivered.fields["event"] == "publish_start")
        try await b.stop()
        #expect(await b.logContains("delivered=1", "still_queued=0"), "\(b.log.suffix(1500))")
        #expect(hook.requests().count == attemptsByA + 1, "delivered once")
        hook.stop()
    }

    @Test func twoProxiesOnOneRedisDeliverEveryEventExactlyOnceWhenReceiversAnswer() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let hook = try await HookServer.start { _, _ in (200, "0") }
        let prefix = "hooks\(UInt32.random(in: 0...UInt32.max))"
        let config = Self.config(hooks: "  events: { urls: [\"\(hook.url("/events"))\"], events: [publish_start, publish_end] }",
                                 registry: Self.redisConfig(redis, prefix: prefix))
        let a = try await ProxyProcess.start(config: config, healthChecks: false), b = try await ProxyProcess.start(config: config, healthChecks: false)
        let nginx = try await NginxRTMP.start()
        try await Self.register(nginx.registration(server: "n"), with: a)
        let ports = [try await Self.port(a, "rtmp"), try await Self.port(b, "rtmp")]
        let publishers = try (0..<6).map { i in
            try MediaTools.publish("rtmp://127.0.0.1:\(ports[i % 2])/live/\(Self.unique("once"))", seconds: 1)
        }
        for p in publishers { #expect(try await p.wait(timeout: .seconds(30)) == 0) }
        try await Wait.until("12 events at the hook", timeout: .seconds(15)) { hook.requests().count >= 12 ? true : nil }
        try await a.stop()
        try await b.stop()
        let ids = hook.requests().compactMap { $0.fields["event_id"] }
        #expect(ids.count == 12 && Set(ids).count == 12, "12 events, each delivered once: \(ids.count) requests, \(Set(ids).count) ids")
        hook.stop()
    }

    // MARK: - config

    @Test func aBadHookConfigExitsWith2NamingFileLineAndKey() async throws {
        let dir = try PackagePaths.temporaryDirectory("hooks-config")
        for (yaml, expected) in [
            ("hooks:\n  publish_auth:\n    url: ftp://x/y\n", ":3:10: hooks.publish_auth.url: 'ftp://x/y' is not an http:// or https:// URL"),
            ("hooks:\n  events:\n    urls: [\"http://h/e\"]\n    retries: 3\n", ":4:5: hooks.events.retries: unknown key 'retries'"),
        ] {
            let file = dir.appendingPathComponent("proxy.yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            let r = try await ProxyCommand.run(["--config", file.path, "--check-config"])
            #expect(r.status == 2, "\(yaml): \(r.stderr)")
            #expect(r.stderr.contains(file.path + expected), "\(r.stderr)")
        }
    }
}

/// Whether the test's hook server accepts deliveries yet.
final class Open: Sendable {
    private let flag = Atomic<Bool>(false)
    var isOpen: Bool {
        get { flag.load(ordering: .acquiring) }
        set { flag.store(newValue, ordering: .releasing) }
    }
}
