import Foundation
import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet
import ProxyTesting
import Synchronization
import Testing

@testable import RTMP

/// The module's hooks with real peers: publish and play start/end reach ModuleContext.hooks with
/// the stream key, client address and query, and a hook can refuse a publish.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct RTMPModuleHooksTests {
    /// Runs the RTMP module on a free port with `hooks`, one nginx backend registered.
    func withModule(
        hooks: RecordingHooks, _ body: @Sendable (_ port: Int, _ nginx: NginxRTMP, _ module: RTMPModule) async throws -> Void
    ) async throws {
        let nginx = try await NginxRTMP.start()
        let registry = MemoryRegistry()
        try await registry.heartbeat(Backend(server: "n", service: "x", pid: "1", ip: "127.0.0.1", endpoints: [.rtmp: [ListenEndpoint(port: nginx.port)]]))
        var config = RTMPConfig()
        config.listen = ListenEndpoint(host: "127.0.0.1", port: 0)
        try await ModuleHarness.run(RTMPModule.self, config: config, router: Router(registry: registry, strategy: RoundRobinStrategy()), hooks: hooks) {
            listeners, module in try await body(listeners.port(), nginx, module)
        }
    }

    @Test func publishAndPlayStartAndEndAreReported() async throws {
        let hooks = RecordingHooks()
        try await withModule(hooks: hooks) { port, nginx, _ in
            // Long enough that the player starts while the publish is live on a loaded machine.
            let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/hooked?token=abc", seconds: 8)
            try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == ["hooked"] ? true : nil }
            let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/live/hooked")
            try await Wait.until("the play start", timeout: .seconds(8)) { hooks.kinds.contains(.playStart) ? true : nil }
            #expect(try await publisher.wait(timeout: .seconds(20)) == 0)
            try await player.wait(timeout: .seconds(20))
            try await Wait.until("all events", timeout: .seconds(5)) { hooks.kinds.count == 5 ? true : nil }
        }
        #expect(hooks.kinds == [.publishStart, .publishStart, .playStart, .publishEnd, .playEnd]
            || hooks.kinds == [.publishStart, .publishStart, .playStart, .playEnd, .publishEnd], "\(hooks.kinds)")
        let events = hooks.events
        let publish = try #require(events.first)
        #expect(publish.request.key.description == "__defaultVhost__/live/hooked")
        #expect(publish.request.query == "token=abc", "the query (tokens) reaches the hook")
        #expect(publish.module == "rtmp")
        #expect(publish.client.hasPrefix("127.0.0.1:"))
        #expect(events.dropFirst().allSatisfy { $0.backend?.rawValue == "n-x-1" }, "reported events name the backend")
    }

    @Test func aHookCanRefuseAPublish() async throws {
        let hooks = RecordingHooks(refuse: "invalid token")
        try await withModule(hooks: hooks) { port, nginx, module in
            let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/refused?token=bad", seconds: 2)
            #expect(try await publisher.wait(timeout: .seconds(10)) != 0, "the publisher gets an error")
            #expect(nginx.published.isEmpty, "nothing reached the origin")
            let refused = await module.metricSamples().filter { $0.value > 0 }.map { $0.labels.first?.value }
            #expect(refused == ["publish_denied"], "counted as a refused publish, nothing else")
        }
        #expect(hooks.kinds == [.publishStart], "asked once, then nothing started")
    }
}
