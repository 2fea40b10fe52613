import Foundation
import ProxyCore
import ProxyTesting
import Synchronization
import Testing

import WebRTC

/// WHIP signalling redispatch with real peers (the aiortc origin and publisher of
/// Tests/Peers/webrtc): when the routed backend's API refuses the connection, the offer goes to
/// another backend and the publisher sees a normal answer.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct WebRTCRedispatchTests {
    @Test func aWHIPOfferWhoseBackendRefusesIsSentToAnotherAndThePublishWorks() async throws {
        let origin = try await WebRTCPeers.Origin.start()
        let registry = MemoryRegistry()
        try await registry.heartbeat(Backend(server: "dead", service: "x", pid: "1", ip: "127.0.0.1", endpoints: [
            .api: [ListenEndpoint(port: try FreePort.tcp())], .rtc: [ListenEndpoint(transport: .udp, host: "127.0.0.1", port: 9)],
        ]))
        try await registry.heartbeat(Backend(server: "o", service: "aiortc", pid: "1", ip: "127.0.0.1", endpoints: [
            .api: [ListenEndpoint(port: origin.port)], .rtc: [ListenEndpoint(transport: .udp, host: "127.0.0.1", port: 9)],
        ]))
        let router = Mutex<Router?>(nil)
        let names = [WebRTCModuleHooksTests.unique("w"), WebRTCModuleHooksTests.unique("w")]
        try await RunningWebRTCModule.with(registry: registry, onRouter: { r in router.withLock { $0 = r } }) { m in
            // Round-robin over both: one of two publishes in a row is placed on the dead backend
            // first (the other finds it a suspect), and both must be answered by the origin.
            for name in names {
                let publisher = try WebRTCPeers.client("publish", "\(m.base)/rtc/v1/whip/?app=live&stream=\(name)", seconds: 1)
                #expect(try await publisher.wait(timeout: .seconds(30)) == 0, "publisher: \(publisher.output)")
                #expect(WebRTCPeers.result(publisher)["connected"] as? Bool == true, "answered and connected: \(WebRTCPeers.result(publisher))")
            }
        }
        for name in names { #expect(try await origin.videoFrames(name) > 0, "the origin received \(name)") }
        let redispatches = await router.withLock { $0 }!.redispatches
        #expect(redispatches == 1, "one offer was sent again")
    }
}
