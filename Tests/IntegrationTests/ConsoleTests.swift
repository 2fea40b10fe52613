import Foundation
import ProxyTesting
import Testing

/// The status page in a real browser: headless chromium opens `/console/` on the system API; a
/// registered nginx-rtmp origin and a live ffmpeg publish appear within 5 s, and the page keeps
/// refreshing when the origin dies (shown unhealthy, its stream gone). The page reports each
/// refresh on the browser console ("streamproxy-console refreshed ...").
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct ConsoleTests {
    static let tag = "streamproxy-console"

    /// `key=value` of a refresh line.
    static func field(_ key: String, _ line: String) -> String? {
        line.split(separator: " ").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    /// The first refresh line (after `after` of them) for which `condition` holds, within `timeout`.
    static func refresh(_ chromium: ChromiumPeer, after seen: Int = 0, within timeout: Duration, _ what: String,
                        _ condition: @escaping (String) -> Bool) async throws -> (line: String, index: Int) {
        try await Wait.until(what, timeout: timeout, interval: .milliseconds(100)) { () throws -> (String, Int)? in
            let lines = chromium.lines.filter { $0.hasPrefix("refreshed ") }
            if !chromium.process.isRunning { throw TestFailure("chromium exited") }
            guard lines.count > seen, let i = lines.indices.dropFirst(seen).first(where: { condition(lines[$0]) }) else { return nil }
            return (lines[i], i)
        }
    }

    @Test func anOriginAndALivePublishAppearWithin5sAndThePageSurvivesTheOriginDying() async throws {
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 127.0.0.1:0 }
            registry: { health_check: { interval: 500ms, timeout: 400ms, fall: 1 } }
            modules:
              rtmp: { listen: 127.0.0.1:0 }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            """, healthChecks: true)
        let page = try proxy.systemAPI.appendingPathComponent("console/")
        let html = try await HTTPTestClient.get(page)
        #expect(html.status == 200 && html.headers["content-type"]?.hasPrefix("text/html") == true, "\(html.status) \(html.headers)")
        #expect(html.text.contains("<title>StreamProxy console</title>"))
        #expect(!html.text.contains("http://") && !html.text.contains("https://"), "no external asset")
        #expect(try await HTTPTestClient.get(try proxy.systemAPI.appendingPathComponent("console")).status == 200, "without the slash too")

        let chromium = try ChromiumPeer.start(page.absoluteString, tag: Self.tag)
        _ = try await Self.refresh(chromium, within: .seconds(30), "the page's first refresh") { Self.field("origins", $0) == "0" }

        let origin = try await NginxRTMP.start(applications: ["live"])
        var started = ContinuousClock.now
        try await RTMPRelayTests.register(origin, as: "n", with: proxy)
        let shown = try await Self.refresh(chromium, within: .seconds(5), "the origin on the page") { Self.field("alive", $0) == "1" }
        #expect(ContinuousClock.now - started < .seconds(5))

        let port = Int(try await proxy.waitForListener("rtmp").split(separator: ":").last!)!
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/live/on-the-page", seconds: 30)
        defer { publisher.stop(SIGKILL) }
        try await Wait.until("the publish on the origin", timeout: .seconds(15)) { origin.published == ["on-the-page"] ? true : nil }
        started = ContinuousClock.now
        let live = try await Self.refresh(chromium, after: shown.index, within: .seconds(5), "the stream on the page") {
            Self.field("streams", $0) == "1" && Self.field("first", $0)?.hasSuffix("live/on-the-page") == true && Self.field("rows", $0) == "1"
        }
        #expect(ContinuousClock.now - started < .seconds(5))

        origin.stop()
        let dead = try await Self.refresh(chromium, after: live.index, within: .seconds(15), "the dead origin on the page") {
            Self.field("unhealthy", $0) == "1"
        }
        publisher.stop(SIGKILL)
        let after = try await Self.refresh(chromium, after: dead.index, within: .seconds(15), "the ended stream gone from the page") {
            Self.field("streams", $0) == "0"
        }
        // Still refreshing afterwards, without a failed fetch.
        _ = try await Self.refresh(chromium, after: after.index + 1, within: .seconds(5), "a later refresh") { _ in true }
        #expect(!chromium.lines.contains { $0.hasPrefix("failed") }, "\(chromium.lines.suffix(5))")
        await chromium.stop()
        #expect(try await proxy.stop() == 0)
    }

    /// With a register token, the page and its data need it from addresses outside the trusted
    /// ones; the page passes its own `?token=` on to the APIs.
    @Test func thePageFollowsTheReadAPIsAccessRules() async throws {
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 0.0.0.0:0, register_token: s3cret }
            modules:
              rtmp: { listen: 127.0.0.1:0 }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            """)
        let address = try LocalAddress.nonLoopbackIPv4()
        let base = "http://\(address):\(try proxy.systemAPIPort)"
        #expect(try await HTTPTestClient.get(URL(string: "\(base)/console/")!).status == 403)
        #expect(try await HTTPTestClient.get(URL(string: "\(base)/api/v1/proxies")!).status == 403)
        #expect(try await HTTPTestClient.get(URL(string: "\(base)/console/?token=s3cret")!).status == 200)
        let proxies = try await HTTPTestClient.get(URL(string: "\(base)/api/v1/proxies")!, headers: ["Authorization": "Bearer s3cret"])
        #expect(proxies.status == 200 && proxies.json["proxies"] is [[String: Any]], "\(proxies.text)")
        #expect(try await proxy.stop() == 0)
    }
}
