import Foundation
import ProxyTesting
import Testing

/// The built `stream-proxy` binary with its system API, driven over HTTP.
@Suite(.serialized, .peerDiagnostics) struct SystemAPITests {
    static let baseConfig = """
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0 }
        system_api:
          listen: 127.0.0.1:0
        """

    /// What an SRS 5+ origin sends with `heartbeat { ports on; summaries on; }`.
    static func srsHeartbeat(pid: String = "30105") -> String {
        """
        {"device_id":"origin1","ip":"127.0.0.1","server":"vid-0xk9p3b","service":"8o1vc7t4","pid":"\(pid)",
         "summaries":{"ok":true,"self":{"version":"6.0.184"}},
         "rtmp":["1935"],"http":["8080"],"api":["1985"],"srt":["10080"],"rtc":["udp://8000"]}
        """
    }

    /// The manual form from SRS's proxy documentation.
    static let manualRegister = """
        {"device_id":"origin2","ip":"127.0.0.2","server":"vid-46p14mm","service":"z2s3w865","pid":"42583",
         "rtmp":["19352"],"http":["8082"],"api":["19853"],"srt":["10082"],"rtc":["udp://0.0.0.0:8001"]}
        """

    static func origins(_ proxy: ProxyProcess) async throws -> [[String: Any]] {
        let r = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/origins"))
        #expect(r.status == 200)
        #expect(r.json["registry"] as? String == "memory", "the default registry is named: \(r.json)")
        return r.json["origins"] as? [[String: Any]] ?? []
    }

    static func origin(_ id: String, in list: [[String: Any]]) -> [String: Any]? {
        list.first { $0["id"] as? String == id }
    }

    @Test func registersTwoBackendsAndMarksTheSilentOneDead() async throws {
        let proxy = try await ProxyProcess.start(config: Self.baseConfig + "\nregistry:\n  backend_alive: 2s\n")
        let register = try proxy.systemAPI.appendingPathComponent("api/v1/srs/register")

        let a = try await HTTPTestClient.post(register, json: Self.srsHeartbeat())
        #expect(a.status == 200)
        #expect(a.json["code"] as? Int == 0)
        #expect(a.json["pid"] as? String == String(proxy.process.processIdentifier))
        let b = try await HTTPTestClient.post(register, json: Self.manualRegister)
        #expect(b.status == 200 && b.json["code"] as? Int == 0)

        let both = try await Self.origins(proxy)
        #expect(both.count == 2)
        let srs = try #require(Self.origin("vid-0xk9p3b-8o1vc7t4-30105", in: both))
        #expect(srs["alive"] as? Bool == true)
        #expect(srs["device_id"] as? String == "origin1")
        #expect((srs["endpoints"] as? [String: [String]])?["rtmp"] == ["1935"])
        #expect((srs["endpoints"] as? [String: [String]])?["rtc"] == ["udp://:8000"])
        #expect((srs["summaries"] as? [String: Any])?["ok"] as? Bool == true)
        #expect(srs["age_s"] is Double)
        let manual = try #require(Self.origin("vid-46p14mm-z2s3w865-42583", in: both))
        #expect(manual["alive"] as? Bool == true)
        #expect(manual["ip"] as? String == "127.0.0.2")

        // Keep heartbeating the SRS origin only; the manual one must be marked dead within backend_alive.
        try await Wait.until("the silent backend to be marked dead", timeout: .seconds(10), interval: .milliseconds(250)) {
            _ = try await HTTPTestClient.post(register, json: Self.srsHeartbeat())
            let list = try await Self.origins(proxy)
            return Self.origin("vid-46p14mm-z2s3w865-42583", in: list)?["alive"] as? Bool == false ? list : nil
        }
        let after = try await Self.origins(proxy)
        #expect(Self.origin("vid-0xk9p3b-8o1vc7t4-30105", in: after)?["alive"] as? Bool == true, "the heartbeating backend stays alive")
        #expect(Self.origin("vid-46p14mm-z2s3w865-42583", in: after) != nil, "a dead backend is still listed, marked dead")
        #expect(try await proxy.stop() == 0)
    }

