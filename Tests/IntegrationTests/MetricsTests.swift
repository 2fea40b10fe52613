import Foundation
import ProxyTesting
import Testing

/// `GET /metrics` on the built proxy, with an nginx-rtmp origin and an ffmpeg publisher.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct MetricsTests {
    /// One sample line of the Prometheus text format.
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    enum ParseError: Error, CustomStringConvertible {
        case bad(line: Int, String)
        var description: String {
            switch self {
            case .bad(let line, let why): "line \(line): \(why)"
            }
        }
    }

    /// Parses the text exposition format strictly: `# HELP`/`# TYPE` lines, and sample lines
    /// `name{label="value",...} value`; every sample's metric has a TYPE line before it.
    static func parse(_ text: String) throws -> (types: [String: String], samples: [Sample]) {
        var types: [String: String] = [:]
        var samples: [Sample] = []
        let name = #/[a-zA-Z_:][a-zA-Z0-9_:]*/#
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                if let m = line.wholeMatch(of: #/# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)/#) {
                    guard types[String(m.1)] == nil else { throw ParseError.bad(line: i + 1, "second TYPE for \(m.1)") }
                    types[String(m.1)] = String(m.2)
                } else if line.wholeMatch(of: #/# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*/#) == nil {
                    throw ParseError.bad(line: i + 1, "comment that is neither HELP nor TYPE: \(line)")
                }
                continue
            }
            var rest = Substring(line)
            guard let n = rest.prefixMatch(of: name) else { throw ParseError.bad(line: i + 1, "no metric name: \(line)") }
            let metric = String(n.output)
            rest = rest[n.range.upperBound...]
            var labels: [String: String] = [:]
            if rest.hasPrefix("{") {
                rest = rest.dropFirst()
                while !rest.hasPrefix("}") {
                    guard let l = rest.prefixMatch(of: #/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"/#) else {
                        throw ParseError.bad(line: i + 1, "bad label in: \(line)")
                    }
                    labels[String(l.1)] = String(l.2).replacingOccurrences(of: "\\n", with: "\n")
                        .replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
                    rest = rest[l.range.upperBound...]
                    if rest.hasPrefix(",") { rest = rest.dropFirst() } else if !rest.hasPrefix("}") { throw ParseError.bad(line: i + 1, "expected , or } in: \(line)") }
                }
                rest = rest.dropFirst()
            }
            guard rest.hasPrefix(" "), let value = Double(rest.dropFirst().replacingOccurrences(of: "+Inf", with: "inf")) else {
                throw ParseError.bad(line: i + 1, "bad value in: \(line)")
            }
            guard types[metric] != nil else { throw ParseError.bad(line: i + 1, "\(metric) has no TYPE line before it") }
            samples.append(Sample(name: metric, labels: labels, value: value))
        }
        return (types, samples)
    }

    static func scrape(_ proxy: ProxyProcess) async throws -> (types: [String: String], samples: [Sample]) {
        let r = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("metrics"))
        #expect(r.status == 200)
        let type = r.headers.first { $0.key.lowercased() == "content-type" }?.value ?? ""
        #expect(type.hasPrefix("text/plain; version=0.0.4"), "content type: \(type)")
        return try parse(r.text)
    }

    /// A counter family by its `reason` label, from `GET /metrics`, the reasons at 0 left out;
    /// `reasons` is how many series it must have (every reason is reported, counted or not).
    static func counts(_ proxy: ProxyProcess, _ name: String, reasons: Int) async throws -> [String: Double] {
        let samples = try await scrape(proxy).samples.filter { $0.name == name }
        #expect(samples.count == reasons, "every reason of \(name) is reported, counted or not")
        return Dictionary(uniqueKeysWithValues: samples.compactMap { s in s.value > 0 ? (s.labels["reason"] ?? "", s.value) : nil })
    }

    /// Waits until `counts` is `expected` (and no other reason is counted).
    static func waitForCounts(
        _ proxy: ProxyProcess, _ name: String, reasons: Int, _ expected: [String: Double], timeout: Duration
    ) async throws {
        _ = try await Wait.until("\(name) \(expected) in /metrics", timeout: timeout) { () async throws -> Bool? in
            try await counts(proxy, name, reasons: reasons) == expected ? true : nil
        }
    }

    static func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }?.value
    }

    @Test func showsThePublishSessionTheRouteAndTheBackend() async throws {
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: RTMPRelayTests.config(), healthChecks: false)
        let port = try await RTMPRelayTests.rtmpPort(proxy)

        let before = try await Self.scrape(proxy).samples
        #expect(Self.value(before, "stream_proxy_sessions", ["module": "rtmp", "role": "publish"]) == 0)
        #expect(Self.value(before, "stream_proxy_backends_alive") == 0)
        #expect(Self.value(before, "stream_proxy_registry_up") == 1)
        #expect(Self.value(before, "stream_proxy_build_info")  == 1)
        let start = try #require(Self.value(before, "stream_proxy_process_start_time_seconds"))
        #expect(abs(start - Date().timeIntervalSince1970) < 120)

        try await RTMPRelayTests.register(nginx, as: "n", with: proxy)
        let name = RTMPRelayTests.unique("metrics")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 4)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }

        let live = try await Wait.until("bytes from the publisher in /metrics", timeout: .seconds(10)) { () async throws -> [Sample]? in
            let s = try await Self.scrape(proxy).samples
            return (Self.value(s, "stream_proxy_client_received_bytes_total", ["module": "rtmp"]) ?? 0) > 10_000 ? s : nil
        }
        #expect(Self.value(live, "stream_proxy_sessions", ["module": "rtmp", "role": "publish"]) == 1)
        #expect(Self.value(live, "stream_proxy_sessions", ["module": "rtmp", "role": "play"]) == 0)
        #expect(Self.value(live, "stream_proxy_routes") == 1)
        #expect(Self.value(live, "stream_proxy_local_routes") == 1)
        #expect(Self.value(live, "stream_proxy_backends") == 1)
        #expect(Self.value(live, "stream_proxy_backends_alive") == 1)
        #expect(Self.value(live, "stream_proxy_srt_dropped_datagrams_total", ["cause": "bad_cookie"]) == 0)
        #expect(Self.value(live, "stream_proxy_hook_deliveries_lost_total") == 0)
        let during = try #require(Self.value(live, "stream_proxy_client_received_bytes_total", ["module": "rtmp"]))

        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
        let after = try await Wait.until("the session to end in /metrics", timeout: .seconds(10)) { () async throws -> [Sample]? in
            let s = try await Self.scrape(proxy).samples
            return Self.value(s, "stream_proxy_sessions", ["module": "rtmp", "role": "publish"]) == 0 ? s : nil
        }
        #expect(Self.value(after, "stream_proxy_sessions_ended_total", ["module": "rtmp", "role": "publish"]) == 1)
        let total = try #require(Self.value(after, "stream_proxy_client_received_bytes_total", ["module": "rtmp"]))
        #expect(total >= during, "the byte counter keeps the ended session's bytes (\(total) >= \(during))")
        #expect(try await proxy.stop() == 0)
    }

    @Test func theSRTModuleReportsItsDrops() async throws {
        let proxy = try await ProxyProcess.start(config: RTMPRelayTests.config(), healthChecks: false)
        let address = try await proxy.waitForListener("srt")
        let raw = try RawUDPSocket(port: Int(address.split(separator: ":").last!)!)
        let before = try await Self.scrape(proxy).samples
        #expect(Self.value(before, "stream_proxy_srt_dropped_datagrams_total", ["cause": "too_short"]) == 0)
        for _ in 0..<3 { raw.send([0x80, 0, 0, 0, 1, 2, 3]) }  // shorter than the SRT header
        let after = try await Wait.until("3 too_short drops in /metrics", timeout: .seconds(10)) { () async throws -> [Sample]? in
            let s = try await Self.scrape(proxy).samples
            return Self.value(s, "stream_proxy_srt_dropped_datagrams_total", ["cause": "too_short"]) == 3 ? s : nil
        }
        #expect(Self.value(after, "stream_proxy_srt_dropped_datagrams_total", ["cause": "bad_cookie"]) == 0)
        #expect(try await proxy.stop() == 0)
    }

    @Test func aFailingRegistryShowsAsDown() async throws {
        let redis = try await RedisServer.start()
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 127.0.0.1:0 }
            registry: { type: redis, redis: { host: 127.0.0.1, port: \(redis.port), timeout: 1s } }
            modules:
              rtmp: { listen: 127.0.0.1:0 }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            """, healthChecks: false)
        let up = try await Self.scrape(proxy)
        #expect(Self.value(up.samples, "stream_proxy_registry_up") == 1)
        #expect(up.types["stream_proxy_registry_up"] == "gauge")
        try await redis.stopAndWait()
        let down = try await Wait.until("registry_up 0", timeout: .seconds(15)) { () async throws -> [Sample]? in
            let s = try await Self.scrape(proxy).samples
            return Self.value(s, "stream_proxy_registry_up") == 0 ? s : nil
        }
        #expect(Self.value(down, "stream_proxy_routes") == nil, "no registry values without the registry")
        try await proxy.stop()
    }
}
