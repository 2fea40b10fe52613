import Foundation
import ProxyTesting
import Testing

/// Headless chromium as a real WHIP publisher and WHEP player through the built proxy, with the
/// aiortc origin registered as the backend. The pages (Tests/Peers/webrtc/whip_publish.html,
/// whep_play.html) are served by the origin and signal to the proxy's API port, another origin:
/// every request is cross-origin (preflight, then the Location read through
/// Access-Control-Expose-Headers). Chromium runs in the machine's network namespace, so it also
/// checks from its other local addresses (192.0.2.2 here), with the same USERNAME; the proxy
/// strips its candidates from the offer and relays whichever address it uses.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct WebRTCBrowserTests {
    /// The proxy's /api/v1/streams entry of `name` once `condition` holds for it.
    static func stream(_ s: WebRTCRelayTests.Setup, _ name: String, _ what: String, _ condition: @escaping ([String: Any]) -> Bool) async throws -> [String: Any] {
        try await Wait.until(what, timeout: .seconds(30)) { () async throws -> [String: Any]? in
            try await WebRTCRelayTests.streams(s.proxy).first { $0["stream"] as? String == name && condition($0) }
        }
    }

    /// Checks what the page saw of the proxy: the answer's candidates, the Location, the selected pair.
    static func expectProxyAnswered(_ chromium: ChromiumPeer, _ s: WebRTCRelayTests.Setup) {
        let candidates = chromium.line("answer candidates ")?.components(separatedBy: ", ") ?? []
        #expect(!candidates.isEmpty && candidates.allSatisfy { $0 == "127.0.0.1 \(s.udp)" }, "the answer names only the proxy's UDP port: \(candidates)")
        #expect(chromium.line("location ")?.hasPrefix("\(s.base)/rtc/v1/resource/") == true, "the proxy's Location, read cross-origin: \(chromium.lines)")
        #expect(chromium.line("pair ")?.hasSuffix(" -> 127.0.0.1:\(s.udp)") == true, "chromium's selected pair is the proxy's UDP port: \(chromium.lines)")
        #expect(chromium.line("deleted ") == "200", "DELETE through the proxy's Location: \(chromium.lines)")
    }

    /// `key=N` in a console line ("video_packets=356 audio_packets=598 frames_encoded=235").
    static func number(_ key: String, in line: String?) -> Int {
        guard let line, let field = line.split(separator: " ").first(where: { $0.hasPrefix(key + "=") }) else { return -1 }
        return Int(field.dropFirst(key.count + 1)) ?? -1
    }

    @Test func chromiumPublishesOverWHIPCrossOriginThroughTheProxysUDPPort() async throws {
        let s = try await WebRTCRelayTests.start(servePages: true)
        let name = WebRTCRelayTests.unique("c")
        let whip = "\(s.base)/rtc/v1/whip/?app=live&stream=\(name)"
        let chromium = try ChromiumPeer.start(s.origin.page("whip_publish.html", ["url": whip, "seconds": "6"]), tag: "WHIP")
        do {
            try await chromium.wait(for: "state connected", timeout: .seconds(60))
            let live = try await Self.stream(s, name, "chromium's session with its bytes in /api/v1/streams") {
                $0["sessions"] as? Int == 1 && ($0["bytes_from_clients"] as? Int ?? 0) > 50_000
            }
            #expect(((live["clients"] as? [[String: Any]]) ?? []).allSatisfy { $0["protocol"] as? String == "rtc" }, "\(live)")
            try await chromium.wait(for: "done", timeout: .seconds(30))
            Self.expectProxyAnswered(chromium, s)
            let encoded = Self.number("frames_encoded", in: chromium.line("sent "))
            let received = try await s.origin.videoFrames(name)
            #expect(received >= 60 && Double(received) >= 0.9 * Double(encoded), "the origin decoded what chromium sent: \(received) of \(encoded) frames")
            try await Wait.until("the session ended by DELETE", timeout: .seconds(10)) { s.proxy.log.contains("reason=deleted") ? true : nil }
            let log = s.proxy.log
            #expect(log.range(of: "candidates=[1-9][0-9]* removed from the offer", options: .regularExpression) != nil, "chromium's candidates were stripped")
            #expect(log.components(separatedBy: "media session started").count == 2, "one session, whichever addresses chromium checked from")
        } catch {
            await chromium.stop()
            throw error
        }
        await chromium.stop()
        try await s.proxy.stop()
    }

    /// The proxy's `media session ended` fields of the `mode` session of `stream`, once logged.
    static func endedSession(_ s: WebRTCRelayTests.Setup, _ stream: String, mode: String) async throws -> [String: String] {
        try await Wait.until("the proxy's end of the \(mode) session of \(stream)", timeout: .seconds(10)) { () -> [String: String]? in
            let started = s.proxy.logEntries("media session started", "stream=__defaultVhost__/live/\(stream) ", "mode=\(mode) ")
            guard let session = started.first?["session"] else { return nil }
            return s.proxy.logEntries("media session ended", "session=\(session) ").first
        }
    }

    @Test func chromiumPlaysOverWHEPCrossOriginThroughTheProxy() async throws {
        let s = try await WebRTCRelayTests.start(servePages: true)
        let name = WebRTCRelayTests.unique("w")
        // It publishes until the player is done (SIGTERM), however slowly the browser starts on a loaded machine.
        let publisher = try WebRTCPeers.client("publish", "\(s.base)/rtc/v1/whip/?app=live&stream=\(name)", seconds: 300)
        try await Wait.until("frames at the origin", timeout: .seconds(20)) { try await s.origin.videoFrames(name) > 20 ? true : nil }
        let whep = "\(s.base)/rtc/v1/whep/?app=live&stream=\(name)"
        let chromium = try ChromiumPeer.start(s.origin.page("whep_play.html", ["url": whep, "frames": "30", "timeout": "20"]), tag: "WHEP")
        do {
            // The page plays until it decoded 30 frames, then deletes its session at once: what
            // the proxy relayed to it is read from the session's end, not raced while it is live.
            try await chromium.wait(for: "done", timeout: .seconds(60))
            Self.expectProxyAnswered(chromium, s)
            #expect(Self.number("frames_decoded", in: chromium.lines.first { $0.hasPrefix("frames_decoded=") }) >= 30, "\(chromium.lines)")
            let received = Self.number("bytes", in: chromium.line("received "))
            let ended = try await Self.endedSession(s, name, mode: "play")
            let relayed = Int(ended["bytes_to_client"] ?? "") ?? -1
            #expect(ended["reason"] == "deleted", "the player's session ended by its DELETE: \(ended)")
            #expect(received > 0 && relayed >= received, "the proxy relayed at least what chromium's transport received: \(relayed) >= \(received) bytes")
            #expect(s.proxy.logEntries("media session started", "stream=__defaultVhost__/live/\(name) ").count == 2, "the publisher's and the player's sessions")
        } catch {
            await chromium.stop()
            publisher.stop()
            throw error
        }
        await chromium.stop()
        publisher.stop()
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "publisher: \(publisher.output)")
        try await s.proxy.stop()
    }
}
