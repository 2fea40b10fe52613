import Foundation
import ProxyTesting
import Testing

/// The limits every listener and relay has (`limits:` and the modules' timeouts), against clients
/// that hold connections open: slowloris heads, idle keep-alive connections, connection floods from
/// one address, a publisher that goes silent, an origin that stalls mid-body.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct LimitsTests {
    static let config = """
        limits: { http_header_timeout: 2s, http_idle_timeout: 3s, connections_per_address: 20 }
        system_api: { listen: 127.0.0.1:0 }
        commands_api: { enabled: true, listen: 127.0.0.1:0, auth: { none: true } }
        modules:
          rtmp: { listen: 127.0.0.1:0, handshake_timeout: 30s, idle_timeout: 2s }
          http-flv: { listen: 127.0.0.1:0, header_timeout: 2s, backend_stall_timeout: 2s }
          srt: { enabled: false }
          webrtc: { enabled: true, api_listen: 127.0.0.1:0, udp_listen: 127.0.0.1:0, candidate: 127.0.0.1, header_timeout: 2s }
        """

    static func port(_ proxy: ProxyProcess, _ listener: String) async throws -> Int {
        Int(try await proxy.waitForListener(listener).split(separator: ":").last!)!
    }

    /// Seconds until the server closed a connection that sends a request head one header line
    /// every 300 ms and never ends it; nil if it is still open after `limit`.
    static func slowloris(_ port: Int, limit: Duration = .seconds(8)) async throws -> Double? {
        let socket = try await RawSocket(port: port)
        let start = ContinuousClock.now
        socket.send(Array("GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n".utf8))
        while ContinuousClock.now - start < limit {
            socket.send(Array("X-Drip: 1\r\n".utf8))
            if await socket.waitForClose(timeout: .milliseconds(300)) {
                let d = ContinuousClock.now - start
                return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            }
        }
        return nil
    }

    @Test func aSlowlorisHeadIsClosedAtTheHeaderTimeoutOnEveryHTTPListener() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config)
        for listener in ["system-api", "commands-api", "http-flv", "webrtc-api"] {
            let closed = try await Self.slowloris(try await Self.port(proxy, listener))
            #expect(closed != nil && closed! >= 1.5 && closed! < 5, "\(listener): a head dribbled line by line is closed at its 2 s header timeout (closed after \(closed.map { "\($0) s" } ?? "never"))")
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosedOnTheAPIs() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config)
        for listener in ["system-api", "commands-api"] {
            let socket = try await RawSocket(port: try await Self.port(proxy, listener))
            let path = listener == "system-api" ? "/api/v1/versions" : "/commands/capacity"
            socket.send(Array("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            let (answered, text) = await socket.read(until: "\r\n\r\n", timeout: .seconds(5))
            #expect(answered && text.hasPrefix("HTTP/1.1 200"), "\(listener): \(text)")
            let start = ContinuousClock.now
            #expect(await socket.waitForClose(timeout: .seconds(8)), "\(listener): the idle connection is closed")
            #expect(ContinuousClock.now - start < .seconds(5), "\(listener): within the 2 s header / 3 s idle timeout")
        }
    }

    @Test func connectionsPastThePerAddressCapAreClosedAtOnce() async throws {
        // Long header timeouts here: the held connections must stay open for as long as the test looks.
        let config = Self.config.replacingOccurrences(of: "http_header_timeout: 2s", with: "http_header_timeout: 60s")
            .replacingOccurrences(of: "header_timeout: 2s", with: "header_timeout: 60s")
        let proxy = try await ProxyProcess.start(config: config)
        for listener in ["rtmp", "http-flv", "system-api", "webrtc-api"] {
            let port = try await Self.port(proxy, listener)
            // 21 connections from one address. Connections are set up on several event loops, so
            // which one is refused is not always the last: exactly one of them is.
            var sockets: [RawSocket] = []
            for _ in 0..<21 { sockets.append(try await RawSocket(port: port)) }
            try await Task.sleep(for: .seconds(1))
            var open: [RawSocket] = []
            for socket in sockets where !(await socket.waitForClose(timeout: .milliseconds(20))) { open.append(socket) }
            #expect(open.count == 20, "\(listener): one connection over the cap of 20 is closed, the others stay (\(open.count) open)")
            for socket in open.suffix(5) { socket.disconnect() }
            try await Task.sleep(for: .milliseconds(300))
            let again = try await RawSocket(port: port)
            #expect(!(await again.waitForClose(timeout: .milliseconds(700))), "\(listener): under the cap again, a connection stays")
            for socket in open { socket.disconnect() }
            again.disconnect()
            try await Task.sleep(for: .milliseconds(300))
        }
        try await Wait.until("the refusal in the log") { proxy.log.contains("reason=address_full") ? true : nil }
    }

    @Test func aRelayedRTMPSessionWithNoByteEitherWayIsClosedAtItsIdleTimeout() async throws {
        let nginx = try await NginxRTMP.start()
        defer { nginx.stop() }
        let proxy = try await ProxyProcess.start(config: Self.config)
        try await RTMPRelayTests.register(nginx, as: "n", with: proxy)
        let port = try await Self.port(proxy, "rtmp")
        let client = try await RawSocket(port: port)
        client.send(RTMPStreamChangeTests.opening(port: port, first: "publish", name: RTMPRelayTests.unique("quiet")))
        #expect(await client.read(until: "NetStream.Publish.Start", timeout: .seconds(10)).found)
        let start = ContinuousClock.now
        #expect(await client.waitForClose(timeout: .seconds(10)), "a publisher that sends nothing is closed")
        #expect(ContinuousClock.now - start < .seconds(6), "at its 2 s idle timeout")
        try await Wait.until("the cause in the log") { proxy.log.contains("idle") ? true : nil }
    }

    @Test func anOriginThatStallsMidBodyIsLeftAtTheStallTimeout() async throws {
        // The origin answers with an FLV head and header, then nothing, and keeps the connection.
        let script = """
            import asyncio
            head = b"HTTP/1.1 200 OK\\r\\nContent-Type: video/x-flv\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nd\\r\\nFLV\\x01\\x05\\x00\\x00\\x00\\x09\\x00\\x00\\x00\\x00\\r\\n"
            async def serve(reader, writer):
                while (await reader.readline()) not in (b"\\r\\n", b""): pass
                writer.write(head); await writer.drain(); await reader.read()
            async def main():
                server = await asyncio.start_server(serve, "127.0.0.1", 0)
                print(server.sockets[0].getsockname()[1], flush=True)
                await server.serve_forever()
            asyncio.run(main())
            """
        let origin = try PeerProcess("python3", ["-c", script])
        defer { origin.stop() }
        let originPort = try await Wait.until("the test origin's port", timeout: .seconds(10)) { () -> Int? in
            Int(origin.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let proxy = try await ProxyProcess.start(config: Self.config)
        try await HTTPFLVRelayTests.register(#"{"ip":"127.0.0.1","server":"stall","service":"py","pid":"1","http":["\#(originPort)"]}"#, with: proxy)
        let player = try await RawSocket(port: try await Self.port(proxy, "http-flv"))
        player.send(Array("GET /live/stalled.flv HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(await player.read(until: "FLV", timeout: .seconds(5)).found, "the head and the FLV header arrive")
        let start = ContinuousClock.now
        #expect(await player.waitForClose(timeout: .seconds(10)), "the player is not held forever by a stalled origin")
        #expect(ContinuousClock.now - start < .seconds(6), "at the 2 s stall timeout")
        try await Wait.until("the cause in the log") { proxy.log.contains("stall") ? true : nil }
    }

    @Test func newSessionsFromOneAddressAreRateLimitedAndA404LeavesNoRoute() async throws {
        let nginx = try await NginxRTMP.start(hls: true)
        defer { nginx.stop() }
        let proxy = try await ProxyProcess.start(config: Self.config.replacingOccurrences(of: "backend_stall_timeout: 2s", with: "backend_stall_timeout: 2s, session_rate: 5, session_burst: 10"))
        try await HTTPFLVRelayTests.register(nginx.registration(server: "n"), with: proxy)
        let port = try await Self.port(proxy, "http-flv")
        func statuses(_ ext: String) async throws -> [Int] {
            var statuses: [Int] = []
            for i in 0..<30 {
                let socket = try await RawSocket(port: port)
                socket.send(Array("GET /live/nothing\(i).\(ext) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
                let answer = await socket.readUntilClose(timeout: .seconds(10)) ?? ""
                statuses.append(answer.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0)
            }
            return statuses
        }
        // Random .flv names: the origin's 404 goes back, and the route each claimed is released.
        let flv = try await statuses("flv")
        let limited = flv.filter { $0 == 429 }.count
        #expect(limited >= 12 && limited <= 20, "past the burst of 10 (plus the refill at 5/s), 429: \(flv)")
        #expect(flv.filter { $0 != 429 }.allSatisfy { $0 == 404 }, "the others are the origin's 404: \(flv)")
        let streams = try await HTTPFLVRelayTests.streams(proxy)
        #expect(streams.isEmpty, "streams the origin does not have leave no route behind: \(streams.map { $0["key"] ?? "?" })")
        // Random .m3u8 names each start an HLS session (state the proxy keeps): bounded the same way.
        try await Task.sleep(for: .seconds(2))  // the bucket refills
        let hls = try await statuses("m3u8")
        #expect(hls.filter { $0 == 429 }.count >= 12, "new HLS sessions past the burst are refused: \(hls)")
        let sessions = try await HTTPFLVRelayTests.streams(proxy).count
        #expect(sessions <= 20, "at most the burst and the refill became sessions: \(sessions)")
    }
}
