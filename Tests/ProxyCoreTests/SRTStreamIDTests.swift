import ProxyCore
import Testing

/// `SRTStreamID` must read a Stream ID as SRS's `srs_srt_streamid_info` and
/// `srs_srt_streamid_to_request` do (the origin receives the same Stream ID): the expectations
/// below are what SRS makes of each id, mapped to the proxy's key rules.
@Suite struct SRTStreamIDTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var sid: String
        var mode: SessionRole
        var expected: ExpectedRequest
        init(_ sid: String, _ mode: SessionRole, _ vhost: String, _ app: String, _ stream: String, query: String = "") {
            self.sid = sid
            self.mode = mode
            expected = ExpectedRequest(input: sid, vhost: vhost, app: app, stream: stream, query: query)
        }
        var testDescription: String { sid }
    }

    static let dv = StreamKey.defaultVhost

    static let cases: [Case] = [
        // Access-control form.
        Case("#!::r=live/s,m=publish", .publish, dv, "live", "s"),
        Case("#!::r=live/s,m=request", .play, dv, "live", "s"),
        Case("#!::m=publish,r=live/s", .publish, dv, "live", "s"),
        Case("#!::r=live/s", .play, dv, "live", "s"),
        Case("#!::r=live/s,m=publish,token=abc", .publish, dv, "live", "s", query: "token=abc"),
        Case("#!::r=live/sub/s", .play, dv, "live/sub", "s"),
        // SRS's app is `live`, its stream `sub/s`; the key's stream has no slash, and SRS's
        // source is `/live/sub/s` either way.
        Case("#!::r=live/a/b/s", .play, dv, "live/a/b", "s"),
        // A path without `/` gets the default app here too (SRS's to_request). This used to be
        // refused as missingApp.
        Case("#!::r=s,m=publish", .publish, dv, "live", "s"),

        // The last value of a key wins, for m and r too.
        Case("#!::r=live/a,r=live/b", .play, dv, "live", "b"),
        Case("#!::r=live/a,m=publish,r=live/b", .publish, dv, "live", "b"),
        Case("#!::m=publish,r=live/s,m=request", .play, dv, "live", "s"),
        Case("#!::m=request,r=live/s,m=publish", .publish, dv, "live", "s"),
        Case("#!::r=live/s,m=publish,m=Request", .play, dv, "live", "s"),
        Case("#!::r=live/s,token=1,token=2", .play, dv, "live", "s", query: "token=2"),
        Case("#!::h=a.example.com,r=live/s,h=b.example.com", .play, "b.example.com", "live", "s", query: "vhost=b.example.com"),
        // r replaces a path from h, whatever their order (keys are read in byte order).
        Case("#!::h=live/a,r=live/b", .play, dv, "live", "b"),
        Case("#!::r=live/b,h=live/a", .play, dv, "live", "b"),

        // Every `?` is a `,`: a `?` inside r= starts more pairs, m among them.
        Case("#!::r=live/x?m=publish", .publish, dv, "live", "x"),
        Case("#!::r=live/x?token=1,m=publish", .publish, dv, "live", "x", query: "token=1"),
        Case("#!::r=live/x?m=publish?token=1", .publish, dv, "live", "x", query: "token=1"),
        Case("#!::r=live/x?m=request,m=publish", .publish, dv, "live", "x"),
        Case("#!::r=live/s?secret=x,token=abc", .play, dv, "live", "s", query: "secret=x&token=abc"),
        Case("#!::h=live/livestream?secret=xxx,m=publish", .publish, dv, "live", "livestream", query: "secret=xxx"),

        // m's value is ASCII case-insensitive; keys are case-sensitive (M is an ordinary key).
        Case("#!::r=live/s,m=PUBLISH", .publish, dv, "live", "s"),
        Case("#!::r=live/s,m=Publish", .publish, dv, "live", "s"),
        Case("#!::r=live/s,m=REQUEST", .play, dv, "live", "s"),
        Case("#!::r=live/s,M=PUBLISH", .play, dv, "live", "s", query: "M=PUBLISH"),
        Case("#!::R=live/x,r=live/s", .play, dv, "live", "s", query: "R=live/x"),

        // Separators: `=`, `,`, `&&`, `&`, `;`.
        Case("#!::r=live/s&&m=publish&&token=1", .publish, dv, "live", "s", query: "token=1"),
        Case("#!::r=live/s&m=publish&token=1", .publish, dv, "live", "s", query: "token=1"),
        Case("#!::r=live/s;m=publish;token=1", .publish, dv, "live", "s", query: "token=1"),
        Case("#!::r=live/s,m=publish&token=1;u=2&&v=3", .publish, dv, "live", "s", query: "token=1&u=2&v=3"),
        // `&&&` is `&&` then `&`: an empty token, which shifts the pairs ("" = m, publish = "").
        Case("#!::r=live/s&&&m=publish", .play, dv, "live", "s", query: "=m&publish="),

        // h: a host (the vhost, through the host-name rule), `app/stream`, `vhost/app/stream`.
        Case("#!::h=host.example.com,r=app/s", .play, "host.example.com", "app", "s", query: "vhost=host.example.com"),
        Case("#!::r=app/s,h=host.example.com,m=publish", .publish, "host.example.com", "app", "s", query: "vhost=host.example.com"),
        Case("#!::h=V.Example.COM,r=live/s", .play, "v.example.com", "live", "s", query: "vhost=V.Example.COM"),
        // SRS reports every h= host as vhost= in the query; the key keeps the host-name rule
        // (no dot, or an IP: the default vhost). The query used to omit such a host.
        Case("#!::h=cdn,r=live/s", .play, dv, "live", "s", query: "vhost=cdn"),
        Case("#!::h=10.0.0.1,r=live/s", .play, dv, "live", "s", query: "vhost=10.0.0.1"),
        Case("#!::h=live/s", .play, dv, "live", "s"),
        Case("#!::h=live/s,m=publish", .publish, dv, "live", "s"),
        Case("#!::h=v.example.com/live/s", .play, "v.example.com", "live", "s", query: "vhost=v.example.com"),
        Case("#!::h=v.example.com/live/sub/s", .play, "v.example.com", "live/sub", "s", query: "vhost=v.example.com"),
        // h=vhost/app/stream with r=: the vhost stays, r's path wins.
        Case("#!::h=v.example.com/live/s,r=app/x", .play, "v.example.com", "app", "x", query: "vhost=v.example.com"),

        // Other keys are the query, in byte order of the keys (vhost= at h's place).
        Case("#!::r=live/s,token=abc,h=v.example.com,a=1", .play, "v.example.com", "live", "s", query: "a=1&vhost=v.example.com&token=abc"),
        Case("#!::r=live/s,b=2,a=1,B=3", .play, dv, "live", "s", query: "B=3&a=1&b=2"),
        Case("#!::b=2,r=live/s,a=1", .play, dv, "live", "s", query: "a=1&b=2"),
        // SRS takes an SRT session's vhost from h= only: a vhost= key is just forwarded.
        Case("#!::r=live/s,vhost=cdn.example.com", .play, dv, "live", "s", query: "vhost=cdn.example.com"),

        // Empty values.
        Case("#!::r=live/s,token=", .play, dv, "live", "s", query: "token="),
        Case("#!::r=live/s,token=,u=1", .play, dv, "live", "s", query: "token=&u=1"),
        Case("#!::h=,r=live/s", .play, dv, "live", "s", query: "vhost="),
        // An empty item is an empty token: it shifts the pairs, so m=publish is lost (SRS plays too).
        Case("#!::r=live/s,,m=publish", .play, dv, "live", "s", query: "=m&publish="),

        // A key without `=` takes the next token as its value. SRS sorts the keys and gives the
        // last lone key an empty value; the query used to be "token=abc&u=me&flag".
        Case("#!::r=live/s,token=abc,u=me,flag", .play, dv, "live", "s", query: "flag=&token=abc&u=me"),
        Case("#!::r=live/s,m=publish,flag", .publish, dv, "live", "s", query: "flag="),
        // Here `flag` swallows `m`, and `publish` is a key: SRS reads a play, so does the proxy.
        Case("#!::r=live/s,flag,m=publish", .play, dv, "live", "s", query: "flag=m&publish="),

        // A path holding `?`: only the first `?` after the app's `/` starts the query.
        Case("#!::r=s,token=a/b", .play, dv, "s?token=a", "b"),

        // Plain form: the whole id is the path, `live/<id>` without `/`; the query starts at the
        // first `?` after the first `/`; there is no mode (always a play), no percent-decoding.
        Case("live/s", .play, dv, "live", "s"),
        Case("live/s?secret=x", .play, dv, "live", "s", query: "secret=x"),
        // SRS does not read vhost= in an SRT Stream ID (its vhost comes from h= only). This used
        // to give the vhost v.example.com.
        Case("live/s?vhost=v.example.com", .play, dv, "live", "s", query: "vhost=v.example.com"),
        Case("live/s?m=publish", .play, dv, "live", "s", query: "m=publish"),
        Case("live/s?a=1?b=2", .play, dv, "live", "s", query: "a=1?b=2"),
        Case("live/a%20b", .play, dv, "live", "a%20b"),
        Case("s", .play, dv, "live", "s"),
        Case("s?secret=x", .play, dv, "live", "s", query: "secret=x"),
        Case("app/sub/s", .play, dv, "app/sub", "s"),
        // A `/` in the query of an id without another `/` is the app's `/` to SRS.
        Case("s?x=a/b", .play, dv, "s?x=a", "b"),
        // Not the `#!::` prefix: a plain path.
        Case("#!:r=live/s", .play, dv, "#!:r=live", "s"),
    ]

    @Test(arguments: cases)
    func parses(_ c: Case) throws {
        let id = try SRTStreamID(parsing: c.sid)
        #expect(id.role == c.mode)
        c.expected.check(id.request)
    }

    @Test func modeDefaultsToRequest() throws {
        #expect(try SRTStreamID(parsing: "#!::r=live/s").role == .play)
        #expect(try SRTStreamID(parsing: "live/s").role == .play)
        #expect(try SRTStreamID(parsing: "#!::r=live/s,m=publish").role == .publish)
    }

    /// The publish hook must see every publish SRS will accept: a mode hidden behind `?` in r=
    /// is a publish (it used to be read as a play with the query `m=publish`).
    @Test func modeAfterQuestionMarkInResourceIsAPublish() throws {
        let plain = try SRTStreamID(parsing: "#!::r=live/x?m=publish")
        #expect(plain.role == .publish)
        #expect(plain.request.key.description == "__defaultVhost__/live/x")
        #expect(plain.request.query == "")

        let withToken = try SRTStreamID(parsing: "#!::r=live/x?token=1,m=publish")
        #expect(withToken.role == .publish)
        #expect(withToken.request.key.description == "__defaultVhost__/live/x")
        #expect(withToken.request.query == "token=1")
    }

    /// libsrt and SRS keep the Stream ID as a C string: it ends at the first NUL.
    @Test func streamIDEndsAtTheFirstNUL() throws {
        let publish = try SRTStreamID(parsing: "#!::r=live/s,m=publish\u{0},m=request")
        #expect(publish.role == .publish)
        #expect(publish.request.key.description == "__defaultVhost__/live/s")
        #expect(publish.request.query == "")

        let plain = try SRTStreamID(parsing: "live/s\u{0}junk")
        #expect(plain.request.key.description == "__defaultVhost__/live/s")
        #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: "\u{0}#!::r=live/s") }
    }

    @Test(arguments: [
        "#!::r=live/s,m=play", "#!::r=live/s,m=", "#!::r=live/s,m=publisher",
        // A lone last `m` has an empty value.
        "#!::r=live/s,m", "#!::m=,r=live/s",
        // No trimming: SRS compares the value as it is.
        "#!::r=live/s,m=publish ", "#!::r=live/s,m= publish",
        // The last m wins, also when it is unknown.
        "#!::r=live/s,m=publish,m=play",
        // Only ASCII letters are lowered (SRS uses ::tolower).
        "#!::r=live/s,m=PUBL\u{130}SH",
    ])
    func unknownModeIsRejected(_ sid: String) {
        let error = #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: sid) }
        guard case .invalidStreamID(let why)? = error else {
            Issue.record("expected invalidStreamID, got \(String(describing: error))")
            return
        }
        #expect(why.contains("mode"))
    }

    @Test(arguments: [
        "#!::m=publish", "#!::", "#!::h=host.example.com", "#!::token=abc,m=request",
        // Keys are not trimmed: " r" is not r (SRS refuses this id; it used to be read as live/s).
        "#!:: r=live/s, m=publish",
        // An empty r=, also when it replaces h's path.
        "#!::r=,m=publish", "#!::h=live/s,r=",
        // A leading key without `=` shifts the pairs: r becomes a value.
        "#!::flag,r=live/s,m=publish", "#!::,r=live/s",
    ])
    func missingResourceIsRejected(_ sid: String) {
        let error = #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: sid) }
        guard case .invalidStreamID(let why)? = error else {
            Issue.record("expected invalidStreamID, got \(String(describing: error))")
            return
        }
        #expect(why.contains("r=app/stream"))
    }

    /// SRS's app is what precedes the first `/`, its stream what follows, slashes kept: a path
    /// with an empty segment names a stream no key can (`//live/s`), so it is refused.
    @Test func emptyPathSegmentsAreRejected() {
        // SRS's app would be empty. `#!::r=/live/s/` and `/live/s` used to give live/s.
        #expect(throws: StreamKeyError.missingApp) { try SRTStreamID(parsing: "#!::r=/,m=publish") }
        #expect(throws: StreamKeyError.missingApp) { try SRTStreamID(parsing: "#!::r=/live/s/") }
        #expect(throws: StreamKeyError.missingApp) { try SRTStreamID(parsing: "/live/s") }
        #expect(throws: StreamKeyError.missingApp) { try SRTStreamID(parsing: "#!::h=/s") }
        // SRS's stream would be empty (`#!::r=live/` used to be refused as missingApp).
        #expect(throws: StreamKeyError.missingStream) { try SRTStreamID(parsing: "#!::r=live/,m=publish") }
        #expect(throws: StreamKeyError.missingStream) { try SRTStreamID(parsing: "#!::r=live/?token=1") }
        #expect(throws: StreamKeyError.missingStream) { try SRTStreamID(parsing: "live/") }
        #expect(throws: StreamKeyError.missingStream) { try SRTStreamID(parsing: "?x=1") }
        #expect(throws: StreamKeyError.missingStream) { try SRTStreamID(parsing: "") }
        // An empty segment inside SRS's stream.
        #expect(throws: StreamKeyError.invalidCharacters("/s")) { try SRTStreamID(parsing: "#!::r=live//s") }
        #expect(throws: StreamKeyError.invalidCharacters("s/")) { try SRTStreamID(parsing: "#!::r=live/s/") }
        #expect(throws: StreamKeyError.invalidCharacters("a//s")) { try SRTStreamID(parsing: "live/a//s") }
    }

    @Test func pairsAreBounded() throws {
        let fits = "#!::r=live/s" + String(repeating: ",a=b", count: SRTStreamID.maxPairs - 1)
        #expect(try SRTStreamID(parsing: fits).request.query == "a=b")

        let error = #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: fits + ",c=d") }
        guard case .invalidStreamID(let why)? = error else {
            Issue.record("expected invalidStreamID, got \(String(describing: error))")
            return
        }
        #expect(why.contains("\(SRTStreamID.maxPairs)"))
        // A lone 65th key is a 65th pair too.
        #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: fits + ",c") }
    }

    @Test func overMaxLengthIsRejected() throws {
        let prefix = "#!::r=live/"
        let fits = prefix + String(repeating: "a", count: SRTStreamID.maxLength - prefix.utf8.count)
        #expect(fits.utf8.count == 512)
        #expect(try SRTStreamID(parsing: fits).request.key.stream.count == 512 - prefix.count)

        let error = #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: fits + "a") }
        guard case .invalidStreamID(let why)? = error else {
            Issue.record("expected invalidStreamID, got \(String(describing: error))")
            return
        }
        #expect(why.contains("512"))
        #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: String(repeating: "a/", count: 300)) }
    }

    @Test func controlCharactersAreRejected() {
        #expect(throws: StreamKeyError.invalidCharacters("s\u{01}")) { try SRTStreamID(parsing: "#!::r=live/s\u{01}") }
        #expect(throws: StreamKeyError.invalidCharacters("s\n")) { try SRTStreamID(parsing: "live/s\n") }
    }
}
