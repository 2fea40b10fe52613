import Foundation
import ProxyTesting
import Testing

/// RTMP through the built proxy with real peers: nginx-rtmp origins, ffmpeg publishers,
/// ffprobe players.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct RTMPRelayTests {
    static func config(_ rtmpExtra: String = "") -> String {
        """
        system_api: { listen: 127.0.0.1:0 }
        modules:
          rtmp: { listen: 127.0.0.1:0\(rtmpExtra) }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0 }
        """
    }

    static func rtmpPort(_ proxy: ProxyProcess) async throws -> Int {
        let address = try await proxy.waitForListener("rtmp")
        return Int(address.split(separator: ":").last!)!
    }

    static func register(_ nginx: NginxRTMP, as server: String, with proxy: ProxyProcess) async throws {
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: nginx.registration(server: server))
        #expect(r.status == 200)
    }

    static func streams(_ proxy: ProxyProcess) async throws -> [[String: Any]] {
        let r = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/streams"))
        return r.json["streams"] as? [[String: Any]] ?? []
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    static let refusalMetric = "stream_proxy_rtmp_refused_connections_total"

    /// The refusal counters by reason (MetricsTests.counts), the reasons at 0 left out.
    static func refusals(_ proxy: ProxyProcess) async throws -> [String: Double] {
        try await MetricsTests.counts(proxy, refusalMetric, reasons: 18)
    }

    /// Waits until the refusal counters are `expected` (and no other reason is counted).
    static func waitForRefusals(_ proxy: ProxyProcess, _ expected: [String: Double], timeout: Duration = .seconds(10)) async throws {
        try await MetricsTests.waitForCounts(proxy, refusalMetric, reasons: 18, expected, timeout: timeout)
    }

    @Test func playersThroughTheProxyGetTheSameFramesAndTimestampsAsDirect() async throws {
        let a = try await NginxRTMP.start(), b = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config())
        let port = try await Self.rtmpPort(proxy)
        try await Self.register(a, as: "a", with: proxy)
        try await Self.register(b, as: "b", with: proxy)
        let name = Self.unique("same")

        // Players first: nginx then gives them the stream from its first frame.
        let viaProxy = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\(name)")
        let routed = try await Wait.until("the player to be routed", timeout: .seconds(10)) { () async throws -> String? in
            try await Self.streams(proxy).first { $0["stream"] as? String == name && ($0["sessions"] as? Int ?? 0) == 1 }?["backend"] as? String
        }
        let (origin, other) = routed.hasPrefix("a-") ? (a, b) : (b, a)
        let direct = try MediaTools.play("rtmp://127.0.0.1:\(origin.port)/live/\(name)")
        try await Wait.until("both players at the origin", timeout: .seconds(10)) { origin.played.filter { $0 == name }.count == 2 ? true : nil }

        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 4)
        let live = try await Wait.until("the publish session in /api/v1/streams", timeout: .seconds(10)) { () async throws -> [String: Any]? in
            try await Self.streams(proxy).first { $0["stream"] as? String == name && ($0["sessions"] as? Int ?? 0) == 2 && ($0["bytes_from_clients"] as? Int ?? 0) > 0 }
        }
        #expect(live["backend"] as? String == routed, "publisher and player share the route")
        #expect(((live["clients"] as? [[String: Any]]) ?? []).allSatisfy { $0["protocol"] as? String == "rtmp" })

        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
        try await viaProxy.wait(timeout: .seconds(20))
        try await direct.wait(timeout: .seconds(20))
        let throughProxy = MediaTools.timestamps(viaProxy.output)
        let fromOrigin = MediaTools.timestamps(direct.output)
        #expect(fromOrigin.count >= 95, "the direct player got the stream (\(fromOrigin.count) frames)")
        #expect(throughProxy == fromOrigin, "same frames, same timestamps: \(throughProxy.count) via proxy, \(fromOrigin.count) direct")
        #expect(origin.published == [name], "the publish went to the player's backend")
        #expect(!other.published.contains(name) && !other.played.contains(name))
        try await proxy.stop()
    }

    @Test func tenStreamsSpreadOverBothBackendsAndEveryPlayerFollowsItsPublisher() async throws {
        let a = try await NginxRTMP.start(), b = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config())
        let port = try await Self.rtmpPort(proxy)
        try await Self.register(a, as: "a", with: proxy)
        try await Self.register(b, as: "b", with: proxy)
        let names = (0..<10).map { _ in Self.unique("spread") }

        let publishers = try names.map { try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\($0)", seconds: 4) }
        try await Wait.until("10 publishes at the origins", timeout: .seconds(20)) { a.published.count + b.published.count == 10 ? true : nil }
        let players = try names.map { try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\($0)") }
        try await Wait.until("10 plays at the origins", timeout: .seconds(20)) { a.played.count + b.played.count == 10 ? true : nil }

        #expect(a.published.count == 5 && b.published.count == 5, "round-robin: \(a.published.count) + \(b.published.count)")
        for name in names {
            let on = [a, b].filter { $0.published.contains(name) }
            #expect(on.count == 1, "\(name) is published on exactly one backend")
            #expect(on.first?.played.contains(name) == true, "the player of \(name) reached its publisher's backend")
        }
        for publisher in publishers { #expect(try await publisher.wait(timeout: .seconds(30)) == 0) }
        for player in players {
            try await player.wait(timeout: .seconds(20))
            #expect(MediaTools.timestamps(player.output).count > 20, "every player received frames")
        }
        try await proxy.stop()
    }

    @Test func aLibrtmpPlayerWorksThroughTheProxy() async throws {
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config())
        let port = try await Self.rtmpPort(proxy)
        try await Self.register(nginx, as: "n", with: proxy)
        let name = Self.unique("librtmp")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 5)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }

        // rtmpdump is librtmp's own client (ffmpeg uses its native one).
        let file = try PackagePaths.temporaryDirectory("librtmp").appendingPathComponent("out.flv")
        let player = try PeerProcess("rtmpdump", ["-q", "--live", "--timeout", "3", "-r", "rtmp://127.0.0.1:\(port)/live/\(name)", "-o", file.path])
        try await Wait.until("the librtmp player at the origin", timeout: .seconds(10)) { nginx.played == [name] ? true : nil }
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0)
        try await player.wait(timeout: .seconds(15))  // --timeout: it leaves 3 s after the data stops
        let frames = try PeerProcess("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                 "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file.path])
        try await frames.wait(timeout: .seconds(10))
        let count = Int(frames.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(count > 50, "librtmp received the stream through the proxy (\(count) frames)")
        try await proxy.stop()
    }

    @Test func anUnreachableBackendFailsFastAndTheStreamFailsOver() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config())
        let port = try await Self.rtmpPort(proxy)
        let deadPort = try FreePort.tcp()
        let register = try proxy.systemAPI.appendingPathComponent("api/v1/srs/register")
        #expect(try await HTTPTestClient.post(register, json: #"{"ip":"127.0.0.1","server":"dead","service":"x","pid":"1","rtmp":["\#(deadPort)"]}"#).status == 200)
        let name = Self.unique("failover")

        let started = ContinuousClock.now
        let refused = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 2)
        let status = try await refused.wait(timeout: .seconds(10))
        #expect(status != 0, "the publisher gets an error")
        #expect(ContinuousClock.now - started < .seconds(5), "within 5 s, never a hang")
        #expect(await proxy.logContains("backend unreachable, route released"))
        try await Self.waitForRefusals(proxy, ["backend_unreachable": 1])

        let nginx = try await NginxRTMP.start()
        try await Self.register(nginx, as: "live", with: proxy)
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 2)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output)")
        #expect(nginx.published == [name], "the stream moved to the backend that works")
        #expect(await proxy.logContains("backend=live-nginx-", "stream relayed"), "relayed through the working backend")
        try await proxy.stop()
    }

    @Test func noBackendGivesAClearErrorAndTheProxyKeepsServing() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config())
        let port = try await Self.rtmpPort(proxy)
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(Self.unique("none"))", seconds: 1)
        #expect(try await publisher.wait(timeout: .seconds(10)) != 0)
        #expect(await proxy.logContains("no alive backend with an rtmp endpoint"))
        try await Self.waitForRefusals(proxy, ["no_backend": 1])
        #expect(proxy.process.isRunning)
        try await proxy.stop()
    }

    @Test func badClientsCostOneConnectionAndIdleOnesAreClosedWithMemoryBack() async throws {
        ProcStat.raiseFileLimit()
        // 2,000 connections from one address: over the per-address cap a public proxy defaults to.
        let proxy = try await ProxyProcess.start(config: "limits: { connections_per_address: 4096 }\n" + Self.config(", handshake_timeout: 2s"))
        let port = try await Self.rtmpPort(proxy)

        #expect(try await Self.refusals(proxy).isEmpty, "nothing refused yet")
        let random = try await RawSocket(port: port)
        random.send((0..<3000).map { _ in UInt8.random(in: 0...255) | 0x80 })
        #expect(await random.waitForClose(timeout: .seconds(5)), "random bytes close that connection")
        try await Wait.until("the cause in the log") { proxy.log.contains("not an RTMP handshake") ? true : nil }

        let stalled = try await RawSocket(port: port)
        stalled.send([3] + [UInt8](repeating: 0, count: 700))  // C0 and half of C1, then nothing
        #expect(await stalled.waitForClose(timeout: .seconds(6)), "a stalled handshake is closed after handshake_timeout")
        try await Wait.until("the timeout in the log") { proxy.log.contains("handshake or commands did not finish in time") ? true : nil }

        let huge = try await RawSocket(port: port)
        var bytes: [UInt8] = [3] + [UInt8](repeating: 0, count: 1536 * 2)
        // fmt 0, csid 3, a command announcing 16,777,215 bytes: the largest RTMP's 24-bit length can say, over the 8 MiB limit.
        bytes += [0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 20, 0, 0, 0, 0]
        huge.send(bytes)
        #expect(await huge.waitForClose(timeout: .seconds(5)))
        try await Wait.until("the size limit in the log") { proxy.log.contains("exceeds the limit") ? true : nil }
        try await Self.waitForRefusals(proxy, ["bad_handshake": 1, "handshake_timeout": 1, "message_too_large": 1])

        // Two rounds of 1,000 idle connections. The allocator keeps memory it got back for reuse, so
        // "back to baseline" means: after the second round the process is no larger than after the first.
        let pid = proxy.process.processIdentifier
        var rounds: [(before: Int, loaded: Int, after: Int)] = []
        for _ in 0..<2 {
            let before = try #require(ProcStat.rssKiB(pid))
            let filesBefore = ProcStat.openFiles(pid)
            var idle: [RawSocket] = []
            for _ in 0..<1000 { idle.append(try await RawSocket(port: port)) }
            try await Wait.until("the proxy to accept 1,000 connections", timeout: .seconds(10)) { () -> Bool? in
                ProcStat.openFiles(pid) >= filesBefore + 1000 ? true : nil
            }
            let loaded = try #require(ProcStat.rssKiB(pid))
            var allClosed = true
            for socket in idle where !(await socket.waitForClose(timeout: .seconds(8))) { allClosed = false }
            #expect(allClosed, "idle connections are closed by the handshake timeout")
            idle.removeAll()
            try await Wait.until("the proxy to close them", timeout: .seconds(10)) { ProcStat.openFiles(pid) <= filesBefore ? true : nil }
            rounds.append((before, loaded, try #require(ProcStat.rssKiB(pid))))
        }
        let perConnection = (rounds[0].loaded - rounds[0].before) * 1024 / 1000
        print("RSS per round (KiB): \(rounds); first round: \(perConnection) bytes per idle connection")
        #expect(rounds[1].after <= rounds[0].after + 1024, "no growth from a second round: nothing leaked")
        #expect(perConnection <= 8192, "an idle connection costs a few KiB at most")
        try await Self.waitForRefusals(proxy, ["bad_handshake": 1, "handshake_timeout": 2001, "message_too_large": 1])

        // Still serving: the API answers and a new client completes its handshake.
        #expect(try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/versions")).status == 200)
        #expect(proxy.process.isRunning)
        try await proxy.stop()
    }
}
