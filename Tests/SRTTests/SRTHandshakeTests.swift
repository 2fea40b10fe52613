import ProxyTesting
import Testing

@testable import SRT

/// Handshakes captured between ffmpeg 5.1 (libsrt 1.5.1, caller) and srt-live-transmit (listener).
enum Captures {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static let induction = bytes(
        "8000000000000000000001c20000000000000004000000024a567445000005dc00002000000000010419e512000000000100007f000000000000000000000000")
    static let inductionResponse = bytes(
        "8000000000000000000b97b00f1162d70000000500004a1702827d01000005dc00002000000000010f1162d76ca87ff50100007f000000000000000000000000")
    /// `streamid=#!::r=live/s1,m=publish`, no encryption: HSREQ and SID.
    static let conclusion = bytes(
        "80000000000000000000116a0000000000000005000000054a567445000005dc00002000ffffffff0419e512c921b6d40100007f000000000000000000000000"
            + "0001000300010501000000bf00c800c8000500063a3a2123696c3d72732f65763d6d2c316c62757000687369")
    /// With `passphrase=...&pbkeylen=16`: HSREQ, SID and KMREQ.
    static let encryptedConclusion = bytes(
        "80000000000000000000263300000000000000050002000702827d01000005dc00002000ffffffff0f1162d76ca87ff50100007f000000000000000000000000"
            + "0001000300010501000000bf00c800c8000500063a3a2123696c3d72732f65763d6d2c316c627570006873690003000e12202901000000000200020000000404"
            + "a3a2f23fb66b78e072ada157cc70ea3cdb02a25471372398215b187e6b174926e18943a6e40b68fb")
    /// srt-live-transmit's answer to the encrypted conclusion: HSRSP and KMRSP.
    static let conclusionResponse = bytes(
        "800000000000000000000a2d0f1162d7000000050000000302827d01000005dc00002000ffffffff3dca6d2e6ca87ff50100007f000000000000000000000000"
            + "0002000300010501000000bf00c800c80004000e12202901000000000200020000000404a3a2f23fb66b78e072ada157cc70ea3cdb02a25471372398215b187e"
            + "6b174926e18943a6e40b68fb")
}

@Suite struct SRTHandshakeTests {
    @Test func parsesACallersInduction() throws {
        let hs = try SRTHandshake(parsing: Captures.induction)
        #expect(hs.version == 4 && hs.extensionField == 2 && hs.kind == .induction)
        #expect(hs.destinationSocketID == 0 && hs.cookie == 0)
        #expect(hs.socketID == 0x0419_e512 && hs.mtu == 1500 && hs.flowWindow == 8192)
        #expect(hs.peerIP == SRTHandshake.peerIPField(ipv4: [127, 0, 0, 1]))
        #expect(hs.extensions.isEmpty)
        #expect(hs.serialized() == Captures.induction)
    }

    @Test func parsesAListenersInductionResponse() throws {
        let hs = try SRTHandshake(parsing: Captures.inductionResponse)
        #expect(hs.version == 5 && hs.extensionField == SRTHandshake.magic && hs.kind == .induction)
        #expect(hs.destinationSocketID == hs.socketID, "libsrt echoes the caller's socket id")
        #expect(hs.cookie == 0x6ca8_7ff5)
    }

    @Test func readsTheStreamIDOfAConclusion() throws {
        let hs = try SRTHandshake(parsing: Captures.conclusion)
        #expect(hs.kind == .conclusion && hs.version == 5 && hs.extensionField == 5)
        #expect(hs.extensions.map(\.type) == [SRTHandshake.ExtensionType.hsreq, SRTHandshake.ExtensionType.streamID])
        #expect(try hs.streamID() == "#!::r=live/s1,m=publish")
        #expect(hs.serialized() == Captures.conclusion, "extensions are kept byte for byte")
    }

    @Test func keepsTheKeyMaterialOfAnEncryptedConclusion() throws {
        let hs = try SRTHandshake(parsing: Captures.encryptedConclusion)
        #expect(hs.extensions.map(\.type) == [1, 5, 3])
        #expect(hs.firstExtension(SRTHandshake.ExtensionType.kmreq)?.content.count == 56)
        #expect(hs.serialized() == Captures.encryptedConclusion)
        let response = try SRTHandshake(parsing: Captures.conclusionResponse)
        #expect(response.kind == .conclusion && response.socketID == 0x3dca_6d2e && response.destinationSocketID == 0x0f11_62d7)
        #expect(response.extensions.map(\.type) == [2, 4])
        #expect(response.initialSequence == hs.initialSequence)
    }

    @Test func streamIDWordsAreLittleEndianAndPadded() throws {
        for text in ["a", "ab", "abc", "abcd", "#!::r=live/stream-1,m=request", String(repeating: "x", count: 512)] {
            var hs = SRTHandshake()
            hs.kind = .conclusion
            hs.extensions = [SRTHandshake.streamIDExtension(text)]
            let again = try SRTHandshake(parsing: hs.serialized())
            #expect(try again.streamID() == text)
            #expect(again.extensions[0].content.count % 4 == 0)
        }
        var long = SRTHandshake()
        long.extensions = [SRTHandshake.streamIDExtension(String(repeating: "x", count: 513))]
        #expect(throws: SRTHandshakeError.streamIDTooLong(513)) { try long.streamID() }
        #expect(try SRTHandshake().streamID() == nil)
    }

