import Foundation
import ProxyTesting
import Testing

/// `POST /commands/close` on the other three modules, with real peers: each ends its sessions
/// the protocol's way (HTTP-FLV: the player's connection; SRT: SHUTDOWN to both ends; WebRTC:
/// the UDP session, and a DELETE of the backend's resource).
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct CommandsCloseTests {
    static func config(webrtc: Bool = false) -> String {
        """
        system_api: { listen: 127.0.0.1:0 }
        commands_api: { enabled: true, listen: 127.0.0.1:0, auth: { bearer: { token: t } } }
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0 }
        \(webrtc ? "  webrtc: { enabled: true, api_listen: 127.0.0.1:0, udp_listen: 127.0.0.1:0, candidate: 127.0.0.1 }" : "")
        """
    }

    static func register(_ body: String, with proxy: ProxyProcess) async throws {
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body)
        #expect(r.status == 200)
    }

    static func sessions(_ proxy: ProxyProcess, _ stream: String) async throws -> (publishers: Int, players: Int) {
        let url = URL(string: "http://127.0.0.1:\(try await CommandsAPITests.port(proxy, "commands-api"))/commands/report")!
        let streams = try await HTTPTestClient.get(url, headers: ["Authorization": "Bearer t"]).json["streams"] as? [[String: Any]] ?? []
        let e = streams.first { $0["stream"] as? String == stream }
        return (e?["publishers"] as? Int ?? 0, e?["players"] as? Int ?? 0)
    }

    static func close(_ proxy: ProxyProcess, _ stream: String) async throws -> Int {
        let url = URL(string: "http://127.0.0.1:\(try await CommandsAPITests.port(proxy, "commands-api"))/commands/close")!
        let r = try await HTTPTestClient.post(url, json: #"{"app":"live","stream":"\#(stream)"}"#, headers: ["Authorization": "Bearer t"])
        #expect(r.status == 200, "\(r.text)")
        return r.json["closed"] as? Int ?? -1
    }

    @Test func closingAnHTTPFLVStreamEndsThePlayerAndTheBackendRequest() async throws {
        let origin = try await FFmpegHTTPOrigin.start(.flv, seconds: 60)
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        try await Self.register(origin.registration(server: "o"), with: proxy)
        let port = try await CommandsAPITests.port(proxy, "http-flv")
        let player = try MediaTools.play("http://127.0.0.1:\(port)\(origin.path)", idleTimeout: .seconds(30))
        defer { player.stop(SIGKILL) }
        try await Wait.until("the player in the report", timeout: .seconds(10)) { () async throws -> Bool? in
            try await Self.sessions(proxy, "origin").players == 1 ? true : nil
        }
        #expect(try await Self.close(proxy, "origin") == 1)
        _ = try await player.wait(timeout: .seconds(10))
        #expect(try await origin.process.wait(timeout: .seconds(10)) == 1, "the origin saw its client (the proxy) go away")
        try await Wait.until("the report without it", timeout: .seconds(5)) { () async throws -> Bool? in
            try await Self.sessions(proxy, "origin").players == 0 ? true : nil
        }
        try await proxy.stop()
    }

    @Test func closingAnSRTStreamSendsShutdownToBothEnds() async throws {
        let origin = try await SRTLiveTransmit.start()
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        try await Self.register(origin.registration(server: "s"), with: proxy)
        let port = try await CommandsAPITests.port(proxy, "srt")
        let name = CommandsAPITests.unique("srt")
        let publisher = try PeerProcess("ffmpeg", [
            "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "60",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-f", "mpegts",
            SRTTools.url(port: port, streamID: "#!::r=live/\(name),m=publish"),
        ])
        defer { publisher.stop(SIGKILL) }
        // Relayed, not only routed: a close during the backend handshake is the next test's case.
        #expect(await proxy.logContains("session relayed", "stream=__defaultVhost__/live/\(name)", within: .seconds(15)), "\(proxy.log.suffix(1500))")
        #expect(try await Self.sessions(proxy, name).publishers == 1)
        #expect(try await Self.close(proxy, name) == 1)
        _ = try await publisher.wait(timeout: .seconds(10))
        try await origin.wait(timeout: .seconds(10))  // -a:no: the origin exits when its source shuts down
        #expect(await proxy.logContains("session closed", "reason=closed: commands API close request"), "\(proxy.log.suffix(1500))")
        #expect(try await Self.sessions(proxy, name).publishers == 0)
        try await proxy.stop()
    }

    /// A close that comes while the backend has not answered the handshake yet (an origin that
    /// never answers): the caller's conclusion is rejected at once, and its retransmissions do
    /// not start the session again.
    @Test func closingAnSRTStreamDuringItsBackendHandshakeRejectsTheCaller() async throws {
        let origin = try RawUDPSocket(port: 9, from: "127.0.0.1")  // bound, never answers
        let proxy = try await ProxyProcess.start(config: Self.config().replacingOccurrences(
            of: "srt: { listen: 127.0.0.1:0 }", with: "srt: { listen: 127.0.0.1:0, backend_timeout: 30s }"), healthChecks: false)
        try await Self.register(#"{"ip":"127.0.0.1","server":"silent","service":"udp","pid":"1","srt":["\#(origin.localPort)"]}"#, with: proxy)
        let port = try await CommandsAPITests.port(proxy, "srt")
        let name = CommandsAPITests.unique("srt")
        // libsrt's own connect timeout (3 s by default) must not end the caller before the close does.
        let publisher = try PeerProcess("ffmpeg", [
            "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "60",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts",
            SRTTools.url(port: port, streamID: "#!::r=live/\(name),m=publish") + "&connect_timeout=30000",
        ])
        defer { publisher.stop(SIGKILL) }
        let first = try #require(await origin.receiveAndAnswerSender(timeout: .seconds(15)), "the proxy's handshake reached the origin")
        #expect(try await Self.sessions(proxy, name).publishers == 1)
        let closedAt = ContinuousClock.now
        #expect(try await Self.close(proxy, name) == 1)
        let status = try await publisher.wait(timeout: .seconds(10))
        #expect(status != 0, "the caller was refused")
        #expect(ContinuousClock.now - closedAt < .seconds(5), "refused at the close, not at a timeout")
        #expect(publisher.output.lowercased().contains("reject"), "\(publisher.output)")
        #expect(await proxy.logContains("session closed before it was relayed", "reason=closed: commands API close request"), "\(proxy.log.suffix(1500))")
        // A second session (the caller's retransmitted conclusion taken for a new caller) would
        // handshake with the origin from a new backend socket.
        var senders = Set<String>()
        while let datagram = await origin.receiveAndAnswerSender(timeout: .seconds(1)) { senders.insert(datagram.from) }
        #expect(senders.isSubset(of: [first.from]), "one backend socket, not one per retransmitted conclusion: \(senders)")
        #expect(!proxy.log.contains("no backend handshake"))
        #expect(try await Self.sessions(proxy, name).publishers == 0)
        try await proxy.stop()
    }

    @Test func closingAWebRTCStreamDropsTheSessionAndDeletesTheBackendResource() async throws {
        let origin = try await WebRTCPeers.Origin.start()
        let proxy = try await ProxyProcess.start(config: Self.config(webrtc: true), healthChecks: false)
        try await Self.register(origin.registration(server: "w"), with: proxy)
        let name = CommandsAPITests.unique("rtc").replacingOccurrences(of: "-", with: "")
        let url = "http://127.0.0.1:\(try await CommandsAPITests.port(proxy, "webrtc-api"))/rtc/v1/whip/?app=live&stream=\(name)"
        let publisher = try WebRTCPeers.client("publish", url, seconds: 40)
        defer { publisher.stop(SIGKILL) }
        try await Wait.until("the WHIP publisher's media at the origin", timeout: .seconds(20)) { () async throws -> Bool? in
            let frames = try await origin.videoFrames(name)
            let publishers = try await Self.sessions(proxy, name).publishers
            return frames > 10 && publishers == 1 ? true : nil
        }
        #expect(try await origin.allStats()["peers"] as? Int == 1)
        #expect(try await Self.close(proxy, name) == 1)
        try await Wait.until("the origin's peer closed by the DELETE", timeout: .seconds(10)) { () async throws -> Bool? in
            try await origin.allStats()["peers"] as? Int == 0 ? true : nil
        }
        try await Wait.until("the session ended in the proxy", timeout: .seconds(5)) { () async throws -> Bool? in
            proxy.log.contains("media session ended") && proxy.log.contains("reason=closed: commands API close request") ? true : nil
        }
        let frames = try await origin.videoFrames(name)
        try await Task.sleep(for: .seconds(1))
        #expect(try await origin.videoFrames(name) == frames, "no media reaches the origin after the close")
        #expect(try await Self.sessions(proxy, name).publishers == 0)
        try await proxy.stop()
    }
}
