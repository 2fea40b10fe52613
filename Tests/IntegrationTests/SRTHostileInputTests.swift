import Foundation
import ProxyCore
import ProxyTesting
import Testing

@testable import SRT

/// SRT callers that try to pass the publish hook, to make state faster than a real caller would,
/// or to send datagrams the proxy would cut: with the real srt-live-transmit origin.
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct SRTHostileInputTests {
    typealias S = SRTRelayTests

    /// SRS reads `?m=publish` in `r=` as `,m=publish`: so must the hook. With a hook that refuses
    /// every publish, these callers are all refused; before, some counted as players and went by.
    @Test(arguments: ["#!::r=live/x?m=publish", "#!::r=live/x,m=PUBLISH", "#!::m=request,r=live/x,m=publish"])
    func aPublishSpelledAnyWaySRSAcceptsIsPutToTheHook(streamID: String) async throws {
        let hook = try await HookServer.start { _, _ in (200, #"{"code":1,"msg":"no publishing here"}"#) }
        defer { hook.stop() }
        let origin = try await SRTLiveTransmit.start()
        let proxy = try await ProxyProcess.start(config: HooksTests.config(hooks: "  publish_auth: { url: \"\(hook.url("/auth"))\" }"), healthChecks: false)
        try await S.register(origin, as: "o", with: proxy)
        let raw = try RawUDPSocket(port: try await S.srtPort(proxy))
        let cookie = try await S.cookie(raw, socketID: 0x77)
        raw.send(S.conclusion(socketID: 0x77, cookie: cookie, streamID: streamID).serialized())
        let answer = try SRTHandshake(parsing: try #require(await raw.receive(timeout: .seconds(5))))
        #expect(answer.kind != .conclusion, "\(streamID): refused, not relayed (\(answer.kind))")
        #expect(hook.requests("/auth").count == 1, "\(streamID): the publish hook was asked")
        #expect(!origin.log.contains("Accepted SRT source connection"), "the origin never saw it")
    }

    @Test func conclusionsFasterThanTheSessionRateAreRefusedAsOverload() async throws {
        let origin = try await SRTLiveTransmit.start()
        let proxy = try await ProxyProcess.start(config: S.config(", session_rate: 1, session_burst: 3"), healthChecks: false)
        try await S.register(origin, as: "o", with: proxy)
        let raw = try RawUDPSocket(port: try await S.srtPort(proxy))
        // One induction cookie, ten sessions (socket ids) from one address.
        let cookie = try await S.cookie(raw, socketID: 0x100)
        var kinds: [String] = []
        for i in 0..<10 {
            raw.send(S.conclusion(socketID: 0x100 + UInt32(i), cookie: cookie, streamID: "#!::r=live/r\(i),m=publish").serialized())
            if let bytes = await raw.receive(timeout: .seconds(3)), let hs = try? SRTHandshake(parsing: bytes) { kinds.append("\(hs.kind)") }
        }
        let overloaded = kinds.filter { $0 == "\(SRTHandshake.Kind.rejection(SRTHandshake.RejectReason.overload))" }.count
        #expect(overloaded >= 6, "past the burst of 3, conclusions are refused as overload: \(kinds)")
        try await Wait.until("the cause in the log") { proxy.log.contains("cause=rate_limited ") ? true : nil }
        #expect(origin.log.components(separatedBy: "Accepted SRT source connection").count - 1 <= 4, "the origin got at most the burst and the refill")
    }

    @Test func aDatagramLongerThanTheProxyReadsIsDroppedNotRelayedCut() async throws {
        let proxy = try await ProxyProcess.start(config: S.config(), healthChecks: false)
        let port = try await S.srtPort(proxy)
        let raw = try RawUDPSocket(port: port)
        var big = [UInt8](repeating: 0, count: 4000)
        big[15] = 42
        for _ in 0..<3 { raw.send(big) }
        try await Wait.until("the truncated datagrams counted", timeout: .seconds(10)) { proxy.log.contains("cause=truncated ") ? true : nil }
        let samples = try await MetricsTests.scrape(proxy).samples
        #expect(MetricsTests.value(samples, "stream_proxy_srt_dropped_datagrams_total", ["cause": "truncated"]) == 3)
    }
}
