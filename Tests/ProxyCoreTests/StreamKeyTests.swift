import ProxyCore
import Testing

/// One expected parse: the key's three parts and the query kept for the backend.
struct ExpectedRequest: Sendable, CustomTestStringConvertible {
    var input: String
    var vhost: String
    var app: String
    var stream: String
    var query: String = ""

    var testDescription: String { input }

    func check(_ request: StreamRequest) {
        #expect(request.key.vhost == vhost)
        #expect(request.key.app == app)
        #expect(request.key.stream == stream)
        #expect(request.query == query)
        #expect(request.key.description == "\(vhost)/\(app)/\(stream)")
    }
}

private let dv = StreamKey.defaultVhost

@Suite struct StreamKeyRTMPTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var tcUrl: String
        var stream: String
        var expected: ExpectedRequest
        init(_ tcUrl: String, _ stream: String, _ vhost: String, _ app: String, _ name: String, query: String = "") {
            self.tcUrl = tcUrl
            self.stream = stream
            expected = ExpectedRequest(input: "\(tcUrl) + \(stream)", vhost: vhost, app: app, stream: name, query: query)
        }
        var testDescription: String { expected.input }
    }

    static let cases: [Case] = [
        Case("rtmp://h/live", "s?k=1", dv, "live", "s", query: "k=1"),
        Case("rtmp://example.com:1935/live", "s", "example.com", "live", "s"),
        Case("rtmp://1.2.3.4/live?vhost=v.example.com", "s", "v.example.com", "live", "s", query: "vhost=v.example.com"),
        Case("rtmp://h/live/sub", "s", dv, "live/sub", "s"),
        Case("rtmp://h:1935/live?a=1", "s?b=2", dv, "live", "s", query: "a=1&b=2"),
        Case("rtmp://Example.COM/live", "s", "example.com", "live", "s"),
        Case("rtmp://h/live/", "s", dv, "live", "s"),
        Case("rtmp://h/live", "s?vhost=v.example.com", "v.example.com", "live", "s", query: "vhost=v.example.com"),
        Case("rtmp://[::1]:1935/live", "s", dv, "live", "s"),
        Case("rtmp://1.2.3.4:1935/live", "s", dv, "live", "s"),
        Case("rtmp://h/live", "my%20s", dv, "live", "my s"),
        Case("rtmps://h:443/live", "s", dv, "live", "s"),
        Case("rtmp://h/live?vhost=v.example.com", "s?vhost=w.example.com", "v.example.com", "live", "s",
             query: "vhost=v.example.com&vhost=w.example.com"),
    ]

    @Test(arguments: cases)
    func parses(_ c: Case) throws {
        c.expected.check(try StreamRequest.rtmp(tcUrl: c.tcUrl, stream: c.stream))
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var tcUrl: String
        var stream: String
        var error: StreamKeyError
        var testDescription: String { "\(tcUrl) + \(stream)" }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(tcUrl: "rtmp://h", stream: "s", error: .missingApp),
        ErrorCase(tcUrl: "rtmp://h/", stream: "s", error: .missingApp),
        ErrorCase(tcUrl: "rtmp://h?vhost=v.example.com", stream: "s", error: .missingApp),
        ErrorCase(tcUrl: "rtmp://h/live", stream: "", error: .missingStream),
        ErrorCase(tcUrl: "rtmp://h/live", stream: "?k=1", error: .missingStream),
        ErrorCase(tcUrl: "h/live", stream: "s", error: .invalidURL("h/live")),
        ErrorCase(tcUrl: "rtmp://h/live", stream: "a%2Fb", error: .invalidCharacters("a/b")),
        ErrorCase(tcUrl: "rtmp://h/live", stream: "a\u{01}b", error: .invalidCharacters("a\u{01}b")),
        ErrorCase(tcUrl: "rtmp://h/li%0Ave", stream: "s", error: .invalidCharacters("li\nve")),
        ErrorCase(tcUrl: "rtmp://h/" + String(repeating: "a", count: 4097), stream: "s", error: .tooLong),
        ErrorCase(tcUrl: "rtmp://h/live", stream: String(repeating: "a", count: 4097), error: .tooLong),
    ]

    @Test(arguments: errorCases)
    func rejects(_ c: ErrorCase) {
        #expect(throws: c.error) { try StreamRequest.rtmp(tcUrl: c.tcUrl, stream: c.stream) }
    }
}

