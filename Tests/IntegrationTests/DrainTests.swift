import Foundation
import ProxyTesting
import Testing

/// Drain and maintenance with real peers: two nginx-rtmp origins, ffmpeg publishers, ffprobe
/// players; `POST /api/v1/origins/{id}/drain` stops new streams on one while its live sessions
/// continue, a grace time closes them and they come back on the other; two proxies on one
/// redis-server honour one drain.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct DrainTests {
    static func config(registry: String = "", systemAPI: String = "listen: 127.0.0.1:0") -> String {
        """
        balancer: round-robin
        system_api: { \(systemAPI) }
        commands_api: { enabled: true, listen: 127.0.0.1:0, auth: { bearer: { token: tok-123 } } }
        \(registry)
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { enabled: false }
          srt: { enabled: false }
        """
    }

    static func origin(_ proxy: ProxyProcess, server: String) async throws -> [String: Any]? {
        let origins = try await SharedRegistryTests.get(proxy, "api/v1/origins").json["origins"] as? [[String: Any]] ?? []
        return origins.first { $0["server"] as? String == server }
    }

    static func drain(_ proxy: ProxyProcess, _ id: String, method: String = "POST", body: String = "", headers: [String: String] = [:]) async throws
        -> HTTPTestClient.Response
    {
        let url = try proxy.systemAPI.appendingPathComponent("api/v1/origins/\(id)/drain")
        return try await HTTPTestClient.send(method, url, body: method == "POST" ? Data(body.utf8) : nil, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a })
    }

    static func rtmp(_ proxy: ProxyProcess) async throws -> Int { try await SharedRegistryTests.port(proxy, "rtmp") }

    @Test func aDrainedOriginKeepsItsStreamTakesNoNewOneAndAGraceClosesItsSessions() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: true)
        let port = try await Self.rtmp(proxy)
        let one = try await NginxRTMP.start(), two = try await NginxRTMP.start()
        try await SharedRegistryTests.register(one.registration(server: "one"), with: proxy)
        try await SharedRegistryTests.register(two.registration(server: "two"), with: proxy)

        // A long publish lands on one of them: that one is drained.
        let name = SharedRegistryTests.unique("kept")
        let live = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 60)
        try await Wait.until("the long publish at an origin", timeout: .seconds(10)) { one.published + two.published == [name] ? true : nil }
        let (drained, other, drainedServer) = one.published == [name] ? (one, two, "one") : (two, one, "two")
        let id = try #require(try await Self.origin(proxy, server: drainedServer)?["id"] as? String)
        #expect(try await Self.origin(proxy, server: drainedServer)?["draining"] as? Bool == false)
        let set = try await Self.drain(proxy, id)
        #expect(set.status == 200, "\(set.text)")
        #expect(set.json["draining"] as? Bool == true && set.json["drain_since"] is String && set.json["drain_close_at"] == nil, "\(set.text)")

        // New streams go to the other origin; the live one continues and gets players.
        var names: [String] = []
        for i in 0..<4 {
            let n = "\(name)-new\(i)"
            names.append(n)
            let p = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(n)", seconds: 1)
            #expect(try await p.wait(timeout: .seconds(20)) == 0, "\(p.output)")
        }
        #expect(other.published == names, "every new stream avoided the drained origin")
        #expect(drained.published == [name])
        let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/\(name)")
        try await Wait.until("the player at the drained origin", timeout: .seconds(10)) { drained.played == [name] ? true : nil }
        player.stop()
        #expect(live.isRunning, "the drained origin's publisher is still relayed")

        // It shows in the origins list, the metrics and the commands report; a re-registration keeps it.
        try await SharedRegistryTests.register(drained.registration(server: drainedServer), with: proxy)
        let listed = try await Self.origin(proxy, server: drainedServer)
        #expect(listed?["draining"] as? Bool == true && listed?["drain_since"] is String, "\(String(describing: listed))")
        #expect(MetricsTests.value(try await MetricsTests.scrape(proxy).samples, "stream_proxy_backends_draining") == 1)
        let report = try await CommandsAPITests.get(proxy, "report")
        #expect(report.json["draining_origins"] as? [String] == [id], "\(report.text)")
        let capacity = try await CommandsAPITests.get(proxy, "capacity").json["backends"] as? [[String: Any]] ?? []
        #expect(capacity.first { $0["id"] as? String == id }?["draining"] as? Bool == true, "\(capacity)")

        // A grace time of 1 s closes the session there; the publisher coming back lands on the other.
        let graced = try await Self.drain(proxy, id, body: #"{"grace_s": 1}"#)
        #expect(graced.status == 200 && graced.json["drain_close_at"] is String, "\(graced.text)")
        _ = try await live.wait(timeout: .seconds(10))
        #expect(await proxy.logContains("closing a drained backend's sessions", "stream=__defaultVhost__/live/\(name)"))
        let back = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)", seconds: 1)
        #expect(try await back.wait(timeout: .seconds(20)) == 0, "\(back.output)")
        #expect(other.published == names + [name], "the stream moved to the origin that is not drained")

        // Undrained, it takes new streams again.
        let undrained = try await Self.drain(proxy, id, method: "DELETE")
        #expect(undrained.status == 200 && undrained.json["was_draining"] as? Bool == true, "\(undrained.text)")
        #expect(try await Self.drain(proxy, id, method: "DELETE").json["was_draining"] as? Bool == false)
        #expect(try await Self.origin(proxy, server: drainedServer)?["draining"] as? Bool == false)
        #expect(MetricsTests.value(try await MetricsTests.scrape(proxy).samples, "stream_proxy_backends_draining") == 0)
        for i in 0..<2 {
            let p = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(name)-again\(i)", seconds: 1)
            #expect(try await p.wait(timeout: .seconds(20)) == 0, "\(p.output)")
        }
        #expect(drained.published.count == 2, "round-robin uses it again: \(drained.published)")
        try await proxy.stop()
    }

    @Test func everyOriginDrainedRefusesANewStreamAsNoCapacity() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: true)
        let nginx = try await NginxRTMP.start()
        try await SharedRegistryTests.register(nginx.registration(server: "only"), with: proxy)
        let id = try #require(try await Self.origin(proxy, server: "only")?["id"] as? String)
        #expect(try await Self.drain(proxy, id).status == 200)
        let p = try MediaTools.publish("rtmp://127.0.0.1:\(try await Self.rtmp(proxy))/live/\(SharedRegistryTests.unique("full"))", seconds: 1)
        #expect(try await p.wait(timeout: .seconds(20)) != 0, "refused")
        #expect(nginx.published.isEmpty)
        try await RTMPRelayTests.waitForRefusals(proxy, ["no_capacity": 1])
        #expect(try await CommandsAPITests.get(proxy, "capacity").json["verdict"] as? String == "full")
        #expect(try await Self.drain(proxy, "no-such-origin").status == 404)
        #expect(try await Self.drain(proxy, id, body: #"{"grace_s": -1}"#).status == 400)
        #expect(try await Self.drain(proxy, id, body: #"{"grace": 1}"#).status == 400)
        try await proxy.stop()
    }

    @Test func withARegisterTokenADrainNeedsIt() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(systemAPI: "listen: 127.0.0.1:0, register_token: reg-9"), healthChecks: true)
        let nginx = try await NginxRTMP.start()
        let url = try proxy.systemAPI.appendingPathComponent("api/v1/srs/register")
        #expect(try await HTTPTestClient.post(url, json: nginx.registration(server: "tok"), headers: ["Authorization": "Bearer reg-9"]).status == 200)
        let origins = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/origins")).json["origins"] as? [[String: Any]]
        let id = try #require(origins?.first?["id"] as? String)
        #expect(try await Self.drain(proxy, id).status == 401, "no token")
        #expect(try await Self.drain(proxy, id, headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try await Self.drain(proxy, id, method: "DELETE").status == 401)
        #expect(try await Self.drain(proxy, id, headers: ["Authorization": "Bearer reg-9"]).status == 200)
        try await proxy.stop()
    }

    @Test func twoProxiesOnOneRedisHonourOneDrain() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let prefix = "drain\(UInt32.random(in: 0...UInt32.max))"
        let registry = "registry: { type: redis, redis: { host: 127.0.0.1, port: \(redis.port), key_prefix: \(prefix), timeout: 500ms } }"
        let a = try await ProxyProcess.start(config: Self.config(registry: registry), healthChecks: true)
        let b = try await ProxyProcess.start(config: Self.config(registry: registry), healthChecks: true)
        let one = try await NginxRTMP.start(), two = try await NginxRTMP.start()
        try await SharedRegistryTests.register(one.registration(server: "one"), with: a)
        try await SharedRegistryTests.register(two.registration(server: "two"), with: a)
        let id = try #require(try await Self.origin(b, server: "one")?["id"] as? String)
        #expect(try await Self.drain(a, id).status == 200)
        #expect(try await Self.origin(b, server: "one")?["draining"] as? Bool == true, "B lists A's drain")
        try await Wait.until("B's router to read the drain", timeout: .seconds(5)) { await b.logContains("backend drained: no new streams") ? true : nil }
        let port = try await Self.rtmp(b)
        var names: [String] = []
        for i in 0..<4 {
            let n = SharedRegistryTests.unique("via-b-\(i)")
            names.append(n)
            let p = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\(n)", seconds: 1)
            #expect(try await p.wait(timeout: .seconds(20)) == 0, "\(p.output)")
        }
        #expect(two.published == names && one.published.isEmpty, "B placed every new stream away from the origin drained through A")
        #expect(try await Self.drain(b, id, method: "DELETE").json["was_draining"] as? Bool == true, "B ends the drain A set")
        try await a.stop()
        try await b.stop()
    }
}
