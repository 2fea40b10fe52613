import Foundation
import ProxyCore
import ProxyTesting
import Testing

@testable import Host

/// The variables whose keys depend on others: the coordinator's commands API, TLS, control
/// secret and BIND_ADDRESS, SRS proxy's API auth switch, origin TTL and key prefix; each
/// impossible combination names its variable.
@Suite struct DerivedEnvironmentTests {
    func load(_ env: [String: String], _ yaml: String = "") throws(ConfigError) -> ProxyConfig { try ConfigText.load(yaml, env: env).proxy }
    func failure(_ env: [String: String]) -> String { ConfigText.failure("", env: env) }

    @Test func theCoordinatorsCommandsAPIServesFromItsVariables() async throws {
        let basic = try load(["HTTP_PORT": "9090", "COMMANDS_API_AUTH": "Basic", "COMMANDS_API_AUTH_USER": "app", "COMMANDS_API_AUTH_PASSWORD": "pw"])
        #expect(basic.commandsAPI.enabled && basic.commandsAPI.listen.port == 9090 && basic.commandsAPI.tls == nil)
        #expect(basic.commandsAPI.auth.basic?.username == "app" && basic.commandsAPI.auth.basic?.password == "pw" && basic.commandsAPI.auth.bearer == nil)
        let cert = try await TestCertificate.make()
        let https = try load([
            "SSL_PORT": "9443", "SSL_CERT": cert.certPath, "SSL_KEY": cert.keyPath, "SSL_CHECK_RELOAD_SECONDS": "30",
            "COMMANDS_API_AUTH": "BEARER", "COMMANDS_API_AUTH_TOKEN": "t",
        ])
        #expect(https.commandsAPI.enabled && https.commandsAPI.listen.port == 9443 && https.commandsAPI.auth.bearer?.token == "t")
        #expect(https.commandsAPI.tls?.cert == cert.certPath && https.commandsAPI.tls?.reloadCheck == .seconds(30))
    }

    @Test(arguments: [
        (["HTTP_PORT": "9090"], "environment variable COMMANDS_API_AUTH: must be Basic or Bearer when HTTP_PORT serves the commands API"),
        (["HTTP_PORT": "1", "SSL_PORT": "2", "COMMANDS_API_AUTH": "Bearer", "COMMANDS_API_AUTH_TOKEN": "t"], "environment variable HTTP_PORT: the commands API serves on one port"),
        (["SSL_PORT": "2", "COMMANDS_API_AUTH": "Bearer", "COMMANDS_API_AUTH_TOKEN": "t"], "environment variable SSL_CERT: must be set with SSL_PORT"),
        (["SSL_CERT": "/x.pem"], "environment variable SSL_CERT: applies only with SSL_PORT"),
        (["COMMANDS_API_AUTH": "Digest"], "environment variable COMMANDS_API_AUTH: 'Digest' (allowed: Basic, Bearer)"),
        (["COMMANDS_API_AUTH": "Basic", "COMMANDS_API_AUTH_USER": "u"], "environment variable COMMANDS_API_AUTH_PASSWORD: must be set"),
        (["COMMANDS_API_AUTH_TOKEN": "t"], "environment variable COMMANDS_API_AUTH_TOKEN: applies only with COMMANDS_API_AUTH"),
        (["HTTP_PORT": "x", "COMMANDS_API_AUTH": "Bearer", "COMMANDS_API_AUTH_TOKEN": "t"], "environment variable HTTP_PORT: commands_api.listen:"),
        (["PROXY_HTTP_API_AUTH_ENABLED": "on"], "environment variable PROXY_HTTP_API_AUTH_TYPE: must be set (bearer)"),
        (["PROXY_HTTP_API_AUTH_ENABLED": "on", "PROXY_HTTP_API_AUTH_TYPE": "basic", "PROXY_HTTP_API_AUTH_TOKEN": "t"], "only supports bearer"),
        (["PROXY_HTTP_API_AUTH_ENABLED": "on", "PROXY_HTTP_API_AUTH_TYPE": "bearer"], "environment variable PROXY_HTTP_API_AUTH_TOKEN: must be set"),
        (["PROXY_HTTP_API_AUTH_ENABLED": "maybe"], "environment variable PROXY_HTTP_API_AUTH_ENABLED: expected on or off"),
        (["PROXY_HTTP_API_AUTH_ENABLED": "on", "PROXY_HTTP_API_AUTH_TYPE": "bearer", "PROXY_HTTP_API_AUTH_TOKEN": "a", "CONTROL_SECRET": "b"],
         "environment variable CONTROL_SECRET: differs from PROXY_HTTP_API_AUTH_TOKEN"),
        (["PROXY_ORIGIN_SERVER_TTL": "soon"], "environment variable PROXY_ORIGIN_SERVER_TTL: registry.backend_alive:"),
        (["LOG_REQUESTS": "sometimes"], "environment variable LOG_REQUESTS: expected YES or NO"),
    ] as [([String: String], String)])
    func combinationsThatCannotApplyNameTheirVariable(_ env: [String: String], _ expected: String) {
        let message = failure(env)
        #expect(message.contains(expected), "\(message)")
    }

    @Test func srsProxyVariablesAndTheControlSecretSetTheirKeys() throws {
        let srs = try load([
            "PROXY_HTTP_API_AUTH_ENABLED": "on", "PROXY_HTTP_API_AUTH_TYPE": "Bearer", "PROXY_HTTP_API_AUTH_TOKEN": "tok",
            "PROXY_ORIGIN_SERVER_TTL": "45", "PROXY_REDIS_KEY_PREFIX": "blue",
        ])
        #expect(srs.systemAPI.registerToken == "tok" && srs.registry.backendAlive == .seconds(45) && srs.registry.redis.keyPrefix == "blue")
        #expect(try load(["PROXY_HTTP_API_AUTH_ENABLED": "off", "PROXY_HTTP_API_AUTH_TOKEN": "ignored"]).systemAPI.registerToken.isEmpty)
        #expect(try load(["CONTROL_SECRET": "s3"]).systemAPI.registerToken == "s3")
        #expect(try load(["PROXY_ORIGIN_SERVER_TTL": "2m"]).registry.backendAlive == .seconds(120))
    }

    @Test func theRequestLogSwitch() throws {
        #expect(try load([:]).log.requests, "on by default, as the coordinator's LOG_REQUESTS")
        #expect(try !load(["LOG_REQUESTS": "NO"]).log.requests)
        #expect(try load(["LOG_REQUESTS": "YES"], "log: { requests: false }").log.requests, "the variable wins over the file")
    }

    @Test func aBadBindAddressNamesTheVariable() {
        #expect(failure(["BIND_ADDRESS": "a b"]).hasPrefix("environment variable BIND_ADDRESS: modules.rtmp.listen:"), "\(failure(["BIND_ADDRESS": "a b"]))")
    }
}
