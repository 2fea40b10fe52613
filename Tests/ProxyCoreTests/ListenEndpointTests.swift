import Foundation
import ProxyCore
import Testing

@Suite struct ListenEndpointTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        var transport: ListenEndpoint.Transport?
        var host: String?
        var port: Int
        var description: String
        var testDescription: String { text }
    }

    static let cases: [Case] = [
        Case(text: "1935", transport: nil, host: nil, port: 1935, description: "1935"),
        Case(text: "0", transport: nil, host: nil, port: 0, description: "0"),
        Case(text: " 1935 ", transport: nil, host: nil, port: 1935, description: "1935"),
        Case(text: "0.0.0.0:1935", transport: nil, host: nil, port: 1935, description: "1935"),
        Case(text: "*:1935", transport: nil, host: nil, port: 1935, description: "1935"),
        Case(text: ":1935", transport: nil, host: nil, port: 1935, description: "1935"),
        Case(text: "127.0.0.1:1935", transport: nil, host: "127.0.0.1", port: 1935, description: "127.0.0.1:1935"),
        Case(text: "localhost:8080", transport: nil, host: "localhost", port: 8080, description: "localhost:8080"),
        Case(text: "tcp://:1935", transport: .tcp, host: nil, port: 1935, description: "tcp://:1935"),
        Case(text: "TCP://:1935", transport: .tcp, host: nil, port: 1935, description: "tcp://:1935"),
        Case(text: "tcp://10.0.0.2:1935", transport: .tcp, host: "10.0.0.2", port: 1935, description: "tcp://10.0.0.2:1935"),
        Case(text: "udp://0.0.0.0:10080", transport: .udp, host: nil, port: 10080, description: "udp://:10080"),
        Case(text: "udp://:8000", transport: .udp, host: nil, port: 8000, description: "udp://:8000"),
        Case(text: "[::]:1935", transport: nil, host: "::", port: 1935, description: "[::]:1935"),
        Case(text: "[::1]:1935", transport: nil, host: "::1", port: 1935, description: "[::1]:1935"),
        Case(text: "udp://[::1]:8000", transport: .udp, host: "::1", port: 8000, description: "udp://[::1]:8000"),
        Case(text: "tcp://[fe80::1%eth0]:65535", transport: .tcp, host: "fe80::1%eth0", port: 65535, description: "tcp://[fe80::1%eth0]:65535"),
    ]

    @Test(arguments: cases)
    func parses(_ c: Case) throws {
        let endpoint = try ListenEndpoint(parsing: c.text)
        #expect(endpoint.transport == c.transport)
        #expect(endpoint.host == c.host)
        #expect(endpoint.port == c.port)
        #expect(endpoint.description == c.description)
        #expect(endpoint.bindHost == (c.host ?? "0.0.0.0"))
    }

    @Test(arguments: cases)
    func descriptionRoundTrips(_ c: Case) throws {
        let endpoint = try ListenEndpoint(parsing: c.text)
        #expect(try ListenEndpoint(parsing: endpoint.description) == endpoint)
    }

    @Test func emptyIsItsOwnError() {
        #expect(throws: ListenEndpointError.empty) { try ListenEndpoint(parsing: "") }
        #expect(throws: ListenEndpointError.empty) { try ListenEndpoint(parsing: "   ") }
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var text: String
        /// A word the error message must contain, so the user learns what is wrong.
        var hint: String
        var testDescription: String { text }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(text: "70000", hint: "65535"),
        ErrorCase(text: "65536", hint: "65535"),
        ErrorCase(text: "-1", hint: "port"),
        ErrorCase(text: "abc", hint: "port"),
        ErrorCase(text: "1935x", hint: "port"),
        ErrorCase(text: "127.0.0.1:", hint: "port"),
        ErrorCase(text: "127.0.0.1", hint: "port"),
        ErrorCase(text: "ftp://:1", hint: "scheme"),
        ErrorCase(text: "udp://", hint: "port"),
        ErrorCase(text: "::1:80", hint: "brackets"),
        ErrorCase(text: "[::1]", hint: ":port"),
        ErrorCase(text: "[::1]80", hint: ":port"),
        ErrorCase(text: "[::1:80", hint: "]"),
        ErrorCase(text: "[]:80", hint: "host"),
        ErrorCase(text: "bad host:80", hint: "host"),
        ErrorCase(text: "h/x:80", hint: "host"),
        ErrorCase(text: String(repeating: "1", count: 301), hint: "too long"),
    ]

    @Test(arguments: errorCases)
    func rejects(_ c: ErrorCase) {
        let error = #expect(throws: ListenEndpointError.self) { try ListenEndpoint(parsing: c.text) }
        guard case .invalid(_, let why)? = error else {
            Issue.record("expected .invalid, got \(String(describing: error))")
            return
        }
        #expect(why.contains(c.hint))
        #expect(error?.description.contains("invalid endpoint") == true)
    }

    struct Wrapper: Codable, Equatable {
        var listen: ListenEndpoint
    }

    private func decode(_ json: String) throws -> ListenEndpoint {
        try JSONDecoder().decode(Wrapper.self, from: Data(json.utf8)).listen
    }

    @Test func decodesFromAPortNumber() throws {
        #expect(try decode(#"{"listen": 1935}"#) == ListenEndpoint(port: 1935))
        #expect(try decode(#"{"listen": 0}"#) == ListenEndpoint(port: 0))
        #expect(try decode(#"{"listen": 65535}"#) == ListenEndpoint(port: 65535))
    }

    @Test func decodesFromAString() throws {
        #expect(try decode(#"{"listen": "1935"}"#) == ListenEndpoint(port: 1935))
        #expect(try decode(#"{"listen": "udp://[::1]:8000"}"#) == ListenEndpoint(transport: .udp, host: "::1", port: 8000))
        #expect(try decode(#"{"listen": "0.0.0.0:8080"}"#) == ListenEndpoint(port: 8080))
    }

    @Test(arguments: [
        #"{"listen": 70000}"#, #"{"listen": -1}"#, #"{"listen": "70000"}"#, #"{"listen": "abc"}"#,
        #"{"listen": ""}"#, #"{"listen": true}"#, #"{"listen": [1935]}"#, #"{"listen": null}"#,
    ])
    func invalidJSONIsADecodingError(_ json: String) {
        #expect(throws: DecodingError.self) { try decode(json) }
    }

    @Test func invalidPortNamesTheRangeInTheError() {
        let error = #expect(throws: DecodingError.self) { try decode(#"{"listen": 70000}"#) }
        guard case .dataCorrupted(let context)? = error else {
            Issue.record("expected dataCorrupted, got \(String(describing: error))")
            return
        }
        #expect(context.debugDescription.contains("70000"))
        #expect(context.codingPath.map(\.stringValue) == ["listen"])
    }

    @Test func encodesAsItsDescriptionAndDecodesBack() throws {
        for text in ["1935", "127.0.0.1:1935", "udp://:10080", "tcp://[::1]:8000"] {
            let value = Wrapper(listen: try ListenEndpoint(parsing: text))
            let data = try JSONEncoder().encode(value)
            let object = try JSONDecoder().decode([String: String].self, from: data)
            #expect(object["listen"] == text)
            #expect(try JSONDecoder().decode(Wrapper.self, from: data) == value)
        }
    }
}

@Suite struct ListenEndpointWildcardTests {
    @Test func wildcardsBindEverywhereAndDialTheBackendIP() throws {
        let v6 = try ListenEndpoint(parsing: "[::]:8000")
        #expect(v6.bindHost == "::" && v6.dialHost == nil)
        let v4 = try ListenEndpoint(parsing: "udp://0.0.0.0:8000")
        #expect(v4.bindHost == "0.0.0.0" && v4.dialHost == nil)
        let named = try ListenEndpoint(parsing: "[::1]:8000")
        #expect(named.bindHost == "::1" && named.dialHost == "::1")
        let backend = Backend(
            server: "s", service: "v", pid: "1", ip: "10.0.0.7",
            endpoints: [.rtc: [v6], .rtmp: [try ListenEndpoint(parsing: "10.0.0.8:1935")]])
        #expect(backend.address(for: .rtc) == BackendAddress(host: "10.0.0.7", port: 8000))
        #expect(backend.address(for: .rtmp) == BackendAddress(host: "10.0.0.8", port: 1935))
    }
}
