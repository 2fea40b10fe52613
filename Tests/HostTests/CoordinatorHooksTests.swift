import Foundation
import ProxyCore
import Testing

@testable import Host

/// The coordinator's hook contract, without peers: auth headers, the key verification's answer
/// rule, the id rule, and the events' headers and cancellation (CoordinatorAppTests runs it
/// with a real application).
@Suite struct CoordinatorHooksTests {
    @Test func everyAuthMethodMakesItsHeader() throws {
        let h = try ConfigText.load("""
            hooks:
              publish_auth: { url: http://a.local/v, format: coordinator, auth: { type: Basic, user: proxy, password: "${PW}" } }
              events: { urls: [http://a.local/e], format: COORDINATOR, auth: { type: custom, value: "ApiKey 7" } }
            """, env: ["PW": "s3cret"]).proxy.hooks
        #expect(h.publishAuth.format == .coordinator && h.events.format == .coordinator)
        #expect(h.publishAuth.auth.headerValue == "Basic " + Data("proxy:s3cret".utf8).base64EncodedString())
        #expect(h.events.auth.headerValue == "ApiKey 7")
        #expect(HookAuth.bearer("t").headerValue == "Bearer t" && HookAuth.none.headerValue == nil)
        #expect(h.coordinatorIDs == CoordinatorIDs(maxLength: 128))
    }

