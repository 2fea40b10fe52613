import Foundation
import ProxyTesting
import Testing

/// The proxy under a flood, with its default limits (handshake and header timeouts raised to 60 s
/// so the whole flood is held at once):
/// 10,000 junk or idle TCP connections from 20 loopback addresses spread over every TCP listener,
/// and junk datagrams on every UDP port, while a real publish is relayed to nginx-rtmp and played
/// over HTTP-FLV. The proxy must stay up, the live relay keep its throughput, and descriptors and
/// memory come back once the timeouts closed the junk. The figures are printed ("abuse figures:").
@Suite(.serialized, .timeLimit(.minutes(7)), .peerDiagnostics) struct AbuseTests {
    static let config = """
        limits: { http_header_timeout: 60s }
        system_api: { listen: 127.0.0.1:0 }
        commands_api: { enabled: true, listen: 127.0.0.1:0, auth: { bearer: { token: t } } }
        modules:
          rtmp: { listen: 127.0.0.1:0, handshake_timeout: 60s }
          http-flv: { listen: 127.0.0.1:0, header_timeout: 60s }
          srt: { listen: 127.0.0.1:0 }
          webrtc: { enabled: true, api_listen: 127.0.0.1:0, udp_listen: 127.0.0.1:0, candidate: 127.0.0.1, header_timeout: 60s }
        """

    static let tcpListeners = ["rtmp", "http-flv", "system-api", "commands-api", "webrtc-api"]

    /// The player's bytes per second over `seconds`, from /api/v1/streams.
    static func playerRate(_ proxy: ProxyProcess, _ name: String, over seconds: Int) async throws -> Double {
        func bytes() async throws -> Int {
            let s = try await RTMPRelayTests.streams(proxy).first { $0["stream"] as? String == name }
            return s?["bytes_to_clients"] as? Int ?? 0
        }
        let before = try await bytes()
        try await Task.sleep(for: .seconds(seconds))
        return Double(try await bytes() - before) / Double(seconds)
    }

    /// `count` connections to `port` from 127.0.0.10-29, held by Tests/Peers/flood.py (a process
    /// of its own, so this test process never holds thousands of descriptors while other tests
    /// start their peers); every other one sends junk at once, the rest stay silent. Stopping the
    /// process closes them all.
    static func flood(_ port: Int, count: Int) async throws -> PeerProcess {
        let script = PackagePaths.root.appendingPathComponent("Tests/Peers/flood.py").path
        let peer = try PeerProcess("python3", [script, "\(port):\(count)"])
        try await Wait.until("\(count) connections held on \(port)", timeout: .seconds(120)) { () throws -> Bool? in
            if peer.output.contains("held \(count)") { return true }
            if !peer.isRunning { throw TestFailure("flood.py exited: \(peer.output)") }
            return nil
        }
        return peer
    }

    /// One flood: 2,000 connections on each TCP listener, 20,000 junk datagrams on each UDP port.
    static func flood(_ ports: [String: Int]) async throws -> [PeerProcess] {
        // All listeners at once (the debug build accepts a few hundred connections a second on
        // each): the flood is held whole before the first timeouts close it.
        let held = try await withThrowingTaskGroup(of: PeerProcess.self) { group in
            for l in tcpListeners { group.addTask { try await flood(ports[l]!, count: 2000) } }
            return try await group.reduce(into: [PeerProcess]()) { $0.append($1) }
        }
        for l in ["srt", "webrtc-udp"] {
            let udp = try RawUDPSocket(port: ports[l]!)
            for i in 0..<20_000 { udp.send((0..<(16 + i % 1400)).map { _ in UInt8.random(in: 0...255) }) }
        }
        return held
    }

    /// RSS once two readings a second apart agree within 1% (at most 30 s).
    static func steadyRSS(_ pid: Int32) async throws -> Int {
        var last = ProcStat.rssKiB(pid) ?? 0
        return try await Wait.until("a steady RSS", timeout: .seconds(30), interval: .seconds(1)) { () -> Int? in
            let now = ProcStat.rssKiB(pid) ?? 0
            defer { last = now }
            return abs(now - last) <= last / 100 ? now : nil
        }
    }

    @Test func tenThousandJunkConnectionsAndJunkDatagramsLeaveLiveRelaysAndTheProcessAsTheyWere() async throws {
        ProcStat.raiseFileLimit(to: 16384)
        let nginx = try await NginxRTMP.start()
        defer { nginx.stop() }
        let proxy = try await ProxyProcess.start(config: Self.config, healthChecks: false)
        let pid = proxy.process.processIdentifier
        try await RTMPRelayTests.register(nginx, as: "n", with: proxy)
        var ports: [String: Int] = [:]
        for l in Self.tcpListeners + ["srt", "webrtc-udp"] { ports[l] = try await LimitsTests.port(proxy, l) }

        let name = RTMPRelayTests.unique("live")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(ports["rtmp"]!)/live/\(name)", seconds: 400)
        defer { publisher.stop() }
        try await Wait.until("the publish relayed", timeout: .seconds(20)) { nginx.published.contains(name) ? true : nil }
        let player = try MediaTools.play("rtmp://127.0.0.1:\(ports["rtmp"]!)/live/\(name)", idleTimeout: .seconds(10))
        defer { player.stop() }
        try await Wait.until("the player's session", timeout: .seconds(20)) { () async throws -> Bool? in
            let s = try await RTMPRelayTests.streams(proxy).first { $0["stream"] as? String == name }
            return (s?["bytes_to_clients"] as? Int ?? 0) > 50_000 ? true : nil
        }

        // Two identical floods; after each, once the timeouts closed the junk, descriptors and RSS
        // come back to within 10% of the start (the proxy's HeapTrim returns the allocator's
        // free pages within its 10 s interval).
        var figures: [(rss: Int, files: Int, peakRSS: Int, peakFiles: Int, seconds: Double, rate: Double)] = []
        // The baseline is a proxy that has seen junk once: a small flood (200 connections per
        // listener) first runs every refusal path, so the code pages they fault in and the
        // tables they size are in the start figure; then RSS is read once it is steady.
        let warmStartFiles = ProcStat.openFiles(pid), listenerPorts = ports
        let warmUp = try await withThrowingTaskGroup(of: PeerProcess.self) { group in
            for l in Self.tcpListeners { group.addTask { try await Self.flood(listenerPorts[l]!, count: 200) } }
            return try await group.reduce(into: [PeerProcess]()) { $0.append($1) }
        }
        try await Wait.until("the warm-up connections closed", timeout: .seconds(100)) { () -> Bool? in
            ProcStat.openFiles(pid) <= warmStartFiles + max(2, warmStartFiles / 10) ? true : nil
        }
        warmUp.forEach { $0.stop(SIGKILL) }
        let startRSS = try await Self.steadyRSS(pid)
        let startFiles = ProcStat.openFiles(pid)
        let baseRate = try await Self.playerRate(proxy, name, over: 4)
        for _ in 0..<2 {
            let started = ContinuousClock.now
            // The descriptors' peak, sampled while the flood runs.
            let sampler = Task { () -> Int in
                var peak = 0
                while !Task.isCancelled {
                    peak = max(peak, ProcStat.openFiles(pid))
                    try? await Task.sleep(for: .milliseconds(250))
                }
                return peak
            }
            let held = try await Self.flood(ports)
            let d = ContinuousClock.now - started
            sampler.cancel()
            let peakFiles = max(await sampler.value, ProcStat.openFiles(pid)), peakRSS = ProcStat.rssKiB(pid) ?? 0
            let rate = try await Self.playerRate(proxy, name, over: 4)
            #expect(proxy.process.isRunning, "the proxy is up")
            #expect(try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/versions")).status == 200, "and answers")
            // The timeouts (60 s) close what the junk held, while the test still holds its ends.
            try await Wait.until("the proxy to close the junk connections", timeout: .seconds(100)) { () -> Bool? in
                ProcStat.openFiles(pid) <= startFiles + max(2, startFiles / 10) ? true : nil
            }
            held.forEach { $0.stop(SIGKILL) }
            _ = try? await Wait.until("RSS back within 10% of the start", timeout: .seconds(25)) { () -> Bool? in
                (ProcStat.rssKiB(pid) ?? .max) <= startRSS + startRSS / 10 ? true : nil
            }
            figures.append((ProcStat.rssKiB(pid) ?? 0, ProcStat.openFiles(pid), peakRSS, peakFiles,
                            Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, rate))
        }
        let afterRate = try await Self.playerRate(proxy, name, over: 4)
        let baseFiles = startFiles, afterFiles = figures[1].files
        let peakFiles = figures.map(\.peakFiles).max()!, floodRate = figures.map(\.rate).min()!
        print("abuse figures: two floods of 10,000 TCP connections (5 listeners x 2,000 from 20 addresses, half junk, half idle) and 40,000 junk datagrams,"
              + " opened in \(figures.map { String(format: "%.1f", $0.seconds) }) s;"
              + " descriptors at start \(startFiles), peaks \(figures.map(\.peakFiles)), after each \(figures.map(\.files));"
              + " RSS KiB at start \(startRSS), peaks \(figures.map(\.peakRSS)), after each \(figures.map(\.rss));"
              + " player bytes/s before \(Int(baseRate)), during \(figures.map { Int($0.rate) }), after \(Int(afterRate))")
        // The junk half is closed as it arrives; the idle half (5,000) is held until its timeout.
        #expect(peakFiles > baseFiles + 4500, "the flood did reach the proxy (\(peakFiles) descriptors at its peak)")
        #expect(afterFiles <= baseFiles + max(2, baseFiles / 10), "descriptors back within 10% of the baseline: \(baseFiles) -> \(afterFiles)")
        for f in figures {
            #expect(f.rss <= startRSS + startRSS / 10, "RSS back within 10% of the start after each flood: \(startRSS) -> \(figures.map(\.rss)) KiB")
        }
        #expect(floodRate >= baseRate * 0.8 && afterRate >= baseRate * 0.8, "the live relay kept its throughput: \(baseRate) / \(floodRate) / \(afterRate) B/s")
        #expect(publisher.process.isRunning, "the publisher was never cut: \(publisher.output.suffix(500))")
        #expect(nginx.published.filter { $0 == name }.count == 1, "one publish at the origin, never a reconnect")
    }
}
