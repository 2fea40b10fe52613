import ProxyCore
import ProxyNet
import RedisRegistry

/// proxy.yaml, every key with its default. `modules:` is not decoded here: the host hands each
/// module its own section (see ModuleCatalog), the Caddy pattern.
struct ProxyConfig: Decodable, Sendable {
    /// Strategy for streams without a route: `round-robin`, `least-load` or `hash`.
    var balancer = RoundRobinStrategy.name
    /// Weights, capacities and load measures of placement.
    var placement = PlacementConfig()
    var registry = RegistryConfig()
    var systemAPI = SystemAPIConfig()
    var commandsAPI = CommandsAPIConfig()
    var defaultBackend = DefaultBackendConfig()
    var quit = QuitConfig()
    /// Publish-auth webhook and event callbacks (Hooks/HooksConfig.swift).
    var hooks = HooksConfig()
    /// Event-loop threads for every listener and relay; 0 = one per CPU core.
    var eventLoops = 0
    /// Connection caps and the API listeners' timeouts.
    var limits = LimitsConfig()
    var log = LogConfig()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case balancer, placement, registry
        case systemAPI = "system_api"
        case commandsAPI = "commands_api"
        case defaultBackend = "default_backend"
        case modules, quit, hooks
        case eventLoops = "event_loops"
        case limits, log
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ProxyConfig()
        balancer = try c.decode(String.self, forKey: .balancer, default: d.balancer)
        guard BalancingStrategies.names.contains(balancer) else {
            throw c.invalid(.balancer, "unknown balancer '\(balancer)' (allowed: \(BalancingStrategies.names.joined(separator: ", ")))")
        }
        placement = try c.decode(PlacementConfig.self, forKey: .placement, default: d.placement)
        registry = try c.decode(RegistryConfig.self, forKey: .registry, default: d.registry)
        systemAPI = try c.decode(SystemAPIConfig.self, forKey: .systemAPI, default: d.systemAPI)
        commandsAPI = try c.decode(CommandsAPIConfig.self, forKey: .commandsAPI, default: d.commandsAPI)
        defaultBackend = try c.decode(DefaultBackendConfig.self, forKey: .defaultBackend, default: d.defaultBackend)
        quit = try c.decode(QuitConfig.self, forKey: .quit, default: d.quit)
        hooks = try c.decode(HooksConfig.self, forKey: .hooks, default: d.hooks)
        eventLoops = try c.decode(Int.self, forKey: .eventLoops, default: d.eventLoops)
        guard (0...1024).contains(eventLoops) else { throw c.invalid(.eventLoops, "must be from 0 (one per CPU core) to 1024") }
        limits = try c.decode(LimitsConfig.self, forKey: .limits, default: d.limits)
        log = try c.decode(LogConfig.self, forKey: .log, default: d.log)
    }
}

/// `limits:` what every TCP listener holds at once, and how long the HTTP APIs (system API,
/// commands API, WebRTC signalling) wait for a client.
struct LimitsConfig: Decodable, Sendable {
    /// Connections one TCP listener holds at once; past it a new one is closed as it is accepted.
    var connectionsPerListener = 4096
    /// Connections one client address holds on one TCP listener.
    var connectionsPerAddress = 512
    /// Time an API client has to send a request head, from its connection or its previous
    /// response (a slowloris client is closed then).
    var httpHeaderTimeout = ConfigDuration.seconds(10)
    /// Time an API connection may stay without a byte either way.
    var httpIdleTimeout = ConfigDuration.seconds(60)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case connectionsPerListener = "connections_per_listener"
        case connectionsPerAddress = "connections_per_address"
        case httpHeaderTimeout = "http_header_timeout"
        case httpIdleTimeout = "http_idle_timeout"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LimitsConfig()
        connectionsPerListener = try c.decode(Int.self, forKey: .connectionsPerListener, default: d.connectionsPerListener)
        guard (1...1_000_000).contains(connectionsPerListener) else { throw c.invalid(.connectionsPerListener, "must be from 1 to 1000000") }
        connectionsPerAddress = try c.decode(Int.self, forKey: .connectionsPerAddress, default: d.connectionsPerAddress)
        guard (1...1_000_000).contains(connectionsPerAddress) else { throw c.invalid(.connectionsPerAddress, "must be from 1 to 1000000") }
        httpHeaderTimeout = try c.decodePositive(.httpHeaderTimeout, default: d.httpHeaderTimeout)
        httpIdleTimeout = try c.decodePositive(.httpIdleTimeout, default: d.httpIdleTimeout)
    }

    /// The caps every listener follows, shared so a reload can change them (set by the host; not
    /// a key of the file).
    var live: LiveConnectionLimits?

    var connections: ConnectionLimits { ConnectionLimits(perListener: connectionsPerListener, perAddress: connectionsPerAddress, live: live) }
}

