import Foundation
import NIOHTTP1
import ProxyCore
import ProxyHTTP
import ProxyTesting
import Testing

@testable import WebRTC

/// CORS on the signalling endpoints (browser WHIP/WHEP clients on another origin): the header
/// rules, and the running module's answers to preflights and real requests.
@Suite struct SignallingCORSTests {
    static func headers(_ cors: CORSPolicy, _ request: [(String, String)], preflight: Bool = false) -> [String: String] {
        Dictionary(cors.headers(for: HTTPHeaders(request), preflight: preflight), uniquingKeysWith: { a, _ in a })
    }

    @Test func theRequestsOriginIsAnsweredWithVaryElseTheWildcard() {
        let cors = CORSPolicy(config: CORSConfig(), profile: .signalling)
        let echoed = Self.headers(cors, [("Origin", "https://app.example:8443")])
        #expect(echoed["Access-Control-Allow-Origin"] == "https://app.example:8443" && echoed["Vary"] == "Origin")
        #expect(echoed["Access-Control-Expose-Headers"] == "Location, Link, ETag, Accept-Patch")
        #expect(echoed["Access-Control-Allow-Methods"] == "POST, PATCH, DELETE, OPTIONS")
        #expect(echoed["Access-Control-Allow-Headers"] == "Content-Type, Authorization, If-Match")
        #expect(echoed["Access-Control-Max-Age"] == nil, "only preflights carry Max-Age")
        #expect(Self.headers(cors, [("Origin", "null")])["Access-Control-Allow-Origin"] == "null", "a sandboxed page's origin")

        for bad in [
            [], [("Origin", "https://a.example"), ("Origin", "https://b.example")], [("Origin", "https://a.example, https://b.example")],
            [("Origin", "https://a example")], [("Origin", "")], [("Origin", "https://" + String(repeating: "a", count: 300))],
            [("Origin", "https://é.example")],
        ] {
            let h = Self.headers(cors, bad)
            #expect(h["Access-Control-Allow-Origin"] == "*" && h["Vary"] == nil, "\(bad) -> \(h)")
        }
    }

    @Test func aPreflightGetsMaxAgeAndPrivateNetworkOnlyWhenAsked() {
        let cors = CORSPolicy(config: CORSConfig(), profile: .signalling)
        let plain = Self.headers(cors, [("Origin", "http://127.0.0.1:8080")], preflight: true)
        #expect(plain["Access-Control-Max-Age"] == "600" && plain["Access-Control-Allow-Private-Network"] == nil)
        let pna = Self.headers(cors, [("Origin", "https://public.example"), ("Access-Control-Request-Private-Network", "true")], preflight: true)
        #expect(pna["Access-Control-Allow-Private-Network"] == "true")
    }

    @Test func aConfiguredOriginIsSentAsItIsAndOffAddsNothing() {
        var config = CORSConfig()
        config.allowOrigin = "https://studio.example"
        let fixed = Self.headers(CORSPolicy(config: config, profile: .signalling), [("Origin", "https://other.example")])
        #expect(fixed["Access-Control-Allow-Origin"] == "https://studio.example" && fixed["Vary"] == nil)
        config.enabled = false
        #expect(CORSPolicy(config: config, profile: .signalling).headers(for: HTTPHeaders([("Origin", "https://x.example")]), preflight: true).isEmpty)
    }

    @Test func signallingPathsNameTheirEndpoint() {
        #expect(WebRTCSignalling.endpoint("/rtc/v1/whip/") == .offer(.whip, streamPath: ""))
        #expect(WebRTCSignalling.endpoint("/rtc/v1/whep/live/s1") == .offer(.whep, streamPath: "live/s1"))
        #expect(WebRTCSignalling.endpoint("/rtc/v1/publish") == .offer(.srsPublish, streamPath: ""))
        #expect(WebRTCSignalling.endpoint("/rtc/v1/play/") == .offer(.srsPlay, streamPath: ""))
        #expect(WebRTCSignalling.endpoint("/rtc/v1/resource/abc") == .resource(id: "abc"))
        #expect(WebRTCSignalling.endpoint("/rtc/v1/resource/abc")?.allow == "PATCH, DELETE, OPTIONS")
        #expect(WebRTCSignalling.endpoint("/rtc/v1/whip/")?.allow == "POST, OPTIONS")
        #expect(WebRTCSignalling.endpoint("/rtc/v1/whipx") == nil && WebRTCSignalling.endpoint("/api/v1/streams") == nil)
    }

