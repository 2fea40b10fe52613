import ProxyTesting
import Testing

@testable import WebRTC

/// The USERNAME reader for datagrams from unknown addresses: real shapes, every way to be
/// malformed, and seeded mutations (which must never crash or read past the datagram).
struct STUNMessageTests {
    /// A Binding Request as aiortc sends it: USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE,
    /// MESSAGE-INTEGRITY, FINGERPRINT (values zeroed where the proxy does not care).
    static let aiortcRequest: [UInt8] = {
        var attrs: [UInt8] = []
        func add(_ type: UInt16, _ value: [UInt8]) {
            attrs += [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value
            attrs += Array(repeating: 0, count: (4 - value.count % 4) % 4)
        }
        add(0x0006, Array("Aa4Y:jZ8Z".utf8))
        add(0x0024, [0x6E, 0x7F, 0x1E, 0xFF])
        add(0x802A, Array(repeating: 9, count: 8))
        add(0x0025, [])
        add(0x0008, Array(repeating: 0, count: 20))
        add(0x8028, [0, 0, 0, 0])
        return [0x00, 0x01, UInt8(attrs.count >> 8), UInt8(attrs.count & 0xFF), 0x21, 0x12, 0xA4, 0x42] + Array(repeating: 3, count: 12) + attrs
    }()

    @Test func aRealBindingRequestGivesItsUfrag() {
        #expect(STUNMessage.inspect(Self.aiortcRequest) == .binding(ufrag: "Aa4Y", username: "Aa4Y:jZ8Z"))
        #expect(STUNMessage.inspect(STUNMessage.bindingRequest(username: "8a0k3u61:xyzw")) == .binding(ufrag: "8a0k3u61", username: "8a0k3u61:xyzw"))
    }

    @Test func mediaAndNoiseAreNotSTUN() {
        #expect(STUNMessage.inspect([UInt8](repeating: 0x80, count: 100)) == .notSTUN)  // RTP
        #expect(STUNMessage.inspect([0x16, 0xFE, 0xFD] + [UInt8](repeating: 0, count: 40)) == .notSTUN)  // DTLS
        #expect(STUNMessage.inspect([0x00, 0x01]) == .notSTUN)
        var noCookie = Self.aiortcRequest
        noCookie[5] = 0
        #expect(STUNMessage.inspect(noCookie) == .notSTUN)
    }

    @Test func malformedRequestsAreNamed() {
        var long = Self.aiortcRequest
        long[3] &+= 4
        guard case .malformed = STUNMessage.inspect(long) else { Issue.record("length past the datagram accepted"); return }
        guard case .malformed = STUNMessage.inspect(Array(Self.aiortcRequest.dropLast(4))) else { Issue.record("short datagram accepted"); return }
        let empty: [UInt8] = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42] + Array(repeating: 1, count: 12)
        #expect(STUNMessage.inspect(empty) == .malformed("Binding Request without USERNAME"))
        #expect(STUNMessage.inspect(STUNMessage.bindingRequest(username: "nocolon")) == .malformed("USERNAME without ':'"))
        #expect(STUNMessage.inspect(STUNMessage.bindingRequest(username: ":x")) == .malformed("USERNAME without ':'"))
        var overrun = STUNMessage.bindingRequest(username: "abcd:efgh")
        overrun[23] = 0xF0  // USERNAME length past the message
        guard case .malformed = STUNMessage.inspect(overrun) else { Issue.record("attribute overrun accepted"); return }
    }

    @Test func responsesAreOtherSTUN() {
        var response = Self.aiortcRequest
        response[0] = 0x01
        response[1] = 0x01
        #expect(STUNMessage.inspect(response) == .otherSTUN)
    }

    @Test(arguments: 0..<4 as Range<UInt64>)
    func mutatedRequestsNeverCrashAndAnyUfragIsFromTheDatagram(seed: UInt64) {
        var mutator = ByteMutator(seed: seed, interesting: [[0x21, 0x12, 0xA4, 0x42], [0x00, 0x06], [0xFF, 0xFF], [0x3A], [0x00, 0x01]])
        for _ in 0..<5000 {
            let input = mutator.mutate(Self.aiortcRequest)
            if case .binding(let ufrag, let username) = STUNMessage.inspect(input) {
                #expect(username.hasPrefix(ufrag + ":") && input.count >= 20 + 4 + username.utf8.count, "seed \(seed): \(input)")
            }
        }
    }

    @Test(arguments: 0..<2 as Range<UInt64>)
    func mutatedSDPNeverCrashesAndRewrittenCandidatesNameOnlyTheProxy(seed: UInt64) {
        var mutator = ByteMutator(seed: seed, interesting: [Array("a=candidate:".utf8), Array(" typ ".utf8), Array("\r\n".utf8), Array("a=ice-ufrag:".utf8), Array("v=0".utf8)])
        let answer = Array(SDPRewriterTests.aiortcAnswer.utf8)
        let proxy = SDPRewriter.ProxyAddress(host: "198.51.100.7", port: 18000)
        for _ in 0..<2000 {
            let text = String(decoding: mutator.mutate(answer), as: UTF8.self)
            if let out = try? SDPRewriter.answer(text, backend: SDPRewriterTests.backend, proxy: proxy) {
                for line in out.sdp.split(separator: "\r\n") where line.hasPrefix("a=candidate:") {
                    #expect(line.contains(" 198.51.100.7 18000 typ host"), "seed \(seed): \(line)")
                }
            }
            if let offer = try? SDPRewriter.offer(text) {
                // No line of the forwarded offer is a candidate, whatever line breaks the input used.
                let lines = offer.sdp.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" })
                #expect(!lines.contains { $0.hasPrefix("a=candidate:") }, "seed \(seed): \(offer.sdp)")
            }
        }
    }
}
