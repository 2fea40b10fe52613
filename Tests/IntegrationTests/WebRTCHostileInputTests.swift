import Foundation
import ProxyTesting
import Testing

/// WHIP/WHEP signalling under hostile requests, with the aiortc origin: a Host that names no host
/// (once a trap that killed the process), paths that climb out of /rtc/v1/, credentials meant for
/// the proxy, and an offer flood from one address.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct WebRTCHostileInputTests {
    typealias W = WebRTCRelayTests

    /// One raw HTTP/1.1 request to the signalling listener; the status code and the whole answer.
    static func raw(_ s: W.Setup, method: String = "POST", _ target: String, host: String, headers: [String] = [], body: String = "") async throws -> (Int, String) {
        let socket = try await RawSocket(port: s.api)
        let head = ["\(method) \(target) HTTP/1.1", "Host: \(host)", "Content-Type: application/sdp", "Content-Length: \(body.utf8.count)", "Connection: close"] + headers
        socket.send(Array((head.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8))
        guard let answer = await socket.readUntilClose(timeout: .seconds(20)) else { throw TestFailure("no answer to \(method) \(target)") }
        let status = answer.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, answer)
    }

    @Test func aHostHeaderThatNamesNoHostNeitherCrashesNorReachesTheAnswer() async throws {
        let s = try await W.start()
        let offer = try await WebRTCPeers.offer()
        for host in [":", "", ":80", "[", "a b", "x\"y", "evil.example:99x"] {
            let (status, answer) = try await Self.raw(s, "/rtc/v1/whip/?app=live&stream=h\(UInt32.random(in: 0...UInt32.max))", host: host, body: offer)
            #expect(status == 201, "Host '\(host)': \(answer.prefix(300))")
            #expect(s.proxy.process.isRunning, "the proxy survives Host '\(host)'")
            let candidates = answer.split(separator: "\r\n").filter { $0.hasPrefix("a=candidate:") }
            #expect(!candidates.isEmpty && candidates.allSatisfy { $0.contains(" 127.0.0.1 \(s.udp) ") }, "Host '\(host)': the answer names the proxy's own address: \(candidates)")
        }
        #expect(try await HTTPTestClient.get(try s.proxy.systemAPI.appendingPathComponent("api/v1/versions")).status == 200)
    }

    @Test func pathsThatLeaveTheSignallingTreeAreRefusedBeforeTheOrigin() async throws {
        let s = try await W.start()
        for (method, target) in [("POST", "/rtc/v1/whip/../../stats?app=live&stream=x"), ("POST", "/rtc/v1/whip/%2e%2e/%2e%2e/stats?app=live&stream=x"),
                                 ("PATCH", "/rtc/v1/resource/..%2f..%2fstats"), ("POST", "/rtc/v1/whip/..\\..\\stats?app=live&stream=x")] {
            let (status, answer) = try await Self.raw(s, method: method, target, host: "127.0.0.1", body: "v=0\r\na=ice-ufrag:abcd\r\n")
            #expect([400, 404].contains(status), "\(target): \(answer.prefix(200))")
        }
        let reached = try await s.origin.requests()
        #expect(reached.isEmpty, "nothing reached the origin: \(reached)")
    }

    @Test func theClientsAuthorizationIsNotForwardedUnlessConfigured() async throws {
        let s = try await W.start()
        let offer = try await WebRTCPeers.offer()
        let (status, _) = try await Self.raw(s, "/rtc/v1/whip/?app=live&stream=a1", host: "127.0.0.1", headers: ["Authorization: Bearer for-the-proxy"], body: offer)
        #expect(status == 201)
        let seen = try await s.origin.requests()
        #expect(seen.count == 1 && seen.allSatisfy { $0["authorization"] is NSNull }, "the origin got no Authorization: \(seen)")

        let config = W.config.replacingOccurrences(of: "idle_timeout: 5s }", with: "idle_timeout: 5s, forward_authorization: true }")
        let proxy = try await ProxyProcess.start(config: config, healthChecks: false)
        let api = try await W.port(proxy, "webrtc-api")
        #expect(try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: s.origin.registration(server: "aiortc")).status == 200)
        let forwarding = W.Setup(proxy: proxy, origin: s.origin, api: api, udp: try await W.port(proxy, "webrtc-udp"))
        let (again, _) = try await Self.raw(forwarding, "/rtc/v1/whip/?app=live&stream=a2", host: "127.0.0.1", headers: ["Authorization: Bearer for-the-origin"], body: offer)
        #expect(again == 201)
        #expect(try await s.origin.requests().last?["authorization"] as? String == "Bearer for-the-origin", "with forward_authorization it is")
    }

    @Test func anOfferFloodFromOneAddressIsRateLimited() async throws {
        let s = try await W.start()
        // All at once, so the bucket (burst 20, 10 a second) hardly refills meanwhile.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<40 { group.addTask { try await W.post(s, "/rtc/v1/whip/?app=live&stream=flood", "hello").status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        let limited = statuses.filter { $0 == 429 }.count, parsed = statuses.filter { $0 == 400 }.count
        #expect(parsed >= 20 && parsed <= 30, "the burst (20, and what refilled) is parsed: \(statuses.sorted())")
        #expect(limited >= 10 && limited + parsed == 40, "past the burst, offers are refused with 429: \(statuses.sorted())")
        #expect(try await s.origin.offers() == 0)
    }
}