/// `registry:` where routing state lives.
struct RegistryConfig: Decodable, Sendable {
    enum Kind: String, Decodable, Sendable, CaseIterable {
        case memory, redis
    }
    /// `memory` (one proxy) or `redis` (several proxies share state).
    var type = Kind.memory
    /// A backend without a heartbeat for this long is dead.
    var backendAlive = ConfigDuration.seconds(300)
    /// Heartbeats a backend may miss, at its own cadence, before it is dead (0: only backend_alive).
    var heartbeatMisses = 3
    /// How long a stream's route outlives its last session.
    var routeLinger = ConfigDuration.seconds(60)
    /// How many other backends one session tries when its backend cannot be reached (0: none).
    var redispatchAttempts = 2
    /// How long a player routed again waits for its stream's publisher to reappear elsewhere.
    var redispatchWait = ConfigDuration.seconds(2)
    /// Active health checks of every alive origin's endpoints.
    var healthCheck = HealthCheckConfig()
    var redis = RedisConfig()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type
        case backendAlive = "backend_alive"
        case heartbeatMisses = "heartbeat_misses"
        case routeLinger = "route_linger"
        case redispatchAttempts = "redispatch_attempts"
        case redispatchWait = "redispatch_wait"
        case healthCheck = "health_check"
        case redis
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RegistryConfig()
        let typeName = try c.decode(String.self, forKey: .type, default: d.type.rawValue)
        guard let kind = Kind(rawValue: typeName) else {
            throw c.invalid(.type, "unknown registry type '\(typeName)' (allowed: memory, redis)")
        }
        type = kind
        backendAlive = try c.decodePositive(.backendAlive, default: d.backendAlive)
        heartbeatMisses = try c.decode(Int.self, forKey: .heartbeatMisses, default: d.heartbeatMisses, in: 0...100, "must be from 0 to 100")
        routeLinger = try c.decode(ConfigDuration.self, forKey: .routeLinger, default: d.routeLinger)
        redispatchAttempts = try c.decode(
            Int.self, forKey: .redispatchAttempts, default: d.redispatchAttempts, in: 0...16, "must be from 0 to 16")
        redispatchWait = try c.decode(ConfigDuration.self, forKey: .redispatchWait, default: d.redispatchWait)
        healthCheck = try c.decode(HealthCheckConfig.self, forKey: .healthCheck, default: d.healthCheck)
        redis = try c.decode(RedisConfig.self, forKey: .redis, default: d.redis)
    }
}

/// `registry.health_check:` active checks of each alive origin's endpoints, per kind a module
/// dials (an RTMP handshake, an HTTP status, an SRT induction). An endpoint failing `fall` checks
/// in a row takes no new sessions until it passes `rise` in a row.
struct HealthCheckConfig: Decodable, Sendable {
    var enabled = true
    var interval = ConfigDuration.seconds(2)
    var timeout = ConfigDuration.seconds(1)
    var fall = 2
    var rise = 2

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, interval, timeout, fall, rise
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HealthCheckConfig()
        enabled = try c.decode(Bool.self, forKey: .enabled, default: d.enabled)
        interval = try c.decodePositive(.interval, default: d.interval)
        timeout = try c.decodePositive(.timeout, default: d.timeout)
        guard timeout.duration <= interval.duration else { throw c.invalid(.timeout, "must not be longer than the interval (\(interval))") }
        fall = try c.decode(Int.self, forKey: .fall, default: d.fall, in: 1...100, "must be from 1 to 100")
        rise = try c.decode(Int.self, forKey: .rise, default: d.rise, in: 1...100, "must be from 1 to 100")
    }
}

