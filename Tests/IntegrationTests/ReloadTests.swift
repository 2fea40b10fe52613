import Foundation
import ProxyTesting
import Testing

/// Reload without restart (SIGHUP and `POST /api/v1/reload`) on the built proxy with real peers:
/// hooks and tokens apply to new sessions while a live ffmpeg publish through nginx-rtmp goes on,
/// settings bound at start are reported and keep running, a broken file keeps the running
/// configuration with the same file:line:key error as --check-config.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct ReloadTests {
    static func config(system: String = "", hooks: String = "", log: String = "", rtmp: String = "127.0.0.1:0") -> String {
        """
        system_api: { listen: 127.0.0.1:0\(system) }
        registry: { health_check: { enabled: false } }
        \(log)
        modules:
          rtmp: { listen: \(rtmp) }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0 }
        \(hooks)
        """
    }

    static func reloaded(_ proxy: ProxyProcess, count: Int) async throws {
        try await Wait.until("reload \(count)", timeout: .seconds(10)) {
            proxy.log.components(separatedBy: "configuration reloaded").count - 1 >= count ? true : nil
        }
    }

    @Test func sighupAppliesHooksAndTokensToNewSessionsWhileALivePublishGoesOn() async throws {
        let hook = try await HookServer.start { _, _ in (200, #"{"code":403,"error":"closed for maintenance"}"#) }
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: true)
        let origin = try await NginxRTMP.start(applications: ["live"])
        try await RTMPRelayTests.register(origin, as: "o", with: proxy)
        let port = try await HooksTests.port(proxy, "rtmp")
        let live = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/before", seconds: 8)
        try await Wait.until("the first publish on the origin", timeout: .seconds(15)) { origin.published.contains("before") ? true : nil }

        // The same listeners, now with a register token and a publish hook that refuses.
        try proxy.rewriteConfig(Self.config(
            system: ", register_token: t0ken", hooks: "hooks: { publish_auth: { url: \"\(hook.url("/auth"))\" } }"))
        proxy.send(SIGHUP)
        try await Self.reloaded(proxy, count: 1)
        let entry = try #require(proxy.logEntries("configuration reloaded").last)
        #expect(entry["applied"]?.contains("hooks.publish_auth") == true && entry["applied"]?.contains("system_api.register_token") == true,
                "\(entry)")
        #expect(entry["trigger"] == "SIGHUP")

        let refused = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/after", seconds: 2)
        #expect(try await refused.wait(timeout: .seconds(20)) != 0, "a new publish is put to the new hook")
        #expect(hook.requests("/auth").count == 1)
        #expect(!origin.published.contains("after"))
        let register = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: origin.registration(server: "o"))
        #expect(register.status == 401, "the new token is required: \(register.status)")
        #expect(try await live.wait(timeout: .seconds(30)) == 0, "the live publish went on to its end: \(live.output.suffix(300))")
        #expect(try await proxy.stop() == 0)
    }

    @Test func settingsBoundAtStartAreReportedAndKeepRunning() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(), healthChecks: true)
        let origin = try await NginxRTMP.start(applications: ["live"])
        try await RTMPRelayTests.register(origin, as: "o", with: proxy)
        let port = try await HooksTests.port(proxy, "rtmp")
        let taken = try FreePort.tcp()
        try proxy.rewriteConfig(Self.config(log: "log: { level: debug }", rtmp: "127.0.0.1:\(taken)"))
        let answer = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/reload"), body: Data())
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.json["restart_needed"] as? [String] == ["modules.rtmp"], "\(answer.text)")
        #expect(answer.json["applied"] as? [String] == ["log"], "\(answer.text)")
        #expect(await proxy.logContains("need a restart and keep their running values", "keys=modules.rtmp"))
        // The listener stays where it was; the new log level applies at once.
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/still", seconds: 2)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output)")
        #expect(await proxy.logContains("debug proxy.rtmp:"), "log.level debug took effect")
        #expect(try await proxy.stop() == 0)
        withExtendedLifetime(origin) {}
    }

    @Test func aBrokenFileKeepsTheRunningConfigurationWithTheCheckConfigError() async throws {
        let proxy = try await ProxyProcess.start(config: Self.config(system: ", register_token: first"), healthChecks: true)
        let broken = Self.config(system: ", register_token: second") + "\nbalancer: fastest\n"
        try proxy.rewriteConfig(broken)
        let check = try await ProxyCommand.run(["--config", proxy.configFile.path, "--check-config"])
        #expect(check.status == 2)
        let expected = check.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(expected.contains("balancer: unknown balancer 'fastest'"), "\(expected)")

        let api = try proxy.systemAPI.appendingPathComponent("api/v1/reload")
        let answer = try await HTTPTestClient.post(api, body: Data(), headers: ["Authorization": "Bearer first"])
        #expect(answer.status == 422 && answer.json["error"] as? String == expected, "\(answer.text)")
        proxy.send(SIGHUP)
        #expect(await proxy.logContains("configuration reload failed; the running configuration stays", "trigger=SIGHUP"))
        #expect(proxy.logEntries("configuration reload failed").allSatisfy { $0["error"] != nil })
        #expect(proxy.log.contains(expected), "the same file:line:key message in the log")
        // Still the first token: the second never applied.
        #expect(try await HTTPTestClient.post(api, body: Data(), headers: ["Authorization": "Bearer second"]).status == 401)
        #expect(proxy.process.isRunning)
        #expect(try await proxy.stop() == 0)
    }

    @Test func theReloadEndpointIsAuthenticated() async throws {
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 0.0.0.0:0 }
            modules:
              rtmp: { listen: 127.0.0.1:0 }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            """)
        let address = try LocalAddress.nonLoopbackIPv4()
        let remote = URL(string: "http://\(address):\(try proxy.systemAPIPort)/api/v1/reload")!
        #expect(try await HTTPTestClient.post(remote, body: Data()).status == 403, "not from another address without the token")
        #expect(try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/reload")).status == 405)
        let local = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/reload"), body: Data())
        #expect(local.status == 200 && local.json["applied"] as? [String] == [] && local.json["restart_needed"] as? [String] == [], "\(local.text)")
        #expect(try await proxy.stop() == 0)
    }
}
