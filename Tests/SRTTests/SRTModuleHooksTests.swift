import Foundation
import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet
import ProxyTesting
import Synchronization
import Testing

@testable import SRT

/// The module's hooks with real peers (ffmpeg callers, srt-live-transmit origins): publish and
/// play start/end reach ModuleContext.hooks with the stream key, the Stream ID's query keys, the
/// client address and the backend, and a hook can refuse a publish (an SRT rejection for the
/// caller, nothing at the origin).
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct SRTModuleHooksTests {
    /// Runs the SRT module on a free port with `hooks`, with one backend whose srt endpoint is `backendPort`.
    func withModule(hooks: RecordingHooks, backendPort: Int, _ body: @Sendable (_ port: Int) async throws -> Void) async throws {
        let registry = MemoryRegistry()
        try await registry.heartbeat(Backend(server: "o", service: "slt", pid: "1", ip: "127.0.0.1", endpoints: [.srt: [ListenEndpoint(port: backendPort)]]))
        try await ModuleHarness.run(
            SRTModule.self, config: SRTConfig(listen: ListenEndpoint(host: "127.0.0.1", port: 0)),
            router: Router(registry: registry, strategy: RoundRobinStrategy()), hooks: hooks
        ) { listeners, _ in try await body(listeners.port()) }
    }

    @Test func publishStartAndEndAreReportedWithKeyQueryClientAndBackend() async throws {
        let input = try await SRTTools.fixture()
        let origin = try await SRTLiveTransmit.start()
        let hooks = RecordingHooks()
        try await withModule(hooks: hooks, backendPort: origin.port) { port in
            let publisher = try SRTTools.publish(input, to: SRTTools.url(port: port, streamID: "#!::r=live/hooked,m=publish,token=abc"))
            #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
            try await Wait.until("the end of the publish", timeout: .seconds(10)) { hooks.kinds.count == 3 ? true : nil }
        }
        #expect(origin.log.contains("Accepted SRT source connection"), "the publish reached the origin")
        #expect(hooks.kinds == [.publishStart, .publishStart, .publishEnd], "asked, started, ended: \(hooks.kinds)")
        let events = hooks.events
        let asked = try #require(events.first)
        #expect(asked.request.key.description == "__defaultVhost__/live/hooked")
        #expect(asked.request.query == "token=abc", "the Stream ID's other keys reach the hook as the query")
        #expect(events.allSatisfy { $0.module == "srt" && $0.client.hasPrefix("127.0.0.1:") && $0.request.key == asked.request.key })
        #expect(events.dropFirst().allSatisfy { $0.backend?.rawValue == "o-slt-1" }, "reported events name the backend")
    }

    @Test func playStartAndEndAreReported() async throws {
        let input = try await SRTTools.fixture()
        let origin = try await SRTLiveTransmit.start(servePlayers: true)
        let hooks = RecordingHooks(refuse: "players are not asked")
        let dir = try PackagePaths.temporaryDirectory("srt-hooks-play")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await withModule(hooks: hooks, backendPort: try #require(origin.playPort)) { port in
            let player = try SRTTools.play(SRTTools.url(port: port, streamID: "#!::r=live/watched,m=request,sig=xyz"), to: dir.appendingPathComponent("p.ts"))
            try await Wait.until("the player at the origin", timeout: .seconds(10)) { origin.log.contains("Accepted SRT target connection") ? true : nil }
            let publisher = try SRTTools.publish(input, to: SRTTools.url(port: origin.port, streamID: "#!::r=live/watched,m=publish"))
            #expect(try await publisher.wait(timeout: .seconds(30)) == 0)
            try await player.wait(timeout: .seconds(20))
            try await Wait.until("the end of the play", timeout: .seconds(15)) { hooks.kinds.count == 2 ? true : nil }
        }
        #expect(hooks.kinds == [.playStart, .playEnd], "a player is not put to authorizePublish: \(hooks.kinds)")
        let events = hooks.events
        #expect(events.allSatisfy {
            $0.request.key.description == "__defaultVhost__/live/watched" && $0.request.query == "sig=xyz" && $0.module == "srt"
                && $0.client.hasPrefix("127.0.0.1:") && $0.backend?.rawValue == "o-slt-1"
        }, "\(events)")
    }

    @Test func aPublishRefusedByTheHookIsRejectedAndNothingReachesTheOrigin() async throws {
        let input = try await SRTTools.fixture()
        let origin = try await SRTLiveTransmit.start()
        let hooks = RecordingHooks(refuse: "invalid token")
        try await withModule(hooks: hooks, backendPort: origin.port) { port in
            let publisher = try SRTTools.publish(input, to: SRTTools.url(port: port, streamID: "#!::r=live/refused,m=publish,token=bad"))
            #expect(try await publisher.wait(timeout: .seconds(20)) != 0, "the caller gets an SRT rejection")
            #expect(publisher.output.lowercased().contains("reject") || publisher.output.contains("Connection"), "\(publisher.output)")
        }
        #expect(!origin.log.contains("Accepted SRT source connection"), "nothing reached the origin: \(origin.log)")
        let received = (try? Data(contentsOf: origin.received)) ?? Data()
        #expect(received.isEmpty, "no media at the origin (\(received.count) bytes)")
        #expect(hooks.kinds == [.publishStart], "asked once, then nothing started: \(hooks.kinds)")
        #expect(hooks.events.first?.request.query == "token=bad")
    }
}
