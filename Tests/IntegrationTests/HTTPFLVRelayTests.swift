import Foundation
import ProxyTesting
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// HTTP-FLV, HTTP-TS and HLS through the built proxy with real peers: ffmpeg HTTP origins,
/// nginx-rtmp writing HLS behind nginx http, ffprobe/ffmpeg players.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct HTTPFLVRelayTests {
    static func config(_ httpExtra: String = "") -> String {
        """
        system_api: { listen: 127.0.0.1:0 }
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0\(httpExtra) }
          srt: { listen: 127.0.0.1:0 }
        """
    }

    static func port(_ proxy: ProxyProcess, _ listener: String) async throws -> Int {
        let address = try await proxy.waitForListener(listener)
        return Int(address.split(separator: ":").last!)!
    }

    static func register(_ body: String, with proxy: ProxyProcess) async throws {
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: body)
        #expect(r.status == 200)
    }

    static func streams(_ proxy: ProxyProcess) async throws -> [[String: Any]] {
        let r = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/streams"))
        return r.json["streams"] as? [[String: Any]] ?? []
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    /// Sends raw request bytes and returns everything until the proxy closes the connection.
    static func exchange(_ port: Int, _ request: String, timeout: Duration = .seconds(10)) async throws -> String {
        let socket = try await RawSocket(port: port)
        socket.send(Array(request.utf8))
        guard let answer = await socket.readUntilClose(timeout: timeout) else { throw TestFailure("the proxy did not close the connection") }
        return answer
    }

    static func statusLine(_ response: String) -> String {
        response.components(separatedBy: "\r\n").first ?? ""
    }

    static let refusalMetric = "stream_proxy_http_flv_refused_requests_total"

    /// The refusal counters by reason (MetricsTests.counts), the reasons at 0 left out.
    static func refusals(_ proxy: ProxyProcess) async throws -> [String: Double] {
        try await MetricsTests.counts(proxy, refusalMetric, reasons: 22)
    }

    /// Waits until the refusal counters are `expected` (and no other reason is counted).
    static func waitForRefusals(_ proxy: ProxyProcess, _ expected: [String: Double], timeout: Duration = .seconds(10)) async throws {
        try await MetricsTests.waitForCounts(proxy, refusalMetric, reasons: 22, expected, timeout: timeout)
    }

    // MARK: Live HTTP-FLV and HTTP-TS

    @Test(arguments: [FFmpegHTTPOrigin.Format.flv, .ts])
    func aLiveStreamThroughTheProxyHasTheSameFramesAndTimestampsAsDirect(format: FFmpegHTTPOrigin.Format) async throws {
        let routed = try await FFmpegHTTPOrigin.start(format, seconds: 4)
        let direct = try await FFmpegHTTPOrigin.start(format, seconds: 4)
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")
        try await Self.register(routed.registration(server: "o"), with: proxy)

        let viaProxy = try MediaTools.play("http://127.0.0.1:\(port)\(routed.path)?token=abc")
        let fromOrigin = try MediaTools.play("http://127.0.0.1:\(direct.port)\(direct.path)")
        let live = try await Wait.until("the player in /api/v1/streams", timeout: .seconds(10)) { () async throws -> [String: Any]? in
            try await Self.streams(proxy).first { ($0["sessions"] as? Int ?? 0) == 1 && ($0["bytes_to_clients"] as? Int ?? 0) > 0 }
        }
        #expect(live["stream"] as? String == "origin")
        #expect(((live["clients"] as? [[String: Any]]) ?? []).first?["protocol"] as? String == "http")
        try await viaProxy.wait(timeout: .seconds(20))
        try await fromOrigin.wait(timeout: .seconds(20))
        let a = MediaTools.timestamps(viaProxy.output), b = MediaTools.timestamps(fromOrigin.output)
        #expect(b.count >= 95, "the direct player got the stream (\(b.count) frames)")
        #expect(a == b, "same frames, same timestamps: \(a.count) via proxy, \(b.count) direct")
        #expect(try await routed.process.wait(timeout: .seconds(10)) == 0, "the origin finished its stream: \(routed.process.output)")
        #expect(await proxy.logContains("relay closed"))
        try await proxy.stop()
    }

    @Test func aPlayerThatLeavesClosesItsUpstreamRequestAtOnce() async throws {
        let origin = try await FFmpegHTTPOrigin.start(.flv, seconds: 60)
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")
        try await Self.register(origin.registration(server: "o"), with: proxy)
        let socket = try await RawSocket(port: port)
        socket.send(Array("GET \(origin.path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        let head = await socket.read(until: "FLV", timeout: .seconds(10))
        #expect(head.found, "the stream started: \(head.received.prefix(300))")
        #expect(head.received.hasPrefix("HTTP/1.1 200"))
        // A live stream's body goes out as it came, ended by closing: no chunk framing per write.
        #expect(!head.received.lowercased().contains("transfer-encoding"), "\(head.received.prefix(300))")
        #expect(head.received.lowercased().contains("connection: close"))
        let left = ContinuousClock.now
        shutdown(socket.fd, Int32(SHUT_RDWR))
        // ffmpeg -listen exits (status 1) when its client goes away; it would stream 60 s otherwise.
        let status = try await origin.process.wait(timeout: .seconds(5))
        #expect(status != 0, "the origin saw its client leave")
        #expect(ContinuousClock.now - left < .seconds(5))
        try await Wait.until("the session to end", timeout: .seconds(5)) { () async throws -> Bool? in
            try await Self.streams(proxy).allSatisfy { ($0["sessions"] as? Int ?? 0) == 0 } ? true : nil
        }
        try await proxy.stop()
    }

    @Test func aBackendErrorStatusIsPassedThrough() async throws {
        let nginx = try await NginxRTMP.start(hls: true)
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")
        try await Self.register(nginx.registration(server: "n"), with: proxy)
        let answer = try await Self.exchange(port, "GET /live/none.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(answer) == "HTTP/1.1 404 Not Found", "\(answer.prefix(300))")
        // nginx writes its access log after the response went out: wait for the line.
        let logged = try? await Wait.until("nginx's access log line", timeout: .seconds(5)) { nginx.httpRequests.isEmpty ? nil : nginx.httpRequests }
        #expect(logged == ["GET /live/none.flv HTTP/1.1"])
        try await proxy.stop()
    }

    // MARK: HLS

    @Test func anHLSPlayerGetsItsPlaylistAndEverySegmentFromOneBackend() async throws {
        let a = try await NginxRTMP.start(hls: true), b = try await NginxRTMP.start(hls: true)
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let httpPort = try await Self.port(proxy, "http-flv")
        let rtmpPort = try await Self.port(proxy, "rtmp")
        try await Self.register(a.registration(server: "a"), with: proxy)
        try await Self.register(b.registration(server: "b"), with: proxy)
        let name = Self.unique("hls")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(rtmpPort)/live/\(name)", seconds: 14)
        let origin = try await Wait.until("the publish at an origin", timeout: .seconds(10)) { () -> NginxRTMP? in
            a.published == [name] ? a : b.published == [name] ? b : nil
        }
        let other = origin === a ? b : a
        try await Wait.until("the origin's playlist to hold 3 segments", timeout: .seconds(15)) { () -> Bool? in
            let text = try? String(contentsOf: origin.directory.appendingPathComponent("hls/\(name).m3u8"), encoding: .utf8)
            return (text?.components(separatedBy: ".ts").count ?? 0) > 3 ? true : nil
        }

        // The first request is redirected to a session URL; the playlist's URIs carry the session.
        let first = try await Self.exchange(httpPort, "GET /live/\(name).m3u8 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(first) == "HTTP/1.1 302 Found")
        let location = first.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }.map { String($0.dropFirst(9)).trimmingCharacters(in: .whitespaces) } ?? ""
        #expect(location.hasPrefix("/live/\(name).m3u8?spsid="), "\(location)")
        let playlist = try await HTTPTestClient.get(URL(string: "http://127.0.0.1:\(httpPort)\(location)")!)
        #expect(playlist.status == 200)
        let text = String(decoding: playlist.body, as: UTF8.self)
        let uris = text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        #expect(!uris.isEmpty && uris.allSatisfy { $0.contains("?spsid=") }, "\(text)")

        // A real player: playlist plus at least 5 segments, every one from the publisher's origin.
        let player = try PeerProcess("ffmpeg", ["-nostdin", "-v", "error", "-i", "http://127.0.0.1:\(httpPort)/live/\(name).m3u8",
                                                "-t", "6", "-map", "0:v", "-c", "copy", "-f", "null", "-"])
        #expect(try await player.wait(timeout: .seconds(40)) == 0, "player: \(player.output)")
        let segments = origin.httpRequests.filter { $0.contains(".ts") }
        #expect(segments.count >= 5, "the player fetched 5+ segments: \(origin.httpRequests)")
        #expect(origin.httpRequests.filter { $0.contains(".m3u8") }.count >= 2)
        #expect(other.httpRequests.isEmpty, "nothing went to the other backend: \(other.httpRequests)")
        #expect(origin.httpRequests.allSatisfy { !$0.contains("spsid") }, "the session parameter stays in the proxy")
        let live = try await Self.streams(proxy).first { $0["stream"] as? String == name }
        #expect((live?["sessions"] as? Int ?? 0) >= 2, "the HLS sessions count as players: \(String(describing: live))")
        _ = try await publisher.wait(timeout: .seconds(30))
        try await proxy.stop()
    }

    @Test func anUnknownSessionRestartsAPlaylistButNotASegment() async throws {
        let nginx = try await NginxRTMP.start(hls: true)
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")
        try await Self.register(nginx.registration(server: "n"), with: proxy)
        let stale = String(repeating: "ab", count: 16)
        let playlist = try await Self.exchange(port, "GET /live/x.m3u8?spsid=\(stale) HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(playlist) == "HTTP/1.1 302 Found")
        #expect(playlist.contains("spsid=") && !playlist.contains("spsid=\(stale)"))
        let segment = try await Self.exchange(port, "GET /live/x-1.ts?spsid=\(stale) HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(segment) == "HTTP/1.1 404 Not Found")
        #expect(nginx.httpRequests.isEmpty)
        try await Self.waitForRefusals(proxy, ["unknown_hls_session": 1])
        try await proxy.stop()
    }

    // MARK: Proxy answers: CORS, static files, keep-alive

    @Test func corsPreflightStaticFilesAndKeepAlive() async throws {
        let root = try PackagePaths.temporaryDirectory("static")
        try "hello\n".write(to: root.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("player"), withIntermediateDirectories: true)
        try "<html></html>".write(to: root.appendingPathComponent("player/index.html"), atomically: true, encoding: .utf8)
        let secret = root.deletingLastPathComponent().appendingPathComponent("secret-\(UInt32.random(in: 0...UInt32.max)).txt")
        try "secret".write(to: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: secret) }
        let proxy = try await ProxyProcess.start(config: Self.config(", static_files: \(root.path)"), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")

        let preflight = try await Self.exchange(port, "OPTIONS /live/s.flv HTTP/1.1\r\nHost: h\r\nOrigin: http://example.com\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(preflight) == "HTTP/1.1 200 OK")
        #expect(preflight.contains("Access-Control-Allow-Origin: *"))

        // Two requests on one connection, answered in order with lengths; then the close asked for.
        let both = try await Self.exchange(port, "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\nGET /player/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(both.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "\(both)")
        #expect(both.contains("Content-Length: 6\r\n") && both.contains("hello\n") && both.contains("<html></html>"))
        #expect(both.contains("Content-Type: text/html"))

        for path in ["/../\(secret.lastPathComponent)", "/%2e%2e/\(secret.lastPathComponent)", "/player/..%2f..%2f\(secret.lastPathComponent)"] {
            let answer = try await Self.exchange(port, "GET \(path) HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            #expect(Self.statusLine(answer).hasPrefix("HTTP/1.1 403") || Self.statusLine(answer).hasPrefix("HTTP/1.1 404"), "\(path): \(answer)")
            #expect(!answer.contains("secret"), "no file outside the root is served (\(path))")
        }
        let missing = try await Self.exchange(port, "GET /nope.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(missing) == "HTTP/1.1 404 Not Found")
        try await proxy.stop()
    }

    // MARK: Bad input

    @Test func badRequestsGetTheirStatusAndTheProxyKeepsServing() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(", header_timeout: 1s"), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")
        #expect(try await Self.refusals(proxy).isEmpty, "nothing refused yet")

        let longLine = try await Self.exchange(port, "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n\r\n")
        #expect(Self.statusLine(longLine) == "HTTP/1.1 414 URI Too Long")
        let bigHead = try await Self.exchange(port, "GET /x.flv HTTP/1.1\r\n" + String(repeating: "X-Pad: \(String(repeating: "p", count: 1000))\r\n", count: 34) + "\r\n")
        #expect(Self.statusLine(bigHead) == "HTTP/1.1 431 Request Header Fields Too Large")
        let malformed = try await Self.exchange(port, "GARBAGE\r\n\r\n")
        #expect(Self.statusLine(malformed) == "HTTP/1.1 400 Bad Request")
        let binary = try await Self.exchange(port, String(decoding: [0x16, 0x03, 0x01, 0x00, 0xa5, 0x01], as: UTF8.self))
        #expect(Self.statusLine(binary) == "HTTP/1.1 400 Bad Request")
        let unknown = try await Self.exchange(port, "GET /live/s.mp4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(unknown) == "HTTP/1.1 404 Not Found")
        let post = try await Self.exchange(port, "POST /live/s.flv HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        #expect(Self.statusLine(post) == "HTTP/1.1 405 Method Not Allowed")
        let noBackend = try await Self.exchange(port, "GET /live/s.flv HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(noBackend) == "HTTP/1.1 503 Service Unavailable")

        let started = ContinuousClock.now
        let stalled = try await Self.exchange(port, "GET /live/s.flv HTTP/1.1\r\nHost: h\r\n")
        #expect(Self.statusLine(stalled) == "HTTP/1.1 408 Request Timeout")
        #expect(ContinuousClock.now - started < .seconds(5))
        try await Wait.until("log lines naming each cause", timeout: .seconds(5)) { () -> Bool? in
            ["request line too long", "request head too large", "malformed request", "header timeout"].allSatisfy(proxy.log.contains) ? true : nil
        }
        try await Self.waitForRefusals(proxy, [
            "request_line_too_long": 1, "head_too_large": 1, "malformed_request": 2, "not_a_stream": 1, "method_not_allowed": 1,
            "no_backend": 1, "header_timeout": 1,
        ])
        try await proxy.stop()
    }

    @Test func aBackendThatSendsGarbageOrClosesEarlyGives502() async throws {
        // Three one-shot backends: garbage instead of a status line, a close before any byte,
        // and a head promising more body than it sends.
        let script = """
            import socket, sys
            replies = [b"SSH-2.0-OpenSSH\\r\\n\\r\\n", b"", b"HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\nshort"]
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(8)
            print(s.getsockname()[1], flush=True)
            for reply in replies:
                c, _ = s.accept(); c.recv(65536)
                if reply: c.sendall(reply)
                c.close()
            """
        let backend = try PeerProcess("python3", ["-c", script])
        let backendPort = try await Wait.until("the test backend's port", timeout: .seconds(10)) { () -> Int? in
            Int(backend.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")
        try await Self.register(#"{"ip":"127.0.0.1","server":"bad","service":"py","pid":"1","http":["\#(backendPort)"]}"#, with: proxy)
        let garbage = try await Self.exchange(port, "GET /live/g.flv HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(garbage) == "HTTP/1.1 502 Bad Gateway", "\(garbage)")
        let closed = try await Self.exchange(port, "GET /live/c.flv HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(closed) == "HTTP/1.1 502 Bad Gateway", "\(closed)")
        let short = try await Self.exchange(port, "GET /live/s.flv HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(Self.statusLine(short) == "HTTP/1.1 200 OK")
        #expect(short.hasSuffix("short"), "the body is cut where the backend stopped, then the connection closes")
        try await Wait.until("the log line naming the early end", timeout: .seconds(5)) {
            proxy.log.contains("backend ended the response early") ? true : nil
        }
        try await Self.waitForRefusals(proxy, ["backend_bad_response": 2], timeout: .seconds(5))
        try await proxy.stop()
    }

    @Test func refusedRequestsAreCountedByReason() async throws {
        // A backend that takes requests and never answers.
        let script = """
            import socket, time
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(8)
            print(s.getsockname()[1], flush=True)
            held = []
            while True:
                c, _ = s.accept(); held.append(c)
            """
        let silent = try PeerProcess("python3", ["-c", script])
        defer { silent.stop() }
        let silentPort = try await Wait.until("the silent backend's port", timeout: .seconds(10)) { () -> Int? in
            Int(silent.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let proxy = try await ProxyProcess.start(config: Self.config(", backend_timeout: 1s"), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")

        // 20 pipelined requests while the first is being routed: past the queue of 16 the
        // connection is closed without an answer.
        let pipelined = try await Self.exchange(port, String(repeating: "GET /live/p.flv HTTP/1.1\r\nHost: h\r\n\r\n", count: 20))
        #expect(!pipelined.contains("HTTP/1.1 200"), "\(pipelined)")
        try await Wait.until("the pipelining in the log", timeout: .seconds(5)) { proxy.log.contains("too many pipelined requests") ? true : nil }
        _ = try await Wait.until("too_many_pipelined in /metrics", timeout: .seconds(10)) { () async throws -> Bool? in
            try await Self.refusals(proxy)["too_many_pipelined"] == 1 ? true : nil
        }
        let afterPipelining = try await Self.refusals(proxy)

        let deadPort = try FreePort.tcp()
        try await Self.register(#"{"ip":"127.0.0.1","server":"dead","service":"x","pid":"1","http":["\#(deadPort)"]}"#, with: proxy)
        let unreachable = try await Self.exchange(port, "GET /live/u.flv HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(unreachable) == "HTTP/1.1 502 Bad Gateway", "\(unreachable)")
        var expected = afterPipelining
        expected["backend_unreachable", default: 0] += 1
        try await Self.waitForRefusals(proxy, expected)

        // The dead backend is avoided for a while after its failure: the next stream goes to the silent one.
        try await Self.register(#"{"ip":"127.0.0.1","server":"silent","service":"py","pid":"1","http":["\#(silentPort)"]}"#, with: proxy)
        let name = Self.unique("silent")
        let timedOut = try await Self.exchange(port, "GET /live/\(name).flv HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(Self.statusLine(timedOut) == "HTTP/1.1 504 Gateway Timeout", "\(timedOut)")
        expected["backend_timeout", default: 0] += 1
        try await Self.waitForRefusals(proxy, expected)
        try await proxy.stop()
    }

    @Test func finishedPlayersLeaveNothingBehind() async throws {
        // An origin that answers every request with a live FLV head and the FLV header, then nothing.
        let script = """
            import asyncio, resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
            head = b"HTTP/1.1 200 OK\\r\\nContent-Type: video/x-flv\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nd\\r\\nFLV\\x01\\x05\\x00\\x00\\x00\\x09\\x00\\x00\\x00\\x00\\r\\n"
            async def serve(reader, writer):
                try:
                    while (await reader.readline()) not in (b"\\r\\n", b""): pass
                    writer.write(head); await writer.drain(); await reader.read()
                except ConnectionError: pass
                finally: writer.close()
            async def main():
                server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)
                print(server.sockets[0].getsockname()[1], flush=True)
                await server.serve_forever()
            asyncio.run(main())
            """
        let origin = try PeerProcess("python3", ["-c", script])
        defer { origin.stop() }
        let originPort = try await Wait.until("the test origin's port", timeout: .seconds(10)) { () -> Int? in
            Int(origin.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        // 500 players from one address: over the per-address session rate a public proxy defaults to.
        let proxy = try await ProxyProcess.start(config: Self.config(", session_rate: 100000, session_burst: 100000"), healthChecks: false)
        let port = try await Self.port(proxy, "http-flv")
        try await Self.register(#"{"ip":"127.0.0.1","server":"idle","service":"py","pid":"1","http":["\#(originPort)"]}"#, with: proxy)
        ProcStat.raiseFileLimit()
        let pid = proxy.process.processIdentifier

        // Rounds of 500 players that get their stream's head and leave. The allocator keeps memory
        // for reuse, so "nothing left behind" means: later rounds do not grow the process.
        var after: [Int] = []
        for _ in 0..<4 {
            var players: [RawSocket] = []
            for i in 0..<500 {
                let socket = try await RawSocket(port: port)
                socket.send(Array("GET /live/idle\(i % 20).flv HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
                players.append(socket)
            }
            for socket in players { #expect(await socket.read(until: "FLV", timeout: .seconds(10)).found) }
            players.removeAll()
            var open: [[String: Any]] = []
            do {
                try await Wait.until("every session to end", timeout: .seconds(10)) { () async throws -> Bool? in
                    open = try await Self.streams(proxy).filter { ($0["sessions"] as? Int ?? 0) != 0 }
                    return open.isEmpty ? true : nil
                }
            } catch {
                Issue.record("streams with sessions left: \(open)")
                throw error
            }
            after.append(try #require(ProcStat.rssKiB(pid)))
        }
        print("RSS after each round of 500 players (KiB): \(after)")
        #expect(after[3] <= after[1] + 512, "rounds 3 and 4 did not grow the process: nothing leaked per player")
        try await proxy.stop()
    }
}
