import Foundation
import ProxyTesting
import Testing

/// `stream-proxy` flags and configuration failures, run as a user would.
@Suite(.peerDiagnostics) struct CommandLineTests {
    @Test func checkConfigValidatesTheShippedFile() async throws {
        let shipped = PackagePaths.root.appendingPathComponent("proxy.yaml").path
        let r = try await ProxyCommand.run(["--config", shipped, "--check-config"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("configuration is valid"))
    }

    @Test func versionFlag() async throws {
        let r = try await ProxyCommand.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }

    @Test func aBadConfigExitsWithStatus2AndOneMessageNamingFileLineAndKey() async throws {
        let dir = try PackagePaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.yaml")
        try "system_api:\n  listen: 127.0.0.1:0\nregistry:\n  route_linger: soon\n".write(to: file, atomically: true, encoding: .utf8)
        for arguments in [["--config", file.path, "--check-config"], ["--config", file.path]] {
            let r = try await ProxyCommand.run(arguments)
            #expect(r.status == 2)
            #expect(r.stderr == "\(file.path):4:17: registry.route_linger: invalid duration 'soon' (expected a duration such as 300s, 500ms, 5m, 1h30m)\n")
        }
    }

    @Test func enablingWebRTCServesItsAPIAndUDPListeners() async throws {
        let proxy = try await ProxyProcess.start(
            config: "system_api: { listen: 127.0.0.1:0 }\nmodules:\n  rtmp: { enabled: false }\n  http-flv: { enabled: false }\n  srt: { enabled: false }\n"
                + "  webrtc: { enabled: true, api_listen: 127.0.0.1:0, udp_listen: 127.0.0.1:0 }\n")
        #expect(try await proxy.waitForListener("webrtc-api").hasPrefix("127.0.0.1:"))
        #expect(try await proxy.waitForListener("webrtc-udp").hasPrefix("127.0.0.1:"))
        #expect(try await proxy.stop() == 0)
    }

    @Test func badEnvironmentValueExitsWithStatus2() async throws {
        let shipped = PackagePaths.root.appendingPathComponent("proxy.yaml").path
        let r = try await ProxyCommand.run(["--config", shipped, "--check-config"], environment: ["PROXY_FORCE_QUIT_TIMEOUT": "forever"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("environment variable PROXY_FORCE_QUIT_TIMEOUT: quit.force: invalid duration 'forever'"))
    }

    @Test func missingFileAndBadLogLevel() async throws {
        let missing = try await ProxyCommand.run(["--config", "/nonexistent/proxy.yaml"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "/nonexistent/proxy.yaml: no such file (pass --config FILE)\n")
        let level = try await ProxyCommand.run(["--log-level", "loud", "--check-config"])
        #expect(level.status == 2)
        #expect(level.stderr.contains("--log-level: unknown level 'loud'"))
    }
}
