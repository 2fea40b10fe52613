import Testing

@testable import WebRTC

/// The SDP edits, on a real aiortc answer (captured from Tests/Peers/webrtc/whip_server.py) and
/// hand-written offers and answers in the shapes SRS and browsers send.
struct SDPRewriterTests {
    static let aiortcAnswer = "v=0\r\no=- 4005151748 4005151748 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic:WMS *\r\nm=video 39823 UDP/TLS/RTP/SAVPF 97 98 99 100 101 102\r\nc=IN IP4 127.0.0.1\r\na=recvonly\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=mid:0\r\na=msid:676bd107-afa1-413e-8d1d-c3f0afcccfa4 6b8d5b7b-dab7-4096-bfe3-49a4af7387d0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=rtcp-mux\r\na=ssrc-group:FID 2292061904 1624029081\r\na=ssrc:2292061904 cname:08b7ffcd-19c9-4a2c-9542-a90b3dac4de1\r\na=ssrc:1624029081 cname:08b7ffcd-19c9-4a2c-9542-a90b3dac4de1\r\na=rtpmap:97 VP8/90000\r\na=rtcp-fb:97 nack\r\na=rtcp-fb:97 nack pli\r\na=rtcp-fb:97 goog-remb\r\na=rtpmap:98 rtx/90000\r\na=fmtp:98 apt=97\r\na=rtpmap:99 H264/90000\r\na=rtcp-fb:99 nack\r\na=rtcp-fb:99 nack pli\r\na=rtcp-fb:99 goog-remb\r\na=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\na=rtpmap:100 rtx/90000\r\na=fmtp:100 apt=99\r\na=rtpmap:101 H264/90000\r\na=rtcp-fb:101 nack\r\na=rtcp-fb:101 nack pli\r\na=rtcp-fb:101 goog-remb\r\na=fmtp:101 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:102 rtx/90000\r\na=fmtp:102 apt=101\r\na=candidate:16572de626da4e5384a0ce2d0d93678a 1 udp 2130706431 127.0.0.1 39823 typ host\r\na=end-of-candidates\r\na=ice-ufrag:xDfl\r\na=ice-pwd:WaH66IvCGmAdJdNWLbxuwZ\r\na=fingerprint:sha-256 8E:48:F7:16:96:48:A6:35:E5:03:9D:9E:54:1D:5C:E0:35:20:9C:2B:13:04:57:FD:51:3C:BE:61:97:6A:77:61\r\na=fingerprint:sha-384 B8:62:AC:2E:15:29:A2:B9:D9:D1:3E:CF:9E:8A:50:AE:F4:98:4F:5C:BB:1B:03:9E:D0:2D:A8:A0:98:A9:6D:C3:61:7D:25:84:ED:F2:98:FB:5F:80:55:9F:9B:89:FE:9F\r\na=fingerprint:sha-512 7D:7A:AD:1B:4A:6C:9A:BB:7D:8E:47:86:9B:3D:7B:70:F2:BC:B8:D1:70:3A:AC:BD:80:00:3B:40:10:D3:50:C4:C8:A6:31:15:34:6A:38:C6:01:77:47:E4:C2:4C:C1:A0:99:2E:24:40:04:2D:48:7B:09:73:F8:0E:DF:DD:55:57\r\na=setup:active\r\n"

    static let offer = [
        "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
        "m=video 50000 UDP/TLS/RTP/SAVPF 97", "c=IN IP4 127.0.0.1",
        "a=candidate:aa 1 udp 2130706431 127.0.0.1 50000 typ host",
        "a=candidate:bb 1 udp 1694498815 203.0.113.9 50000 typ srflx raddr 127.0.0.1 rport 50000",
        "a=end-of-candidates", "a=ice-ufrag:jZ8Z", "a=ice-pwd:abcdefghijklmnopqrstuv", "a=setup:actpass",
        "m=audio 50000 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 127.0.0.1", "a=candidate:aa 1 udp 2130706431 127.0.0.1 50000 typ host",
        "a=end-of-candidates",
    ].joined(separator: "\r\n") + "\r\n"

    static let backend = SDPRewriter.BackendAddresses(hosts: ["127.0.0.1"], ports: [8000])
    static let proxy = SDPRewriter.ProxyAddress(host: "198.51.100.7", port: 18000)

    @Test func anOfferLosesEveryCandidateAndItsEndMarkAndKeepsEverythingElse() throws {
        let offer = try SDPRewriter.offer(Self.offer)
        #expect(offer.ufrag == "jZ8Z")
        #expect(offer.removedCandidates == 3)
        #expect(!offer.sdp.contains("a=candidate"))
        #expect(!offer.sdp.contains("a=end-of-candidates"), "else aiortc gives up on ICE before the relayed checks come")
        let kept = Self.offer.components(separatedBy: "\r\n").filter { !$0.hasPrefix("a=candidate") && $0 != "a=end-of-candidates" }.joined(separator: "\r\n")
        #expect(offer.sdp == kept)
    }

