import Foundation
import ProxyTesting
import Testing

/// WebRTC through the built proxy with real peers: the aiortc origin and the aiortc WHIP
/// publisher / WHEP player of Tests/Peers/webrtc. Every ICE check, DTLS record and SRTP packet
/// must cross the proxy's UDP port: the clients' nominated pair names it, and the proxy counts
/// the bytes both ways.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct WebRTCRelayTests {
    static let config = """
        system_api: { listen: 127.0.0.1:0 }
        modules:
          rtmp: { enabled: false }
          http-flv: { enabled: false }
          srt: { enabled: false }
          webrtc: { enabled: true, api_listen: 127.0.0.1:0, udp_listen: 127.0.0.1:0, candidate: 127.0.0.1, idle_timeout: 5s }
        """

    struct Setup {
        var proxy: ProxyProcess
        var origin: WebRTCPeers.Origin
        var api: Int
        var udp: Int
        var base: String { "http://127.0.0.1:\(api)" }
    }

    /// The origin (also serving the browser pages when `servePages`), the proxy, and the origin registered.
    static func start(servePages: Bool = false) async throws -> Setup {
        let origin = try await WebRTCPeers.Origin.start(servePages: servePages)
        let proxy = try await ProxyProcess.start(config: config, healthChecks: false)
        let api = try await port(proxy, "webrtc-api"), udp = try await port(proxy, "webrtc-udp")
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: origin.registration(server: "aiortc"))
        #expect(r.status == 200)
        return Setup(proxy: proxy, origin: origin, api: api, udp: udp)
    }

    static func port(_ proxy: ProxyProcess, _ listener: String) async throws -> Int {
        Int(try await proxy.waitForListener(listener).split(separator: ":").last!)!
    }

    static func streams(_ proxy: ProxyProcess) async throws -> [[String: Any]] {
        let r = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/streams"))
        return r.json["streams"] as? [[String: Any]] ?? []
    }

    static func unique(_ prefix: String) -> String { "\(prefix)\(UInt32.random(in: 0...UInt32.max))" }

    /// Checks one client's result: connected, and every packet went to the proxy's UDP port.
    static func expectThroughProxy(_ result: [String: Any], udp: Int, _ what: String) {
        #expect(result["connected"] as? Bool == true, "\(what) connected: \(result)")
        #expect(result["media_peer"] as? String == "127.0.0.1:\(udp)", "\(what)'s nominated ICE pair is the proxy's UDP port: \(result)")
        let candidates = result["answer_candidates"] as? [String] ?? []
        #expect(!candidates.isEmpty && candidates.allSatisfy { $0 == "127.0.0.1 \(udp)" }, "\(what)'s answer names only the proxy: \(candidates)")
    }

    @Test func whipPublishAndWhepPlayFlowThroughTheProxysUDPPort() async throws {
        let s = try await Self.start()
        let name = Self.unique("s")
        let publisher = try WebRTCPeers.client("publish", "\(s.base)/rtc/v1/whip/?app=live&stream=\(name)", seconds: 6)
        try await Wait.until("frames at the origin", timeout: .seconds(20)) { try await s.origin.videoFrames(name) > 20 ? true : nil }
        let player = try WebRTCPeers.client("play", "\(s.base)/rtc/v1/whep/?app=live&stream=\(name)", seconds: 3, extra: ["--min-frames", "20"])

        // While both play: two sessions on the stream, bytes counted both ways.
        let live = try await Wait.until("both sessions with bytes both ways in /api/v1/streams", timeout: .seconds(20)) { () async throws -> [String: Any]? in
            try await Self.streams(s.proxy).first {
                $0["stream"] as? String == name && $0["sessions"] as? Int == 2
                    && ($0["bytes_from_clients"] as? Int ?? 0) > 20_000 && ($0["bytes_to_clients"] as? Int ?? 0) > 20_000
            }
        }
        #expect(((live["clients"] as? [[String: Any]]) ?? []).allSatisfy { $0["protocol"] as? String == "rtc" })

        #expect(try await player.wait(timeout: .seconds(30)) == 0, "player: \(player.output)")
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
        let played = WebRTCPeers.result(player), published = WebRTCPeers.result(publisher)
        Self.expectThroughProxy(published, udp: s.udp, "the WHIP publisher")
        Self.expectThroughProxy(played, udp: s.udp, "the WHEP player")
        #expect(played["video_frames"] as? Int ?? 0 >= 20, "the player decoded frames: \(played)")
        #expect(published["delete_status"] as? Int == 200 && played["delete_status"] as? Int == 200, "DELETE through the proxy's Location")
        #expect(try await s.origin.videoFrames(name) >= 120, "the origin received the published video")
        try await Wait.until("both sessions ended by DELETE", timeout: .seconds(10)) {
            s.proxy.log.components(separatedBy: "reason=deleted").count == 3 ? true : nil
        }
        try await s.proxy.stop()
    }

    @Test func srsJSONSignallingPublishesAndPlaysThroughTheProxy() async throws {
        let s = try await Self.start()
        let name = Self.unique("j")
        let url = "webrtc://127.0.0.1/live/\(name)"
        // It publishes until the player is done (SIGTERM), however late the player starts on a loaded machine.
        let publisher = try WebRTCPeers.client("publish", "\(s.base)/rtc/v1/publish/", seconds: 300, extra: ["--srs-json", "--stream-url", url])
        try await Wait.until("frames at the origin", timeout: .seconds(20)) { try await s.origin.videoFrames(name) > 20 ? true : nil }
        let player = try WebRTCPeers.client("play", "\(s.base)/rtc/v1/play/", seconds: 2, extra: ["--srs-json", "--stream-url", url, "--min-frames", "10"])
        #expect(try await player.wait(timeout: .seconds(30)) == 0, "player: \(player.output)")
        publisher.stop()
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
        Self.expectThroughProxy(WebRTCPeers.result(publisher), udp: s.udp, "the SRS-API publisher")
        Self.expectThroughProxy(WebRTCPeers.result(player), udp: s.udp, "the SRS-API player")
        #expect(await s.proxy.logContains("mode=play", "media session started"))
        try await s.proxy.stop()
    }

    @Test func trickleICEPatchThroughTheProxysLocationReachesTheBackendsResource() async throws {
        let s = try await Self.start()
        let name = Self.unique("t")
        // Once connected, the publisher PATCHes the proxy's Location twice: as text/plain (the
        // origin answers 415) and as a trickle-ICE fragment (204); then it DELETEs it.
        let publisher = try WebRTCPeers.client(
            "publish", "\(s.base)/rtc/v1/whip/?app=live&stream=\(name)", seconds: 1,
            extra: ["--patch", "text/plain", "--patch", "application/trickle-ice-sdpfrag"])
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
        let result = WebRTCPeers.result(publisher)
        Self.expectThroughProxy(result, udp: s.udp, "the WHIP publisher")
        #expect(result["patch_statuses"] as? [Int] == [415, 204], "the origin's answers come back through the proxy: \(result)")
        #expect(result["delete_status"] as? Int == 200)

        let patches = try await s.origin.patches()
        #expect(patches.count == 2, "both PATCHes reached the origin: \(patches)")
        let paths = Set(patches.compactMap { $0["path"] as? String })
        #expect(paths.count == 1 && paths.first?.range(of: "^/whip/\(name)/[0-9a-f]{12}$", options: .regularExpression) != nil,
            "both at the origin's own resource of this session: \(paths)")
        #expect(patches.map { $0["status"] as? Int } == [415, 204], "the origin knew the resource (else 404): \(patches)")
        #expect(patches.map { $0["content_type"] as? String } == ["text/plain", "application/trickle-ice-sdpfrag"], "the Content-Type is forwarded")
        let fragment = patches.last?["body"] as? String ?? ""
        #expect(fragment.contains("a=ice-ufrag:") && fragment.contains("a=mid:0") && fragment.contains("a=end-of-candidates"), "the fragment arrived: \(fragment)")
        #expect(!fragment.contains("a=candidate:"), "the client's trickled candidate was removed: \(fragment)")

        // An unknown resource, and the deleted one, are 404 at the proxy; nothing more reaches the origin.
        let unknown = try await HTTPTestClient.send(
            "PATCH", URL(string: s.base + "/rtc/v1/resource/0123456789abcdef0123456789abcdef")!, body: Data(fragment.utf8),
            headers: ["Content-Type": "application/trickle-ice-sdpfrag"])
        #expect(unknown.status == 404, "\(unknown.status) \(unknown.text)")
        let location = try #require(result["location"] as? String)
        #expect(location.hasPrefix("/rtc/v1/resource/"), "the client got the proxy's Location: \(location)")
        let deleted = try await HTTPTestClient.send(
            "PATCH", URL(string: s.base + location)!, body: Data(fragment.utf8), headers: ["Content-Type": "application/trickle-ice-sdpfrag"])
        #expect(deleted.status == 404, "the deleted resource: \(deleted.status) \(deleted.text)")
        #expect(try await s.origin.patches().count == 2)
        try await s.proxy.stop()
    }

    // MARK: Bad input

    static func post(_ s: Setup, _ path: String, _ body: String, type: String = "application/sdp") async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.post(URL(string: s.base + path)!, body: Data(body.utf8), headers: ["Content-Type": type])
    }

    @Test func badOffersAndBodiesAreRefusedNamingTheProblem() async throws {
        let s = try await Self.start()
        let whip = "/rtc/v1/whip/?app=live&stream=bad"
        let notSDP = try await Self.post(s, whip, "hello")
        #expect(notSDP.status == 400 && notSDP.text.contains("not an SDP"), "\(notSDP.status) \(notSDP.text)")
        let noUfrag = try await Self.post(s, whip, "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-pwd:x\r\n")
        #expect(noUfrag.status == 400 && noUfrag.text.contains("ice-ufrag"), "\(noUfrag.status) \(noUfrag.text)")
        let huge = try await Self.post(s, whip, "v=0\r\n" + String(repeating: "a=x:0123456789\r\n", count: 5000))
        #expect(huge.status == 413, "\(huge.status) \(huge.text)")
        let noStream = try await Self.post(s, "/rtc/v1/whip/", "v=0\r\na=ice-ufrag:abcd\r\n")
        #expect(noStream.status == 400 && noStream.text.contains("no stream"), "\(noStream.text)")
        let badJSON = try await Self.post(s, "/rtc/v1/publish/", "{\"sdp\": 1}", type: "application/json")
        #expect(badJSON.status == 400 && badJSON.text.contains("streamurl"), "\(badJSON.text)")
        let noResource = try await HTTPTestClient.send("DELETE", URL(string: s.base + "/rtc/v1/resource/0123456789abcdef0123456789abcdef")!, body: nil, headers: [:])
        #expect(noResource.status == 404)
        let elsewhere = try await Self.post(s, "/api/v1/whatever", "")
        #expect(elsewhere.status == 404)
        // The log reaches the test through a pipe, after the answers: wait for the lines.
        try await Wait.until("each refusal logged", timeout: .seconds(5)) {
            s.proxy.log.components(separatedBy: "signalling refused").count - 1 >= 7 ? true : nil
        }
        try await s.proxy.stop()
    }

    @Test func aBackendAnswerWithoutRelayableCandidatesIsABadGateway() async throws {
        // The origin registers an ip its candidates do not name (and an rtc port they do not
        // use): nothing in its answer is the backend's, so nothing can be relayed.
        let origin = try await WebRTCPeers.Origin.start()
        let proxy = try await ProxyProcess.start(config: Self.config, healthChecks: false)
        let api = try await Self.port(proxy, "webrtc-api")
        let body = #"{"ip":"127.0.0.2","server":"far","service":"aiortc","pid":"1","api":["127.0.0.1:\#(origin.port)"],"rtc":["udp://127.0.0.2:8000"]}"#
        #expect(try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body).status == 200)
        let publisher = try WebRTCPeers.client("publish", "http://127.0.0.1:\(api)/rtc/v1/whip/?app=live&stream=x", seconds: 1)
        #expect(try await publisher.wait(timeout: .seconds(30)) == 1)
        let result = WebRTCPeers.result(publisher)
        #expect(result["http_status"] as? Int == 502, "\(result)")
        #expect("\(result["body"] ?? "")".contains("no UDP ICE candidate the proxy can relay"), "\(result)")
        try await proxy.stop()
    }

    @Test func datagramsFromUnknownClientsAreDroppedAndCounted() async throws {
        let s = try await Self.start()
        let socket = try RawUDPSocket(port: s.udp)
        socket.send(Array(repeating: 0x80, count: 100))                   // RTP-looking, unknown address
        var badLength = STUNBytes.bindingRequest(username: "abcd:efgh")
        badLength[3] &+= 4                                                 // length past the datagram
        socket.send(badLength)
        socket.send([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42] + Array(repeating: 1, count: 12))  // no USERNAME
        socket.send(STUNBytes.bindingRequest(username: "nope:nope"))      // well formed, nobody signalled it
        try await Wait.until("the drop counters in the log", timeout: .seconds(20)) {
            s.proxy.log.contains("unknown_address=1 bad_stun=2 unknown_username=1") ? true : nil
        }
        #expect(await socket.receive(timeout: .milliseconds(200)) == nil, "nothing answers an unknown client")
        #expect(s.proxy.process.isRunning)
        try await s.proxy.stop()
    }
}

/// STUN Binding Requests for the UDP tests (the module's own builder is internal to it).
enum STUNBytes {
    static func bindingRequest(username: String) -> [UInt8] {
        var value = Array(username.utf8)
        let length = value.count
        value += Array(repeating: 0, count: (4 - length % 4) % 4)
        let attrs: [UInt8] = [0x00, 0x06, UInt8(length >> 8), UInt8(length & 0xFF)] + value
        return [0x00, 0x01, UInt8(attrs.count >> 8), UInt8(attrs.count & 0xFF), 0x21, 0x12, 0xA4, 0x42] + Array(repeating: 7, count: 12) + attrs
    }
}
