import HTTPFLV
import Testing

@Suite struct HLSPlaylistRewriterTests {
    let rewriter = HLSPlaylistRewriter(parameter: "spsid", sessionID: "abc", ownAuthorities: ["Origin.example:8080", "origin.example"])

    /// Rewrites `lines` joined by LF and returns the result split by LF.
    func rewrite(_ lines: [String]) -> [String] {
        rewriter.rewrite(lines.joined(separator: "\n")).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test func mediaPlaylistWithRelativeSegments() {
        let input = """
            #EXTM3U
            #EXT-X-VERSION:3
            #EXT-X-TARGETDURATION:4
            #EXT-X-MEDIA-SEQUENCE:7
            #EXTINF:4.000,
            s-7.ts
            #EXTINF:4.000,
            sub/s-8.ts
            #EXTINF:4.000,
            ../other/s-9.ts
            #EXT-X-ENDLIST

            """
        let expected = """
            #EXTM3U
            #EXT-X-VERSION:3
            #EXT-X-TARGETDURATION:4
            #EXT-X-MEDIA-SEQUENCE:7
            #EXTINF:4.000,
            s-7.ts?spsid=abc
            #EXTINF:4.000,
            sub/s-8.ts?spsid=abc
            #EXTINF:4.000,
            ../other/s-9.ts?spsid=abc
            #EXT-X-ENDLIST

            """
        #expect(rewriter.rewrite(input) == expected)
    }

    @Test(arguments: [
        ("/live/s-1.ts", "/live/s-1.ts?spsid=abc"),
        ("/", "/?spsid=abc"),
        ("?only=query", "?only=query&spsid=abc"),
        ("s.ts?", "s.ts?spsid=abc"),
        ("s.ts?&&a=1&", "s.ts?a=1&spsid=abc"),
        ("s.ts?token=x&b=2", "s.ts?token=x&b=2&spsid=abc"),
        ("s.ts?spsid=old", "s.ts?spsid=abc"),
        ("s.ts?a=1&spsid=old&b=2", "s.ts?a=1&b=2&spsid=abc"),
        ("s.ts?spsid&a=1", "s.ts?a=1&spsid=abc"),
        ("s.ts?spsid=1&spsid=2", "s.ts?spsid=abc"),
        ("s.ts?spsidx=1", "s.ts?spsidx=1&spsid=abc"),
        ("s.ts?SPSID=1", "s.ts?SPSID=1&spsid=abc"),
        ("s.ts#t=10", "s.ts?spsid=abc#t=10"),
        ("s.ts?a=1#frag?x=1&spsid=z", "s.ts?a=1&spsid=abc#frag?x=1&spsid=z"),
        ("seg:1.ts", "seg:1.ts"),
        ("./seg:1.ts", "./seg:1.ts?spsid=abc"),
        ("1seg:1.ts", "1seg:1.ts?spsid=abc"),
        ("%E2%9C%93.ts", "%E2%9C%93.ts?spsid=abc"),
        ("s\u{600}.ts", "s\u{600}.ts?spsid=abc"),
        ("s\u{600}", "s\u{600}?spsid=abc"),
        ("s.ts#\u{301}x", "s.ts?spsid=abc#\u{301}x"),
    ])
    func relativeAndAbsolutePathURIs(_ uri: String, _ expected: String) {
        #expect(rewriter.rewriteURI(uri).utf8.elementsEqual(expected.utf8))
        #expect(rewrite(["#EXTM3U", uri]) == ["#EXTM3U", expected])
    }

    @Test(arguments: [
        ("http://origin.example:8080/live/s-1.ts", "/live/s-1.ts?spsid=abc"),
        ("HTTP://ORIGIN.EXAMPLE:8080/live/S-1.ts", "/live/S-1.ts?spsid=abc"),
        ("https://origin.example/live/s-1.ts?token=1", "/live/s-1.ts?token=1&spsid=abc"),
        ("http://origin.example", "/?spsid=abc"),
        ("http://origin.example?x=1", "/?x=1&spsid=abc"),
        ("http://origin.example#f", "/?spsid=abc#f"),
        ("http://origin.example/s.ts?spsid=old#f", "/s.ts?spsid=abc#f"),
        ("//origin.example:8080/live/s.ts", "/live/s.ts?spsid=abc"),
        // A path that starts with `//` keeps naming a path on this host, not a host called evil.example.
        ("http://origin.example//evil.example/s.ts", "/.//evil.example/s.ts?spsid=abc"),
    ])
    func ownAbsoluteURLsBecomeAbsolutePaths(_ uri: String, _ expected: String) {
        #expect(rewriter.rewriteURI(uri) == expected)
        #expect(rewriter.rewriteURI(expected) == expected)
    }

    @Test(arguments: [
        "https://cdn.example.com/live/s-1.ts",
        "http://origin.example:9090/s.ts",
        "http://user@origin.example/s.ts",
        "http://origin.example.evil.com/s.ts",
        "//cdn.example.com/live/s-1.ts",
        "data:text/plain;base64,AAAA",
        "skd://key-id-1",
        "ftp://origin.example/s.ts",
        "http:relative.ts",
        "",
    ])
    func foreignAndOpaqueURIsAreUnchanged(_ uri: String) {
        #expect(rewriter.rewriteURI(uri) == uri)
        if !uri.isEmpty {
            #expect(rewrite(["#EXTM3U", uri]) == ["#EXTM3U", uri])
        }
    }

    @Test func noOwnAuthoritiesLeavesEveryAbsoluteURLAlone() {
        let plain = HLSPlaylistRewriter(parameter: "spsid", sessionID: "abc")
        #expect(plain.rewriteURI("http://origin.example:8080/s.ts") == "http://origin.example:8080/s.ts")
        #expect(plain.rewriteURI("s.ts") == "s.ts?spsid=abc")
        #expect(plain.ownAuthorities.isEmpty)
        #expect(rewriter.ownAuthorities == ["origin.example:8080", "origin.example"])
    }

    @Test func masterPlaylist() {
        let input = [
            "#EXTM3U",
            "#EXT-X-INDEPENDENT-SEGMENTS",
            #"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",DEFAULT=YES,URI="audio/en.m3u8""#,
            #"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Main",DEFAULT=NO,URI="""#,
            #"#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1""#,
            #"#EXT-X-STREAM-INF:BANDWIDTH=1280000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="aud""#,
            "low/index.m3u8",
            #"#EXT-X-STREAM-INF:BANDWIDTH=2560000,RESOLUTION=1280x720,AUDIO="aud""#,
            "http://origin.example:8080/live/hi/index.m3u8?token=t",
            #"#EXT-X-STREAM-INF:BANDWIDTH=5000000"#,
            "https://cdn.example.com/live/max/index.m3u8",
            #"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="low/iframe.m3u8""#,
            "",
        ]
        #expect(rewrite(input) == [
            "#EXTM3U",
            "#EXT-X-INDEPENDENT-SEGMENTS",
            #"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",DEFAULT=YES,URI="audio/en.m3u8?spsid=abc""#,
            #"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Main",DEFAULT=NO,URI="""#,
            #"#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1""#,
            #"#EXT-X-STREAM-INF:BANDWIDTH=1280000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="aud""#,
            "low/index.m3u8?spsid=abc",
            #"#EXT-X-STREAM-INF:BANDWIDTH=2560000,RESOLUTION=1280x720,AUDIO="aud""#,
            "/live/hi/index.m3u8?token=t&spsid=abc",
            #"#EXT-X-STREAM-INF:BANDWIDTH=5000000"#,
            "https://cdn.example.com/live/max/index.m3u8",
            #"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="low/iframe.m3u8?spsid=abc""#,
            "",
        ])
    }

    @Test(arguments: [
        (#"#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV=0x1234"#, #"#EXT-X-KEY:METHOD=AES-128,URI="key.bin?spsid=abc",IV=0x1234"#),
        (#"#EXT-X-KEY:METHOD=AES-128,URI="/keys/k?id=1&spsid=old""#, #"#EXT-X-KEY:METHOD=AES-128,URI="/keys/k?id=1&spsid=abc""#),
        (#"#EXT-X-KEY:METHOD=AES-128,URI="http://origin.example:8080/k""#, #"#EXT-X-KEY:METHOD=AES-128,URI="/k?spsid=abc""#),
        (#"#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://asset-1",KEYFORMAT="com.apple.streamingkeydelivery""#,
         #"#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://asset-1",KEYFORMAT="com.apple.streamingkeydelivery""#),
        (#"#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,AAAA""#, #"#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,AAAA""#),
        (#"#EXT-X-KEY:METHOD=NONE"#, #"#EXT-X-KEY:METHOD=NONE"#),
        (#"#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0""#, #"#EXT-X-MAP:URI="init.mp4?spsid=abc",BYTERANGE="720@0""#),
        (#"#EXT-X-MAP:URI="/live/init.mp4""#, #"#EXT-X-MAP:URI="/live/init.mp4?spsid=abc""#),
        (#"#EXT-X-PART:DURATION=1.0,URI="p-1.mp4",INDEPENDENT=YES"#, #"#EXT-X-PART:DURATION=1.0,URI="p-1.mp4?spsid=abc",INDEPENDENT=YES"#),
        (#"#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p-2.mp4""#, #"#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p-2.mp4?spsid=abc""#),
        (#"#EXT-X-SESSION-KEY:METHOD=AES-128, URI="k""#, #"#EXT-X-SESSION-KEY:METHOD=AES-128, URI="k?spsid=abc""#),
        // `URI="` inside another attribute's quoted value is not the URI attribute.
        (#"#EXT-X-SESSION-DATA:DATA-ID="x",VALUE="a,URI=",URI="d.json""#, #"#EXT-X-SESSION-DATA:DATA-ID="x",VALUE="a,URI=",URI="d.json?spsid=abc""#),
        (#"#EXT-X-DATERANGE:ID="x",X-URI="other""#, #"#EXT-X-DATERANGE:ID="x",X-URI="other""#),
        // No closing quote: left as it was.
        (#"#EXT-X-MAP:URI="init.mp4"#, #"#EXT-X-MAP:URI="init.mp4"#),
        // A key whose URI ends next to a prepended scalar still has its closing quote found.
        ("#EXT-X-KEY:METHOD=AES-128,URI=\"k\u{600}\",IV=0x1", "#EXT-X-KEY:METHOD=AES-128,URI=\"k\u{600}?spsid=abc\",IV=0x1"),
    ])
    func uriAttributes(_ line: String, _ expected: String) {
        #expect(rewrite(["#EXTM3U", line, "s.ts"]) == ["#EXTM3U", expected, "s.ts?spsid=abc"])
    }

    @Test func crlfLineEndingsArePreserved() {
        let input = "#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4\"\r\n#EXTINF:4,\r\ns-1.ts\r\n\r\n#EXTINF:4,\r\ns-2.ts"
        let expected = "#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4?spsid=abc\"\r\n#EXTINF:4,\r\ns-1.ts?spsid=abc\r\n\r\n#EXTINF:4,\r\ns-2.ts?spsid=abc"
        let output = rewriter.rewrite(input)
        #expect(output.utf8.elementsEqual(expected.utf8))
        #expect(output.utf8.count(where: { $0 == UInt8(ascii: "\r") }) == input.utf8.count(where: { $0 == UInt8(ascii: "\r") }))
    }

    @Test func mixedAndStrayCarriageReturns() {
        // LF, CR LF, and a CR that does not end a line (kept where it was).
        let input = "#EXTM3U\ns-1.ts\r\ns-2.ts\rx\n s-3.ts\r\t\n"
        let expected = "#EXTM3U\ns-1.ts?spsid=abc\r\ns-2.ts\rx?spsid=abc\n s-3.ts\r?spsid=abc\t\n"
        #expect(rewriter.rewrite(input).utf8.elementsEqual(expected.utf8))
    }

    @Test func commentsAndBlankLinesAreUntouched() {
        let lines = [
            "#EXTM3U",
            "# a comment with URI=\"x.ts\" and s.ts",
            "#not-an-ext-tag:URI=\"x.ts\"",
            "",
            "   ",
            "\t",
            "   # indented comment",
            "## double",
            "#EXT-X-ENDLIST",
        ]
        #expect(rewrite(lines) == lines)
    }

    @Test func spacesAroundAURIAreKept() {
        #expect(rewrite(["#EXTM3U", "  s.ts \t", "\t/a/b.ts"]) == ["#EXTM3U", "  s.ts?spsid=abc \t", "\t/a/b.ts?spsid=abc"])
    }

    @Test func emptyAndTrailingNewline() {
        #expect(rewriter.rewrite("") == "")
        #expect(rewriter.rewrite("\n") == "\n")
        #expect(rewriter.rewrite("\r\n\r\n") == "\r\n\r\n")
        #expect(rewriter.rewrite("s.ts") == "s.ts?spsid=abc")
        #expect(rewriter.rewrite("s.ts\n") == "s.ts?spsid=abc\n")
    }

    @Test func byteOrderMarkBeforeTheHeaderIsKept() {
        let input = "\u{FEFF}#EXTM3U\n#EXTINF:4,\ns.ts\n"
        #expect(rewriter.rewrite(input) == "\u{FEFF}#EXTM3U\n#EXTINF:4,\ns.ts?spsid=abc\n")
    }

    @Test func rewritingTwiceChangesNothing() {
        let playlists = [
            "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k?a=1\"\ns.ts?spsid=old&x#f\nhttp://origin.example/a.ts\n//cdn.example/b.ts\n",
            "\u{FEFF}#EXTM3U\r\n  s.ts  \r\n\r\nhttp://origin.example//x/y.ts\r\n",
            "#EXTM3U\ns.ts\r\t\nu#x \r\t\n\u{600}\n",
        ]
        for playlist in playlists {
            let once = rewriter.rewrite(playlist)
            #expect(rewriter.rewrite(once).utf8.elementsEqual(once.utf8), "\(playlist.debugDescription)")
        }
    }

    @Test func anotherParameterName() {
        let custom = HLSPlaylistRewriter(parameter: "sid", sessionID: "S-1")
        #expect(custom.rewriteURI("a.ts?sid=0&spsid=1") == "a.ts?spsid=1&sid=S-1")
    }

    @Test(arguments: [
        ("#EXTM3U\n#EXT-X-VERSION:3\n", true),
        ("#EXTM3U", true),
        ("\u{FEFF}#EXTM3U\n", true),
        ("\u{FEFF}\u{FEFF}#EXTM3U\n", false),
        (" #EXTM3U\n", false),
        ("#EXTM3", false),
        ("#extm3u\n", false),
        ("", false),
        ("\u{FEFF}", false),
        ("<html>#EXTM3U", false),
        ("FLV\u{1}", false),
    ])
    func isPlaylist(_ text: String, _ expected: Bool) {
        #expect(HLSPlaylistRewriter.isPlaylist(Substring(text)) == expected)
        #expect(HLSPlaylistRewriter.isPlaylist(Substring("xx" + text).dropFirst(2)) == expected)
    }

    @Test func aPlaylistOfShortLinesIsCutOffAtTheLimitNotMultiplied() {
        // 1 MiB of one-byte URI lines would become ~20 MiB with the session parameter on each.
        let lines = String(repeating: "a\n", count: 512 * 1024)
        let limit = 2 * 1024 * 1024
        #expect(rewriter.rewrite(lines, limit: limit) == nil, "refused once the output passes the limit")
        let small = "#EXTM3U\nseg1.ts\n"
        #expect(rewriter.rewrite(small, limit: 1000) == rewriter.rewrite(small), "under the limit it is the same rewrite")
        let exact = rewriter.rewrite(small)
        #expect(rewriter.rewrite(small, limit: exact.utf8.count) == exact, "the limit is inclusive")
        #expect(rewriter.rewrite(small, limit: exact.utf8.count - 1) == nil)
    }
}