@Suite struct StreamKeyHTTPTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var host: String?
        var path: String
        var query: String
        var expected: ExpectedRequest
        init(_ host: String?, _ path: String, _ query: String = "", _ vhost: String, _ app: String, _ stream: String, keptQuery: String? = nil) {
            self.host = host
            self.path = path
            self.query = query
            expected = ExpectedRequest(
                input: "\(host ?? "<nil>") \(path)?\(query)", vhost: vhost, app: app, stream: stream,
                query: keptQuery ?? query)
        }
        var testDescription: String { expected.input }
    }

    static let cases: [Case] = [
        Case("h:8080", "/live/s.flv", "", dv, "live", "s"),
        Case("h", "/live/s.ts", "", dv, "live", "s"),
        Case("h", "/live/s.m3u8", "", dv, "live", "s"),
        Case("h", "/live/s.FLV", "", dv, "live", "s"),
        Case("h:1985", "/rtc/v1/whep/", "app=live&stream=s", dv, "live", "s"),
        Case("h", "/ignored/path", "app=live&stream=s.flv", dv, "live", "s"),
        Case("h", "/live/s.flv", "vhost=v.example.com&token=t", "v.example.com", "live", "s"),
        Case("h", "/rtc/v1/whep/", "app=live&stream=s&vhost=v.example.com", "v.example.com", "live", "s"),
        Case("example.com:8080", "/live/s.flv", "", "example.com", "live", "s"),
        Case("Example.COM", "/live/s.flv", "", "example.com", "live", "s"),
        Case("1.2.3.4:8080", "/live/s.flv", "", dv, "live", "s"),
        Case("1.2.3.4", "/live/s.flv", "", dv, "live", "s"),
        Case("[::1]:8080", "/live/s.flv", "", dv, "live", "s"),
        Case(nil, "/live/s.flv", "", dv, "live", "s"),
        Case("h", "/live/my%20stream.flv", "", dv, "live", "my stream"),
        Case("h", "/live/a+b.flv", "", dv, "live", "a+b"),
        Case("h", "/live/s.mp4", "", dv, "live", "s.mp4"),
        Case("h", "/live/s.flv.mp4", "", dv, "live", "s.flv.mp4"),
        Case("h", "/live/sub/s.flv", "", dv, "live/sub", "s"),
        Case("h", "/live/s", "", dv, "live", "s"),
        Case("h", "/live/s.flv", "?k=1", dv, "live", "s", keptQuery: "k=1"),
        // An empty app= or stream= falls back to the path.
        Case("h", "/live/s.flv", "app=&stream=x", dv, "live", "s"),
    ]

    @Test(arguments: cases)
    func parses(_ c: Case) throws {
        c.expected.check(try StreamRequest.http(host: c.host, path: c.path, query: c.query))
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var path: String
        var query: String = ""
        var error: StreamKeyError
        var testDescription: String { "\(path.prefix(40))?\(query.prefix(40))" }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(path: "/s.flv", error: .missingApp),
        ErrorCase(path: "/", error: .missingStream),
        ErrorCase(path: "", error: .missingStream),
        ErrorCase(path: "/live/", error: .missingApp),
        ErrorCase(path: "/live/%01.flv", error: .invalidCharacters("\u{01}")),
        ErrorCase(path: "/live/a%00b.flv", error: .invalidCharacters("a\u{00}b")),
        ErrorCase(path: "/live/" + String(repeating: "a", count: 4096), error: .tooLong),
        ErrorCase(path: "/live/s.flv", query: "k=" + String(repeating: "a", count: 8192), error: .tooLong),
        ErrorCase(path: "/live/" + String(repeating: "a", count: 1100) + ".flv", error: .tooLong),
    ]

    @Test(arguments: errorCases)
    func rejects(_ c: ErrorCase) {
        #expect(throws: c.error) { try StreamRequest.http(host: "h", path: c.path, query: c.query) }
    }
}

@Suite struct StreamKeyTests {
    /// DESIGN.md section 3: the same stream is the same key on every protocol.
    @Test func oneStreamHasOneKeyAcrossProtocols() throws {
        let rtmp = try StreamRequest.rtmp(tcUrl: "rtmp://h/live", stream: "s?k=1")
        let flv = try StreamRequest.http(host: "h:8080", path: "/live/s.flv", query: "")
        let srt = try SRTStreamID(parsing: "#!::r=live/s,m=publish")
        let whep = try StreamRequest.http(host: "h:1985", path: "/rtc/v1/whep/", query: "app=live&stream=s")
        let hls = try StreamRequest.http(host: "h:8080", path: "/live/s.m3u8", query: "")
        let expected = try StreamKey(vhost: nil, app: "live", stream: "s")
        #expect(expected.description == "__defaultVhost__/live/s")
        for key in [rtmp.key, flv.key, srt.request.key, whep.key, hls.key] {
            #expect(key == expected)
        }
        #expect(rtmp.query == "k=1")
        #expect(srt.role == .publish)
    }

    @Test func dottedHostIsTheVhostOnEveryProtocol() throws {
        let rtmp = try StreamRequest.rtmp(tcUrl: "rtmp://v.example.com/live", stream: "s")
        let flv = try StreamRequest.http(host: "v.example.com:8080", path: "/live/s.flv", query: "")
        let srt = try SRTStreamID(parsing: "#!::h=v.example.com,r=live/s")
        let whep = try StreamRequest.http(host: "1.2.3.4", path: "/rtc/v1/whep/", query: "app=live&stream=s&vhost=v.example.com")
        let expected = try StreamKey(vhost: "v.example.com", app: "live", stream: "s")
        for key in [rtmp.key, flv.key, srt.request.key, whep.key] {
            #expect(key == expected)
        }
    }

