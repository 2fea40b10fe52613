import Foundation
import ProxyTesting
import Testing

/// Liveness from the heartbeat cadence, through the built proxy: origins heartbeat every second
/// (as SRS does with `heartbeat { interval 1; }`), one hangs (SIGSTOP: no RST, no heartbeat), and
/// it is dead 3.5 intervals after its last heartbeat instead of `backend_alive` (300 s) later.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct LivenessTests {
    static func origins(_ proxy: ProxyProcess) async throws -> [[String: Any]] {
        let r = try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("api/v1/origins"))
        return r.json["origins"] as? [[String: Any]] ?? []
    }

    /// Registers `origin` every second until cancelled.
    static func heartbeats(_ origin: NginxRTMP, as server: String, to proxy: ProxyProcess) throws -> Task<Void, Never> {
        let register = try proxy.systemAPI.appendingPathComponent("api/v1/srs/register")
        let body = origin.registration(server: server)
        return Task {
            while !Task.isCancelled {
                _ = try? await HTTPTestClient.post(register, json: body)
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    @Test func aHungOriginIsDeadThreeAndAHalfHeartbeatsAfterItsLastAndTakesNoNewStreams() async throws {
        let proxy = try await ProxyProcess.start(config: RTMPRelayTests.config())
        let port = try await RTMPRelayTests.rtmpPort(proxy)
        let hung = try await NginxRTMP.start(), live = try await NginxRTMP.start()
        let hungBeats = try Self.heartbeats(hung, as: "hung", to: proxy)
        let liveBeats = try Self.heartbeats(live, as: "live", to: proxy)
        defer {
            hungBeats.cancel()
            liveBeats.cancel()
            hung.resume()
        }
        let cadence = try await Wait.until("both origins' cadence in /api/v1/origins", timeout: .seconds(10)) { () async throws -> [Double]? in
            let intervals = try await Self.origins(proxy).compactMap { $0["heartbeat_interval_s"] as? Double }
            return intervals.count == 2 ? intervals : nil
        }
        #expect(cadence.allSatisfy { $0 >= 0.9 && $0 <= 1.5 }, "about one second: \(cadence)")

        hungBeats.cancel()
        hung.hang()
        let hungAt = ContinuousClock.now
        try await Wait.until("the hung origin listed as dead", timeout: .seconds(10)) { () async throws -> Bool? in
            let entry = try await Self.origins(proxy).first { ($0["server"] as? String) == "hung" }
            return entry?["alive"] as? Bool == false ? true : nil
        }
        let took = ContinuousClock.now - hungAt
        #expect(took < .seconds(5), "dead 3.5 intervals after its last heartbeat, not after backend_alive: \(took)")
        #expect(try await Self.origins(proxy).contains { ($0["server"] as? String) == "live" && $0["alive"] as? Bool == true })

        // Round-robin over the pool: none of these goes to the hung origin.
        let names = (0..<4).map { _ in RTMPRelayTests.unique("after-hang") }
        let publishers = try names.map { try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/\($0)", seconds: 1) }
        for publisher in publishers { #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output.suffix(300))") }
        #expect(Set(live.published) == Set(names), "every new stream on the live origin: \(live.published)")
        try await proxy.stop()
    }
}
