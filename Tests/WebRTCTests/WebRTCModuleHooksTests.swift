import Foundation
import Logging
import NIOPosix
import ProxyCore
import ProxyNet
import ProxyTesting
import Synchronization
import Testing

import WebRTC

/// The module's hooks with real peers (the aiortc origin, publisher and player of
/// Tests/Peers/webrtc): publish and play start when the session's first Binding Request reaches
/// the relay and end with it, reported to ModuleContext.hooks with the stream key, the query, the
/// client's address and the backend; a publish the hook refuses is a 403 and reaches nothing.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct WebRTCModuleHooksTests {
    /// The registry the module gets, noting every record it stores (a signalled session is one).
    final class RecordedPuts: Sendable {
        final class Log: Sendable { let puts = Mutex<[String]>([]) }
        let log: Log
        let registry: ObservedRegistry
        var puts: [String] { log.puts.withLock { $0 } }

        init() {
            let log = Log()
            self.log = log
            registry = ObservedRegistry(onPutRecord: { namespace, id in log.puts.withLock { $0.append("\(namespace)/\(id)") } })
        }
    }

    typealias Running = RunningWebRTCModule

    static let backendID = "o-aiortc-1"

    /// Runs the module on free ports with `hooks` and `origin` as its one backend, then stops it
    /// and waits until it stopped (a session still alive then would report its end).
    func withModule(
        hooks: RecordingHooks, origin: WebRTCPeers.Origin, registry: ObservedRegistry = ObservedRegistry(),
        _ body: @Sendable (Running) async throws -> Void
    ) async throws {
        try await registry.heartbeat(Backend(server: "o", service: "aiortc", pid: "1", ip: "127.0.0.1", endpoints: [
            .api: [ListenEndpoint(port: origin.port)], .rtc: [ListenEndpoint(transport: .udp, host: "127.0.0.1", port: 9)],
        ]))
        try await RunningWebRTCModule.with(registry: registry, hooks: hooks, body)
    }

    static func unique(_ prefix: String) -> String { "\(prefix)\(UInt32.random(in: 0...UInt32.max))" }

    @Test func aWHIPPublishReportsStartAndEndOnceWithKeyQueryClientAndBackend() async throws {
        let origin = try await WebRTCPeers.Origin.start()
        let hooks = RecordingHooks()
        let name = Self.unique("h")
        let result = Mutex<[String: Any]>([:])
        let udpPort = Mutex(0)
        try await withModule(hooks: hooks, origin: origin) { m in
            udpPort.withLock { $0 = m.udp }
            let publisher = try WebRTCPeers.client("publish", "\(m.base)/rtc/v1/whip/?app=live&stream=\(name)&token=abc", seconds: 2)
            try await Wait.until("the publish start (first Binding Request relayed)", timeout: .seconds(20)) {
                hooks.calls.contains(.reported(.publishStart)) ? true : nil
            }
            #expect(hooks.calls == [.asked(.publishStart), .reported(.publishStart)], "asked, then started; not ended while live: \(hooks.calls)")
            #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
            result.withLock { $0 = WebRTCPeers.result(publisher) }
            try await Wait.until("the publish end (DELETE)", timeout: .seconds(10)) { hooks.calls.count >= 3 ? true : nil }
        }
        let published = result.withLock { $0 }
        #expect(published["media_peer"] as? String == "127.0.0.1:\(udpPort.withLock { $0 })", "the media went through the module: \(published)")
        #expect(published["delete_status"] as? Int == 200)
        #expect(try await origin.videoFrames(name) > 0, "the origin received the video")
        #expect(hooks.calls == [.asked(.publishStart), .reported(.publishStart), .reported(.publishEnd)], "once each, also after the module stopped: \(hooks.calls)")
        let events = hooks.events
        #expect(events.allSatisfy {
            $0.request.key.description == "__defaultVhost__/live/\(name)" && $0.request.query == "app=live&stream=\(name)&token=abc" && $0.module == "webrtc"
                && $0.client.hasPrefix("127.0.0.1:")
        }, "\(events)")
        #expect(events.dropFirst().allSatisfy { $0.backend?.rawValue == Self.backendID }, "reported events name the backend: \(events)")
        // The start and the end name the client's ICE address (the one the media came from), the same for both.
        #expect(events.count == 3 && events[1].client == events[2].client, "\(events.map(\.client))")
    }

    @Test func aWHEPPlayReportsStartAndEndAndIsNotPutToAuthorizePublish() async throws {
        let origin = try await WebRTCPeers.Origin.start()
        let hooks = RecordingHooks(refuse: "players are not asked")
        let name = Self.unique("p")
        // The publisher goes straight to the origin: only the player crosses the module. It
        // publishes until the player is done (SIGTERM), however late the player starts.
        let publisher = try WebRTCPeers.client("publish", "http://127.0.0.1:\(origin.port)/whip/\(name)", seconds: 300)
        try await Wait.until("frames at the origin", timeout: .seconds(20)) { try await origin.videoFrames(name) > 10 ? true : nil }
        let result = Mutex<[String: Any]>([:])
        try await withModule(hooks: hooks, origin: origin) { m in
            let player = try WebRTCPeers.client("play", "\(m.base)/rtc/v1/whep/?app=live&stream=\(name)&sig=xyz", seconds: 2, extra: ["--min-frames", "10"])
            try await Wait.until("the play start", timeout: .seconds(20)) { hooks.calls.contains(.reported(.playStart)) ? true : nil }
            #expect(try await player.wait(timeout: .seconds(30)) == 0, "player: \(player.output)")
            result.withLock { $0 = WebRTCPeers.result(player) }
            try await Wait.until("the play end (DELETE)", timeout: .seconds(10)) { hooks.calls.count >= 2 ? true : nil }
        }
        publisher.stop()
        #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
        let played = result.withLock { $0 }
        #expect(played["video_frames"] as? Int ?? 0 >= 10, "the player decoded frames through the module: \(played)")
        #expect(hooks.calls == [.reported(.playStart), .reported(.playEnd)], "a player is not put to authorizePublish: \(hooks.calls)")
        let events = hooks.events
        #expect(events.allSatisfy {
            $0.request.key.description == "__defaultVhost__/live/\(name)" && $0.request.query == "app=live&stream=\(name)&sig=xyz" && $0.module == "webrtc"
                && $0.client.hasPrefix("127.0.0.1:") && $0.backend?.rawValue == Self.backendID
        }, "\(events)")
    }

    @Test func aPublishRefusedByTheHookIsA403AndNothingReachesTheOrigin() async throws {
        let origin = try await WebRTCPeers.Origin.start()
        let hooks = RecordingHooks(refuse: "invalid token")
        let recorded = RecordedPuts()
        let registry = recorded.registry
        let name = Self.unique("r")
        try await withModule(hooks: hooks, origin: origin, registry: registry) { m in
            let publisher = try WebRTCPeers.client("publish", "\(m.base)/rtc/v1/whip/?app=live&stream=\(name)&token=bad", seconds: 1)
            #expect(try await publisher.wait(timeout: .seconds(30)) == 1, "the publisher fails: \(publisher.output)")
            let result = WebRTCPeers.result(publisher)
            #expect(result["http_status"] as? Int == 403, "\(result)")
            #expect("\(result["body"] ?? "")".contains("invalid token"), "the hook's reason is in the body: \(result)")
            #expect(try await registry.routes().isEmpty, "no route was claimed for the stream")
        }
        let stats = try await origin.allStats()
        #expect(stats["offers"] as? Int == 0, "no offer reached the origin: \(stats)")
        #expect((stats["streams"] as? [String: Any])?.isEmpty == true && stats["peers"] as? Int == 0, "\(stats)")
        #expect(recorded.puts.isEmpty, "no session or resource record, so no UDP session can start: \(recorded.puts)")
        #expect(hooks.calls == [.asked(.publishStart)], "asked once, then nothing started or ended: \(hooks.calls)")
        #expect(hooks.events.first?.request.query == "app=live&stream=\(name)&token=bad")
    }
}
