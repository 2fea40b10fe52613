import Foundation
import ProxyTesting
import Testing

/// The streaming coordinator's hook contract with a real application (Tests/Peers/coordinator_app.py),
/// real publishers (ffmpeg over RTMP, srt-live-transmit) and a real origin (nginx-rtmp): key
/// verification by headers, stream-available then stream-closed with one streaming id,
/// retries until the application answers 200, each auth method as the application sees it.
@Suite(.serialized, .timeLimit(.minutes(3)), .peerDiagnostics) struct CoordinatorAppTests {
    static let channel = "chan-1"
    static let key = "k3y_A"

    static func config(_ app: CoordinatorApp, verifyAuth: String = "{ type: basic, user: proxy, password: pw }",
                       eventsAuth: String = "{ type: bearer, token: ev-token }") -> String {
        """
        system_api: { listen: 127.0.0.1:0 }
        modules:
          rtmp: { listen: 127.0.0.1:0 }
          http-flv: { listen: 127.0.0.1:0 }
          srt: { listen: 127.0.0.1:0 }
        hooks:
          publish_auth: { url: "\(app.verifyURL)", format: coordinator, auth: \(verifyAuth) }
          events:
            urls: ["\(app.eventsURL)"]
            format: coordinator
            auth: \(eventsAuth)
            retry: { initial_backoff: 100ms, max_backoff: 200ms }
        """
    }

    /// The proxy and an nginx-rtmp origin with an application named after the channel (the
    /// coordinator's publishers use `rtmp://host/{channel}/{key}`).
    static func start(_ config: String, environment: [String: String] = [:]) async throws -> (ProxyProcess, NginxRTMP, Int) {
        let proxy = try await ProxyProcess.start(config: config, environment: environment)
        let origin = try await NginxRTMP.start(applications: [channel])
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: origin.registration(server: "o"))
        #expect(r.status == 200, "\(r.text)")
        let port = Int(try await proxy.waitForListener("rtmp").split(separator: ":").last!)!
        return (proxy, origin, port)
    }

    /// The events once `count` of them were answered 200.
    static func delivered(_ app: CoordinatorApp, _ count: Int, timeout: Duration = .seconds(15)) async throws -> [CoordinatorApp.Request] {
        try await Wait.until("\(count) events answered 200", timeout: timeout) { () async throws -> [CoordinatorApp.Request]? in
            let events = try await app.events()
            return events.filter { $0.status == 200 }.count >= count ? events : nil
        }
    }

    @Test func aGoodKeyIsVerifiedByHeadersAndTheStreamIsAnnouncedThenClosedUnderOneID() async throws {
        let app = try await CoordinatorApp.start(keys: [Self.channel: Self.key])
        let (proxy, origin, port) = try await Self.start(Self.config(app))
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/\(Self.channel)/\(Self.key)", seconds: 4)
        // Players play the channel without its key: the origin has it under origin_name ({channel}/{channel}).
        try await Wait.until("the stream on the origin", timeout: .seconds(15)) { origin.published == [Self.channel] ? true : nil }
        let player = try MediaTools.play("rtmp://127.0.0.1:\(port)/\(Self.channel)/\(Self.channel)")
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "accepted: \(publisher.output)")
        try await player.wait(timeout: .seconds(20))
        #expect(MediaTools.timestamps(player.output).count > 20, "a player of the channel got the stream: \(player.output.suffix(300))")
        #expect(origin.published == [Self.channel], "published to the origin under the channel's name, not the key")

        let verifications = try await app.verifications()
        #expect(verifications.count == 1)
        let v = try #require(verifications.first)
        #expect(v.bodyLength == 0 && v.headers["content-length"] == "0", "an empty body: \(v.headers)")
        #expect(v.headers["x-streaming-channel"] == Self.channel && v.headers["x-streaming-key"] == Self.key && v.headers["x-user-ip"] == "127.0.0.1")
        #expect(v.headers["authorization"] == "Basic " + Data("proxy:pw".utf8).base64EncodedString())

        let events = try await Self.delivered(app, 2)
        #expect(events.map { $0.headers["x-event-type"] } == ["stream-available", "stream-closed"], "in order")
        let ids = Set(events.compactMap { $0.headers["x-streaming-id"] })
        #expect(ids.count == 1 && ids.first?.count == 32, "one streaming id: \(ids)")
        #expect(events.allSatisfy { $0.headers["x-streaming-channel"] == Self.channel && $0.bodyLength == 0 })
        #expect(events.allSatisfy { $0.headers["authorization"] == "Bearer ev-token" })
        #expect(events[0].headers["x-record"] == "true" && events[0].headers["x-resolutions"] == "1280x720-30,ORIGINAL",
                "the verification's attributes travel with stream-available: \(events[0].headers)")
        #expect(events[0].headers["x-origin-stream"] == "\(Self.channel)/\(Self.channel)", "the application learns the players' name")
        try await proxy.stop()
        // The request log is on by default (the coordinator's LOG_REQUESTS=YES).
        let logged = proxy.logEntries("path=/api/v1/srs/register", "status=200")
        #expect(logged.count == 1 && logged.first?["method"] == "POST" && logged.first?["client"] == "127.0.0.1" && logged.first?["ms"] != nil,
                "\(logged)")
    }

    @Test func aBadKeyIsRefusedAndNothingReachesTheOriginOrTheEvents() async throws {
        let app = try await CoordinatorApp.start(keys: [Self.channel: Self.key])
        let (proxy, origin, port) = try await Self.start(Self.config(app))
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/\(Self.channel)/wrong-key", seconds: 2)
        #expect(try await publisher.wait(timeout: .seconds(20)) != 0, "refused")
        #expect(origin.published.isEmpty)
        #expect(try await app.verifications().map(\.status) == [403])
        // A channel the coordinator's rule refuses is not even asked about.
        let dotted = try MediaTools.publish("rtmp://127.0.0.1:\(port)/chan.1/\(Self.key)", seconds: 1)
        #expect(try await dotted.wait(timeout: .seconds(20)) != 0)
        #expect(await proxy.logContains("publish refused before verification", "may only hold letters"))
        #expect(try await app.verifications().count == 1, "no verification for an invalid channel")
        #expect(try await app.events().isEmpty, "no stream, no event")
        try await proxy.stop()
    }

    /// The application fails three times, then takes the event: it arrives, once, in order.
    @Test func anEventIsRetriedUntilTheApplicationAnswers200() async throws {
        let app = try await CoordinatorApp.start(keys: [Self.channel: Self.key], failEvents: 3)
        let (proxy, origin, port) = try await Self.start(Self.config(app, verifyAuth: "{ type: custom, value: \"ApiKey 42\" }"))
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/\(Self.channel)/\(Self.key)", seconds: 3)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output)")
        #expect(origin.published == [Self.channel])
        #expect(try await app.verifications().first?.headers["authorization"] == "ApiKey 42", "Custom auth is the whole header")
        let events = try await Self.delivered(app, 2)
        let answered = events.map { "\($0.headers["x-event-type"] ?? "?"):\($0.status)" }
        #expect(answered.prefix(3).allSatisfy { $0.hasSuffix(":500") }, "\(answered)")
        #expect(events.filter { $0.status == 200 }.map { $0.headers["x-event-type"] } == ["stream-available", "stream-closed"], "\(answered)")
        try await proxy.stop()
    }

    /// The coordinator's .env alone configures the hooks (no hooks: section in proxy.yaml).
    @Test func theCoordinatorsVariablesAloneSwitchTheHooks() async throws {
        let app = try await CoordinatorApp.start(keys: [Self.channel: Self.key])
        let (proxy, origin, port) = try await Self.start("""
            system_api: { listen: 127.0.0.1:0 }
            modules:
              rtmp: { listen: "0.0.0.0:0" }
              http-flv: { listen: 127.0.0.1:0 }
              srt: { listen: 127.0.0.1:0 }
            hooks: { events: { retry: { initial_backoff: 100ms, max_backoff: 200ms } } }
            """, environment: [
                "BIND_ADDRESS": "127.0.0.1",
                "KEY_VERIFICATION_URL": app.verifyURL, "KEY_VERIFICATION_AUTH": "Bearer", "KEY_VERIFICATION_AUTH_TOKEN": "vt",
                "EVENT_CALLBACK_URL": app.eventsURL, "EVENT_CALLBACK_AUTH": "Basic", "EVENT_CALLBACK_AUTH_USER": "u",
                "EVENT_CALLBACK_PASSWORD": "p", "LOG_REQUESTS": "NO",
            ])
        #expect(try await proxy.waitForListener("rtmp").hasPrefix("127.0.0.1:"), "BIND_ADDRESS binds the RTMP listener")
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/\(Self.channel)/\(Self.key)", seconds: 2)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output)")
        #expect(origin.published == [Self.channel])
        #expect(try await app.verifications().first?.headers["authorization"] == "Bearer vt")
        let events = try await Self.delivered(app, 2)
        #expect(events.allSatisfy { $0.headers["authorization"] == "Basic " + Data("u:p".utf8).base64EncodedString() })
        try await proxy.stop()
        #expect(proxy.logEntries("path=/api/v1/srs/register").isEmpty, "LOG_REQUESTS=NO: no request log")
    }

    /// SRT publishers name channel and key in the Stream ID (`r=channel/key`).
    @Test func anSRTPublisherIsVerifiedTheSameWay() async throws {
        let app = try await CoordinatorApp.start(keys: [Self.channel: Self.key])
        let proxy = try await ProxyProcess.start(config: Self.config(app))
        let origin = try await SRTLiveTransmit.start()
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: origin.registration(server: "o"))
        #expect(r.status == 200)
        let port = Int(try await proxy.waitForListener("srt").split(separator: ":").last!)!
        let good = try SRTTools.publish(try await SRTTools.fixture(), to: SRTTools.url(port: port, streamID: "#!::r=\(Self.channel)/\(Self.key),m=publish"))
        #expect(try await good.wait(timeout: .seconds(30)) == 0, "accepted: \(good.output)")
        let bad = try SRTTools.publish(try await SRTTools.fixture(), to: SRTTools.url(port: port, streamID: "#!::r=\(Self.channel)/nope,m=publish"))
        #expect(try await bad.wait(timeout: .seconds(30)) != 0, "refused: \(bad.output)")
        #expect(try await app.verifications().map(\.status) == [200, 403])
        #expect(try await app.verifications().first?.headers["x-streaming-key"] == Self.key)
        let events = try await Self.delivered(app, 2)
        #expect(events.map { $0.headers["x-event-type"] } == ["stream-available", "stream-closed"])
        #expect(events.first?.headers["x-origin-stream"] == "\(Self.channel)/\(Self.channel)", "published to the origin under the channel's name")
        try await origin.wait(timeout: .seconds(10))
        let received = try Data(contentsOf: origin.received)
        #expect(received.count > 100_000, "the origin took the renamed handshake and the stream (\(received.count) bytes)")
        try await proxy.stop()
    }

    /// The commands API in the coordinator's shapes with real values, and its close by headers
    /// ending a live publish within 2 s.
    @Test func theCommandsAPIAnswersInTheCoordinatorsShapesAndClosesByHeaders() async throws {
        let app = try await CoordinatorApp.start(keys: [Self.channel: Self.key])
        let (proxy, origin, port) = try await Self.start(Self.config(app) + """

            commands_api: { enabled: true, listen: 127.0.0.1:0, auth: { bearer: { token: ct } } }
            """)
        let auth = ["Authorization": "Bearer ct"]
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/\(Self.channel)/\(Self.key)", seconds: 60)
        defer { publisher.stop(SIGKILL) }
        let available = try await Self.delivered(app, 1).first { $0.headers["x-event-type"] == "stream-available" }
        let streamingID = try #require(available?.headers["x-streaming-id"])
        let backend = "o-nginx-\(origin.pid)"

        let capacity = try await Wait.until("the publish in the shared counts", timeout: .seconds(10)) { () async throws -> [String: Any]? in
            let json = try await HTTPTestClient.get(try await CommandsAPITests.commands(proxy, "capacity"), headers: auth).json
            return json["load"] as? Int == 1 ? json : nil
        }
        #expect(capacity["capacity"] as? Int == -1 && capacity["encoderCount"] as? Int == 1, "\(capacity)")
        #expect(capacity["verdict"] as? String == "ok", "the proxy's own fields stay")

        let report = try await HTTPTestClient.get(try await CommandsAPITests.commands(proxy, "report"), headers: auth).json
        let active = report["activeStreams"] as? [[String: Any]] ?? []
        #expect(active.count == 1 && active.first?["channel"] as? String == Self.channel && active.first?["streamId"] as? String == streamingID,
                "\(active)")
        #expect(active.first?["encoder"] as? String == backend && (active.first?["streamServer"] as? String)?.isEmpty == false)
        let servers = report["streamingServers"] as? [[String: Any]] ?? []
        #expect(servers.contains { $0["serverType"] as? String == "rtmp" && $0["port"] as? Int == port && $0["ssl"] as? Bool == false }, "\(servers)")
        let encoders = report["encoders"] as? [[String: Any]] ?? []
        #expect(encoders.count == 1 && encoders.first?["id"] as? String == backend && encoders.first?["load"] as? Int == 1
                && encoders.first?["capacity"] as? Int == -1, "\(encoders)")
        #expect(report["streams"] != nil, "the proxy's own report stays")

        let url = try await CommandsAPITests.commands(proxy, "close")
        let wrong = try await HTTPTestClient.post(url, body: Data(), headers: ["x-streaming-channel": Self.channel, "x-streaming-id": "nope"].merging(auth) { $1 })
        #expect(wrong.status == 200 && wrong.json["closed"] as? Int == 0, "an unknown id closes nothing: \(wrong.text)")
        let unauthorized = try await HTTPTestClient.post(url, body: Data(), headers: ["x-streaming-channel": Self.channel, "x-streaming-id": "*"])
        #expect(unauthorized.status == 401)
        let started = ContinuousClock.now
        let closed = try await HTTPTestClient.post(url, body: Data(), headers: ["x-streaming-channel": Self.channel, "x-streaming-id": streamingID].merging(auth) { $1 })
        #expect(closed.status == 200 && closed.json["closed"] as? Int == 1, "\(closed.text)")
        _ = try await publisher.wait(timeout: .seconds(10))
        #expect(ContinuousClock.now - started < .seconds(2), "the publish ended within 2 s")
        let events = try await Self.delivered(app, 2)
        #expect(events.filter { $0.status == 200 }.map { $0.headers["x-event-type"] } == ["stream-available", "stream-closed"])
        try await proxy.stop()
    }

    /// A stream leaves activeStreams only once its stream-closed was delivered: while the
    /// application answers 500 it stays listed as closing (and counted in load), then goes.
    @Test func aClosedStreamStaysActiveUntilItsStreamClosedIsDelivered() async throws {
        let app = try await CoordinatorApp.start(keys: [Self.channel: Self.key], holdClosed: true)
        let (proxy, origin, port) = try await Self.start(Self.config(app) + """

            commands_api: { enabled: true, listen: 127.0.0.1:0, auth: { bearer: { token: ct } } }
            """)
        defer { withExtendedLifetime(origin) {} }
        let auth = ["Authorization": "Bearer ct"]
        let publisher = try MediaTools.publish("rtmp://127.0.0.1:\(port)/\(Self.channel)/\(Self.key)", seconds: 3)
        #expect(try await publisher.wait(timeout: .seconds(20)) == 0, "\(publisher.output)")
        let report = try await CommandsAPITests.commands(proxy, "report")
        func active() async throws -> [[String: Any]] {
            try await HTTPTestClient.get(report, headers: auth).json["activeStreams"] as? [[String: Any]] ?? []
        }
        try await Wait.until("stream-closed refused at least twice", timeout: .seconds(15)) { () async throws -> Bool? in
            try await app.events().filter { $0.headers["x-event-type"] == "stream-closed" && $0.status == 500 }.count >= 2 ? true : nil
        }
        let closing = try await active()
        #expect(closing.count == 1 && closing.first?["state"] as? String == "closing" && closing.first?["channel"] as? String == Self.channel,
                "the ended session is still listed: \(closing)")
        let load = try await HTTPTestClient.get(try await CommandsAPITests.commands(proxy, "capacity"), headers: auth).json["load"] as? Int
        #expect(load == 1, "and counted in load")

        try await app.takeClosed()
        let closedEvent = try await Self.delivered(app, 2).last { $0.status == 200 }
        #expect(closedEvent?.headers["x-event-type"] == "stream-closed")
        #expect(closedEvent?.headers["x-streaming-id"] == closing.first?["streamId"] as? String)
        let after = try await Wait.until("the stream gone from activeStreams", timeout: .seconds(5)) { () async throws -> [[String: Any]]? in
            let a = try await active()
            return a.isEmpty ? a : nil
        }
        #expect(after.isEmpty)
        try await proxy.stop()
    }

    /// WHIP publishers name channel and key as SRS's `?app={channel}&stream={key}`: a real aiortc
    /// publisher is verified, relayed to the aiortc origin under the channel's name, announced and
    /// closed; a bad key is a 403.
    @Test func aWHIPPublisherIsVerifiedTheSameWay() async throws {
        let app = try await CoordinatorApp.start(keys: [Self.channel: Self.key])
        let proxy = try await ProxyProcess.start(config: Self.config(app).replacingOccurrences(
            of: "  srt: { listen: 127.0.0.1:0 }",
            with: "  srt: { listen: 127.0.0.1:0 }\n  webrtc: { enabled: true, api_listen: 127.0.0.1:0, udp_listen: 127.0.0.1:0, candidate: 127.0.0.1 }"))
        let origin = try await WebRTCPeers.Origin.start()
        let r = try await HTTPTestClient.post(try proxy.systemAPI.appendingPathComponent("api/v1/srs/register"), json: origin.registration(server: "w"))
        #expect(r.status == 200)
        let api = Int(try await proxy.waitForListener("webrtc-api").split(separator: ":").last!)!
        let good = try WebRTCPeers.client("publish", "http://127.0.0.1:\(api)/rtc/v1/whip/?app=\(Self.channel)&stream=\(Self.key)", seconds: 2)
        #expect(try await good.wait(timeout: .seconds(40)) == 0, "accepted: \(good.output)")
        #expect(try await origin.videoFrames(Self.channel) > 0, "the origin received the video under the channel's name")
        #expect(try await origin.videoFrames(Self.key) == 0, "and not under the key")
        let bad = try await HTTPTestClient.post(
            URL(string: "http://127.0.0.1:\(api)/rtc/v1/whip/?app=\(Self.channel)&stream=nope")!, body: Data(try await WebRTCPeers.offer().utf8),
            headers: ["Content-Type": "application/sdp"])
        #expect(bad.status == 403, "\(bad.status) \(bad.text)")
        let verifications = try await app.verifications()
        #expect(verifications.map(\.status) == [200, 403] && verifications.first?.headers["x-streaming-key"] == Self.key)
        let events = try await Self.delivered(app, 2, timeout: .seconds(20))
        #expect(events.map { $0.headers["x-event-type"] } == ["stream-available", "stream-closed"])
        #expect(events.first?.headers["x-origin-stream"] == "\(Self.channel)/\(Self.channel)", "WHIP publishes under origin_name too")
        try await proxy.stop()
    }
}
