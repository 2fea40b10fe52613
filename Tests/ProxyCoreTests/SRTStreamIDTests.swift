import ProxyCore
import Testing

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
        Case("#!::r=live/s,m=publish", .publish, dv, "live", "s"),
        Case("#!::r=live/s,m=request", .play, dv, "live", "s"),
        Case("#!::m=publish,r=live/s", .publish, dv, "live", "s"),
        Case("#!::r=live/s,m=PUBLISH", .publish, dv, "live", "s"),
        Case("#!::r=live/s", .play, dv, "live", "s"),
        Case("#!::h=host.example.com,r=app/s", .play, "host.example.com", "app", "s", query: "vhost=host.example.com"),
        Case("#!::r=app/s,h=host.example.com,m=publish", .publish, "host.example.com", "app", "s", query: "vhost=host.example.com"),
        Case("#!::h=live/s", .play, dv, "live", "s"),
        Case("#!::h=live/s,m=publish", .publish, dv, "live", "s"),
        Case("#!::h=v.example.com/live/s", .play, "v.example.com", "live", "s", query: "vhost=v.example.com"),
        Case("#!::h=v.example.com/live/sub/s", .play, "v.example.com", "live/sub", "s", query: "vhost=v.example.com"),
        Case("#!::r=live/s,m=publish,token=abc", .publish, dv, "live", "s", query: "token=abc"),
        Case("#!::r=live/s,token=abc,u=me,flag", .play, dv, "live", "s", query: "token=abc&u=me&flag"),
        Case("#!::r=live/s?secret=x,token=abc", .play, dv, "live", "s", query: "secret=x&token=abc"),
        Case("#!::r=/live/s/", .play, dv, "live", "s"),
        Case("#!::r=live/sub/s", .play, dv, "live/sub", "s"),
        Case("#!:: r=live/s, m=publish", .publish, dv, "live", "s"),
        Case("live/s", .play, dv, "live", "s"),
        Case("/live/s", .play, dv, "live", "s"),
        Case("live/s?secret=x", .play, dv, "live", "s", query: "secret=x"),
        Case("live/s?vhost=v.example.com", .play, "v.example.com", "live", "s", query: "vhost=v.example.com"),
        Case("s", .play, dv, "live", "s"),
        Case("s?secret=x", .play, dv, "live", "s", query: "secret=x"),
        Case("app/sub/s", .play, dv, "app/sub", "s"),
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

    @Test(arguments: ["#!::r=live/s,m=play", "#!::r=live/s,m=", "#!::r=live/s,m=publisher"])
    func unknownModeIsRejected(_ sid: String) {
        let error = #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: sid) }
        guard case .invalidStreamID(let why)? = error else {
            Issue.record("expected invalidStreamID, got \(String(describing: error))")
            return
        }
        #expect(why.contains("mode"))
    }

    @Test(arguments: ["#!::m=publish", "#!::", "#!::h=host.example.com", "#!::token=abc,m=request"])
    func missingResourceIsRejected(_ sid: String) {
        let error = #expect(throws: StreamKeyError.self) { try SRTStreamID(parsing: sid) }
        guard case .invalidStreamID(let why)? = error else {
            Issue.record("expected invalidStreamID, got \(String(describing: error))")
            return
        }
        #expect(why.contains("r=app/stream"))
    }

    @Test func resourceWithoutAppIsRejected() {
        #expect(throws: StreamKeyError.missingApp) { try SRTStreamID(parsing: "#!::r=s,m=publish") }
        #expect(throws: StreamKeyError.missingApp) { try SRTStreamID(parsing: "#!::r=/,m=publish") }
        #expect(throws: StreamKeyError.missingApp) { try SRTStreamID(parsing: "#!::r=live/,m=publish") }
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
