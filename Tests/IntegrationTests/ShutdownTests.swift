import Foundation
import ProxyTesting
import Testing

/// SIGTERM with live RTMP sessions: stop accepting, let sessions finish within quit.grace, close
/// what is left at quit.grace, exit 0.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct ShutdownTests {
    static func start(grace: String, force: String) async throws -> (ProxyProcess, NginxRTMP, Int) {
        let nginx = try await NginxRTMP.start()
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 127.0.0.1:0 }
            modules:
              rtmp: { listen: 127.0.0.1:0 }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            quit: { grace: \(grace), force: \(force) }
            """)
        let port = try await RTMPRelayTests.rtmpPort(proxy)
        try await RTMPRelayTests.register(nginx, as: "n", with: proxy)
        return (proxy, nginx, port)
    }

    @Test func aLiveSessionFinishesWithinGraceWhileNewConnectionsAreRefused() async throws {
        let (proxy, nginx, port) = try await Self.start(grace: "20s", force: "30s")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/draining", seconds: 4)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == ["draining"] ? true : nil }

        kill(proxy.process.processIdentifier, SIGTERM)
        try await Wait.until("the listener to close", timeout: .seconds(5)) { isListening(port) ? nil : true }
        #expect(proxy.process.isRunning, "the proxy waits for the live session")
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "the session was not cut: \(publisher.output)")
        #expect(try await proxy.stop(timeout: .seconds(10)) == 0, "exits 0 once the last session ended")
    }

    @Test func sessionsStillOpenAtGraceAreClosedAndTheProcessExits() async throws {
        let (proxy, nginx, port) = try await Self.start(grace: "2s", force: "10s")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/cut", seconds: 30)
        try await Wait.until("the publish at the origin", timeout: .seconds(10)) { nginx.published == ["cut"] ? true : nil }

        let signalled = ContinuousClock.now
        #expect(try await proxy.stop(timeout: .seconds(15)) == 0)
        let took = ContinuousClock.now - signalled
        #expect(took >= .seconds(2) && took < .seconds(8), "closed at quit.grace (took \(took))")
        #expect(try await publisher.wait(timeout: .seconds(10)) != 0, "the publisher saw its session closed")
        #expect(await proxy.logContains("relay closed"))
    }
}
