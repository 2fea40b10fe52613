import Foundation
import ProxyTesting
import Testing

/// The commands API of the built proxy with real peers: nginx-rtmp origins, ffmpeg publishers,
/// ffprobe players, redis-server for two proxies, curl and openssl for TLS.
@Suite(.serialized, .timeLimit(.minutes(4)), .peerDiagnostics) struct CommandsAPITests {
    static let basic = "Basic " + Data("ops:s3cret".utf8).base64EncodedString()
    static let bearer = "Bearer tok-123"

    static func config(commands: String = "enabled: true, listen: 127.0.0.1:0, auth: { basic: { username: ops, password: s3cret }, bearer: { token: tok-123 } }",
                       registry: String = "", systemAPI: String = "listen: 127.0.0.1:0") -> String {
        """
        system_api: { \(systemAPI) }
        commands_api: { \(commands) }
        \(registry)
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0, max_sessions: 50 }
        """
    }

    static func port(_ proxy: ProxyProcess, _ listener: String) async throws -> Int {
        Int(try await proxy.waitForListener(listener).split(separator: ":").last!)!
    }

    static func commands(_ proxy: ProxyProcess, _ path: String) async throws -> URL {
        URL(string: "http://127.0.0.1:\(try await port(proxy, "commands-api"))/commands/\(path)")!
    }

    static func get(_ proxy: ProxyProcess, _ path: String, auth: String = bearer) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.get(try await commands(proxy, path), headers: ["Authorization": auth])
    }

    static func close(_ proxy: ProxyProcess, _ body: String, auth: String = bearer) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.post(try await commands(proxy, "close"), json: body, headers: ["Authorization": auth])
    }

    static func register(_ nginx: NginxRTMP, with proxy: ProxyProcess) async throws {
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: nginx.registration(server: "n"))
        #expect(r.status == 200)
    }

    /// The report's entry for a stream.
    static func reported(_ proxy: ProxyProcess, _ name: String) async throws -> [String: Any]? {
        let streams = try await get(proxy, "report").json["streams"] as? [[String: Any]] ?? []
        return streams.first { $0["stream"] as? String == name }
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    /// One request with curl (Foundation's client stalls on a 401 that carries a challenge): status, headers, JSON body.
    static func curl(_ url: URL, _ extra: [String] = []) async throws -> (status: Int, headers: String, json: [String: Any]) {
        let r = try await Curl.run(url.absoluteString, ["-i"] + extra)
        let parts = r.output.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n")
        let head = parts.first ?? ""
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = parts.dropFirst().joined(separator: "\n\n")
        return (status, head, (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:])
    }

    @Test func basicAndBearerAreCheckedAndBadRequestsNameTheirCause() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config())
        let url = try await Self.commands(proxy, "capacity")
        let none = try await Self.curl(url)
        #expect(none.status == 401 && none.json["code"] as? Int == 401, "\(none)")
        #expect(none.headers.contains("WWW-Authenticate: Basic realm=") && none.headers.contains("WWW-Authenticate: Bearer realm="), "both schemes offered: \(none.headers)")
        for wrong in ["Basic " + Data("ops:nope".utf8).base64EncodedString(), "Basic " + Data("root:s3cret".utf8).base64EncodedString(),
                      "Bearer tok-12", "Bearer tok-1234", "Digest abc", "Basic !!!"] {
            let r = try await Self.curl(url, ["-H", "Authorization: \(wrong)"])
            #expect(r.status == 401 && r.json["error"] as? String == "invalid credentials", "\(wrong): \(r)")
        }
        for right in [Self.basic, Self.bearer] {
            let r = try await Self.curl(url, ["-H", "Authorization: \(right)"])
            #expect(r.status == 200 && r.json["code"] as? Int == 0, "\(right): \(r)")
        }
        // With valid credentials: bodies are capped, fields named, unknown paths and methods told apart.
        let auth = ["-H", "Authorization: \(Self.bearer)", "-H", "Content-Type: application/json"]
        let big = try await Self.curl(try await Self.commands(proxy, "close"), auth + ["--data-binary", String(repeating: " ", count: 70 * 1024)])
        #expect(big.status == 413 && big.json["error"] as? String == "request body too large", "\(big)")
        let cases = [
            (#"{"app":"live"}"#, "missing field 'stream'"),
            (#"{"key":"live/s"}"#, "field 'key': expected vhost/app/stream"),
            (#"{"app":"live","stream":"s","force":true}"#, "unknown field 'force' (allowed: vhost, app, stream, key)"),
        ]
        for (body, message) in cases {
            let r = try await Self.curl(try await Self.commands(proxy, "close"), auth + ["--data-binary", body])
            #expect(r.status == 400 && r.json["error"] as? String == message, "\(body): \(r)")
        }
        let wrongMethod = try await Self.curl(try await Self.commands(proxy, "close"), auth)
        #expect(wrongMethod.status == 405, "\(wrongMethod)")
        let unknownPath = try await Self.curl(try await Self.commands(proxy, "reboot"), auth)
        #expect(unknownPath.status == 404, "\(unknownPath)")
        try await proxy.stop()
    }

    @Test func capacityAndReportCountARealPublishAndPlayAndCloseEndsThemBothUntilTheNextPublish() async throws {
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: Self.config())
        try await Self.register(nginx, with: proxy)
        let rtmp = try await Self.port(proxy, "rtmp")
        let name = Self.unique("cmd")

        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(rtmp)/live/\(name)", seconds: 60)
        defer { publisher.stop(SIGKILL) }
        try await Wait.until("the publish at nginx", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }
        let player = try MediaTools.play("rtmp://127.0.0.1:\(rtmp)/live/\(name)", idleTimeout: .seconds(30))
        defer { player.stop(SIGKILL) }
        let entry = try await Wait.until("the report to show one publisher and one player", timeout: .seconds(15)) { () async throws -> [String: Any]? in
            guard let e = try await Self.reported(proxy, name), e["publishers"] as? Int == 1, e["players"] as? Int == 1,
                (e["bytes_to_clients"] as? Int ?? 0) > 0 else { return nil }
            return e
        }
        #expect(entry["key"] as? String == "__defaultVhost__/live/\(name)")
        #expect((entry["backend"] as? String ?? "").hasPrefix("n-nginx-"), "\(entry)")
        #expect((entry["bytes_from_clients"] as? Int ?? 0) > 10_000, "the publisher's bytes: \(entry)")
        let perProxy = entry["proxies"] as? [[String: Any]] ?? []
        #expect(perProxy.count == 1 && perProxy.first?["sessions"] as? Int == 2, "\(perProxy)")
        let report = try await Self.get(proxy, "report").json
        let totals = report["totals"] as? [String: Any] ?? [:]
        #expect(totals["sessions"] as? Int == 2 && totals["publishers"] as? Int == 1 && totals["players"] as? Int == 1, "\(totals)")
        let rtmpTotals = (totals["modules"] as? [String: Any])?["rtmp"] as? [String: Any] ?? [:]
        #expect(rtmpTotals["sessions"] as? Int == 2, "per module: \(totals)")
        #expect(((totals["proxies"] as? [String: Any])?[report["proxy"] as? String ?? ""] as? [String: Any])?["sessions"] as? Int == 2, "per proxy: \(totals)")

        let capacity = try await Self.get(proxy, "capacity").json
        let modules = capacity["modules"] as? [String: Any] ?? [:]
        #expect((modules["rtmp"] as? [String: Any])?["sessions"] as? Int == 2, "\(capacity)")
        let srt = modules["srt"] as? [String: Any] ?? [:]
        #expect(srt["sessions"] as? Int == 0 && srt["max_sessions"] as? Int == 50 && srt["free"] as? Int == 50, "\(srt)")
        #expect(capacity["verdict"] as? String == "ok" && capacity["accepting"] as? Bool == true, "\(capacity)")
        let backends = capacity["backends"] as? [[String: Any]] ?? []
        #expect(backends.count == 1 && backends.first?["routes"] as? Int == 1 && backends.first?["sessions"] as? Int == 2, "\(backends)")

        // Close: both ffmpeg processes end long before their 60 s, and the sessions are gone.
        let closing = ContinuousClock.now
        let closed = try await Self.close(proxy, #"{"app":"live","stream":"\#(name)"}"#, auth: Self.basic)
        #expect(closed.status == 200 && closed.json["closed"] as? Int == 2 && closed.json["broadcast"] as? Bool == false, "\(closed.text)")
        _ = try await publisher.wait(timeout: .seconds(10))
        _ = try await player.wait(timeout: .seconds(10))
        #expect(ContinuousClock.now - closing < .seconds(10))
        try await Wait.until("the report without the sessions", timeout: .seconds(5)) { () async throws -> Bool? in
            try await Self.reported(proxy, name) == nil ? true : nil
        }
        #expect(await proxy.logContains("closing the stream's sessions"))

        // The stream can be published again.
        let again = try MediaTools.publish("rtmp://127.0.0.1:\(rtmp)/live/\(name)", seconds: 2)
        #expect(try await again.wait(timeout: .seconds(20)) == 0, "\(again.output)")
        #expect(nginx.published == [name, name], "published a second time: \(nginx.published)")
        try await proxy.stop()
    }

    @Test func bothAPIsServeHTTPSWithTheirPEMFilesAndRefusePlainHTTP() async throws {
        let cert = try await TestCertificate.make()
        let tls = "tls: { cert: \(cert.certPath), key: \(cert.keyPath) }"
        let proxy = try await ProxyProcess.start(config: Self.config(
            commands: "enabled: true, listen: 127.0.0.1:0, auth: { bearer: { token: tok-123 } }, \(tls)",
            systemAPI: "listen: 127.0.0.1:0, \(tls)"))
        let system = try proxy.systemAPIPort
        let commands = try await Self.port(proxy, "commands-api")
        let versions = try await Curl.run("https://127.0.0.1:\(system)/api/v1/versions", cacert: cert.certPath)
        #expect(versions.status == 0 && versions.json["code"] as? Int == 0, "\(versions.output)")
        let capacity = try await Curl.run("https://127.0.0.1:\(commands)/commands/capacity", cacert: cert.certPath, ["-H", "Authorization: Bearer tok-123"])
        #expect(capacity.status == 0 && capacity.json["verdict"] as? String == "no_backend", "\(capacity.output)")
        let refused = try await Curl.run("https://127.0.0.1:\(commands)/commands/capacity", cacert: cert.certPath)
        #expect(refused.status == 0 && refused.json["code"] as? Int == 401, "\(refused.output)")
        let untrusted = try await Curl.run("https://127.0.0.1:\(system)/api/v1/versions")
        #expect(untrusted.status != 0, "a client that does not trust the certificate fails: \(untrusted.output)")
        for port in [system, commands] {
            let plain = try await Curl.run("http://127.0.0.1:\(port)/api/v1/versions")
            #expect(plain.status != 0 && plain.json["code"] == nil, "plain HTTP to a TLS port fails: \(plain.status) \(plain.output)")
        }
        #expect(proxy.process.isRunning)
        try await proxy.stop()
    }

    @Test func aMissingOrBadCertificateFileStopsTheStartNamingFileAndKey() async throws {
        let dir = try PackagePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.pem")
        try "not a certificate\n".write(to: bad, atomically: true, encoding: .utf8)
        let cases = [
            ("commands_api: { enabled: true, auth: { none: true }, tls: { cert: \(dir.path)/missing.pem, key: \(bad.path) } }\n", "commands_api.tls.cert", "missing.pem"),
            ("system_api: { listen: 127.0.0.1:0, tls: { cert: \(bad.path), key: \(bad.path) } }\n", "system_api.tls.cert", "bad.pem"),
        ]
        for (yaml, key, file) in cases {
            let config = dir.appendingPathComponent("proxy.yaml")
            try yaml.write(to: config, atomically: true, encoding: .utf8)
            let r = try await ProxyCommand.run(["--config", config.path])
            #expect(r.status == 2, "\(r.stderr)")
            #expect(r.stderr.hasPrefix("\(config.path):1:") && r.stderr.contains(key) && r.stderr.contains(file), "\(r.stderr)")
        }
    }

    @Test func twoProxiesOnOneRedisReportAndCloseEachOthersSessions() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let prefix = "cmd\(UInt32.random(in: 0...UInt32.max))"
        let registry = "registry: { type: redis, route_linger: 5s, redis: { host: 127.0.0.1, port: \(redis.port), key_prefix: \(prefix), timeout: 500ms } }"
        let a = try await ProxyProcess.start(config: Self.config(registry: registry))
        let b = try await ProxyProcess.start(config: Self.config(commands: "enabled: false", registry: registry))
        let nginx = try await NginxRTMP.start()
        try await Self.register(nginx, with: a)
        let idB = try #require(try await HTTPTestClient.get(try b.systemAPI.appendingPathComponent("api/v1/versions")).json["server"] as? String)
        let name = Self.unique("shared")

        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.port(b, "rtmp"))/live/\(name)", seconds: 60)
        defer { publisher.stop(SIGKILL) }
        try await Wait.until("the publish via B at nginx", timeout: .seconds(10)) { nginx.published == [name] ? true : nil }
        let entry = try await Wait.until("A's report to show B's publisher", timeout: .seconds(10)) { () async throws -> [String: Any]? in
            guard let e = try await Self.reported(a, name), e["publishers"] as? Int == 1 else { return nil }
            return e
        }
        let proxies = entry["proxies"] as? [[String: Any]] ?? []
        #expect(proxies.count == 1 && proxies.first?["proxy"] as? String == idB && proxies.first?["publishers"] as? Int == 1, "held on B: \(proxies)")
        let capacity = try await Self.get(a, "capacity").json
        let listed = (capacity["proxies"] as? [[String: Any]] ?? []).compactMap { $0["proxy"] as? String }
        #expect(listed.count == 2 && listed.contains(idB), "both proxies' figures: \(listed)")

        let closing = ContinuousClock.now
        let closed = try await Self.close(a, #"{"key":"__defaultVhost__/live/\#(name)"}"#)
        #expect(closed.status == 200 && closed.json["closed"] as? Int == 0 && closed.json["broadcast"] as? Bool == true, "\(closed.text)")
        _ = try await publisher.wait(timeout: .seconds(10))
        print("close via A ended the publish on B after \(ContinuousClock.now - closing)")
        #expect(ContinuousClock.now - closing < .seconds(5), "B applied the close request within a few seconds")
        #expect(await b.logContains("close request applied", "stream=__defaultVhost__/live/\(name)"), "B logged it")
        try await Wait.until("A's report without the session", timeout: .seconds(10)) { () async throws -> Bool? in
            try await Self.reported(a, name) == nil ? true : nil
        }

        // A stopped proxy's figures go at once (graceful stop removes them).
        try await b.stop()
        let after = try await Self.get(a, "capacity").json
        #expect((after["proxies"] as? [[String: Any]] ?? []).count == 1, "B's figures removed: \(after["proxies"] ?? "")")
        try await a.stop()
    }
}
