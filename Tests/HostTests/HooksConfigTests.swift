import Foundation
import ProxyCore
import Testing

@testable import Host

/// `hooks:` decoding (defaults, every key, the errors naming file:line and key), SRS's answer
/// rule for publish_auth, the retry backoff and the body a hook receives.
@Suite struct HooksConfigTests {
    func load(_ yaml: String) throws(ConfigError) -> HooksConfig {
        try ConfigText.load(yaml, env: ["HOOK_TOKEN": "s3cret"]).proxy.hooks
    }

    func failure(_ yaml: String) -> String { ConfigText.failure(yaml, env: ["HOOK_TOKEN": "s3cret"]) }

    @Test func absentHooksAreOff() throws {
        let h = try load("")
        #expect(h.publishAuth.url == nil && h.events.urls.isEmpty)
        #expect(h.publishAuth.timeout == .seconds(3) && h.publishAuth.onError == .deny)
        #expect(h.events.events == [.publishStart, .publishEnd, .playStart, .playEnd])
        #expect(h.events.retry.maxAttempts == 8 && h.events.retry.initialBackoff == .seconds(1) && h.events.retry.maxBackoff == .seconds(60))
        #expect(h.events.queueLimit == 10_000 && h.events.timeout == .seconds(3))
    }

    @Test func readsEveryKeyAndExpandsSecrets() throws {
        let h = try load("""
            hooks:
              publish_auth: { url: "https://auth.example.com/hook?x=1", timeout: 500ms, on_error: allow, bearer_token: "${HOOK_TOKEN}", headers: { X-Api-Key: k1 } }
              events:
                urls: [http://127.0.0.1:9000/a, "http://h.example.com/b"]
                events: [publish_start, play_end]
                timeout: 2s
                bearer_token: t
                headers: { X-Tenant: blue }
                retry: { max_attempts: 3, initial_backoff: 200ms, max_backoff: 2s }
                queue_limit: 50
            """)
        #expect(h.publishAuth.url?.absoluteString == "https://auth.example.com/hook?x=1")
        #expect(h.publishAuth.timeout == .milliseconds(500) && h.publishAuth.onError == .allow)
        #expect(h.publishAuth.auth == .bearer("s3cret") && h.publishAuth.headers == ["X-Api-Key": "k1"])
        #expect(h.publishAuth.format == .srs && h.events.format == .srs && h.coordinatorIDs == nil, "SRS's format unless asked")
        #expect(h.events.urls.map(\.absoluteString) == ["http://127.0.0.1:9000/a", "http://h.example.com/b"])
        #expect(h.events.events == [.publishStart, .playEnd] && h.events.timeout == .seconds(2))
        #expect(h.events.auth == .bearer("t") && h.events.headers == ["X-Tenant": "blue"])
        #expect(h.events.retry.maxAttempts == 3 && h.events.retry.initialBackoff == .milliseconds(200) && h.events.retry.maxBackoff == .seconds(2))
        #expect(h.events.queueLimit == 50)
    }

    @Test(arguments: [
        ("hooks:\n  publish_auth:\n    url: not a url\n", "proxy.yaml:3:10: hooks.publish_auth.url: 'not a url' is not an http:// or https:// URL with a host"),
        ("hooks:\n  publish_auth:\n    url: http://\n", "proxy.yaml:3:10: hooks.publish_auth.url: 'http://' is not"),
        ("hooks:\n  publish_auth:\n    secret: x\n", "proxy.yaml:3:5: hooks.publish_auth.secret: unknown key 'secret' (allowed: url, timeout, format, auth, on_error, bearer_token, headers, origin_name)"),
        ("hooks:\n  publish_auth: { on_error: maybe }\n", "hooks.publish_auth.on_error: unknown value 'maybe' (allowed: deny, allow)"),
        ("hooks:\n  publish_auth: { timeout: 0s }\n", "hooks.publish_auth.timeout: must be greater than 0"),
        ("hooks:\n  publish_auth: { headers: { \"Bad Name\": x } }\n", "hooks.publish_auth.headers: 'Bad Name' is not a header name"),
        ("hooks:\n  events: { urls: [http://ok/a, \"ftp://no\"] }\n", "hooks.events.urls: item 1: 'ftp://no' is not an http:// or https:// URL"),
        ("hooks:\n  events: { events: [publish_start, on_connect] }\n", "hooks.events.events: unknown event 'on_connect' (allowed: publish_start, publish_end, play_start, play_end)"),
        ("hooks:\n  events: { retry: { max_attempts: 0 } }\n", "hooks.events.retry.max_attempts: must be from 1 to 100"),
        ("hooks:\n  events: { retry: { initial_backoff: 10s, max_backoff: 1s } }\n", "hooks.events.retry.max_backoff: must not be shorter than initial_backoff"),
        ("hooks:\n  events: { queue_limit: 0 }\n", "hooks.events.queue_limit: must be from 1 to 10000000"),
        ("hooks:\n  commands: {}\n", "proxy.yaml:2:3: hooks.commands: unknown key 'commands' (allowed: publish_auth, play_auth, events, id_max_length)"),
        ("hooks:\n  play_auth: { url: http://h/p, origin_name: \"{channel}/{key}\" }\n", "hooks.play_auth.origin_name: is a publish_auth key: players are not renamed"),
        ("hooks:\n  play_auth: { on_error: maybe }\n", "hooks.play_auth.on_error: unknown value 'maybe' (allowed: deny, allow)"),
        ("hooks:\n  publish_auth: { format: json }\n", "hooks.publish_auth.format: unknown format 'json' (allowed: srs, coordinator)"),
        ("hooks:\n  publish_auth: { auth: { type: digest } }\n", "hooks.publish_auth.auth.type: unknown auth type 'digest' (allowed: none, basic, bearer, custom)"),
        ("hooks:\n  publish_auth: { auth: { type: basic } }\n", "hooks.publish_auth.auth.user: must be set for type basic"),
        ("hooks:\n  publish_auth: { auth: { type: basic, user: \"a:b\" } }\n", "hooks.publish_auth.auth.user: must not contain ':'"),
        ("hooks:\n  events: { auth: { type: custom } }\n", "hooks.events.auth.value: must be set for type custom"),
        ("hooks:\n  events: { auth: { type: bearer, token: \"a\\nb\" } }\n", "hooks.events.auth.token: must not contain a line break"),
        ("hooks:\n  events: { bearer_token: t, auth: { type: basic, user: u } }\n", "hooks.events.bearer_token: give either bearer_token or auth, not both"),
        ("hooks:\n  id_max_length: 5000\n", "hooks.id_max_length: must be from 1 to 1024"),
    ])
    func badValuesNameFileLineAndKey(_ yaml: String, _ expected: String) {
        let message = failure(yaml)
        #expect(message.contains(expected), "\(message)")
    }

