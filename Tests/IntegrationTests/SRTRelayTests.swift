import Foundation
import ProxyCore
import ProxyTesting
import Testing

@testable import SRT

/// SRT through the built proxy with real peers: ffmpeg (libsrt) callers, srt-live-transmit origins.
/// The MPEG-TS an origin receives through the proxy must equal, byte for byte, what a direct
/// connection delivers for the same input file.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct SRTRelayTests {
    static func config(_ srtExtra: String = "") -> String {
        """
        system_api: { listen: 127.0.0.1:0 }
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0\(srtExtra) }
        """
    }

    static func srtPort(_ proxy: ProxyProcess) async throws -> Int {
        Int(try await proxy.waitForListener("srt").split(separator: ":").last!)!
    }

    static func register(_ origin: SRTLiveTransmit, as server: String, with proxy: ProxyProcess) async throws {
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: origin.registration(server: server))
        #expect(r.status == 200)
    }

    static func streams(_ proxy: ProxyProcess) async throws -> [[String: Any]] {
        let r = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/streams"))
        return r.json["streams"] as? [[String: Any]] ?? []
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    /// Publishes the fixture directly to one origin and through the proxy to another, at the same
    /// time, and returns both received files.
    static func publishBothWays(passphrase: String? = nil, srtExtra: String = "") async throws -> (direct: Data, proxied: Data, proxy: ProxyProcess, live: [String: Any]) {
        let input = try await SRTTools.fixture()
        let direct = try await SRTLiveTransmit.start(passphrase: passphrase)
        let origin = try await SRTLiveTransmit.start(passphrase: passphrase)
        let proxy = try await ProxyProcess.start(config: Self.config(srtExtra), healthChecks: false)
        let port = try await Self.srtPort(proxy)
        try await Self.register(origin, as: "o", with: proxy)
        let name = Self.unique("pub")
        let viaProxy = try SRTTools.publish(input, to: SRTTools.url(port: port, streamID: "#!::r=live/\(name),m=publish", passphrase: passphrase))
        let straight = try SRTTools.publish(input, to: SRTTools.url(port: direct.port, streamID: "#!::r=live/\(name),m=publish", passphrase: passphrase))
        let live = try await Wait.until("the publish session in /api/v1/streams", timeout: .seconds(10)) { () async throws -> [String: Any]? in
            try await Self.streams(proxy).first { $0["stream"] as? String == name && ($0["bytes_from_clients"] as? Int ?? 0) > 0 }
        }
        #expect(try await viaProxy.wait(timeout: .seconds(30)) == 0, "publisher via proxy: \(viaProxy.output)")
        #expect(try await straight.wait(timeout: .seconds(30)) == 0, "direct publisher: \(straight.output)")
        try await origin.wait(timeout: .seconds(10))
        try await direct.wait(timeout: .seconds(10))
        return (try Data(contentsOf: direct.received), try Data(contentsOf: origin.received), proxy, live)
    }

    /// Default (the batched fast path on Linux) and NIO's datagram channels for everything.
    @Test(arguments: ["", ", fast_path: false"])
    func aPublishThroughTheProxyDeliversTheSameBytesAsADirectOne(srtExtra: String) async throws {
        let (direct, proxied, proxy, live) = try await Self.publishBothWays(srtExtra: srtExtra)
        #expect(direct.count > 100_000, "the direct publish arrived (\(direct.count) bytes)")
        #expect(Self.sameStream(proxied, direct), "same MPEG-TS: \(proxied.count) bytes via proxy, \(direct.count) direct")
        #expect(SRTTools.continuity(proxied).gaps == 0)
        #expect((live["backend"] as? String)?.hasPrefix("o-slt-") == true, "\(live)")
        let clients = live["clients"] as? [[String: Any]] ?? []
        #expect(clients.count == 1 && clients.first?["protocol"] as? String == "srt", "\(clients)")
        try await Wait.until("the session to end in the log") { proxy.log.contains("reason=client sent SHUTDOWN") ? true : nil }
        #expect(await proxy.logContains("session relayed", "mode=publish"))
        try await proxy.stop()
    }

    @Test func anEncryptedPublishIsRelayedEndToEnd() async throws {
        let (direct, proxied, proxy, _) = try await Self.publishBothWays(passphrase: "0123456789abcdef")
        #expect(direct.count > 100_000, "the direct encrypted publish arrived (\(direct.count) bytes)")
        #expect(Self.sameStream(proxied, direct), "same MPEG-TS after decryption at the origin: \(proxied.count) via proxy, \(direct.count) direct")
        try await proxy.stop()
    }

    @Test func aPlayerThroughTheProxyGetsWhatADirectPlayerGets() async throws {
        let input = try await SRTTools.fixture()
        let a = try await SRTLiveTransmit.start(servePlayers: true), b = try await SRTLiveTransmit.start(servePlayers: true)
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.srtPort(proxy)
        try await Self.register(a, as: "a", with: proxy)
        let name = Self.unique("play")
        let dir = try PackagePaths.temporaryDirectory("srt-play")
        defer { try? FileManager.default.removeItem(at: dir) }
        let viaProxy = try SRTTools.play(SRTTools.url(port: port, streamID: "#!::r=live/\(name),m=request"), to: dir.appendingPathComponent("proxy.ts"))
        let direct = try SRTTools.play(SRTTools.url(port: b.playPort!, streamID: "#!::r=live/\(name),m=request"), to: dir.appendingPathComponent("direct.ts"))
        for origin in [a, b] {
            try await Wait.until("the player at the origin", timeout: .seconds(10)) { origin.log.contains("Accepted SRT target connection") ? true : nil }
        }
        let publishers = try [a, b].map { try SRTTools.publish(input, to: SRTTools.url(port: $0.port, streamID: "#!::r=live/\(name),m=publish")) }
        for publisher in publishers { #expect(try await publisher.wait(timeout: .seconds(30)) == 0) }
        try await viaProxy.wait(timeout: .seconds(20))
        try await direct.wait(timeout: .seconds(20))
        // The players remux what they receive (ffmpeg places its own PAT/PMT), so compare the media
        // packets: every timestamp and size, per stream, in order.
        let proxied = try await Self.packets(dir.appendingPathComponent("proxy.ts"))
        let straight = try await Self.packets(dir.appendingPathComponent("direct.ts"))
        #expect(straight.count >= 75, "the direct player got the stream (\(straight.count) packets)")
        #expect(Self.samePackets(proxied, straight), "same packets: \(proxied.count) via proxy, \(straight.count) direct")
        #expect(await proxy.logContains("mode=request", "session relayed"))
        try await proxy.stop()
    }

    /// Equal bytes, except that either side may miss the very end: SRT live mode does not linger
    /// on close, so the last few packets of a session can be lost on any path (at most 10 x 1316 bytes).
    static func sameStream(_ a: Data, _ b: Data) -> Bool {
        let n = min(a.count, b.count)
        return abs(a.count - b.count) <= 10 * 1316 && a.prefix(n) == b.prefix(n)
    }

    /// The same packets in the same order, except that either player may miss a few at the very
    /// start or end (joining and leaving a live origin), on any path: the shorter list must be a
    /// contiguous run of the longer one, at most 5 packets shorter.
    static func samePackets(_ a: [String], _ b: [String]) -> Bool {
        let (short, long) = a.count <= b.count ? (a, b) : (b, a)
        guard !short.isEmpty, long.count - short.count <= 5 else { return false }
        return (0...(long.count - short.count)).contains { Array(long[$0..<($0 + short.count)]) == short }
    }

    /// `stream,pts,size` of every packet of a TS file.
    static func packets(_ file: URL) async throws -> [String] {
        let probe = try PeerProcess("ffprobe", ["-v", "error", "-show_entries", "packet=stream_index,pts,size", "-of", "csv=p=0", file.path])
        try await probe.wait(timeout: .seconds(20))
        // A packet's line may end in an empty side-data field (a trailing comma) or not.
        return probe.output.split(separator: "\n").map { String($0.hasSuffix(",") ? $0.dropLast() : $0) }
    }

    /// The caller's first two handshake steps done by hand: the proxy's cookie for this socket.
    static func cookie(_ socket: RawUDPSocket, socketID: UInt32) async throws -> UInt32 {
        var induction = SRTHandshake()
        induction.version = 4
        induction.extensionField = 2
        induction.socketID = socketID
        induction.initialSequence = 1000
        socket.send(induction.serialized())
        let replyBytes = try #require(await socket.receive(timeout: .seconds(3)))
        let reply = try SRTHandshake(parsing: replyBytes)
        #expect(reply.version == 5 && reply.extensionField == SRTHandshake.magic && reply.destinationSocketID == socketID)
        return reply.cookie
    }

    static func conclusion(socketID: UInt32, cookie: UInt32, streamID: String?) -> SRTHandshake {
        var hs = SRTHandshake()
        hs.kind = .conclusion
        hs.version = 5
        hs.extensionField = 5
        hs.socketID = socketID
        hs.cookie = cookie
        hs.initialSequence = 1000
        // HSREQ as libsrt 1.5.1 sends it: version 1.5.1, flags, 200 ms latency both ways.
        hs.extensions = [SRTHandshake.Extension(type: 1, content: [0, 1, 5, 1, 0, 0, 0, 0xbf, 0, 0xc8, 0, 0xc8])]
        if let streamID { hs.extensions.append(SRTHandshake.streamIDExtension(streamID)) }
        return hs
    }

    @Test func badDatagramsAreDroppedAndCountedAndTheProxyKeepsServing() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.srtPort(proxy)
        let origin = try await SRTLiveTransmit.start()
        try await Self.register(origin, as: "o", with: proxy)
        let raw = try RawUDPSocket(port: port)

        raw.send([0x80, 0, 0, 0, 1, 2, 3])  // shorter than the header
        var badVersion = Self.conclusion(socketID: 7, cookie: 0, streamID: "live/x")
        badVersion.kind = .induction
        badVersion.version = 7
        raw.send(badVersion.serialized())
        raw.send(Self.conclusion(socketID: 8, cookie: 0xdead_beef, streamID: "live/x").serialized())  // cookie not ours
        var data = [UInt8](repeating: 0, count: 1316 + 16)
        data[15] = 99  // a data packet for socket id 99, which no session has
        raw.send(data)
        let cookie = try await Self.cookie(raw, socketID: 9)
        raw.send(Self.conclusion(socketID: 9, cookie: cookie, streamID: nil).serialized())  // no Stream ID
        let noSIDBytes = try #require(await raw.receive(timeout: .seconds(3)))
        let noSID = try SRTHandshake(parsing: noSIDBytes)
        #expect(noSID.kind == .rejection(SRTHandshake.RejectReason.badRequest), "refused with SRT_REJX_BAD_REQUEST")
        raw.send(Self.conclusion(socketID: 10, cookie: cookie, streamID: "live/" + String(repeating: "s", count: 600)).serialized())
        let longBytes = try #require(await raw.receive(timeout: .seconds(3)))
        let long = try SRTHandshake(parsing: longBytes)
        #expect(long.kind == .rejection(SRTHandshake.RejectReason.badRequest))
        // A flood of inductions costs no state (cookies, not sessions).
        for i in 0..<2000 {
            var induction = SRTHandshake()
            induction.version = 4
            induction.socketID = UInt32(100 + i)
            raw.send(induction.serialized())
        }

        for cause in ["too_short", "unknown_version", "bad_cookie", "unknown_socket_id", "no_stream_id", "stream_id_too_long"] {
            try await Wait.until("\(cause) in the log") { proxy.log.contains("cause=\(cause) ") ? true : nil }
        }
        #expect(try await Self.streams(proxy).allSatisfy { ($0["sessions"] as? Int ?? 0) == 0 }, "no session was made")

        // Still serving: a real publish goes through.
        let input = try await SRTTools.fixture()
        let publisher = try SRTTools.publish(input, to: SRTTools.url(port: port, streamID: "#!::r=live/after,m=publish"))
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "\(publisher.output)")
        try await origin.wait(timeout: .seconds(10))
        #expect(try Data(contentsOf: origin.received).count > 100_000)
        #expect(proxy.process.isRunning)
        try await proxy.stop()
    }

    @Test func repeatedConclusionsMakeOneBackendAssociationAndIdleSessionsEnd() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(", idle_timeout: 2s"), healthChecks: false)
        let port = try await Self.srtPort(proxy)
        let origin = try await SRTLiveTransmit.start()
        try await Self.register(origin, as: "o", with: proxy)
        let raw = try RawUDPSocket(port: port)
        let cookie = try await Self.cookie(raw, socketID: 0x1234)
        let conclusion = Self.conclusion(socketID: 0x1234, cookie: cookie, streamID: "#!::r=live/retry,m=publish").serialized()
        for _ in 0..<3 { raw.send(conclusion) }  // retransmissions before the backend answered
        let firstBytes = try #require(await raw.receive(timeout: .seconds(3)))
        let first = try SRTHandshake(parsing: firstBytes)
        #expect(first.kind == .conclusion && first.destinationSocketID == 0x1234)
        #expect(first.extensions.first?.type == SRTHandshake.ExtensionType.hsrsp, "the backend's HSRSP reaches the caller")
        raw.send(conclusion)  // after: answered from the stored response
        let againBytes = try #require(await raw.receive(timeout: .seconds(3)))
        let again = try SRTHandshake(parsing: againBytes)
        #expect(again == first)
        try await Wait.until("the idle session to close", timeout: .seconds(10)) { proxy.log.contains("reason=idle for 2s") ? true : nil }
        #expect(origin.log.components(separatedBy: "Accepted SRT source connection").count == 2, "one association at the origin:\n\(origin.log)")
        #expect(proxy.log.components(separatedBy: "session relayed").count == 2)
        try await Wait.until("the lease released") { try await Self.streams(proxy).allSatisfy { ($0["sessions"] as? Int ?? 0) == 0 } ? true : nil }
        try await proxy.stop()
    }

    @Test func noBackendIsARejectionNotAHang() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: false)
        let port = try await Self.srtPort(proxy)
        let started = ContinuousClock.now
        let publisher = try SRTTools.publish(try await SRTTools.fixture(), to: SRTTools.url(port: port, streamID: "#!::r=live/none,m=publish"))
        #expect(try await publisher.wait(timeout: .seconds(10)) != 0)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(await proxy.logContains("no alive backend with an srt endpoint"))
        try await proxy.stop()
    }
}
