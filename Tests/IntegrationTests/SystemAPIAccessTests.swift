import Foundation
import ProxyTesting
import Testing

/// Who may register origins and read the lists that name clients: the token (`?token=` as SRS 5-7
/// heartbeats carry it, `Authorization: Bearer` as SRS 8 sends it), else loopback or
/// `system_api.allow`. Requests "from elsewhere" go to this machine's non-loopback address, so the
/// proxy sees that address as the client.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct SystemAPIAccessTests {
    static func config(_ systemExtra: String = "") -> String {
        """
        system_api: { listen: 0.0.0.0:0\(systemExtra) }
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0 }
        """
    }

    static func registration(_ id: String, ip: String = "127.0.0.1", summariesSize: Int = 0) -> String {
        let summaries = summariesSize > 0 ? #","summaries":{"pad":"\#(String(repeating: "x", count: summariesSize))"}"# : ""
        return #"{"device_id":"\#(id)","ip":"\#(ip)","server":"s-\#(id)","service":"svc","pid":"1","rtmp":["1935"]\#(summaries)}"#
    }

    /// The system API's URL as seen from loopback and from this machine's other address.
    static func urls(_ proxy: ProxyProcess) throws -> (loopback: URL, elsewhere: URL, address: String) {
        let address = try LocalAddress.nonLoopbackIPv4()
        let port = try proxy.systemAPIPort
        return (URL(string: "http://127.0.0.1:\(port)")!, URL(string: "http://\(address):\(port)")!, address)
    }

    static func register(_ base: URL, _ body: String, query: String = "", headers: [String: String] = [:]) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.post(URL(string: base.absoluteString + "/api/v1/srs/register" + query)!, json: body, headers: headers)
    }

    static func origins(_ base: URL, headers: [String: String] = [:]) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.get(base.appendingPathComponent("api/v1/origins"), headers: headers)
    }

    @Test func withoutATokenOnlyLoopbackAndAllowedNetworksRegisterAndRead() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config())
        let (loopback, elsewhere, address) = try Self.urls(proxy)

        let refused = try await Self.register(elsewhere, Self.registration("far"))
        #expect(refused.status == 403, "\(refused.status) \(refused.text)")
        #expect(refused.text.contains("system_api.register_token") && refused.text.contains("system_api.allow"), "the 403 names both settings: \(refused.text)")
        #expect(refused.text.contains(address), "and the address refused: \(refused.text)")
        for path in ["api/v1/origins", "api/v1/streams"] {
            let r = try await HTTPTestClient.get(elsewhere.appendingPathComponent(path))
            #expect(r.status == 403, "\(path) from \(address): \(r.status)")
        }
        // A flood from elsewhere registers nothing.
        for i in 0..<200 { _ = try await Self.register(elsewhere, Self.registration("flood\(i)")) }
        #expect(try await Self.register(loopback, Self.registration("near")).status == 200)
        let listed = try await Self.origins(loopback)
        #expect(listed.status == 200)
        #expect((listed.json["origins"] as? [[String: Any]])?.compactMap { $0["device_id"] as? String } == ["near"], "\(listed.text)")
        #expect(try await HTTPTestClient.get(elsewhere.appendingPathComponent("api/v1/versions")).status == 200, "versions stays open")

        let allowed = try await ProxyProcess.start(config: Self.config(", allow: [\"\(address)/32\"]"))
        let (_, allowedElsewhere, _) = try Self.urls(allowed)
        #expect(try await Self.register(allowedElsewhere, Self.registration("far")).status == 200, "an allowed network registers")
        #expect(try await Self.origins(allowedElsewhere).status == 200, "and reads")
    }

    @Test func theTokenWorksAsSRS5To7AndSRS8SendIt() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(", register_token: s3cret"))
        let (loopback, elsewhere, _) = try Self.urls(proxy)
        for base in [loopback, elsewhere] {
            let missing = try await Self.register(base, Self.registration("a"))
            #expect(missing.status == 401, "no token, even from loopback: \(missing.status)")
            #expect(missing.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "401 says how to authenticate: \(missing.headers)")
            #expect(try await Self.register(base, Self.registration("a"), query: "?token=guess").status == 401)
            #expect(try await Self.register(base, Self.registration("a"), headers: ["Authorization": "Bearer guess"]).status == 401)
        }
        #expect(try await Self.register(elsewhere, Self.registration("srs6"), query: "?token=s3cret").status == 200, "SRS 5-7: ?token= in the heartbeat url")
        #expect(try await Self.register(elsewhere, Self.registration("srs8"), headers: ["Authorization": "Bearer s3cret"]).status == 200, "SRS 8: Bearer")
        #expect(try await Self.origins(elsewhere).status == 403, "reading from elsewhere without the token")
        let read = try await Self.origins(elsewhere, headers: ["Authorization": "Bearer s3cret"])
        #expect(read.status == 200 && (read.json["origins"] as? [Any])?.count == 2, "\(read.status) \(read.text)")
        #expect(try await Self.origins(loopback).status == 200, "loopback reads without it")
    }

    @Test func aLiveOriginIsNotMovedByAnUnauthenticatedRegisterFromElsewhere() async throws {
        let address = try LocalAddress.nonLoopbackIPv4()
        let proxy = try await ProxyProcess.start(config: Self.config(", allow: [\"\(address)/32\"]"))
        let (loopback, elsewhere, _) = try Self.urls(proxy)
        #expect(try await Self.register(loopback, Self.registration("o1", ip: "127.0.0.1")).status == 200)
        let hijack = try await Self.register(elsewhere, Self.registration("o1", ip: "10.66.0.1"))
        #expect(hijack.status == 409, "\(hijack.status) \(hijack.text)")
        let listed = try await Self.origins(loopback).json["origins"] as? [[String: Any]] ?? []
        #expect(listed.count == 1 && listed.first?["ip"] as? String == "127.0.0.1", "the origin stays where it is: \(listed)")
        #expect(try await Self.register(elsewhere, Self.registration("o1", ip: "127.0.0.1")).status == 200, "its own heartbeat from there is fine")

        let withToken = try await ProxyProcess.start(config: Self.config(", register_token: t"))
        let (tl, _, _) = try Self.urls(withToken)
        #expect(try await Self.register(tl, Self.registration("o1", ip: "127.0.0.1"), query: "?token=t").status == 200)
        #expect(try await Self.register(tl, Self.registration("o1", ip: "127.0.0.2"), query: "?token=t").status == 200, "an authenticated register may move it")
        let moved = try await Self.origins(tl).json["origins"] as? [[String: Any]] ?? []
        #expect(moved.first?["ip"] as? String == "127.0.0.2")
    }

    @Test func backendsAndSummariesAreCapped() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(", max_backends: 3, max_summaries_size: 1000"))
        let (loopback, _, _) = try Self.urls(proxy)
        for id in ["b1", "b2", "b3"] { #expect(try await Self.register(loopback, Self.registration(id)).status == 200) }
        let fourth = try await Self.register(loopback, Self.registration("b4"))
        #expect(fourth.status == 503, "\(fourth.status) \(fourth.text)")
        #expect(fourth.text.contains("max_backends"), "names the setting: \(fourth.text)")
        #expect(try await Self.register(loopback, Self.registration("b2")).status == 200, "a known origin's heartbeat still lands")
        let big = try await Self.register(loopback, Self.registration("b1", summariesSize: 2000))
        #expect(big.status == 413, "\(big.status) \(big.text)")
        #expect((try await Self.origins(loopback).json["origins"] as? [Any])?.count == 3)
    }
}
