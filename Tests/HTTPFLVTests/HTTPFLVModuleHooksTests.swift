import Foundation
import HTTPFLV
import Logging
import NIOPosix
import ProxyCore
import ProxyNet
import ProxyTesting
import Synchronization
import Testing

/// The module's hooks with a real origin: a live play and an HLS play session report start and
/// end to ModuleContext.hooks with the stream key, client, query and backend.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct HTTPFLVModuleHooksTests {
    /// Runs the module on a free port with `hooks` and one registered origin.
    func withModule(
        hooks: RecordingHooks, origin: FFmpegHTTPOrigin, configure: (inout HTTPFLVConfig) -> Void = { _ in },
        _ body: @Sendable (_ port: Int) async throws -> Void
    ) async throws {
        let registry = MemoryRegistry()
        try await registry.heartbeat(Backend(server: "o", service: "ffmpeg", pid: "1", ip: "127.0.0.1", endpoints: [.http: [ListenEndpoint(port: origin.port)]]))
        var config = HTTPFLVConfig()
        config.listen = ListenEndpoint(host: "127.0.0.1", port: 0)
        configure(&config)
        try await ModuleHarness.run(HTTPFLVModule.self, config: config, router: Router(registry: registry, strategy: RoundRobinStrategy()), hooks: hooks) {
            listeners, _ in try await body(listeners.port())
        }
    }

    @Test func aLivePlayReportsStartAndEnd() async throws {
        let hooks = RecordingHooks()
        let origin = try await FFmpegHTTPOrigin.start(.flv, seconds: 2)
        try await withModule(hooks: hooks, origin: origin) { port in
            let player = try MediaTools.play("http://127.0.0.1:\(port)\(origin.path)?token=abc")
            try await player.wait(timeout: .seconds(20))
            try await Wait.until("start and end", timeout: .seconds(15)) { hooks.events.count == 2 ? true : nil }
        }
        let events = hooks.events
        #expect(events.map(\.kind) == [.playStart, .playEnd])
        for event in events {
            #expect(event.request.key.description == "__defaultVhost__/live/origin")
            #expect(event.request.query == "token=abc")
            #expect(event.module == "http-flv")
            #expect(event.client.contains("127.0.0.1"))
            #expect(event.backend?.rawValue == "o-ffmpeg-1")
        }
    }

    @Test func anHLSSessionReportsStartWhenMadeAndEndWhenItExpires() async throws {
        let hooks = RecordingHooks()
        let origin = try await FFmpegHTTPOrigin.start(.flv, seconds: 1)
        try await withModule(hooks: hooks, origin: origin, configure: { $0.hlsSessionTTL = .seconds(1) }) { port in
            let socket = try await RawSocket(port: port)
            socket.send(Array("GET /live/hls.m3u8?token=t HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".utf8))
            #expect(await socket.readUntilClose(timeout: .seconds(5))?.hasPrefix("HTTP/1.1 302") == true)
            try await Wait.until("the session start", timeout: .seconds(5)) { hooks.events.count == 1 ? true : nil }
            try await Wait.until("the session end after its ttl", timeout: .seconds(5)) { hooks.events.count == 2 ? true : nil }
        }
        let events = hooks.events
        #expect(events.map(\.kind) == [.playStart, .playEnd])
        #expect(events.allSatisfy { $0.request.key.description == "__defaultVhost__/live/hls" && $0.request.query == "token=t" })
    }
}
