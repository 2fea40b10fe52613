import Foundation
import ProxyTesting
import Testing

/// HTTP-FLV fan-out (`modules.http-flv.fanout`) through the built proxy with a real live origin
/// (Tests/Peers/live_flv_origin.py, one encode for all its players, counting its connections),
/// FLV-walking players (FLVTestPlayer), ffprobe and, for two proxies, a real redis-server.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct FanoutTests {
    static func config(fanout: String = "true", hooks: String = "", registry: String = "") -> String {
        """
        system_api: { listen: 127.0.0.1:0 }
        \(registry)\(hooks)
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0, session_rate: 100000, session_burst: 100000, fanout: \(fanout) }
          srt: { listen: 127.0.0.1:0 }
        """
    }

    static func start(_ origin: LiveFLVOrigin, config: String = config()) async throws -> (ProxyProcess, Int) {
        let proxy = try await ProxyProcess.start(config: config, healthChecks: false)
        let port = try await HTTPFLVRelayTests.port(proxy, "http-flv")
        try await HTTPFLVRelayTests.register(origin.registration(server: "live"), with: proxy)
        return (proxy, port)
    }

    static func metric(_ proxy: ProxyProcess, _ name: String) async throws -> Double {
        MetricsTests.value(try await MetricsTests.scrape(proxy).samples, "stream_proxy_http_flv_fanout_\(name)") ?? -1
    }

    /// Waits until every player received a keyframe, and returns their reports.
    static func started(_ players: [FLVTestPlayer], timeout: Duration = .seconds(20)) async throws -> [FLVTestPlayer.Report] {
        try await Wait.until("every player's first keyframe", timeout: timeout) { () -> [FLVTestPlayer.Report]? in
            let reports = players.map(\.report)
            return reports.allSatisfy { $0.firstKeyframeAfter != nil || $0.error != nil || $0.ended != nil } ? reports : nil
        }
    }

    static func checkStart(_ report: FLVTestPlayer.Report, _ who: String) {
        #expect(report.status == 200, "\(who): \(report.head)")
        #expect(report.error == nil, "\(who): \(report.error ?? "")")
        #expect(report.headerSeen && report.sawVideoSequenceHeader, "\(who) got the FLV header and the AVC sequence header")
        #expect(report.firstVideoIsKeyframe == true, "\(who): the first video tag after the sequence header is a keyframe")
    }

    @Test func fiftyPlayersOfOneStreamOpenOneOriginConnection() async throws {
        let origin = try await LiveFLVOrigin.start()
        let (proxy, port) = try await Self.start(origin)
        var players: [FLVTestPlayer] = []
        for i in 0..<50 { players.append(try await FLVTestPlayer(port: port, path: "/live/s.flv?token=t\(i)")) }
        let reports = try await Self.started(players)
        for (i, report) in reports.enumerated() { Self.checkStart(report, "player \(i)") }
        let stats = try await origin.stats()
        #expect(stats.connections == 1, "the origin served one connection for 50 players: \(stats)")
        #expect(stats.sources == 1)
        #expect(try await Self.metric(proxy, "players") == 50)
        #expect(try await Self.metric(proxy, "streams") == 1)
        // Each player is its own session in the streams API, with its own bytes.
        let live = try await Wait.until("50 sessions with bytes", timeout: .seconds(5)) { () async throws -> [String: Any]? in
            try await HTTPFLVRelayTests.streams(proxy).first { ($0["sessions"] as? Int ?? 0) == 50 && ($0["bytes_to_clients"] as? Int ?? 0) > 0 }
        }
        #expect(live["stream"] as? String == "s")
        let upstream = try await Self.metric(proxy, "upstream_bytes_total")
        let delivered = try await Self.metric(proxy, "delivered_bytes_total")
        #expect(delivered > 40 * upstream * 0.5, "delivered \(delivered) bytes from \(upstream) upstream")
        players.forEach { $0.stop() }
        try await Wait.until("the players gone", timeout: .seconds(10)) { () async throws -> Bool? in
            try await Self.metric(proxy, "players") == 0 ? true : nil
        }
        try await proxy.stop()
    }

    @Test func aJoiningPlayerStartsAtOnceFromTheCachedGOPAndDecodesFromTheFirstFrame() async throws {
        // A keyframe every 4 s, and an origin that makes each direct player wait for the next one.
        let origin = try await LiveFLVOrigin.start(gop: 100)
        let (proxy, port) = try await Self.start(origin)
        let first = try await FLVTestPlayer(port: port, path: "/live/g.flv")
        _ = try await Self.started([first])
        // Past the first keyframe: the GOP cache holds a GOP in progress.
        try await Task.sleep(for: .seconds(1))
        let joiner = try await FLVTestPlayer(port: port, path: "/live/g.flv")
        let report = try await Self.started([joiner])[0]
        Self.checkStart(report, "the joiner")
        let after = report.firstKeyframeAfter ?? .seconds(99)
        #expect(after < .seconds(1), "the joiner's first keyframe came from the cache: \(after)")
        // ffprobe decodes from the first frame: its first video frame is a keyframe.
        let probe = try PeerProcess("ffprobe", [
            "-v", "error", "-rw_timeout", "5000000", "-select_streams", "v:0", "-read_intervals", "%+#10",
            "-show_entries", "frame=key_frame", "-of", "csv=p=0", "http://127.0.0.1:\(port)/live/g.flv",
        ])
        #expect(try await probe.wait(timeout: .seconds(20)) == 0, "\(probe.output)")
        // A frame with side data prints `1,`: the first field is the flag.
        let frames = probe.output.split(separator: "\n").compactMap { $0.split(separator: ",", omittingEmptySubsequences: false).first?.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        #expect(frames.count >= 10 && frames.first == "1", "ffprobe's first frames: \(frames.prefix(12))")
        #expect(try await origin.stats().connections == 1)
        first.stop()
        joiner.stop()
        try await proxy.stop()
    }

    @Test func aStalledPlayerDoesNotSlowTheOthersAndSkipsToAKeyframe() async throws {
        let origin = try await LiveFLVOrigin.start(bitrate: "1M")
        let (proxy, port) = try await Self.start(
            origin, config: Self.config(fanout: "{ enabled: true, player_queue_bytes: 65536, slow_player: skip }"))
        let slow = try await FLVTestPlayer(port: port, path: "/live/slow.flv", receiveBuffer: 4096)
        var others: [FLVTestPlayer] = []
        for _ in 0..<4 { others.append(try await FLVTestPlayer(port: port, path: "/live/slow.flv")) }
        _ = try await Self.started(others + [slow])
        slow.stall(true)
        let before = others.map(\.report.lastVideoTimestamp)
        let startedAt = ContinuousClock.now
        try await Wait.until("a slow-player skip", timeout: .seconds(20)) { () async throws -> Bool? in
            try await Self.metric(proxy, "slow_skips_total") >= 1 ? true : nil
        }
        try await Task.sleep(for: .seconds(3))
        let waited = ContinuousClock.now - startedAt
        for (i, player) in others.enumerated() {
            let report = player.report
            let advanced = Int(report.lastVideoTimestamp) - Int(before[i])
            #expect(report.error == nil && report.ended == nil, "player \(i) went on: \(report)")
            #expect(Double(advanced) >= Double(waited.components.seconds) * 1000 * 0.8, "player \(i)'s stream advanced \(advanced) ms in \(waited)")
        }
        // Reading again, the slow player gets whole tags and a keyframe after the skip.
        let videoBefore = slow.report.videoTags
        slow.stall(false)
        try await Wait.until("the slow player's stream again", timeout: .seconds(15)) { () -> Bool? in
            slow.report.videoTags > videoBefore + 50 ? true : nil
        }
        #expect(slow.report.error == nil, "the slow player's FLV stayed whole: \(slow.report.error ?? "")")
        #expect(try await origin.stats().connections == 1)
        #expect(await proxy.logContains("slow"))
        (others + [slow]).forEach { $0.stop() }
        try await proxy.stop()
    }

    @Test func aSlowPlayerIsDisconnectedWhenConfigured() async throws {
        let origin = try await LiveFLVOrigin.start(bitrate: "1M")
        let (proxy, port) = try await Self.start(
            origin, config: Self.config(fanout: "{ enabled: true, player_queue_bytes: 65536, slow_player: disconnect }"))
        let slow = try await FLVTestPlayer(port: port, path: "/live/d.flv", receiveBuffer: 4096)
        let other = try await FLVTestPlayer(port: port, path: "/live/d.flv")
        _ = try await Self.started([slow, other])
        slow.stall(true)
        try await Wait.until("the slow player disconnected", timeout: .seconds(20)) { () async throws -> Bool? in
            try await Self.metric(proxy, "slow_disconnects_total") >= 1 ? true : nil
        }
        #expect(await proxy.logContains("fan-out player closed"))
        let before = other.report.videoTags
        try await Wait.until("the other player going on", timeout: .seconds(10)) { () -> Bool? in other.report.videoTags > before + 25 ? true : nil }
        #expect(other.report.ended == nil)
        slow.stop()
        other.stop()
        try await proxy.stop()
    }

    @Test func thePublisherEndsAndEveryPlayerEnds() async throws {
        let origin = try await LiveFLVOrigin.start(seconds: 6)
        let (proxy, port) = try await Self.start(origin)
        var players: [FLVTestPlayer] = []
        for _ in 0..<10 { players.append(try await FLVTestPlayer(port: port, path: "/live/e.flv")) }
        _ = try await Self.started(players)
        let reports = try await Wait.until("every player's response ended", timeout: .seconds(20)) { () -> [FLVTestPlayer.Report]? in
            let reports = players.map(\.report)
            return reports.allSatisfy { $0.ended != nil } ? reports : nil
        }
        for (i, report) in reports.enumerated() {
            #expect(report.ended == "closed" && report.error == nil, "player \(i): \(report.ended ?? "") \(report.error ?? "")")
            #expect(report.videoTags > 50, "player \(i) got the stream: \(report.videoTags) video tags")
        }
        try await Wait.until("the upstream gone", timeout: .seconds(5)) { () async throws -> Bool? in
            try await Self.metric(proxy, "streams") == 0 ? true : nil
        }
        #expect(await proxy.logContains("fan-out upstream closed"))
        try await proxy.stop()
    }

    @Test func theUpstreamLingersForAReturningPlayerThenCloses() async throws {
        let origin = try await LiveFLVOrigin.start()
        let (proxy, port) = try await Self.start(origin, config: Self.config(fanout: "{ enabled: true, linger: 3s }"))
        let first = try await FLVTestPlayer(port: port, path: "/live/l.flv")
        _ = try await Self.started([first])
        first.stop()
        try await Task.sleep(for: .seconds(1))
        let back = try await FLVTestPlayer(port: port, path: "/live/l.flv")
        Self.checkStart(try await Self.started([back])[0], "the returning player")
        #expect(try await origin.stats().connections == 1, "the returning player used the lingering upstream")
        back.stop()
        try await Wait.until("the origin's response closed after the linger", timeout: .seconds(10)) { () async throws -> Bool? in
            try await origin.stats().active == 0 ? true : nil
        }
        #expect(try await Self.metric(proxy, "streams") == 0)
        try await proxy.stop()
    }

    @Test func playAuthDecidesEachPlayerAndTheOriginSeesOne() async throws {
        let hook = try await HookServer.start { request, _ in
            request.fields["param"]?.contains("token=good") == true ? (200, "0") : (200, #"{"code":403}"#)
        }
        let origin = try await LiveFLVOrigin.start()
        let hooks = """
            hooks:
              play_auth: { url: \(hook.url("/play")) }

            """
        let (proxy, port) = try await Self.start(origin, config: Self.config(hooks: hooks))
        let good = [try await FLVTestPlayer(port: port, path: "/live/a.flv?token=good1"), try await FLVTestPlayer(port: port, path: "/live/a.flv?token=good2")]
        for report in try await Self.started(good) { Self.checkStart(report, "an allowed player") }
        let bad = try await HTTPFLVRelayTests.exchange(port, "GET /live/a.flv?token=bad HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(HTTPFLVRelayTests.statusLine(bad) == "HTTP/1.1 403 Forbidden", "\(bad.prefix(300))")
        let asked = hook.requests("/play")
        #expect(asked.count == 3, "each player was put to the hook: \(asked.count)")
        #expect(asked.allSatisfy { $0.fields["action"] == "on_play" })
        #expect(try await origin.stats().connections == 1, "the origin saw one player")
        try await HTTPFLVRelayTests.waitForRefusals(proxy, ["play_denied": 1])
        good.forEach { $0.stop() }
        try await proxy.stop()
    }

    @Test func twoProxiesInRedisModeEachPullOnce() async throws {
        let redis = try await RedisServer.start()
        let origin = try await LiveFLVOrigin.start()
        let prefix = "fanout\(UInt32.random(in: 0...UInt32.max))"
        let registry = """
            registry:
              type: redis
              redis: { host: 127.0.0.1, port: \(redis.port), key_prefix: \(prefix), timeout: 500ms }

            """
        let (a, portA) = try await Self.start(origin, config: Self.config(registry: registry))
        let b = try await ProxyProcess.start(config: Self.config(registry: registry), healthChecks: false)
        let portB = try await HTTPFLVRelayTests.port(b, "http-flv")
        var players: [FLVTestPlayer] = []
        for i in 0..<20 { players.append(try await FLVTestPlayer(port: i % 2 == 0 ? portA : portB, path: "/live/r.flv")) }
        for (i, report) in try await Self.started(players).enumerated() { Self.checkStart(report, "player \(i)") }
        #expect(try await origin.stats().connections == 2, "one upstream per proxy")
        #expect(try await Self.metric(a, "players") == 10)
        #expect(try await Self.metric(b, "players") == 10)
        players.forEach { $0.stop() }
        try await a.stop()
        try await b.stop()
    }
}