    /// 200 allows and keeps x-record, x-previews, x-resolutions; any other status denies.
    @Test func keyVerificationAnswerRule() {
        let headers = [("x-record", "true"), ("x-previews", "256x144, 10"), ("x-resolutions", "1280x720-30,ORIGINAL")]
        #expect(PublishAuthorizer.coordinatorVerdict(status: 200, headers: headers)
            == .allow(["x-record": "true", "x-previews": "256x144, 10", "x-resolutions": "1280x720-30,ORIGINAL"]))
        #expect(PublishAuthorizer.coordinatorVerdict(status: 200, headers: []) == .allow([:]))
        #expect(PublishAuthorizer.coordinatorVerdict(status: 204, headers: []) == .deny("the key verification answered HTTP 204"))
        #expect(PublishAuthorizer.coordinatorVerdict(status: 503, headers: []) == .deny("the key verification answered HTTP 503"))
        #expect(PublishAuthorizer.coordinatorVerdict(status: 200, headers: [("x-record", String(repeating: "a", count: 1000))])
            == .allow(["x-record": String(repeating: "a", count: 256)]), "bounded")
    }

    @Test func originNameTemplates() throws {
        let t = try #require(OriginNameTemplate("{channel}/{channel}"))
        #expect(try t.key(vhost: "__defaultVhost__", channel: "c1", key: "k", id: "i").description == "__defaultVhost__/c1/c1")
        #expect(try #require(OriginNameTemplate("{channel}/live-{id}")).key(vhost: "__defaultVhost__", channel: "c", key: "k", id: "abc").stream == "live-abc")
        for bad in ["live/{channel}", "{channel}", "{channel}/a/b", "{channel}/", "{channel}/{secret}", "{channel}/a.b"] {
            #expect(OriginNameTemplate(bad) == nil, "\(bad)")
        }
        #expect(ConfigText.failure("hooks: { publish_auth: { origin_name: \"live/{channel}\" } }", env: [:]).contains("hooks.publish_auth.origin_name:"))
    }

    @Test(arguments: [
        ("chan-1_A", nil), ("", "the channel is empty"), ("a/b", "the channel may only hold letters, digits, '-' and '_'"),
        ("a b", "the channel may only hold letters, digits, '-' and '_'"), ("é", "the channel may only hold letters, digits, '-' and '_'"),
        (String(repeating: "x", count: 9), "the channel is longer than 8 characters"), (String(repeating: "x", count: 8), nil),
    ] as [(String, String?)])
    func idRule(_ id: String, _ problem: String?) {
        #expect(CoordinatorIDs(maxLength: 8).problem(id, "channel") == problem)
    }

    @Test func eventsCarryTheSessionAndAClosedCancelsItsAvailable() throws {
        let request = StreamRequest(key: try StreamKey(vhost: nil, app: "chan", stream: "key1"))
        var start = StreamEvent(kind: .publishStart, request: request, module: "rtmp", client: "10.0.0.1:5000")
        start.sessionID = "s1"
        start.attributes = ["x-record": "true"]
        let urls = [URL(string: "http://a.local/e")!, URL(string: "http://b.local/e")!]
        let available = WebhookHooks.coordinatorDeliveries(start, urls: urls, server: "p1")
        #expect(available.map(\.id) == ["s1.stream-available.0", "s1.stream-available.1"])
        #expect(available[0].delivery.headers == [
            "x-streaming-channel": "chan", "x-streaming-id": "s1", "x-event-type": "stream-available", "x-record": "true",
            "x-origin-stream": "chan/key1",
        ])
        #expect(available.allSatisfy { $0.delivery.body == nil && $0.delivery.cancels == nil && $0.delivery.closing == nil && $0.delivery.retriesForever })
        var end = start
        end.kind = .publishEnd
        end.backend = Backend.ID("origin-a")
        let closed = WebhookHooks.coordinatorDeliveries(end, urls: urls, server: "p1")
        #expect(closed[1].delivery.headers == ["x-streaming-channel": "chan", "x-streaming-id": "s1", "x-event-type": "stream-closed"])
        #expect(closed.map { $0.delivery.cancels ?? [] } == [["s1.stream-available.0"], ["s1.stream-available.1"]])
        let decoded = try #require(EventDelivery(payload: closed[0].delivery.payload()))
        #expect(decoded.closing == EventDelivery.ClosingStream(channel: "chan", streamId: "s1", streamServer: "p1", encoder: "origin-a", key: "__defaultVhost__/chan/key1"),
                "a stream-closed names the stream it ends: \(String(describing: decoded.closing))")
        #expect(decoded.format == .coordinator && decoded.delivered(by: 200) && !decoded.delivered(by: 201), "only 200 delivers")
        let old = try #require(EventDelivery(payload: #"{"url":"http://x/","event_id":"e","body":"{}"}"#))
        #expect(old.delivered(by: 204) && !old.retriesForever, "an item queued before formats existed is SRS's")
    }

    @Test func aSessionWhoseStreamClosedIsQueuedStaysInTheCoordinatorsReport() async throws {
        let queue = MemoryEventQueue()
        let backend = Backend(server: "o", service: "s", pid: "1", ip: "127.0.0.1", endpoints: [:])
        let request = StreamRequest(key: try StreamKey(vhost: nil, app: "chan", stream: "chan"))
        var end = StreamEvent(kind: .publishEnd, request: request, module: "rtmp", client: "10.0.0.1:5000", backend: backend.id)
        end.sessionID = "s9"
        // Two urls: two queued items, one session.
        for item in WebhookHooks.coordinatorDeliveries(end, urls: [URL(string: "http://a/")!, URL(string: "http://b/")!], server: "p1") {
            #expect(try await queue.enqueue(id: item.id, payload: item.delivery.payload(), limit: 10))
        }
        #expect(try await queue.enqueue(id: "s8.stream-available.0", payload: "{}", limit: 10))
        let closing = try await CoordinatorShapes.closing(queue, max: 100)
        #expect(closing.map(\.streamId) == ["s9"], "one per session, stream-closed items only")
        let report = CoordinatorShapes.report(counts: [], closing: closing, alive: [backend], listeners: [], policy: PlacementPolicy())
        let active = report["activeStreams"] as? [[String: Any]] ?? []
        #expect(active.count == 1 && active.first?["state"] as? String == "closing" && active.first?["encoder"] as? String == backend.id.rawValue)
        #expect((report["encoders"] as? [[String: Any]])?.first?["load"] as? Int == 1)
        let capacity = CoordinatorShapes.capacity(counts: [], closing: closing, alive: [backend], policy: PlacementPolicy())
        #expect(capacity["load"] as? Int == 1)
    }
}
