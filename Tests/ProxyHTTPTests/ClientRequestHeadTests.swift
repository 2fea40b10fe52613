import ProxyHTTP
import Testing

@Suite struct ClientRequestHeadTests {
    typealias Limits = ClientRequestHead.Limits

    /// The head parsed from `text`, which must be one whole head.
    func head(_ text: String, limits: Limits = Limits()) throws -> ClientRequestHead {
        let bytes = Array(text.utf8)
        guard case .head(let head, let consumed) = try ClientRequestHead.parse(bytes, limits: limits) else {
            Issue.record("needMore for a whole head: \(text.debugDescription)")
            throw CancellationError()
        }
        #expect(consumed == bytes.count)
        return head
    }

    /// The error `parse` throws for `bytes`, or nil (with an issue recorded) when it does not throw.
    func error(_ bytes: [UInt8], limits: Limits = Limits()) -> ClientRequestHeadError? {
        do {
            let result = try ClientRequestHead.parse(bytes, limits: limits)
            Issue.record("expected an error, got \(result)")
            return nil
        } catch {
            return error
        }
    }

    func error(_ text: String, limits: Limits = Limits()) -> ClientRequestHeadError? {
        error(Array(text.utf8), limits: limits)
    }

    // MARK: Whole heads

    @Test func getWithHeaders() throws {
        let h = try head("GET /live/s.flv?token=1&x=2 HTTP/1.1\r\nHost: v.example.com:8080\r\nUser-Agent:  ffplay \r\nX-Empty:\r\nAccept: */*\r\n\r\n")
        #expect(h.method == "GET")
        #expect(h.target == "/live/s.flv?token=1&x=2")
        #expect(h.minorVersion == 1)
        #expect(h.headers.map(\.name) == ["Host", "User-Agent", "X-Empty", "Accept"])
        #expect(h.headers.map(\.value) == ["v.example.com:8080", "ffplay", "", "*/*"])
        #expect(h.path == "/live/s.flv")
        #expect(h.query == "token=1&x=2")
        #expect(h.host == "v.example.com:8080")
        #expect(h.header("user-agent") == "ffplay")
        #expect(h.header("HOST") == "v.example.com:8080")
        #expect(h.header("missing") == nil)
        #expect(h.keepAlive)
        #expect(!h.declaresBody)
    }

