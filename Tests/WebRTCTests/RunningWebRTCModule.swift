import Logging
import NIOPosix
import ProxyCore
import ProxyNet
import ProxyTesting
import Synchronization

import WebRTC

/// The module running on free ports of 127.0.0.1 (candidate 127.0.0.1, idle timeout 5 s).
struct RunningWebRTCModule: Sendable {
    var api: Int
    var udp: Int
    var base: String { "http://127.0.0.1:\(api)" }

    /// Runs the module with `registry` and `hooks` while `body` runs (ProxyTesting's
    /// ModuleHarness), then stops it and waits until it stopped (a session still alive then
    /// reports its end).
    static func with(
        registry: any Registry, hooks: any ProxyHooks = RecordingHooks(), configure: (inout WebRTCConfig) -> Void = { _ in },
        onRouter: (Router) -> Void = { _ in }, _ body: @Sendable (RunningWebRTCModule) async throws -> Void
    ) async throws {
        var config = WebRTCConfig()
        config.apiListen = ListenEndpoint(host: "127.0.0.1", port: 0)
        config.udpListen = ListenEndpoint(transport: .udp, host: "127.0.0.1", port: 0)
        config.candidate = "127.0.0.1"
        config.idleTimeout = .seconds(5)
        configure(&config)
        let router = Router(registry: registry, strategy: RoundRobinStrategy())
        onRouter(router)
        try await ModuleHarness.run(
            WebRTCModule.self, config: config, router: router, hooks: hooks,
            listeners: ["webrtc-api", "webrtc-udp"]
        ) { listeners, _ in
            try await body(RunningWebRTCModule(api: listeners.port("webrtc-api"), udp: listeners.port("webrtc-udp")))
        }
    }
}