    // MARK: The running module

    static let origin = ["Origin": "http://127.0.0.1:9999"]

    static func preflight(_ url: String, method: String) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.send("OPTIONS", URL(string: url)!, body: nil, headers: origin.merging([
            "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "content-type",
        ]) { $1 })
    }

    @Test func theModuleAnswersPreflightsOnEverySignallingPathAndCORSOnErrors() async throws {
        try await RunningWebRTCModule.with(registry: MemoryRegistry()) { m in
            for (path, allow) in [
                ("/rtc/v1/whip/?app=live&stream=s", "POST, OPTIONS"), ("/rtc/v1/whep/live/s", "POST, OPTIONS"), ("/rtc/v1/publish/", "POST, OPTIONS"),
                ("/rtc/v1/play/", "POST, OPTIONS"), ("/rtc/v1/resource/0123456789abcdef0123456789abcdef", "PATCH, DELETE, OPTIONS"),
            ] {
                let r = try await Self.preflight(m.base + path, method: "POST")
                #expect(r.status == 204, "\(path): \(r.status) \(r.text)")
                #expect(r.headers["access-control-allow-origin"] == "http://127.0.0.1:9999" && r.headers["vary"] == "Origin", "\(path): \(r.headers)")
                #expect(r.headers["access-control-allow-methods"]?.contains("POST") == true && r.headers["access-control-allow-headers"]?.contains("Content-Type") == true)
                #expect(r.headers["access-control-max-age"] == "600" && r.headers["allow"] == allow, "\(path): \(r.headers)")
                #expect(r.body.isEmpty)
            }
            let elsewhere = try await Self.preflight(m.base + "/api/v1/streams", method: "GET")
            #expect(elsewhere.status == 404, "not a signalling path")

            // Real answers carry the headers too, errors included (a page can read why).
            let noBackend = try await HTTPTestClient.post(
                URL(string: m.base + "/rtc/v1/whip/?app=live&stream=s")!, body: Data("v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n".utf8),
                headers: Self.origin.merging(["Content-Type": "application/sdp"]) { $1 })
            #expect(noBackend.status == 503, "\(noBackend.status) \(noBackend.text)")
            #expect(noBackend.headers["access-control-allow-origin"] == "http://127.0.0.1:9999")
            #expect(noBackend.headers["access-control-expose-headers"]?.contains("Location") == true)
            let huge = try await HTTPTestClient.post(
                URL(string: m.base + "/rtc/v1/whip/?app=live&stream=s")!, body: Data(repeating: 0x61, count: 70_000),
                headers: Self.origin.merging(["Content-Type": "application/sdp"]) { $1 })
            #expect(huge.status == 413 && huge.headers["access-control-allow-origin"] == "http://127.0.0.1:9999", "\(huge.status) \(huge.headers)")
            let wrongMethod = try await HTTPTestClient.get(URL(string: m.base + "/rtc/v1/whip/?app=live&stream=s")!, headers: Self.origin)
            #expect(wrongMethod.status == 405 && wrongMethod.headers["allow"] == "POST, OPTIONS", "\(wrongMethod.status) \(wrongMethod.headers)")
        }
    }

    @Test func withCORSOffPreflightsAre405AndAnswersCarryNoCORSHeaders() async throws {
        try await RunningWebRTCModule.with(registry: MemoryRegistry(), configure: { $0.cors.enabled = false }) { m in
            let r = try await Self.preflight(m.base + "/rtc/v1/whip/?app=live&stream=s", method: "POST")
            #expect(r.status == 405 && r.headers["allow"] == "POST, OPTIONS", "\(r.status) \(r.headers)")
            #expect(!r.headers.keys.contains { $0.hasPrefix("access-control-") }, "\(r.headers)")
            let bad = try await HTTPTestClient.post(
                URL(string: m.base + "/rtc/v1/whip/?app=live&stream=s")!, body: Data("hello".utf8), headers: Self.origin.merging(["Content-Type": "application/sdp"]) { $1 })
            #expect(bad.status == 400 && !bad.headers.keys.contains { $0.hasPrefix("access-control-") }, "\(bad.status) \(bad.headers)")
        }
    }
}