    @Test func refusesBadRegistrationsAndRegistersNothing() async throws {
        let proxy = try await ProxyProcess.start(config: Self.baseConfig)
        let register = try proxy.systemAPI.appendingPathComponent("api/v1/srs/register")
        let cases: [(String, String)] = [
            ("{not json", "malformed JSON body"),
            (#"{"server":"s","service":"v","pid":"1","rtmp":["1935"]}"#, "missing field 'ip'"),
            (#"{"ip":"1.2.3.4","service":"v","pid":"1","rtmp":["1935"]}"#, "missing field 'server'"),
            (#"{"ip":"1.2.3.4","server":"s","pid":"1","rtmp":["1935"]}"#, "missing field 'service'"),
            (#"{"ip":"1.2.3.4","server":"s","service":"v","rtmp":["1935"]}"#, "missing field 'pid'"),
            (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1"}"#, "no endpoints"),
            (#"{"ip":"1.2.3.4","server":"s","service":"v","pid":"1","rtmp":["1935"],"rtc":["udp://:99999"]}"#, "field 'rtc': invalid endpoint"),
        ]
        for (body, expected) in cases {
            let r = try await HTTPTestClient.post(register, json: body)
            #expect(r.status == 400, "\(body)")
            #expect(r.json["code"] as? Int == 400)
            #expect((r.json["error"] as? String)?.hasPrefix(expected) == true, "got \(r.text)")
            #expect(r.headers["content-type"]?.hasPrefix("application/json") == true)
        }

        let big = Data(repeating: UInt8(ascii: " "), count: 70 * 1024)
        let tooLarge = try await HTTPTestClient.post(register, body: big, headers: ["Content-Type": "application/json"])
        #expect(tooLarge.status == 413)
        #expect(tooLarge.json["code"] as? Int == 413)

        let unknown = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/nothing-here"))
        #expect(unknown.status == 404)
        #expect(unknown.json["error"] as? String == "no such path: /api/v1/nothing-here")

        let wrongMethod = try await HTTPTestClient.get(register)
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.json["error"] as? String == "method GET not allowed on /api/v1/srs/register")

        #expect(try await Self.origins(proxy).isEmpty, "nothing was registered")
        #expect(proxy.process.isRunning)
        #expect(try await proxy.stop() == 0)
    }

    @Test func registerTokenIsRequiredWhenConfigured() async throws {
        let proxy = try await ProxyProcess.start(
            config: Self.baseConfig + "\n  register_token: ${TEST_TOKEN}\n", environment: ["TEST_TOKEN": "s3cret"])
        let base = try proxy.systemAPI
        let register = base.appendingPathComponent("api/v1/srs/register")

        let none = try await HTTPTestClient.post(register, json: Self.manualRegister)
        #expect(none.status == 401 && none.json["code"] as? Int == 401)
        let wrong = try await HTTPTestClient.post(register, json: Self.manualRegister, headers: ["Authorization": "Bearer nope"])
        #expect(wrong.status == 401)
        #expect(try await Self.origins(proxy).isEmpty)

        let query = URL(string: register.absoluteString + "?token=s3cret")!
        #expect(try await HTTPTestClient.post(query, json: Self.manualRegister).status == 200)
        let bearer = try await HTTPTestClient.post(register, json: Self.srsHeartbeat(), headers: ["Authorization": "Bearer s3cret"])
        #expect(bearer.status == 200)
        #expect(try await Self.origins(proxy).count == 2)
        try await proxy.stop()
    }

    @Test func versionsAndStreams() async throws {
        let proxy = try await ProxyProcess.start(config: Self.baseConfig)
        let versions = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/versions"))
        #expect(versions.status == 200 && versions.json["code"] as? Int == 0)
        let data = try #require(versions.json["data"] as? [String: Any])
        #expect(data["version"] as? String == "0.1.0")
        #expect(versions.json["pid"] as? String == String(proxy.process.processIdentifier))

        let streams = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/streams"))
        #expect(streams.status == 200 && streams.json["code"] as? Int == 0)
        #expect((streams.json["streams"] as? [Any])?.isEmpty == true)
        try await proxy.stop()
    }

    @Test func defaultBackendFromEnvironmentIsRegisteredAtStart() async throws {
        let proxy = try await ProxyProcess.start(
            config: "",
            environment: [
                "PROXY_SYSTEM_API": "127.0.0.1:0", "PROXY_RTMP_SERVER": "127.0.0.1:0", "PROXY_HTTP_SERVER": "127.0.0.1:0", "PROXY_DEFAULT_BACKEND_ENABLED": "on", "PROXY_DEFAULT_BACKEND_IP": "127.0.0.9",
                "PROXY_DEFAULT_BACKEND_RTMP": "19350", "PROXY_DEFAULT_BACKEND_HTTP": "18088",
            ])
        let list = try await Wait.until("default backend listed") { () async throws -> [[String: Any]]? in
            let l = try await Self.origins(proxy)
            return l.isEmpty ? nil : l
        }
        #expect(list.count == 1)
        let backend = try #require(list.first)
        #expect(backend["ip"] as? String == "127.0.0.9")
        #expect(backend["alive"] as? Bool == true)
        let endpoints = try #require(backend["endpoints"] as? [String: [String]])
        #expect(endpoints["rtmp"] == ["19350"])
        #expect(endpoints["http"] == ["18088"])
        #expect(endpoints["srt"] == ["udp://:10080"])
        try await proxy.stop()
    }

    @Test func sigtermStopsCleanlyAndSigintToo() async throws {
        for signal in [SIGTERM, SIGINT] {
            let proxy = try await ProxyProcess.start(config: Self.baseConfig)
            let started = ContinuousClock.now
            #expect(try await proxy.stop(signal: signal) == 0)
            #expect(ContinuousClock.now - started < .seconds(5), "an idle proxy stops at once")
            #expect(await proxy.logContains("shutdown requested"))
        }
    }
}