/// `registry.redis:` the shared redis-server (used when `registry.type` is `redis`).
struct RedisConfig: Decodable, Sendable {
    var host = "127.0.0.1"
    var port = 6379
    var password = ""
    var db = 0
    /// Prefix of every key, so two deployments can share one Redis.
    var keyPrefix = "streamproxy"
    /// Connect and command timeout.
    var timeout = ConfigDuration.seconds(1)
    /// Commands waiting for Redis at once; past it a command fails at once (the session that
    /// needed it is refused as when Redis is down) instead of joining a backlog. Default 1024.
    var maxQueued = 1024
    /// Redis Sentinel: `host:port` of each sentinel; the primary is the one they name for
    /// `master_name` (then `host` and `port` are not used).
    var sentinels: [String] = []
    var masterName = ""

    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port, password, db
        case keyPrefix = "key_prefix"
        case timeout
        case maxQueued = "max_queued"
        case sentinels
        case masterName = "master_name"
    }

    /// `sentinels` as endpoints (validated when decoded).
    var sentinelEndpoints: [RedisConfiguration.Endpoint] {
        sentinels.compactMap(Self.endpoint)
    }

    static func endpoint(_ text: String) -> RedisConfiguration.Endpoint? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : .init(host: host, port: port)
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RedisConfig()
        host = try c.decode(String.self, forKey: .host, default: d.host)
        port = try c.decode(Int.self, forKey: .port, default: d.port)
        guard (1...65535).contains(port) else { throw c.invalid(.port, "invalid port \(port) (allowed: 1-65535)") }
        password = try c.decode(String.self, forKey: .password, default: d.password)
        db = try c.decode(Int.self, forKey: .db, default: d.db)
        guard db >= 0 else { throw c.invalid(.db, "must be 0 or more") }
        keyPrefix = try c.decode(String.self, forKey: .keyPrefix, default: d.keyPrefix)
        guard !keyPrefix.isEmpty, keyPrefix.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw c.invalid(.keyPrefix, "must be non-empty ASCII without spaces")
        }
        timeout = try c.decodePositive(.timeout, default: d.timeout)
        maxQueued = try c.decode(Int.self, forKey: .maxQueued, default: d.maxQueued, in: 1...1_000_000, "must be from 1 to 1000000")
        sentinels = try c.decode([String].self, forKey: .sentinels, default: d.sentinels)
        guard sentinels.count <= 16 else { throw c.invalid(.sentinels, "at most 16 sentinels") }
        if let bad = sentinels.first(where: { Self.endpoint($0) == nil }) {
            throw c.invalid(.sentinels, "'\(bad.prefix(80))' is not host:port")
        }
        masterName = try c.decode(String.self, forKey: .masterName, default: d.masterName)
        if !sentinels.isEmpty && masterName.isEmpty { throw c.invalid(.masterName, "must be set with sentinels (the name they monitor the primary under)") }
        if sentinels.isEmpty && !masterName.isEmpty { throw c.invalid(.masterName, "applies only with sentinels") }
    }
}

