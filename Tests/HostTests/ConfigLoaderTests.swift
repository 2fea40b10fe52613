import Foundation
import NIOEmbedded
import ProxyCore
import ProxyNet
import Testing

@testable import Host

@Suite struct ConfigLoaderTests {
    func load(_ yaml: String, env: [String: String] = [:]) throws(ConfigError) -> LoadedConfig {
        try ConfigText.load(yaml, env: env)
    }

    func failure(_ yaml: String, env: [String: String] = [:]) -> String { ConfigText.failure(yaml, env: env) }

    @Test func theShippedFileIsValidAndMatchesTheDefaults() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("proxy.yaml")
        let shipped = try ConfigLoader(file: url.path, environment: [:]).load()
        let defaults = try load("")
        #expect(shipped.proxy.balancer == defaults.proxy.balancer)
        #expect(shipped.proxy.systemAPI.listen == defaults.proxy.systemAPI.listen)
        #expect(shipped.proxy.registry.backendAlive == defaults.proxy.registry.backendAlive)
        #expect(shipped.proxy.registry.routeLinger == defaults.proxy.registry.routeLinger)
        #expect(shipped.proxy.quit.grace == defaults.proxy.quit.grace)
        #expect(shipped.proxy.quit.force == defaults.proxy.quit.force)
        #expect(shipped.modules.map(\.name) == ModuleCatalog.entries.map(\.name))
    }

    @Test func emptyFileGivesEveryDefault() throws {
        let c = try load("")
        #expect(c.proxy.balancer == "round-robin")
        #expect(c.proxy.registry.type == .memory)
        #expect(c.proxy.registry.backendAlive == .seconds(300))
        #expect(c.proxy.registry.routeLinger == .seconds(60))
        #expect(c.proxy.systemAPI.listen.port == 12025)
        #expect(c.proxy.systemAPI.registerToken == "")
        #expect(!c.proxy.defaultBackend.enabled)
        #expect(c.proxy.quit.grace == .seconds(20) && c.proxy.quit.force == .seconds(30))
        #expect(c.modules.filter(\.enabled).map(\.name) == ["rtmp", "http-flv", "srt"], "the modules this build serves are on by default")
    }

    @Test func readsEveryHostKey() throws {
        let c = try load("""
            balancer: hash
            registry: { backend_alive: 5m, route_linger: 1500ms, redispatch_wait: 750ms, redis: { host: r.example.com, port: 6380, password: pw, db: 2 } }
            system_api: { listen: "127.0.0.1:12999", register_token: tok }
            default_backend: { enabled: true, ip: 10.0.0.5, rtmp: 1936, http: 0, api: 1986, rtc: 8001, srt: ~ }
            quit: { grace: 1s, force: 2s }
            modules:
              rtmp: { listen: 1937, balancer: round-robin }
            """)
        #expect(c.proxy.balancer == "hash")
        #expect(c.proxy.registry.backendAlive == .seconds(300))
        #expect(c.proxy.registry.routeLinger == .milliseconds(1500))
        #expect(c.proxy.registry.redispatchWait == .milliseconds(750) && ProxyConfig().registry.redispatchWait == .seconds(2))
        #expect(c.proxy.registry.redis.host == "r.example.com" && c.proxy.registry.redis.port == 6380)
        #expect(c.proxy.registry.redis.password == "pw" && c.proxy.registry.redis.db == 2)
        #expect(c.proxy.systemAPI.listen == ListenEndpoint(host: "127.0.0.1", port: 12999))
        #expect(c.proxy.systemAPI.registerToken == "tok")
        let backend = c.proxy.defaultBackend.backend
        #expect(c.proxy.defaultBackend.enabled)
        #expect(backend.ip == "10.0.0.5")
        #expect(backend.address(for: .rtmp) == BackendAddress(host: "10.0.0.5", port: 1936))
        #expect(!backend.exposes(.http), "port 0 leaves http out")
        #expect(!backend.exposes(.srt), "null leaves srt out")
        #expect(backend.endpoints[.rtc] == [ListenEndpoint(transport: .udp, port: 8001)])
        #expect(c.modules.first { $0.name == "rtmp" }?.balancer == "round-robin")
    }

    @Test(arguments: [
        ("event_loops: -1", "proxy.yaml:1:14: event_loops: must be from 0 (one per CPU core) to 1024"),
        ("balancr: x", "proxy.yaml:1:1: balancr: unknown key 'balancr' (allowed: balancer, placement, registry, system_api, commands_api, default_backend, modules, quit, hooks, event_loops, limits, log)"),
        ("registry:\n  backend_alive: 5x", "proxy.yaml:2:18: registry.backend_alive: invalid duration '5x'"),
        ("log:\n  format: xml", "proxy.yaml:2:11: log.format: unknown log format 'xml' (allowed: text, json)"),
        ("log:\n  level: loud", "proxy.yaml:2:10: log.level: unknown log level 'loud' (allowed: trace, debug, info, notice, warning, error, critical)"),
        ("registry:\n  typo: 1", "proxy.yaml:2:3: registry.typo: unknown key 'typo' (allowed: type, backend_alive, heartbeat_misses, route_linger, redispatch_attempts, redispatch_wait, health_check, redis)"),
        ("registry:\n  redispatch_attempts: 17", "proxy.yaml:2:24: registry.redispatch_attempts: must be from 0 to 16"),
        ("registry:\n  health_check: { interval: 1s, timeout: 2s }", "registry.health_check.timeout: must not be longer than the interval (1s)"),
        ("registry:\n  health_check: { fall: 0 }", "registry.health_check.fall: must be from 1 to 100"),
        ("placement:\n  least_load_by: bytes", "placement.least_load_by: unknown measure 'bytes' (allowed: sessions, streams)"),
        ("placement:\n  hash_load_factor: 0.5", "placement.hash_load_factor: must be 0 (unbounded) or from 1 to 100"),
        ("placement:\n  weight: 0", "placement.weight: must be from 1 to 1000"),
        ("balancer: least_load", "balancer: unknown balancer 'least_load' (allowed: round-robin, least-load, hash)"),
        ("registry:\n  health_check: { probe: tcp }", "registry.health_check.probe: unknown key 'probe' (allowed: enabled, interval, timeout, fall, rise)"),
        ("modules:\n  rtmp:\n    listen: 70000", "proxy.yaml:3:13: modules.rtmp.listen: invalid port 70000 (allowed: 0-65535)"),
        ("modules:\n  rtmp:\n    listn: 1935", "proxy.yaml:3:5: modules.rtmp.listn: unknown key 'listn' (allowed: enabled, balancer, listen, handshake_timeout, backend_timeout, max_message_size, idle_timeout, proxy_protocol)"),
        ("modules:\n  http-flv:\n    fanout: { slow_player: wait }", "modules.http-flv.fanout.slow_player"),
        ("modules:\n  http-flv:\n    fanout: { gop_size: 1 }", "modules.http-flv.fanout.gop_size: unknown key 'gop_size'"),
        ("modules:\n  http-flv:\n    fanout: { player_queue_bytes: 10 }", "modules.http-flv.fanout.player_queue_bytes: must be from 65536"),
        ("modules:\n  http-flv:\n    hls_cache: { bytes: 2097152, max_object_bytes: 4194304 }", "modules.http-flv.hls_cache.max_object_bytes: must not be larger than bytes"),
        ("modules:\n  rtmpx: {}", "proxy.yaml:2:3: modules.rtmpx: unknown module 'rtmpx' (allowed: rtmp, http-flv, webrtc, srt)"),
        ("balancer: fastest", "proxy.yaml:1:11: balancer: unknown balancer 'fastest' (allowed: round-robin, least-load, hash)"),
        ("modules:\n  srt: { balancer: random }", "modules.srt.balancer: unknown balancer 'random' (allowed: round-robin, least-load, hash)"),
        ("default_backend:\n  enabled: maybe", "proxy.yaml:2:12: default_backend.enabled: expected true or false"),
        ("system_api:\n  listen: [1]", "proxy.yaml:2:11: system_api.listen: expected a port or an endpoint"),
        ("registry:\n  redis: { port: abc }", "registry.redis.port: expected an integer"),
        ("registry:\n  redis: { key_prefix: \"a b\" }", "registry.redis.key_prefix: must be non-empty ASCII without spaces"),
        ("registry:\n  type: sql", "registry.type: unknown registry type 'sql' (allowed: memory, redis)"),

        ("quit: { grace: 10s, force: 5s }", "quit.force: must not be shorter than quit.grace (10s)"),
        ("quit:\n  grace: 1s\n  grace: 2s", "proxy.yaml:2:3: invalid YAML: expected all keys to be unique but found the following duplicated key(s): 'grace'"),
        ("a: [", "invalid YAML"),
        ("- 1\n- 2", "expected a mapping of settings at the top level"),
        ("modules: 5", "modules: expected a mapping of module names"),
        ("modules:\n  rtmp: yes", "modules.rtmp: expected a mapping"),
        ("registry: [1, 2]", "proxy.yaml:1:11: registry: expected a mapping"),
        ("system_api:\n  listen: udp://:12025", "system_api.listen: the system API is served over TCP; remove udp://"),
        ("default_backend:\n  ip: 0.0.0.0", "default_backend.ip: '0.0.0.0' is not an IP address or host name the proxy can dial"),
        ("default_backend:\n  rtmp: 0", "default_backend.rtmp: the default backend needs an rtmp port"),
        ("system_api:\n  register_token: ${UNSET_FOR_TEST}", "proxy.yaml:2:19: system_api.register_token: environment variable UNSET_FOR_TEST is not set"),
    ])
    func badConfigNamesFileLineKeyAndWhatIsAllowed(yaml: String, expected: String) {
        let message = failure(yaml)
        #expect(message.contains(expected), "got: \(message)")
    }

    @Test func environmentOverridesYAML() throws {
        let c = try load(
            "system_api: { listen: 1 }\nquit: { grace: 1s }",
            env: [
                "PROXY_SYSTEM_API": "127.0.0.1:13000", "PROXY_GRACE_QUIT_TIMEOUT": "5s", "PROXY_FORCE_QUIT_TIMEOUT": "9s",
                "PROXY_DEFAULT_BACKEND_ENABLED": "on", "PROXY_DEFAULT_BACKEND_IP": "10.1.1.1", "PROXY_DEFAULT_BACKEND_RTMP": "19350",
                "PROXY_BALANCER": "hash", "PROXY_LOAD_BALANCER_TYPE": "memory", "PROXY_REDIS_HOST": "", "PROXY_RTMP_SERVER": "1940",
            ])
        #expect(c.proxy.systemAPI.listen == ListenEndpoint(host: "127.0.0.1", port: 13000))
        #expect(c.proxy.quit.grace == .seconds(5) && c.proxy.quit.force == .seconds(9))
        #expect(c.proxy.defaultBackend.enabled)
        #expect(c.proxy.defaultBackend.backend.address(for: .rtmp) == BackendAddress(host: "10.1.1.1", port: 19350))
        #expect(c.proxy.balancer == "hash")
        #expect(c.proxy.registry.redis.host == "127.0.0.1", "an empty variable is treated as unset")
    }

    @Test func everyEnvironmentVariableNamesAKeyThatExists() throws {
        // Setting each variable to a value of the wrong shape must fail on that variable's key,
        // which proves the path is read (a path nobody reads would load silently).
        for (variable, path) in EnvironmentOverrides.table {
            let message = failure("", env: [variable: "[not valid]"])
            #expect(message.contains("environment variable \(variable)") || path.last == "static_files" || path.last == "candidate"
                || path.last == "password" || path.last == "host" || path.last == "ip"
                // Read only with the auth type that uses them (coordinatorVariablesConfigureTheHooks).
                || ["user", "token", "value"].contains(path.last!), "\(variable): \(message)")
        }
    }

    /// The coordinator's .env alone: its URLs switch the hooks to its format, its auth variables
    /// set each method, ID_MAX_LENGTH the id rule.
    @Test func coordinatorVariablesConfigureTheHooks() throws {
        let c = try load("", env: [
            "KEY_VERIFICATION_URL": "http://app.local/verify", "KEY_VERIFICATION_AUTH": "Basic",
            "KEY_VERIFICATION_AUTH_USER": "proxy", "KEY_VERIFICATION_PASSWORD": "pw", "KEY_VERIFICATION_AUTH_TOKEN": "unused",
            "EVENT_CALLBACK_URL": "https://app.local/events", "EVENT_CALLBACK_AUTH": "CUSTOM", "EVENT_CALLBACK_AUTH_CUSTOM": "ApiKey 42",
            "ID_MAX_LENGTH": "64",
        ])
        let hooks = c.proxy.hooks
        #expect(hooks.publishAuth.url?.absoluteString == "http://app.local/verify" && hooks.publishAuth.format == .coordinator)
        #expect(hooks.publishAuth.auth == .basic(user: "proxy", password: "pw"), "a token beside Basic is ignored, as the coordinator does")
        #expect(hooks.events.urls.map(\.absoluteString) == ["https://app.local/events"] && hooks.events.format == .coordinator)
        #expect(hooks.events.auth == .custom("ApiKey 42"))
        #expect(hooks.idMaxLength == 64 && hooks.coordinatorIDs == CoordinatorIDs(maxLength: 64))
        let bearer = try load("hooks: { events: { urls: [http://a.local/x, http://b.local/y] } }", env: [
            "EVENT_CALLBACK_URL": "http://app.local/events", "EVENT_CALLBACK_AUTH": "bearer", "EVENT_CALLBACK_AUTH_TOKEN": "t0k",
        ])
        #expect(bearer.proxy.hooks.events.urls.map(\.absoluteString) == ["http://app.local/events"], "the variable replaces the list")
        #expect(bearer.proxy.hooks.events.auth == .bearer("t0k"))
        let missing = failure("", env: ["KEY_VERIFICATION_URL": "http://a.local/v", "KEY_VERIFICATION_AUTH": "Bearer"])
        #expect(missing.contains("hooks.publish_auth.auth.token: must be set for type bearer"), "\(missing)")
        #expect(failure("", env: ["EVENT_CALLBACK_URL": "ftp://x"]).hasPrefix("environment variable EVENT_CALLBACK_URL: hooks.events.urls:"))
        #expect(failure("", env: ["ID_MAX_LENGTH": "0"]).hasPrefix("environment variable ID_MAX_LENGTH: hooks.id_max_length:"))
    }

    @Test func badEnvironmentValueNamesTheVariable() {
        let message = failure("", env: ["PROXY_RTMP_SERVER": "abc"])
        #expect(message == "environment variable PROXY_RTMP_SERVER: modules.rtmp.listen: invalid endpoint 'abc': port must be a number from 0 to 65535")
    }

    @Test func variablesExpandWithDefaults() throws {
        let c = try load(
            "system_api:\n  register_token: ${TOKEN}\n  listen: ${PORT:-12030}\nregistry:\n  redis: { password: \"pre-${PW}-post\" }",
            env: ["TOKEN": "s3cret", "PW": "x"])
        #expect(c.proxy.systemAPI.registerToken == "s3cret")
        #expect(c.proxy.systemAPI.listen.port == 12030)
        #expect(c.proxy.registry.redis.password == "pre-x-post")
    }

    @Test func aKeySetByTheEnvironmentNeedsNoVariableInTheFile() throws {
        let c = try load("system_api:\n  listen: ${NOT_SET_HERE}", env: ["PROXY_SYSTEM_API": "12031"])
        #expect(c.proxy.systemAPI.listen.port == 12031)
        #expect(failure("system_api:\n  listen: ${NOT_SET_HERE}").contains("environment variable NOT_SET_HERE is not set"))
    }

    @Test func nullHostKeysInAModuleSectionTakeTheirDefaults() throws {
        let c = try load("modules:\n  srt:\n    enabled:\n    balancer: ~\n    listen: 20081")
        let srt = try #require(c.modules.first { $0.name == "srt" })
        #expect(srt.enabled && srt.balancer == nil, "null takes the defaults (srt is enabled by default)")
    }

    @Test func webrtcIsOffByDefaultBuildsWhenEnabledAndChecksItsKeys() throws {
        #expect(try load("").modules.first { $0.name == "webrtc" }?.enabled == false)
        let c = try load("modules:\n  webrtc: { enabled: true, api_listen: 0, udp_listen: 0, idle_timeout: 5s, max_sessions: 10, candidate: 192.0.2.1 }")
        let webrtc = try #require(c.modules.first { $0.name == "webrtc" })
        #expect(webrtc.enabled)
        let context = ModuleContext(
            router: Router(registry: MemoryRegistry(), strategy: RoundRobinStrategy()), eventLoopGroup: EmbeddedEventLoop(),
            logger: .init(label: "test"))
        _ = try webrtc.build(context)
        #expect(failure("modules:\n  webrtc: { udp_listen: tcp://:18000 }").contains("modules.webrtc.udp_listen: WebRTC media is served over UDP; remove tcp://"))
        #expect(failure("modules:\n  webrtc: { api_listen: udp://:11985 }").contains("modules.webrtc.api_listen: the RTC API (HTTP) is served over TCP; remove udp://"))
        #expect(failure("modules:\n  webrtc: { max_sessions: 0 }").contains("modules.webrtc.max_sessions: must be from 1 to 1000000"))
        #expect(failure("modules:\n  webrtc: { idle_timeout: 0s }").contains("modules.webrtc.idle_timeout: must be greater than 0"))
        #expect(failure("modules:\n  webrtc: { candidate: \"a b\" }").contains("modules.webrtc.candidate"))
        #expect(failure("modules:\n  webrtc: { ice_lite: true }").contains("ice_lite"))
        let noCORS = try load("modules:\n  webrtc: { enabled: true, cors: { enabled: false } }").modules.first { $0.name == "webrtc" }
        _ = try #require(noCORS).build(context)
        #expect(failure("modules:\n  webrtc: { cors: { origin: x } }").contains("modules.webrtc.cors.origin"))
        #expect(failure("modules:\n  webrtc: { cors: false }").contains("modules.webrtc.cors: expected a mapping"))
    }

    @Test func srtIsEnabledByDefaultAndBuilds() throws {
        let c = try load("modules:\n  srt: { listen: 0, idle_timeout: 5s, max_sessions: 10 }")
        let srt = try #require(c.modules.first { $0.name == "srt" })
        #expect(srt.enabled)
        let context = ModuleContext(
            router: Router(registry: MemoryRegistry(), strategy: RoundRobinStrategy()), eventLoopGroup: EmbeddedEventLoop(),
            logger: .init(label: "test"))
        _ = try srt.build(context)
        #expect(failure("modules:\n  srt: { listen: tcp://:20080 }").contains("modules.srt.listen: SRT is served over UDP"))
        #expect(failure("modules:\n  srt: { max_sessions: 0 }").contains("modules.srt.max_sessions: must be from 1 to 1000000"))
        _ = try load("modules:\n  srt: { gso: false }")
        #expect(failure("modules:\n  srt: { gso: sometimes }").contains("modules.srt.gso: expected true or false"))
    }
}