    @Test func firstOfRepeatedHeadersWins() throws {
        let h = try head("GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
        #expect(h.header("X-A") == "1")
        #expect(h.headers.count == 2)
    }

    @Test func noQueryAndEmptyQuery() throws {
        #expect(try head("GET /a/b HTTP/1.1\r\n\r\n").query == "")
        let h = try head("GET /a/b? HTTP/1.1\r\n\r\n")
        #expect(h.path == "/a/b")
        #expect(h.query == "")
        #expect(try head("GET /?a=1?b HTTP/1.1\r\n\r\n").query == "a=1?b")
    }

    @Test func asteriskTarget() throws {
        let h = try head("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(h.method == "OPTIONS")
        #expect(h.target == "*")
        #expect(h.path == "*")
    }

    @Test func noHostHeader() throws {
        #expect(try head("GET / HTTP/1.0\r\n\r\n").host == nil)
        #expect(try head("GET / HTTP/1.1\r\nHost:\r\n\r\n").host == nil)
    }

    // MARK: Framing

    @Test func pipelinedHeads() throws {
        let first = "GET /a.flv HTTP/1.1\r\nHost: h\r\n\r\n"
        let second = "HEAD /b.m3u8?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        var bytes = Array((first + second + "GET /partial HT").utf8)

        guard case .head(let a, let consumedA) = try ClientRequestHead.parse(bytes) else {
            Issue.record("first head not found")
            return
        }
        #expect(a.target == "/a.flv")
        #expect(consumedA == first.utf8.count)
        bytes.removeFirst(consumedA)

        guard case .head(let b, let consumedB) = try ClientRequestHead.parse(bytes) else {
            Issue.record("second head not found")
            return
        }
        #expect(b.method == "HEAD")
        #expect(b.target == "/b.m3u8?x=1")
        #expect(!b.keepAlive)
        #expect(consumedB == second.utf8.count)
        bytes.removeFirst(consumedB)

        #expect(try ClientRequestHead.parse(bytes) == .needMore)
    }

    @Test func parsesFromASliceWithNonZeroIndices() throws {
        let bytes = Array("xxGET /s HTTP/1.1\r\n\r\nrest".utf8)
        let result = try ClientRequestHead.parse(bytes[2...])
        guard case .head(let h, let consumed) = result else {
            Issue.record("got \(result)")
            return
        }
        #expect(h.target == "/s")
        #expect(consumed == "GET /s HTTP/1.1\r\n\r\n".utf8.count)
    }

    static let splitHeads = [
        "GET /live/s.flv?token=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
        "GET /a HTTP/1.0\nHost: h\n\n",
        "\r\n\r\nGET /after-blank-lines HTTP/1.1\r\nHost: h\r\n\r\n",
        "\n\nGET /after-lf HTTP/1.1\nX: y\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
    ]

    /// However the bytes are cut, every proper prefix of a head asks for more, and the whole head
    /// (followed by anything) parses to the same head with the same length.
    @Test(arguments: splitHeads)
    func everyPrefixNeedsMore(_ text: String) throws {
        let bytes = Array(text.utf8)
        let whole = try ClientRequestHead.parse(bytes)
        guard case .head(_, let consumed) = whole else {
            Issue.record("not a whole head: \(whole)")
            return
        }
        #expect(consumed == bytes.count)
        for cut in 0..<bytes.count {
            #expect(try ClientRequestHead.parse(bytes[..<cut]) == .needMore, "first \(cut) bytes")
        }
        #expect(try ClientRequestHead.parse(bytes + Array("GET /next".utf8)) == whole)
    }

    @Test func lfOnlyLineEndings() throws {
        let h = try head("GET /s.flv HTTP/1.1\nHost: h\nConnection: close\n\n")
        #expect(h.target == "/s.flv")
        #expect(h.host == "h")
        #expect(!h.keepAlive)
    }

    @Test func mixedLineEndings() throws {
        let h = try head("GET /s HTTP/1.1\r\nA: 1\nB: 2\r\n\n")
        #expect(h.headers.map(\.value) == ["1", "2"])
        #expect(try head("GET /s HTTP/1.1\nA: 1\n\r\n").header("a") == "1")
    }

    @Test func leadingBlankLinesAreSkippedAndConsumed() throws {
        let text = "\r\n\r\nGET /s HTTP/1.1\r\n\r\n"
        let h = try head(text)
        #expect(h.method == "GET")
        #expect(try head("\n\nGET /s HTTP/1.1\n\n").target == "/s")
        #expect(try ClientRequestHead.parse(Array("\r\n".utf8)) == .needMore)
        #expect(try ClientRequestHead.parse(Array("\r".utf8)) == .needMore)
        #expect(try ClientRequestHead.parse([UInt8]()) == .needMore)
    }

    // MARK: Limits

    @Test func requestLineAtTheLimitIsAccepted() throws {
        let limit = Limits().maxRequestLine
        let prefix = "GET /"
        let suffix = " HTTP/1.1"
        let line = prefix + String(repeating: "a", count: limit - prefix.count - suffix.count) + suffix
        #expect(line.utf8.count == limit)
        #expect(try head(line + "\r\n\r\n").target.utf8.count == limit - prefix.count - suffix.count + 1)
        #expect(try head(line + "\n\n").minorVersion == 1)
        // Cut between the CR and the LF: the CR is not counted against the line.
        #expect(try ClientRequestHead.parse(Array((line + "\r").utf8)) == .needMore)
    }

    @Test func requestLineOverTheLimitIs414() throws {
        let limit = Limits().maxRequestLine
        let tooLong = "GET /" + String(repeating: "a", count: limit - 4)  // limit + 1 bytes, no newline yet
        #expect(tooLong.utf8.count == limit + 1)
        #expect(error(tooLong) == .requestLineTooLong)
        #expect(error(tooLong)?.status == 414)
        #expect(error(tooLong + " HTTP/1.1\r\n\r\n") == .requestLineTooLong)
        // The same limit with LF-only endings.
        let line = "GET /" + String(repeating: "a", count: limit - 4 - " HTTP/1.1".count) + " HTTP/1.1"
        #expect(line.utf8.count == limit + 1)
        #expect(error(line + "\n\n") == .requestLineTooLong)
        #expect(error(line + "\r\n\r\n") == .requestLineTooLong)
        // Exactly at the limit and still incomplete: more may come.
        #expect(try ClientRequestHead.parse(Array(tooLong.utf8.dropLast())) == .needMore)
    }

    @Test func smallLimitsAreHonoured() {
        var limits = Limits()
        limits.maxRequestLine = 16
        #expect(error("GET /0123456789ab", limits: limits) == .requestLineTooLong)
        #expect((try? head("GET /01 HTTP/1.1\r\n\r\n", limits: limits)) != nil)
    }

    @Test func headOverTheLimitIs431() {
        let limit = Limits().maxHead
        var text = "GET / HTTP/1.1\r\n"
        var n = 0
        while text.utf8.count <= limit {
            text += "X-Filler-\(n): " + String(repeating: "v", count: 1000) + "\r\n"
            n += 1
        }
        // No blank line yet, but already past the limit.
        #expect(error(text) == .headTooLarge)
        #expect(error(text)?.status == 431)
        #expect(error(text + "\r\n") == .headTooLarge)
    }

    @Test func headAtTheLimitIsAccepted() throws {
        let limit = Limits().maxHead
        let start = "GET / HTTP/1.1\r\nX: "
        let text = start + String(repeating: "v", count: limit - start.utf8.count - 4) + "\r\n\r\n"
        #expect(text.utf8.count == limit)
        #expect(try head(text).header("x")?.utf8.count == limit - start.utf8.count - 4)
        #expect(error(start + String(repeating: "v", count: limit - start.utf8.count - 3) + "\r\n\r\n") == .headTooLarge)
    }

    @Test func leadingBlankLinesCountTowardTheHeadLimit() throws {
        var limits = Limits()
        limits.maxHead = 64
        limits.maxRequestLine = 32
        // Endless blank lines never leave the parser waiting for more than maxHead bytes.
        let blanks = Array(String(repeating: "\r\n", count: 40).utf8)
        #expect(error(blanks, limits: limits) == .headTooLarge)
        #expect(try ClientRequestHead.parse(blanks.prefix(64), limits: limits) == .needMore)
        // A head behind blank lines counts them too.
        let head = Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        #expect(error(Array(String(repeating: "\r\n", count: 20).utf8) + head, limits: limits) == .headTooLarge)
        #expect((try? self.head(String(repeating: "\r\n", count: 5) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits)) != nil)
    }

    @Test func neverNeedsMoreOverTheHeadLimit() throws {
        var limits = Limits()
        limits.maxHead = 100
        for text in [String(repeating: "\n", count: 200), "GET /" + String(repeating: "a", count: 200), "GET / HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: 40)] {
            let bytes = Array(text.utf8)
            #expect(throws: ClientRequestHeadError.self) { try ClientRequestHead.parse(bytes, limits: limits) }
        }
    }

    @Test func moreThanMaxHeaderCountIs431() throws {
        let max = Limits().maxHeaderCount
        func request(fields: Int) -> String {
            "GET / HTTP/1.1\r\n" + (0..<fields).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        }
        #expect(try head(request(fields: max)).headers.count == max)
        #expect(error(request(fields: max + 1)) == .headTooLarge)
    }

    // MARK: Malformed

    static let malformed: [(String, String)] = [
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", "colon"),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", "header name"),
        ("GET / HTTP/1.1\r\n: empty-name\r\n\r\n", "header name"),
        ("GET / HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n", "folding"),
        ("GET / HTTP/1.1\r\nX-A: 1\r\n\tcontinued\r\n\r\n", "folding"),
        ("GET / HTTP/2.0\r\n\r\n", "version"),
        ("GET / HTTP/1.2\r\n\r\n", "version"),
        ("GET / http/1.1\r\n\r\n", "version"),
        ("GET HTTP/1.1\r\n\r\n", "METHOD target"),
        ("GET  HTTP/1.1\r\n\r\n", "target"),
        ("GET /\r\n\r\n", "METHOD target"),
        ("GET / HTTP/1.1 extra\r\n\r\n", "METHOD target"),
        ("GET  / HTTP/1.1\r\n\r\n", "METHOD target"),
        ("GET relative HTTP/1.1\r\n\r\n", "neither a path"),
        ("GET ftp://h/x HTTP/1.1\r\n\r\n", "neither a path"),
        ("G(T / HTTP/1.1\r\n\r\n", "method"),
        ("GET /a\u{7f} HTTP/1.1\r\n\r\n", "target"),
        ("GET /a\tb HTTP/1.1\r\n\r\n", "target"),
        ("GET /\u{e9} HTTP/1.1\r\n\r\n", "target"),
        ("GET / HTTP/1.1\r\nX-A: a\u{1}b\r\n\r\n", "control byte"),
        ("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", "control byte"),
        ("GET / HTTP/1.1\r\nX-A: a\u{7f}\r\n\r\n", "control byte"),
        ("GET / HTTP/1.1\r\nX-\u{1}: a\r\n\r\n", "header name"),
        // A first byte no request line starts with is named at once, however the bytes arrive.
        ("\u{1}GET / HTTP/1.1\r\n\r\n", "control byte"),
        (" GET / HTTP/1.1\r\n\r\n", "control byte"),
        ("\u{16}\u{3}\u{1}", "control byte"),
    ]

    @Test(arguments: malformed)
    func malformedIs400(_ text: String, _ hint: String) {
        let e = error(text)
        guard case .malformed(let why)? = e else {
            Issue.record("expected malformed, got \(String(describing: e))")
            return
        }
        #expect(e?.status == 400)
        #expect(why.contains(hint), "\(why)")
        #expect(e?.description.hasPrefix("malformed request: ") == true)
    }

    @Test func controlByteFailsBeforeTheLineEnds() {
        // A TLS ClientHello on the plain-HTTP port is refused at once, not after a timeout.
        #expect(error([0x16, 0x03, 0x01, 0x00]).map { $0.status } == 400)
        #expect(error([0x00]).map { $0.status } == 400)
    }

    @Test func errorDescriptionsAndStatuses() {
        #expect(ClientRequestHeadError.requestLineTooLong.status == 414)
        #expect(ClientRequestHeadError.headTooLarge.status == 431)
        #expect(ClientRequestHeadError.malformed("x").status == 400)
        #expect(ClientRequestHeadError.requestLineTooLong.description == "request line too long")
        #expect(ClientRequestHeadError.headTooLarge.description == "request head too large")
    }

    // MARK: Targets

    @Test(arguments: [
        ("http://v.example.com:8080/live/s.flv?token=1", "/live/s.flv", "token=1", "v.example.com:8080"),
        ("HTTPS://v.example.com/a/b", "/a/b", "", "v.example.com"),
        ("http://v.example.com", "/", "", "v.example.com"),
        ("http://v.example.com?x=1", "/", "x=1", "v.example.com"),
        ("http://v.example.com/?x=1", "/", "x=1", "v.example.com"),
        ("http://[::1]:8080/s.m3u8", "/s.m3u8", "", "[::1]:8080"),
    ])
    func absoluteFormTarget(_ target: String, _ path: String, _ query: String, _ host: String) throws {
        let h = try head("GET \(target) HTTP/1.1\r\n\r\n")
        #expect(h.target == target)
        #expect(h.path == path)
        #expect(h.query == query)
        #expect(h.host == host)
    }

    @Test func hostHeaderWinsOverTheTargetAuthority() throws {
        let h = try head("GET http://a.example.com/s HTTP/1.1\r\nHost: b.example.com\r\n\r\n")
        #expect(h.host == "b.example.com")
        #expect(h.path == "/s")
    }

    // MARK: Connection and body

    @Test(arguments: [
        ("HTTP/1.1", nil, true),
        ("HTTP/1.1", "close", false),
        ("HTTP/1.1", "Close", false),
        ("HTTP/1.1", "keep-alive", true),
        ("HTTP/1.1", "Upgrade, close", false),
        ("HTTP/1.1", "upgrade,  CLOSE ", false),
        ("HTTP/1.1", "closed", true),
        ("HTTP/1.0", nil, false),
        ("HTTP/1.0", "keep-alive", true),
        ("HTTP/1.0", "Keep-Alive", true),
        ("HTTP/1.0", "foo, keep-alive", true),
        ("HTTP/1.0", "close", false),
    ] as [(String, String?, Bool)])
    func keepAlive(_ version: String, _ connection: String?, _ expected: Bool) throws {
        let field = connection.map { "Connection: \($0)\r\n" } ?? ""
        let h = try head("GET / \(version)\r\n\(field)\r\n")
        #expect(h.minorVersion == (version == "HTTP/1.1" ? 1 : 0))
        #expect(h.keepAlive == expected)
    }

    @Test func connectionTokensFromSeveralFields() throws {
        #expect(try !head("GET / HTTP/1.1\r\nConnection: upgrade\r\nconnection: close\r\n\r\n").keepAlive)
        #expect(try head("GET / HTTP/1.0\r\nConnection: upgrade\r\nCONNECTION: keep-alive\r\n\r\n").keepAlive)
    }

    @Test(arguments: [
        (nil, false),
        ("Content-Length: 0", false),
        ("Content-Length:  0 ", false),
        ("Content-Length: 5", true),
        ("Transfer-Encoding: chunked", true),
        ("Transfer-Encoding: identity", true),
        ("Content-Length: 0\r\nTransfer-Encoding: chunked", true),
    ] as [(String?, Bool)])
    func declaresBody(_ field: String?, _ expected: Bool) throws {
        let h = try head("POST /x HTTP/1.1\r\nHost: h\r\n" + (field.map { $0 + "\r\n" } ?? "") + "\r\n")
        #expect(h.declaresBody == expected)
    }

    @Test func equalityComparesHeadersInOrder() {
        let a = ClientRequestHead(method: "GET", target: "/", minorVersion: 1, headers: [("A", "1"), ("B", "2")])
        let b = ClientRequestHead(method: "GET", target: "/", minorVersion: 1, headers: [("B", "2"), ("A", "1")])
        #expect(a == a)
        #expect(a != b)
        #expect(a != ClientRequestHead(method: "GET", target: "/", minorVersion: 0, headers: [("A", "1"), ("B", "2")]))
    }
}
