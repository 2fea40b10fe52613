import Foundation
import ProxyTesting
import Testing

/// Two proxy processes sharing one real redis-server (`registry.type: redis`): one view of
/// origins, routes and HLS sessions, whichever proxy a client reaches.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct SharedRegistryTests {
    static func config(redis: RedisServer, prefix: String, webrtc: Bool = false) -> String {
        """
        system_api: { listen: 127.0.0.1:0 }
        registry:
          type: redis
          route_linger: 5s
          redis: { host: 127.0.0.1, port: \(redis.port), key_prefix: \(prefix), timeout: 500ms }
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0, session_rate: 100000, session_burst: 100000 }
          srt: { listen: 127.0.0.1:0 }
        \(webrtc ? "  webrtc: { enabled: true, api_listen: 127.0.0.1:0, udp_listen: 127.0.0.1:0, candidate: 127.0.0.1, idle_timeout: 5s }" : "")
        """
    }

    /// Proxies A and B on one Redis under a fresh key prefix.
    static func pair(_ redis: RedisServer, webrtc: Bool = false) async throws -> (ProxyProcess, ProxyProcess) {
        let prefix = "pair\(UInt32.random(in: 0...UInt32.max))"
        return (try await ProxyProcess.start(config: config(redis: redis, prefix: prefix, webrtc: webrtc), healthChecks: false),
                try await ProxyProcess.start(config: config(redis: redis, prefix: prefix, webrtc: webrtc), healthChecks: false))
    }

    static func port(_ proxy: ProxyProcess, _ listener: String) async throws -> Int {
        Int(try await proxy.waitForListener(listener).split(separator: ":").last!)!
    }

    static func register(_ body: String, with proxy: ProxyProcess) async throws {
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body)
        #expect(r.status == 200, "register: \(r.status)")
    }

    static func get(_ proxy: ProxyProcess, _ path: String) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent(path))
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    @Test func anOriginRegisteredWithOneProxyServesClientsOfTheOther() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let (a, b) = try await Self.pair(redis)
        let nginx = try await NginxRTMP.start()
        try await Self.register(nginx.registration(server: "n"), with: a)
        let listing = try await Self.get(b, "api/v1/origins").json
        #expect(listing["registry"] as? String == "redis", "B says where its list comes from: \(listing)")
        let origins = listing["origins"] as? [[String: Any]] ?? []
        #expect(origins.count == 1 && origins.first?["alive"] as? Bool == true, "B sees the origin A was told of: \(origins)")

        let name = Self.unique("shared")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(a, "rtmp"))/live/\(name)", seconds: 4)
        try await Wait.until("the publish via A at the origin", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }
        let player = try MediaTools.play("rtmp://127.0.0.1:\(try await Self.port(b, "rtmp"))/live/\(name)")
        try await Wait.until("the play via B at the same origin", timeout: .seconds(10)) { nginx.played == [name] ? true : nil }
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0)
        try await player.wait(timeout: .seconds(20))
        #expect(MediaTools.timestamps(player.output).count > 20, "B's player received the stream A's publisher sent")
        try await a.stop()
        try await b.stop()
    }

    @Test func concurrentNewSessionsOfOneStreamOnBothProxiesAgreeOnOneBackend() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let (a, b) = try await Self.pair(redis)
        let n1 = try await NginxRTMP.start(hls: true), n2 = try await NginxRTMP.start(hls: true)
        try await Self.register(n1.registration(server: "n1"), with: a)
        try await Self.register(n2.registration(server: "n2"), with: b)
        let ports = [try await Self.port(a, "http-flv"), try await Self.port(b, "http-flv")]
        let name = Self.unique("race")

        // 200 first requests of one new HLS stream, split over the two proxies: each routes the
        // stream (a claim in Redis) and makes a session.
        let locations = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<200 {
                let port = ports[i % 2]
                group.addTask {
                    let socket = try await RawSocket(port: port)
                    socket.send(Array("GET /live/\(name).m3u8 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".utf8))
                    return await socket.readUntilClose(timeout: .seconds(20)) ?? ""
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(locations.allSatisfy { $0.hasPrefix("HTTP/1.1 302") }, "every request got a session: \(locations.first { !$0.hasPrefix("HTTP/1.1 302") } ?? "")")

        var backends: Set<String> = []
        var sessions = 0
        for proxy in [a, b] {
            let streams = try await Self.get(proxy, "api/v1/streams").json["streams"] as? [[String: Any]] ?? []
            for s in streams where s["stream"] as? String == name {
                backends.insert(s["backend"] as? String ?? "?")
                sessions += s["sessions"] as? Int ?? 0
            }
        }
        #expect(backends.count == 1, "one backend for the stream on both proxies: \(backends)")
        #expect(sessions == 200, "every session counted on the proxy that made it: \(sessions)")
        try await a.stop()
        try await b.stop()
    }

    @Test func anHLSSessionMadeByOneProxyIsServedByTheOther() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let (a, b) = try await Self.pair(redis)
        let n1 = try await NginxRTMP.start(hls: true), n2 = try await NginxRTMP.start(hls: true)
        try await Self.register(n1.registration(server: "n1"), with: a)
        try await Self.register(n2.registration(server: "n2"), with: a)
        let name = Self.unique("sticky")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(a, "rtmp"))/live/\(name)", seconds: 10)
        defer { publisher.stop() }
        let origin = try await Wait.until("the publish at an origin", timeout: .seconds(10)) { () -> NginxRTMP? in
            n1.published == [name] ? n1 : n2.published == [name] ? n2 : nil
        }
        let other = origin === n1 ? n2 : n1
        try await Wait.until("the origin's playlist", timeout: .seconds(15)) { () -> Bool? in
            let text = try? String(contentsOf: origin.directory.appendingPathComponent("hls/\(name).m3u8"), encoding: .utf8)
            return (text?.components(separatedBy: ".ts").count ?? 0) > 2 ? true : nil
        }

        // The session is made through A; its playlist and a segment are fetched through B.
        let socket = try await RawSocket(port: try await Self.port(a, "http-flv"))
        socket.send(Array("GET /live/\(name).m3u8 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".utf8))
        let redirect = await socket.readUntilClose(timeout: .seconds(10)) ?? ""
        let location = redirect.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("location:") }?.dropFirst(9).trimmingCharacters(in: .whitespaces) ?? ""
        #expect(location.contains("spsid="), "\(redirect)")
        let viaB = "http://127.0.0.1:\(try await Self.port(b, "http-flv"))"
        let playlist = try await HTTPTestClient.get(URL(string: viaB + location)!)
        #expect(playlist.status == 200)
        let segment = String(decoding: playlist.body, as: UTF8.self).split(separator: "\n").first { $0.contains(".ts?spsid=") }.map(String.init)
        let segmentURI = try #require(segment, "a segment URI in \(String(decoding: playlist.body, as: UTF8.self))")
        let fetched = try await HTTPTestClient.get(URL(string: viaB + "/live/" + segmentURI)!)
        #expect(fetched.status == 200 && fetched.body.count > 1000)
        #expect(origin.httpRequests.count >= 2, "playlist and segment from the session's origin: \(origin.httpRequests)")
        #expect(other.httpRequests.isEmpty, "nothing from the other origin: \(other.httpRequests)")
        try await a.stop()
        try await b.stop()
    }

    @Test func redisDownKeepsLiveRelaysAndNewSessionsComeBackWhenItReturns() async throws {
        let redis = try await RedisServer.start()
        let (a, b) = try await Self.pair(redis)
        let nginx = try await NginxRTMP.start()
        try await Self.register(nginx.registration(server: "n"), with: a)
        let rtmp = try await Self.port(a, "rtmp")
        let name = Self.unique("outage")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(rtmp)/live/\(name)", seconds: 8)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }
        let player = try MediaTools.play("rtmp://127.0.0.1:\(nginx.port)/live/\(name)")

        try await redis.stopAndWait()
        // A new session cannot be routed: a clear error, not a hang.
        let http = try await Self.port(b, "http-flv")
        let socket = try await RawSocket(port: http)
        socket.send(Array("GET /live/new.flv HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".utf8))
        let refused = await socket.readUntilClose(timeout: .seconds(10)) ?? ""
        #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused.prefix(300))")
        #expect(refused.contains("registry"))
        let origins = try await Self.get(b, "api/v1/origins")
        #expect(origins.status == 503 && "\(origins.json["error"] ?? "")".contains("registry unavailable"))

        // The publish through A keeps flowing while Redis is down.
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "the live relay survived: \(publisher.output)")
        try await player.wait(timeout: .seconds(20))
        #expect(MediaTools.timestamps(player.output).count > 150, "the origin received the whole stream")

        let restarted = try await RedisServer.start(port: redis.port)
        defer { restarted.stop() }
        let back = ContinuousClock.now
        try await Self.register(nginx.registration(server: "n"), with: a)
        try await Wait.until("B routing again", timeout: .seconds(5)) { () async throws -> Bool? in
            (try await Self.get(b, "api/v1/origins")).status == 200 ? true : nil
        }
        let again = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(b, "rtmp"))/live/\(name)-2", seconds: 1)
        try await Wait.until("a new session via B after Redis returned", timeout: .seconds(10)) { nginx.published.contains("\(name)-2") ? true : nil }
        #expect(ContinuousClock.now - back < .seconds(10))
        _ = try await again.wait(timeout: .seconds(20))
        #expect(a.process.isRunning && b.process.isRunning, "neither proxy crashed")
        try await a.stop()
        try await b.stop()
    }

    @Test func aWHIPSessionSignalledThroughOneProxyRelaysItsMediaThroughTheOther() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let (a, b) = try await Self.pair(redis, webrtc: true)
        let origin = try await WebRTCPeers.Origin.start()
        try await Self.register(origin.registration(server: "w"), with: a)
        let name = Self.unique("rtc").replacingOccurrences(of: "-", with: "")
        let udpA = try await Self.port(a, "webrtc-udp"), udpB = try await Self.port(b, "webrtc-udp")

        // The offer goes to A; the client sends its ICE, DTLS and SRTP to B's UDP port, which
        // finds the session by its STUN USERNAME in Redis.
        let url = "http://127.0.0.1:\(try await Self.port(a, "webrtc-api"))/rtc/v1/whip/?app=live&stream=\(name)"
        let publisher = try WebRTCPeers.client("publish", url, seconds: 4, extra: ["--media-port", String(udpB)])
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "\(publisher.output)")
        let result = WebRTCPeers.result(publisher)
        #expect(Set(result["answer_candidates"] as? [String] ?? []) == ["127.0.0.1 \(udpA)"], "A answered with its own port: \(result)")
        #expect(result["media_peer"] as? String == "127.0.0.1:\(udpB)", "the media went to B: \(result)")
        #expect(result["delete_status"] as? Int == 200, "DELETE through A found the resource: \(result)")
        #expect(try await origin.videoFrames(name) >= 60, "the origin received the video B relayed")
        #expect(await b.logContains("media session started", "stream=__defaultVhost__/live/\(name)"), "B relayed the session")
        #expect(!a.log.contains("media session started"), "A relayed nothing")
        try await a.stop()
        try await b.stop()
    }
}