    @Test func lengthLimitCountsAllThreePartsAndSlashes() throws {
        // "__defaultVhost__" (16) + "/" + "live" (4) + "/" = 22 bytes besides the stream.
        let fits = String(repeating: "a", count: StreamKey.maxLength - 22)
        let key = try StreamKey(vhost: nil, app: "live", stream: fits)
        #expect(key.description.utf8.count == StreamKey.maxLength)
        #expect(throws: StreamKeyError.tooLong) {
            try StreamKey(vhost: nil, app: "live", stream: fits + "a")
        }
        // Multi-byte characters count in bytes.
        let wide = String(repeating: "é", count: (StreamKey.maxLength - 22) / 2 + 1)
        #expect(throws: StreamKeyError.tooLong) { try StreamKey(vhost: nil, app: "live", stream: wide) }
        // The vhost counts too.
        let vhost = String(repeating: "v", count: 500) + ".example.com"
        #expect(throws: StreamKeyError.tooLong) {
            try StreamKey(vhost: vhost, app: String(repeating: "a", count: 510), stream: "s")
        }
    }

    @Test(arguments: ["a\u{00}", "a\u{01}b", "a\tb", "a\nb", "a\rb", "\u{1f}", "a\u{7f}"])
    func controlCharactersAreRejected(_ bad: String) {
        #expect(throws: StreamKeyError.invalidCharacters(bad)) { try StreamKey(vhost: nil, app: "live", stream: bad) }
        #expect(throws: StreamKeyError.invalidCharacters(bad)) { try StreamKey(vhost: nil, app: bad, stream: "s") }
        #expect(throws: StreamKeyError.invalidCharacters("v.example.com" + bad)) {
            try StreamKey(vhost: "v.example.com" + bad, app: "live", stream: "s")
        }
    }

    @Test func vhostFromQueryCannotCarryControlCharactersOrSlashes() {
        #expect(throws: StreamKeyError.invalidCharacters("a.example.com\ninjected")) {
            try StreamRequest.http(host: "h", path: "/live/s.flv", query: "vhost=a.example.com%0Ainjected")
        }
        #expect(throws: StreamKeyError.invalidCharacters("a.example.com/x")) {
            try StreamRequest.rtmp(tcUrl: "rtmp://h/live?vhost=a.example.com/x", stream: "s")
        }
    }

    @Test func partsAreValidatedAndNormalised() throws {
        let key = try StreamKey(vhost: "V.Example.COM", app: "/live/", stream: "S")
        #expect(key.vhost == "v.example.com")
        #expect(key.app == "live")
        #expect(key.stream == "S")  // app and stream keep their case
        #expect(try StreamKey(vhost: "H", app: "live", stream: "s").vhost == "h", "an explicit vhost is taken as given")
        #expect(try StreamKey(vhost: "", app: "live", stream: "s").vhost == StreamKey.defaultVhost)
        #expect(try StreamKey(vhost: "__DEFAULTVHOST__", app: "live", stream: "s").vhost == StreamKey.defaultVhost)
        #expect(StreamKey.vhost(fromHost: "10.0.0.1") == StreamKey.defaultVhost, "a host name is subject to the dot rule")
        #expect(throws: StreamKeyError.missingApp) { try StreamKey(vhost: nil, app: "", stream: "s") }
        #expect(throws: StreamKeyError.missingApp) { try StreamKey(vhost: nil, app: "//", stream: "s") }
        #expect(throws: StreamKeyError.missingStream) { try StreamKey(vhost: nil, app: "live", stream: "") }
        #expect(throws: StreamKeyError.invalidCharacters("a/b")) { try StreamKey(vhost: nil, app: "live", stream: "a/b") }
    }

    @Test func keysCompareByDescription() throws {
        let a = try StreamKey(vhost: nil, app: "live", stream: "b")
        let b = try StreamKey(vhost: nil, app: "live", stream: "a")
        let c = try StreamKey(vhost: "a.example.com", app: "live", stream: "z")
        #expect([a, b, c].sorted() == [b, a, c])
        #expect(a != b)
        #expect(Set([a, b, liveKey("b")]).count == 2)
    }

    @Test func requestDescriptionAppendsTheQuery() throws {
        let key = liveKey("s")
        #expect(StreamRequest(key: key).description == "__defaultVhost__/live/s")
        #expect(StreamRequest(key: key, query: "k=1").description == "__defaultVhost__/live/s?k=1")
    }

    @Test(arguments: [
        (String?.none, dv),
        ("", dv),
        ("   ", dv),
        ("h", dv),
        ("h:8080", dv),
        ("localhost:1935", dv),
        ("example.com", "example.com"),
        ("example.com:8080", "example.com"),
        ("Example.COM:8080", "example.com"),
        (" example.com ", "example.com"),
        ("a.b.example.com", "a.b.example.com"),
        ("1.2.3.4", dv),
        ("1.2.3.4:1935", dv),
        ("255.255.255.255", dv),
        ("[::1]", dv),
        ("[::1]:8080", dv),
        ("::1", dv),
        ("fe80::1", dv),
        ("__defaultVhost__", dv),
    ] as [(String?, String)])
    func vhostFromHost(_ host: String?, _ vhost: String) {
        #expect(StreamKey.vhost(fromHost: host) == vhost)
    }
}
