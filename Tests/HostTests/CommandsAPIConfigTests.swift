import Foundation
import ProxyCore
import ProxyTesting
import Testing

@testable import Host

/// `commands_api:` and the APIs' `tls:` in proxy.yaml, and the close request body.
@Suite struct CommandsAPIConfigTests {
    func load(_ yaml: String, env: [String: String] = [:]) throws(ConfigError) -> LoadedConfig {
        try ConfigText.load(yaml, env: env)
    }

    func failure(_ yaml: String) -> String { ConfigText.failure(yaml) }

    @Test func defaultsLeaveTheAPIOffOnPort12026() throws {
        let c = try load("").proxy
        #expect(!c.commandsAPI.enabled && c.commandsAPI.listen.port == 12026 && c.commandsAPI.tls == nil && !c.commandsAPI.auth.isConfigured)
        #expect(c.systemAPI.tls == nil)
    }

    @Test func readsBasicAndBearerWithSecretsFromTheEnvironment() throws {
        let c = try load("""
            commands_api:
              enabled: true
              listen: 127.0.0.1:12999
              auth: { basic: { username: ops, password: "${PW}" }, bearer: { token: "${TOKEN}" } }
            """, env: ["PW": "pa:ss", "TOKEN": "t0k"]).proxy.commandsAPI
        #expect(c.enabled && c.listen.port == 12999)
        #expect(c.auth.basic?.username == "ops" && c.auth.basic?.password == "pa:ss" && c.auth.bearer?.token == "t0k" && !c.auth.none)
        #expect(try load("commands_api: { enabled: true, auth: { none: true } }").proxy.commandsAPI.auth.none)
    }

    @Test(arguments: [
        ("commands_api: { enabled: true }", "proxy.yaml:1:15: commands_api.auth: the commands API needs authentication"),
        ("commands_api:\n  enabled: true\n  auth: {}", "proxy.yaml:3:9: commands_api.auth: the commands API needs authentication"),
        ("commands_api:\n  auth: { none: true, bearer: { token: t } }", "proxy.yaml:2:17: commands_api.auth.none: none: true cannot be combined with basic or bearer"),
        ("commands_api:\n  auth:\n    basic: { username: ops }", "proxy.yaml:3:12: commands_api.auth.basic.password: missing key"),
        ("commands_api:\n  auth:\n    basic: { username: ops, password: \"\" }", "proxy.yaml:3:39: commands_api.auth.basic.password: must not be empty"),
        ("commands_api:\n  auth:\n    basic: { username: \"a:b\", password: p }", "proxy.yaml:3:24: commands_api.auth.basic.username: must be non-empty and without ':'"),
        ("commands_api:\n  auth:\n    bearer: { token: t, scheme: x }", "proxy.yaml:3:25: commands_api.auth.bearer.scheme: unknown key 'scheme' (allowed: token)"),
        ("commands_api:\n  auth:\n    digest: {}", "proxy.yaml:3:5: commands_api.auth.digest: unknown key 'digest' (allowed: basic, bearer, none)"),
        ("commands_api:\n  listen: udp://:12026", "proxy.yaml:2:11: commands_api.listen: the commands API is served over TCP; remove udp://"),
        ("commands_api:\n  tls: { cert: /nonexistent/c.pem }", "proxy.yaml:2:8: commands_api.tls.key: missing key"),
        ("system_api:\n  tls: { cert: /nonexistent/c.pem, key: /nonexistent/k.pem }", "proxy.yaml:2:16: system_api.tls.cert: cannot read a PEM certificate from '/nonexistent/c.pem'"),
    ])
    func badSettingsNameLineAndKey(_ yaml: String, _ expected: String) {
        let message = failure(yaml)
        #expect(message.hasPrefix(expected), "\(message)")
    }

    @Test func tlsFilesAreLoadedAndAKeyOfAnotherCertificateIsRefused() async throws {
        let one = try await TestCertificate.make(), two = try await TestCertificate.make()
        let c = try load("system_api: { tls: { cert: \(one.certPath), key: \(one.keyPath) } }").proxy.systemAPI
        #expect(c.tls?.cert == one.certPath && c.tls?.key == one.keyPath)
        let garbage = one.directory.appendingPathComponent("garbage.pem").path
        try "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let badKey = failure("commands_api: { tls: { cert: \(one.certPath), key: \(garbage) } }")
        #expect(badKey.hasPrefix("proxy.yaml:1:") && badKey.contains("commands_api.tls.key: cannot read a PEM private key from '\(garbage)'"), "\(badKey)")
        let mismatch = failure("commands_api: { tls: { cert: \(one.certPath), key: \(two.keyPath) } }")
        #expect(mismatch.contains("commands_api.tls.key: the key in '\(two.keyPath)' does not fit the certificate"), "\(mismatch)")
    }

