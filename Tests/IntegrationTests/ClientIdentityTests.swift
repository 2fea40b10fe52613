import Foundation
import ProxyTesting
import Testing

/// Origins learn the client behind the proxy: HTTP-FLV/HLS requests and WHIP/WHEP signalling reach
/// the origin with X-Forwarded-For (the client's own list, then its address) and X-Real-IP, as a
/// real origin logs them (nginx's access log, the aiortc origin's request record).
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct ClientIdentityTests {
    @Test func httpRequestsCarryTheClientToTheOrigin() async throws {
        let nginx = try await NginxRTMP.start(hls: true)
        let proxy = try await ProxyProcess.start(config: HTTPFLVRelayTests.config())
        let port = try await HTTPFLVRelayTests.port(proxy, "http-flv")
        try await HTTPFLVRelayTests.register(nginx.registration(server: "n"), with: proxy)
        _ = try await HTTPFLVRelayTests.exchange(port, "GET /live/who.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        _ = try await HTTPFLVRelayTests.exchange(
            port, "GET /live/who2.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 203.0.113.9\r\nX-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n")
        let seen = try await Wait.until("nginx's log of both requests", timeout: .seconds(5)) { () -> [(request: String, forwardedFor: String, realIP: String)]? in
            let lines = nginx.forwardedClients.filter { $0.request.contains("/live/who") }
            return lines.count >= 2 ? lines : nil
        }
        let direct = try #require(seen.first { $0.request.hasPrefix("GET /live/who.flv") })
        #expect(direct.forwardedFor == "127.0.0.1" && direct.realIP == "127.0.0.1", "\(direct)")
        let chained = try #require(seen.first { $0.request.hasPrefix("GET /live/who2.flv") })
        #expect(chained.forwardedFor == "203.0.113.9, 127.0.0.1", "the client's own list, then its address: \(chained)")
        #expect(chained.realIP == "127.0.0.1", "X-Real-IP is the proxy's view, never the client's claim: \(chained)")
        try await proxy.stop()
    }

    @Test func whipSignallingCarriesTheClientToTheOrigin() async throws {
        let s = try await WebRTCRelayTests.start()
        let name = WebRTCRelayTests.unique("xff")
        let publisher = try WebRTCPeers.client("publish", "\(s.base)/rtc/v1/whip/?app=live&stream=\(name)", seconds: 2)
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "\(publisher.output)")
        let requests = try await s.origin.requests().filter { ($0["path"] as? String)?.contains(name) == true || $0["method"] as? String == "DELETE" }
        let offer = try #require(requests.first { $0["method"] as? String == "POST" }, "\(requests)")
        #expect(offer["forwarded_for"] as? String == "127.0.0.1" && offer["real_ip"] as? String == "127.0.0.1", "\(offer)")
        try await s.proxy.stop()
    }
}

/// RTMP dials can start with the PROXY protocol: nginx-rtmp with `listen ... proxy_protocol`
/// logs the publisher's own address (a non-loopback one of this machine) instead of the
/// proxy's 127.0.0.1; per module (`modules.rtmp.proxy_protocol`) or per origin (its registration).
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct ProxyProtocolTests {
    static func publishFromAnotherAddress(_ proxy: ProxyProcess, _ name: String) async throws -> String {
        let address = try LocalAddress.nonLoopbackIPv4()
        let port = try await HooksTests.port(proxy, "rtmp")
        let publisher = try MediaTools.publish("rtmp://\(address):\(port)/live/\(name)", seconds: 2)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output.suffix(300))")
        return address
    }

    /// v1 straight to nginx-rtmp (it reads v1 only); v2 through a real haproxy that reads it
    /// (`accept-proxy`) and hands the client to nginx-rtmp as v1.
    @Test(arguments: ["v1", "v2"])
    func theOriginSeesThePublishersAddress(_ version: String) async throws {
        let nginx = try await NginxRTMP.start(proxyProtocol: true)
        let haproxy = version == "v2" ? try await HAProxyRelay.start(to: nginx.port) : nil
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 127.0.0.1:0 }
            modules:
              rtmp: { listen: 0.0.0.0:0, proxy_protocol: \(version) }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            """)
        let body = nginx.registration(server: "pp").replacingOccurrences(of: #""rtmp":["\#(nginx.port)"]"#, with: #""rtmp":["\#(haproxy?.port ?? nginx.port)"]"#)
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body)
        #expect(r.status == 200, "\(r.text)")
        let name = "pp-\(version)"
        let address = try await Self.publishFromAnotherAddress(proxy, name)
        let logged = try await Wait.until("nginx's session log", timeout: .seconds(10)) { () -> [(address: String, command: String, stream: String)]? in
            let lines = nginx.rtmpClients.filter { $0.stream.hasSuffix(name) }
            return lines.isEmpty ? nil : lines
        }
        #expect(logged.allSatisfy { $0.address == address }, "the publisher's address, not the proxy's: \(logged)")
        #expect(nginx.published == [name])
        try await proxy.stop()
        withExtendedLifetime(haproxy) {}
    }

    @Test func anOriginRegistersItsOwnVersion() async throws {
        let nginx = try await NginxRTMP.start(proxyProtocol: true)
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 127.0.0.1:0 }
            modules:
              rtmp: { listen: 0.0.0.0:0 }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            """)
        let body = nginx.registration(server: "pp").replacingOccurrences(of: #""ip":"#, with: #""proxy_protocol":"v1","ip":"#)
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body)
        #expect(r.status == 200, "\(r.text)")
        let bad = try await HTTPTestClient.post(
            try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body.replacingOccurrences(of: #""v1""#, with: #""v3""#))
        #expect(bad.status == 400 && bad.text.contains("proxy_protocol"), "\(bad.text)")
        let address = try await Self.publishFromAnotherAddress(proxy, "pp-registered")
        let logged = try await Wait.until("nginx's session log", timeout: .seconds(10)) { () -> [String]? in
            let lines = nginx.rtmpClients.filter { $0.stream.hasSuffix("pp-registered") }.map(\.address)
            return lines.isEmpty ? nil : lines
        }
        #expect(logged.allSatisfy { $0 == address }, "\(logged)")
        try await proxy.stop()
    }
}
