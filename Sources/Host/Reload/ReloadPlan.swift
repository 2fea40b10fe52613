/// What a reload of proxy.yaml changes, compared with the configuration running: the settings
/// that take effect for new sessions (`applied`), and the ones that need a restart (`restart`),
/// which are reported and left as they run. Both as dotted keys, sorted.
struct ReloadPlan: Equatable {
    var applied: [String]
    var restart: [String]

    /// Settings bound at start: listeners, the registry's connection and liveness, threads,
    /// shutdown timing, the APIs' HTTP timeouts and TLS on/off, the event buffer, and every
    /// module's own section (its listeners, limits and protocol settings).
    static func restartOnly(_ c: LoadedConfig) -> [String: String] {
        let p = c.proxy
        var keys: [String: String] = [
            "system_api.listen": "\(p.systemAPI.listen)",
            "system_api.tls": p.systemAPI.tls == nil ? "off" : "on",
            "commands_api.enabled": "\(p.commandsAPI.enabled)",
            "commands_api.listen": "\(p.commandsAPI.listen)",
            "commands_api.tls": p.commandsAPI.tls == nil ? "off" : "on",
            "registry.type": p.registry.type.rawValue,
            "registry.redis": "\(p.registry.redis)",
            "registry.backend_alive": "\(p.registry.backendAlive)",
            "registry.heartbeat_misses": "\(p.registry.heartbeatMisses)",
            "registry.health_check.enabled": "\(p.registry.healthCheck.enabled)",
            "event_loops": "\(p.eventLoops)",
            "quit": "\(p.quit)",
            "limits.http_header_timeout": "\(p.limits.httpHeaderTimeout)",
            "limits.http_idle_timeout": "\(p.limits.httpIdleTimeout)",
            "hooks.events.queue_limit": "\(p.hooks.events.queueLimit)",
        ]
        for (name, section) in c.moduleSections { keys["modules.\(name)"] = section }
        return keys
    }

    /// Settings a reload applies.
    static func live(_ c: LoadedConfig) -> [String: String] {
        let p = c.proxy
        var health = p.registry.healthCheck
        health.enabled = true
        return [
            "balancer": p.balancer,
            "placement": "\(p.placement)",
            "registry.route_linger": "\(p.registry.routeLinger)",
            "registry.redispatch_attempts": "\(p.registry.redispatchAttempts)",
            "registry.redispatch_wait": "\(p.registry.redispatchWait)",
            "registry.health_check": "\(health)",
            "system_api.register_token": p.systemAPI.registerToken,
            "system_api.allow": "\(p.systemAPI.allow)",
            "system_api.max_backends": "\(p.systemAPI.maxBackends)",
            "system_api.max_summaries_size": "\(p.systemAPI.maxSummariesSize)",
            "system_api.tls.files": p.systemAPI.tls.map { "\($0.certificate.certPath) \($0.certificate.keyPath)" } ?? "",
            "commands_api.auth": "\(p.commandsAPI.auth)",
            "commands_api.tls.files": p.commandsAPI.tls.map { "\($0.certificate.certPath) \($0.certificate.keyPath)" } ?? "",
            "default_backend": "\(p.defaultBackend)",
            "hooks.publish_auth": Self.describe(p.hooks.publishAuth),
            "hooks.events": Self.describe(p.hooks.events),
            "hooks.id_max_length": "\(p.hooks.idMaxLength)",
            "limits.connections": "\(p.limits.connectionsPerListener) \(p.limits.connectionsPerAddress)",
            "log": "\(p.log)",
        ]
    }

    /// Field by field, headers in name order (a dictionary's own order is not stable).
    static func describe(_ a: PublishAuthConfig) -> String {
        "\(a.url?.absoluteString ?? "") \(a.timeout) \(a.onError) \(a.format) \(a.auth) \(a.headers.sorted { $0.key < $1.key }) \(a.originName)"
    }

    static func describe(_ e: EventsConfig) -> String {
        "\(e.urls) \(e.events) \(e.timeout) \(e.format) \(e.auth) \(e.headers.sorted { $0.key < $1.key }) \(e.retry)"
    }

    init(running: LoadedConfig, started: LoadedConfig, next: LoadedConfig) {
        let before = Self.restartOnly(started), after = Self.restartOnly(next)
        restart = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
        let was = Self.live(running), now = Self.live(next)
        applied = Set(was.keys).union(now.keys).filter { was[$0] != now[$0] }.sorted()
    }
}