    @Test func anAiortcAnswerPointsAtTheProxyAndNamesTheBackendPort() throws {
        let answer = try SDPRewriter.answer(Self.aiortcAnswer, backend: Self.backend, proxy: Self.proxy)
        #expect(answer.ufrag == "xDfl")
        #expect(answer.backendPort == 39823)
        #expect(answer.rewrittenCandidates == 1 && answer.droppedCandidates == 0)
        #expect(answer.sdp.contains("a=candidate:16572de626da4e5384a0ce2d0d93678a 1 udp 2130706431 198.51.100.7 18000 typ host\r\n"))
        #expect(answer.sdp.contains("m=video 18000 UDP/TLS/RTP/SAVPF 97 98 99 100 101 102\r\n"))
        #expect(answer.sdp.contains("c=IN IP4 198.51.100.7\r\n"))
        #expect(answer.sdp.contains("a=rtcp:18000 IN IP4 198.51.100.7\r\n"))
        #expect(!answer.sdp.contains("39823") && !answer.sdp.contains("127.0.0.1"))
        #expect(answer.sdp.contains("a=fingerprint:sha-256 8E:48:F7"), "DTLS fingerprints untouched")
    }

    @Test func anSRSAnswerOnItsFixedPortWithAPublicCandidateIsTheBackends() throws {
        let srs = [
            "v=0", "o=SRS/6.0 1 2 IN IP4 0.0.0.0", "s=SRSPublishSession", "t=0 0", "a=ice-lite", "a=group:BUNDLE 0",
            "m=video 9 UDP/TLS/RTP/SAVPF 106", "c=IN IP4 0.0.0.0", "a=ice-ufrag:8a0k3u61", "a=ice-pwd:x",
            "a=candidate:0 1 udp 2130706431 203.0.113.50 8000 typ host generation 0",
            "a=candidate:1 1 udp 2130706431 127.0.0.1 8000 typ host generation 0",
            "a=candidate:2 1 tcp 2130706431 127.0.0.1 8000 typ host tcptype passive",
            "a=candidate:3 1 udp 2130706431 192.0.2.1 9999 typ host",
        ].joined(separator: "\r\n")
        let answer = try SDPRewriter.answer(srs, backend: Self.backend, proxy: Self.proxy)
        #expect(answer.backendPort == 8000)
        #expect(answer.rewrittenCandidates == 1, "one proxy candidate per component and section")
        #expect(answer.droppedCandidates == 3, "the duplicate, the tcp one and the foreign address")
        #expect(answer.sdp.contains("a=candidate:0 1 udp 2130706431 198.51.100.7 18000 typ host generation 0\r\n"))
        #expect(answer.sdp.contains("m=video 18000 "))
        #expect(!answer.sdp.contains(" tcp "))
    }

    @Test func reflexiveCandidatesLoseTheirRelatedAddress() throws {
        let sdp = "v=0\r\nm=audio 1 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\na=candidate:9 1 udp 1 127.0.0.1 4444 typ srflx raddr 10.0.0.1 rport 5\r\n"
        let answer = try SDPRewriter.answer(sdp, backend: Self.backend, proxy: Self.proxy)
        #expect(answer.sdp.contains("a=candidate:9 1 udp 1 198.51.100.7 18000 typ host\r\n"))
        #expect(!answer.sdp.contains("10.0.0.1"))
    }

    @Test(arguments: [
        ("", SDPRewriter.Failure.notSDP),
        ("hello", .notSDP),
        ("{\"sdp\": 1}", .notSDP),
        ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", .missingICEUfrag),
        ("v=0\r\na=ice-ufrag:a b\r\n", .missingICEUfrag),
        ("v=0\r\na=ice-ufrag:ab\r\n", .missingICEUfrag),
    ])
    func badOffersAreRefusedWithTheirProblem(text: String, failure: SDPRewriter.Failure) {
        #expect(throws: failure) { try SDPRewriter.offer(text) }
    }

    @Test func anOversizedOfferIsRefused() {
        #expect(throws: SDPRewriter.Failure.tooLarge) { try SDPRewriter.offer("v=0\r\n" + String(repeating: "a=x\r\n", count: 20_000)) }
    }

    @Test func anAnswerWithoutRelayableCandidatesIsABadGateway() {
        let none = Self.aiortcAnswer.replacingOccurrences(of: "a=candidate:16572de626da4e5384a0ce2d0d93678a 1 udp 2130706431 127.0.0.1 39823 typ host\r\n", with: "")
        #expect(throws: SDPRewriter.Failure.noUsableCandidate) { try SDPRewriter.answer(none, backend: Self.backend, proxy: Self.proxy) }
        let foreign = Self.aiortcAnswer.replacingOccurrences(of: "127.0.0.1 39823", with: "192.0.2.1 39823")
        #expect(throws: SDPRewriter.Failure.noUsableCandidate) { try SDPRewriter.answer(foreign, backend: Self.backend, proxy: Self.proxy) }
    }

    @Test func anIPv6ProxyAddressGetsIP6Lines() throws {
        let answer = try SDPRewriter.answer(Self.aiortcAnswer, backend: Self.backend, proxy: .init(host: "2001:db8::1", port: 18000))
        #expect(answer.sdp.contains("c=IN IP6 2001:db8::1\r\n"))
    }

    @Test func trickleFragmentsLoseTheirCandidates() {
        let frag = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 10.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
        #expect(SDPRewriter.stripCandidates(frag) == "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=end-of-candidates\r\n")
    }
}