@Suite struct VariableExpansionTests {
    @Test func expands() throws {
        let env = ["A": "1", "EMPTY": ""]
        #expect(try VariableExpansion.expand("x${A}y", environment: env) == "x1y")
        #expect(try VariableExpansion.expand("${B:-dflt}", environment: env) == "dflt")
        #expect(try VariableExpansion.expand("${EMPTY:-d}", environment: env) == "d")
        #expect(try VariableExpansion.expand("$${A}", environment: env) == "${A}")
        #expect(try VariableExpansion.expand("no vars $A", environment: env) == "no vars $A")
        #expect(throws: VariableExpansion.Failure.unset("B")) { try VariableExpansion.expand("${B}", environment: env) }
        #expect(throws: VariableExpansion.Failure.unterminated) { try VariableExpansion.expand("${A", environment: env) }
    }
}

@Suite struct ModuleCatalogTests {
    @Test func catalogHasEveryProtocolModuleOnceInStartOrder() {
        #expect(ModuleCatalog.entries.map(\.name) == ["rtmp", "http-flv", "webrtc", "srt"])
        #expect(ModuleCatalog.duplicateNames().isEmpty)
        let twice = ModuleCatalog.entries + [ModuleCatalog.entries[0]]
        #expect(ModuleCatalog.duplicateNames(twice) == ["rtmp"])
    }
}

@Suite struct ConstantTimeTests {
    @Test func comparesWholeStrings() {
        #expect(ConstantTime.equal("secret", "secret"))
        #expect(!ConstantTime.equal("secret", "secreT"))
        #expect(!ConstantTime.equal("secret", "secret2"))
        #expect(!ConstantTime.equal("", "x"))
        #expect(ConstantTime.equal("", ""))
    }
}