    @Test(arguments: [
        (#"{"app":"live","stream":"s"}"#, "__defaultVhost__/live/s"),
        (#"{"vhost":"CDN.example.com","app":"live/sub","stream":"s"}"#, "cdn.example.com/live/sub/s"),
        (#"{"key":"__defaultVhost__/live/sub/s"}"#, "__defaultVhost__/live/sub/s"),
    ])
    func closeBodies(_ body: String, _ key: String) throws {
        #expect(try CloseRequestBody.parse(Data(body.utf8)).description == key)
    }

    @Test(arguments: [
        ("[1]", "expected a JSON object"),
        ("{", "malformed JSON body"),
        (#"{"stream":"s"}"#, "missing field 'app'"),
        (#"{"app":"live","stream":7}"#, "field 'stream': expected a string"),
        (#"{"app":"live","stream":""}"#, "field 'stream': must not be empty"),
        (#"{"app":"live","stream":"a/b"}"#, "field 'stream': "),
        (#"{"key":"live/s"}"#, "field 'key': expected vhost/app/stream"),
        (#"{"key":"v/live/s","app":"x"}"#, "give either 'key' or 'app' and 'stream', not both"),
        (#"{"app":"live","stream":"s","all":true}"#, "unknown field 'all' (allowed: vhost, app, stream, key)"),
    ])
    func badCloseBodiesNameTheField(_ body: String, _ message: String) {
        do {
            _ = try CloseRequestBody.parse(Data(body.utf8))
            Issue.record("parsed \(body)")
        } catch {
            #expect(error.status == .badRequest && error.message.hasPrefix(message), "\(error.message)")
        }
    }

    @Test func authorizationHeadersAreCheckedPerScheme() {
        var auth = CommandsAuthConfig()
        auth.basic = .init(username: "ops", password: "pw")
        #expect(auth.accepts("Basic " + Data("ops:pw".utf8).base64EncodedString()))
        #expect(auth.accepts("basic " + Data("ops:pw".utf8).base64EncodedString()), "the scheme is case-insensitive")
        #expect(!auth.accepts("Basic " + Data("ops:pw2".utf8).base64EncodedString()))
        #expect(!auth.accepts("Basic " + Data("ops".utf8).base64EncodedString()))
        #expect(!auth.accepts("Bearer pw"), "no bearer configured")
        #expect(!auth.accepts("Basic"))
        auth.bearer = .init(token: "t")
        #expect(auth.accepts("Bearer t") && !auth.accepts("Bearer t2") && !auth.accepts("Bearer "))
    }

    /// Found by fuzzing (api-access): a password that starts with a combining mark made one
    /// Character of the colon and the mark, so the right credentials were refused.
    @Test func basicCredentialsSplitAtTheColonByte() {
        var auth = CommandsAuthConfig()
        auth.basic = .init(username: "ops", password: "\u{0301}pw")
        #expect(auth.accepts("Basic " + Data("ops:\u{0301}pw".utf8).base64EncodedString()))
        #expect(!auth.accepts("Basic " + Data("ops:pw".utf8).base64EncodedString()))
    }

    /// Found by fuzzing (api-access): a token that starts with a combining mark made one
    /// Character of the space and the mark, so the scheme never split off. Both APIs read the
    /// header through AuthorizationHeader.
    @Test func bearerTokensSplitAtTheSpaceByte() {
        var auth = CommandsAuthConfig()
        auth.bearer = .init(token: "\u{0322}t")
        #expect(auth.accepts("Bearer \u{0322}t"), "a token starting with a combining mark")
        #expect(auth.accepts("Bearer  \u{0322}t") && !auth.accepts("Bearer t"))
        #expect(AuthorizationHeader("Bearer \u{0322}t") == AuthorizationHeader("bearer \u{0322}t"))
        #expect(AuthorizationHeader("bEaReR  tok ")?.credentials == "tok" && AuthorizationHeader("bEaReR  tok ")?.scheme == "bearer")
        #expect(AuthorizationHeader("Bearer") == nil && AuthorizationHeader("Bearer ") == nil)
    }
}