    @Test func twoStreamIDExtensionsAreReadAsLibsrtReadsThemByTheLast() throws {
        // A play the hook never sees as a publish: the backend (libsrt) keeps the last extension.
        var hs = SRTHandshake()
        hs.kind = .conclusion
        hs.extensions = [SRTHandshake.streamIDExtension("#!::r=live/x,m=request"), SRTHandshake.streamIDExtension("#!::r=live/x,m=publish")]
        let again = try SRTHandshake(parsing: hs.serialized())
        #expect(try again.streamID() == "#!::r=live/x,m=publish")
        #expect(again.extensions.count == 2, "both are forwarded unchanged")
    }

    @Test func refusesWhatIsNotAHandshake() {
        #expect(throws: SRTHandshakeError.tooShort(20)) { try SRTHandshake(parsing: [UInt8](repeating: 0, count: 20)) }
        var data = Captures.induction
        data[0] = 0x00  // a data packet
        #expect(throws: SRTHandshakeError.notHandshake) { try SRTHandshake(parsing: data) }
        var truncated = Captures.conclusion
        truncated.removeLast(3)
        #expect(throws: SRTHandshakeError.truncatedExtension(type: 5)) { try SRTHandshake(parsing: truncated) }
    }

    @Test func handshakeTypes() {
        #expect(SRTHandshake.Kind(rawValue: 1) == .induction)
        #expect(SRTHandshake.Kind(rawValue: 0xFFFF_FFFF) == .conclusion)
        #expect(SRTHandshake.Kind(rawValue: 1011) == .rejection(11))
        #expect(SRTHandshake.Kind.rejection(SRTHandshake.RejectReason.forbidden).rawValue == 2403)
    }
}

@Suite struct SRTCookieTests {
    @Test func sipHashMatchesTheReferenceVectors() {
        // SipHash-2-4 paper, appendix A: key 00..0f; message 00..0e; and the empty message.
        let key = (UInt64(0x0706_0504_0302_0100), UInt64(0x0f0e_0d0c_0b0a_0908))
        var h = SipHash24(key: key)
        let message = (0..<15).map { UInt8($0) }
        message.withUnsafeBytes { h.append($0) }
        #expect(h.finalize() == 0xa129_ca61_49be_45e5)
        var empty = SipHash24(key: key)
        #expect(empty.finalize() == 0x726f_db47_dd0e_0e31)
    }

    @Test func aCookieIsValidForTheCurrentAndThePreviousBucketAndOnlyForItsAddress() {
        let cookie = SRTCookie(key: (1, 2), bucketSeconds: 60)
        let a: [UInt8] = [127, 0, 0, 1, 0x12, 0x34], b: [UInt8] = [127, 0, 0, 1, 0x12, 0x35]
        let made = a.withUnsafeBytes { cookie.make(address: $0, seconds: 600) }
        a.withUnsafeBytes { a in
            #expect(cookie.verify(made, address: a, seconds: 600))
            #expect(cookie.verify(made, address: a, seconds: 659))
            #expect(cookie.verify(made, address: a, seconds: 719))
            #expect(!cookie.verify(made, address: a, seconds: 720), "expired after two buckets")
            #expect(!cookie.verify(made &+ 1, address: a, seconds: 600))
        }
        b.withUnsafeBytes { #expect(!cookie.verify(made, address: $0, seconds: 600), "bound to the address") }
        let other = SRTCookie(key: (1, 3))
        #expect(a.withUnsafeBytes { other.make(address: $0, seconds: 600) } != made, "bound to the key")
    }
}

@Suite struct SRTHandshakeMutationTests {
    /// Thousands of corrupted captures (seeded): each parses to a handshake that serializes back to
    /// its own bytes, or fails with the parser's typed error; the Stream ID stays within its limit.
    @Test func corruptedHandshakesParseOrFailCleanly() {
        var mutator = ByteMutator(seed: 0x5eed_05e7, interesting: [[0x80, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [0, 5, 0, 0x80], [0, 5, 0xFF, 0xFF], [0, 0, 0, 0]])
        let seeds = [Captures.induction, Captures.conclusion, Captures.encryptedConclusion, Captures.conclusionResponse]
        var parsed = 0, refused = 0
        for i in 0..<6000 {
            let input = mutator.mutate(seeds[i % seeds.count])
            do {
                let hs = try SRTHandshake(parsing: input)
                let used = SRTHandshake.minimumSize + hs.extensions.reduce(0) { $0 + 4 + $1.content.count }
                #expect(hs.serialized() == Array(input.prefix(used)) && input.count - used < 4)
                if let sid = try? hs.streamID() { #expect(sid.utf8.count <= 512 * 3) }
                parsed += 1
            } catch {
                refused += 1
            }
        }
        #expect(parsed > 500 && refused > 500, "both outcomes exercised (\(parsed) parsed, \(refused) refused)")
    }
}
