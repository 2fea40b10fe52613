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

    /// Runs the module with `registry` and `hooks` while `body` runs, then stops it and waits
    /// until it stopped (a session still alive then would report its end).
    static func with(
        registry: any Registry, hooks: any ProxyHooks = RecordingHooks(), configure: (inout WebRTCConfig) -> Void = { _ in },
        _ body: @Sendable (RunningWebRTCModule) async throws -> Void
    ) async throws {
        var config = WebRTCConfig()
        config.apiListen = ListenEndpoint(host: "127.0.0.1", port: 0)
        config.udpListen = ListenEndpoint(transport: .udp, host: "127.0.0.1", port: 0)
        config.candidate = "127.0.0.1"
        config.idleTimeout = .seconds(5)
        configure(&config)
        let ports = Mutex<[String: Int]>([:])
        let module = try WebRTCModule(config: config, context: ModuleContext(
            router: Router(registry: registry, strategy: RoundRobinStrategy()), eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "test.webrtc"), hooks: hooks, onListening: { name, address in ports.withLock { $0[name] = address.port } }))
        let task = Task { try await module.run() }
        do {
            let running = try await Wait.until("the module's listeners") { () -> RunningWebRTCModule? in
                ports.withLock { p in p["webrtc-api"].flatMap { api in p["webrtc-udp"].map { RunningWebRTCModule(api: api, udp: $0) } } }
            }
            try await body(running)
        } catch {
            task.cancel()
            _ = await task.result
            throw error
        }
        task.cancel()
        _ = await task.result
    }
}