/// `system_api:` where origins register and operators look.
struct SystemAPIConfig: Decodable, Sendable {
    var listen = ListenEndpoint(port: 12025)
    /// When not empty, a register must carry `?token=` or `Authorization: Bearer` equal to it;
    /// when empty, only loopback and `allow` may register. The token also opens the read lists.
    var registerToken = ""
    /// Networks (CIDR) that may register without a token and read `/api/v1/origins` and
    /// `/api/v1/streams`; loopback always may. Default none.
    var allow: [IPNetwork] = []
    /// Most origins the registry keeps; a register of a new one past it is refused (503). Default 10000.
    var maxBackends = 10_000
    /// Largest `summaries` object a register may carry, in bytes. Default 16 KiB.
    var maxSummariesSize = 16 * 1024
    /// HTTPS with these PEM files; plain HTTP when absent.
    var tls: APITLSConfig?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
        case registerToken = "register_token"
        case allow
        case maxBackends = "max_backends"
        case maxSummariesSize = "max_summaries_size"
        case tls
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SystemAPIConfig()
        listen = try c.decodeListen(.listen, default: d.listen, over: .tcp, "the system API")
        registerToken = try c.decode(String.self, forKey: .registerToken, default: d.registerToken)
        let networks = try c.decode([String].self, forKey: .allow, default: [])
        allow = try networks.map { text in
            guard let network = IPNetwork(text) else { throw c.invalid(.allow, "'\(text.prefix(64))' is not an IP address or network (CIDR, such as 10.0.0.0/8)") }
            return network
        }
        maxBackends = try c.decode(Int.self, forKey: .maxBackends, default: d.maxBackends)
        guard (1...1_000_000).contains(maxBackends) else { throw c.invalid(.maxBackends, "must be from 1 to 1000000") }
        maxSummariesSize = try c.decode(Int.self, forKey: .maxSummariesSize, default: d.maxSummariesSize)
        guard (0...1_048_576).contains(maxSummariesSize) else { throw c.invalid(.maxSummariesSize, "must be from 0 to 1048576 bytes") }
        tls = try c.decodeIfPresent(APITLSConfig.self, forKey: .tls)
    }

    /// The access rules these settings make.
    var access: APIAccess { APIAccess(token: registerToken, allow: allow) }
}

/// `default_backend:` one origin registered by the proxy itself (no heartbeats needed).
struct DefaultBackendConfig: Decodable, Sendable {
    var enabled = false
    var ip = "127.0.0.1"
    /// Ports of the origin; 0 (or null) leaves that protocol out, except rtmp, which every origin has.
    var rtmp = 1935
    var http = 8080
    var api = 1985
    var rtc = 8000
    var srt = 10080

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, ip, rtmp, http, api, rtc, srt
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DefaultBackendConfig()
        enabled = try c.decode(Bool.self, forKey: .enabled, default: d.enabled)
        ip = try c.decode(String.self, forKey: .ip, default: d.ip)
        guard RegisterRequest.isDialableHost(ip) else { throw c.invalid(.ip, "'\(ip)' is not an IP address or host name the proxy can dial") }
        for (key, path) in [(CodingKeys.rtmp, \DefaultBackendConfig.rtmp), (.http, \.http), (.api, \.api), (.rtc, \.rtc), (.srt, \.srt)] {
            let present = c.contains(key) && !((try? c.decodeNil(forKey: key)) ?? false)
            let port = present ? try c.decode(Int.self, forKey: key) : (c.contains(key) ? 0 : d[keyPath: path])
            guard (0...65535).contains(port) else { throw c.invalid(key, "invalid port \(port) (allowed: 1-65535, or 0 for none)") }
            self[keyPath: path] = port
        }
        guard rtmp > 0 else { throw c.invalid(.rtmp, "the default backend needs an rtmp port") }
    }

    var backend: Backend {
        var endpoints: [EndpointKind: [ListenEndpoint]] = [:]
        for (kind, port) in [(EndpointKind.rtmp, rtmp), (.http, http), (.api, api), (.rtc, rtc), (.srt, srt)] where port > 0 {
            endpoints[kind] = [ListenEndpoint(transport: kind == .rtc || kind == .srt ? .udp : nil, port: port)]
        }
        return Backend(server: "default-backend", service: "static", pid: "0", ip: ip, deviceID: "default", endpoints: endpoints)
    }
}

/// `quit:` graceful then forced shutdown on SIGINT/SIGTERM.
struct QuitConfig: Decodable, Sendable {
    /// Stop accepting, then wait this long for sessions to end (env PROXY_GRACE_QUIT_TIMEOUT).
    var grace = ConfigDuration.seconds(20)
    /// Close whatever is left at this time after the signal (env PROXY_FORCE_QUIT_TIMEOUT).
    var force = ConfigDuration.seconds(30)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case grace, force
    }

    init() {}

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = QuitConfig()
        grace = try c.decode(ConfigDuration.self, forKey: .grace, default: d.grace)
        force = try c.decode(ConfigDuration.self, forKey: .force, default: d.force)
        guard force.duration >= grace.duration else {
            throw c.invalid(.force, "must not be shorter than quit.grace (\(grace))")
        }
    }
}