    @Test func playAuthTakesThePublishHookKeys() throws {
        let h = try load("""
            hooks:
              play_auth: { url: "http://127.0.0.1:9000/play", timeout: 1s, on_error: allow, auth: { type: bearer, token: "${HOOK_TOKEN}" } }
            """)
        #expect(h.playAuth.url?.absoluteString == "http://127.0.0.1:9000/play")
        #expect(h.playAuth.timeout == .seconds(1) && h.playAuth.onError == .allow && h.playAuth.auth == .bearer("s3cret"))
        #expect(h.publishAuth.url == nil, "the publish hook stays off")
        #expect(try load("").playAuth.url == nil, "off by default")
    }

    @Test(arguments: [
        (200, "0", PublishAuthorizer.Verdict.allow([:])),
        (200, " 0\n", .allow([:])),
        (200, #"{"code":0,"msg":"ok"}"#, .allow([:])),
        (200, #"{"code":403}"#, .deny("the hook answered code 403")),
        (200, #"{"code":"0"}"#, .deny(#"the hook answered '{"code":"0"}' without a numeric code"#)),
        (200, #"{"ok":true}"#, .deny(#"the hook answered '{"ok":true}' without a numeric code"#)),
        (200, "1", .deny("the hook answered '1', not 0 or {\"code\":0}")),
        (200, "", .deny("the hook answered '', not 0 or {\"code\":0}")),
        (403, "0", .deny("the hook answered HTTP 403")),
        (204, "", .deny("the hook answered HTTP 204")),
        (503, "0", .error("the hook answered HTTP 503")),
    ])
    func srsAnswerRule(_ status: Int, _ body: String, _ verdict: PublishAuthorizer.Verdict) {
        #expect(PublishAuthorizer.verdict(status: status, body: body) == verdict)
    }

    @Test func backoffDoublesUpToTheCap() throws {
        let retry = try load("hooks:\n  events: { retry: { initial_backoff: 1s, max_backoff: 5s } }\n").events.retry
        #expect((1...5).map { retry.backoff(afterAttempts: $0) } == [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)])
        #expect(retry.backoff(afterAttempts: 1000) == .seconds(5), "no overflow")
    }

    @Test func theBodyIsSRSsWithTheProxysFields() throws {
        let request = StreamRequest(key: try StreamKey(vhost: "v.example.com", app: "live", stream: "s1"), query: "secret=abc&x=1")
        let event = StreamEvent(kind: .publishEnd, request: request, module: "rtmp", client: "10.1.2.3:5555", backend: Backend.ID("o-1"))
        let json = HookRequestBody(event, server: "proxy-a", service: "svc", eventID: "ev1").json()
        let o = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
        #expect(o["action"] == "on_unpublish" && o["event"] == "publish_end" && o["event_id"] == "ev1")
        #expect(o["server_id"] == "proxy-a" && o["service_id"] == "svc" && o["client_id"] == "10.1.2.3:5555" && o["ip"] == "10.1.2.3")
        #expect(o["vhost"] == "v.example.com" && o["app"] == "live" && o["stream"] == "s1" && o["param"] == "?secret=abc&x=1")
        #expect(o["stream_url"] == "/live/s1" && o["tcUrl"] == "rtmp://v.example.com/live" && o["protocol"] == "rtmp" && o["backend"] == "o-1")
        let auth = HookRequestBody(event, server: "p", service: "s", eventID: nil)
        #expect(auth.event == nil && auth.eventID == nil, "the publish question carries no event id")
        #expect(HookRequestBody.host(of: "[::1]:1935") == "::1" && HookRequestBody.host(of: "::1") == "::1")
    }
}
