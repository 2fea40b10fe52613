import Foundation
import ProxyTesting
import Testing

/// The HLS cache (`modules.http-flv.hls_cache`) with a real nginx-rtmp HLS origin: concurrent
/// players' playlists and segments are fetched from the origin once per proxy.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct HLSCacheTests {
    /// A session URL for a new HLS player (the proxy's 302 to `?spsid=`).
    static func session(_ port: Int, _ name: String) async throws -> String {
        let first = try await HTTPFLVRelayTests.exchange(port, "GET /live/\(name).m3u8 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(HTTPFLVRelayTests.statusLine(first) == "HTTP/1.1 302 Found", "\(first.prefix(200))")
        return first.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }
            .map { String($0.dropFirst(9)).trimmingCharacters(in: .whitespaces) } ?? ""
    }

    @Test func aHundredConcurrentPlayersFetchEachSegmentOncePerProxy() async throws {
        let nginx = try await NginxRTMP.start(hls: true)
        let proxy = try await ProxyProcess.start(
            config: HTTPFLVRelayTests.config(", session_rate: 100000, session_burst: 100000, hls_cache: true"), healthChecks: false)
        let port = try await HTTPFLVRelayTests.port(proxy, "http-flv")
        try await HTTPFLVRelayTests.register(nginx.registration(server: "n"), with: proxy)
        let name = HTTPFLVRelayTests.unique("cache")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(nginx.port)/live/\(name)", seconds: 30)
        try await Wait.until("the origin's playlist to hold 3 segments", timeout: .seconds(20)) { () -> Bool? in
            let text = try? String(contentsOf: nginx.directory.appendingPathComponent("hls/\(name).m3u8"), encoding: .utf8)
            return (text?.components(separatedBy: ".ts").count ?? 0) > 3 ? true : nil
        }
        var sessions: [String] = []
        for _ in 0..<100 { sessions.append(try await Self.session(port, name)) }
        // 100 players at once: the playlist, then every segment in it.
        let results = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for location in sessions {
                group.addTask {
                    let playlist = try await HTTPTestClient.get(URL(string: "http://127.0.0.1:\(port)\(location)")!)
                    let text = String(decoding: playlist.body, as: UTF8.self)
                    let uris = text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
                    var statuses: [Int] = []
                    for uri in uris {
                        let url = uri.hasPrefix("/") ? "http://127.0.0.1:\(port)\(uri)" : "http://127.0.0.1:\(port)/live/\(uri)"
                        statuses.append(try await HTTPTestClient.get(URL(string: url)!).status)
                    }
                    return (playlist.status, statuses)
                }
            }
            var all: [(Int, [Int])] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 100)
        #expect(results.allSatisfy { $0.0 == 200 && !$0.1.isEmpty && $0.1.allSatisfy { $0 == 200 } }, "every player got its playlist and segments")
        let requests = nginx.httpRequests
        let segments = requests.filter { $0.contains(".ts") }.map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "" }
        #expect(!segments.isEmpty)
        #expect(Set(segments).count == segments.count, "each segment was fetched from the origin once: \(segments)")
        let playlists = requests.filter { $0.contains(".m3u8") }.count
        #expect(playlists <= 5, "the playlist was fetched a few times for 100 players: \(playlists)")
        let samples = try await MetricsTests.scrape(proxy).samples
        let hits = MetricsTests.value(samples, "stream_proxy_http_flv_hls_cache_hits_total") ?? 0
        let coalesced = MetricsTests.value(samples, "stream_proxy_http_flv_hls_cache_coalesced_total") ?? 0
        let misses = MetricsTests.value(samples, "stream_proxy_http_flv_hls_cache_misses_total") ?? 0
        #expect(misses == Double(segments.count + playlists), "misses are the origin fetches: \(misses)")
        #expect(hits + coalesced + misses >= 100 * Double(1 + segments.count) * 0.9)
        // A real player through the cache.
        let player = try PeerProcess("ffmpeg", ["-nostdin", "-v", "error", "-i", "http://127.0.0.1:\(port)/live/\(name).m3u8",
                                                "-t", "4", "-map", "0:v", "-c", "copy", "-f", "null", "-"])
        #expect(try await player.wait(timeout: .seconds(40)) == 0, "player: \(player.output)")
        publisher.stop(SIGKILL)
        try await proxy.stop()
    }
}
