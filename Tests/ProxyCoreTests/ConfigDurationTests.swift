import Foundation
import ProxyCore
import Testing

@Suite struct ConfigDurationTests {
    @Test(arguments: [
        ("300s", Duration.seconds(300)),
        ("500ms", .milliseconds(500)),
        ("5m", .seconds(300)),
        ("1h30m", .seconds(5400)),
        ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)),
        ("1.5s", .milliseconds(1500)),
        ("0.25s", .milliseconds(250)),
        ("100ms", .milliseconds(100)),
        ("250us", .microseconds(250)),
        ("250µs", .microseconds(250)),
        ("10ns", .nanoseconds(10)),
        ("2", .seconds(2)),
        ("2.5", .milliseconds(2500)),
        ("0", .zero),
        ("0s", .zero),
        (" 30s ", .seconds(30)),
    ] as [(String, Duration)])
    func parses(_ text: String, _ expected: Duration) {
        #expect(ConfigDuration(parsing: text)?.duration == expected)
    }

    @Test(arguments: [
        "5x", "s", "", "  ", "-1", "-1s", "-5m", "1.2.3s", "5 m", "m5", "5S", "1h-30m", "inf", "nan", "infs",
        // Out of range must be rejected, not crash the process.
        "1e18", "99999999999999999", "1000000000", "300000000h",
        String(repeating: "1", count: 65),
    ])
    func rejects(_ text: String) {
        #expect(ConfigDuration(parsing: text) == nil)
    }

    @Test func descriptionUsesSecondsOrMilliseconds() {
        #expect(ConfigDuration.seconds(300).description == "300s")
        #expect(ConfigDuration.milliseconds(1500).description == "1500ms")
        #expect(ConfigDuration.milliseconds(2000).description == "2s")
        #expect(ConfigDuration(.zero).description == "0s")
    }

    @Test(arguments: ["300s", "500ms", "1h30m", "1.5s", "2", "0"])
    func descriptionParsesBack(_ text: String) throws {
        let parsed = try #require(ConfigDuration(parsing: text))
        #expect(ConfigDuration(parsing: parsed.description) == parsed)
    }

    struct Wrapper: Codable, Equatable {
        var timeout: ConfigDuration
    }

    private func decode(_ json: String) throws -> ConfigDuration {
        try JSONDecoder().decode(Wrapper.self, from: Data(json.utf8)).timeout
    }

    @Test func decodesFromNumbersAndStrings() throws {
        #expect(try decode(#"{"timeout": 30}"#) == .seconds(30))
        #expect(try decode(#"{"timeout": 0.5}"#) == .milliseconds(500))
        #expect(try decode(#"{"timeout": "1h30m"}"#) == .seconds(5400))
        #expect(try decode(#"{"timeout": "500ms"}"#) == .milliseconds(500))
    }

    @Test(arguments: [#"{"timeout": "5x"}"#, #"{"timeout": -1}"#, #"{"timeout": 1e12}"#, #"{"timeout": true}"#, #"{"timeout": ""}"#])
    func invalidJSONIsADecodingError(_ json: String) {
        #expect(throws: DecodingError.self) { try decode(json) }
    }

    @Test func encodesItsDescription() throws {
        let data = try JSONEncoder().encode(Wrapper(timeout: .milliseconds(1500)))
        #expect(try JSONDecoder().decode([String: String].self, from: data) == ["timeout": "1500ms"])
        #expect(try JSONDecoder().decode(Wrapper.self, from: data) == Wrapper(timeout: .milliseconds(1500)))
    }
}
