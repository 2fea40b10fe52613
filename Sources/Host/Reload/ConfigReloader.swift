import Foundation
import Logging
import ProxyCore
import ProxyNet
import Synchronization

/// Re-reads proxy.yaml (SIGHUP, `POST /api/v1/reload`) and applies what can change while the
/// proxy runs: hooks, the APIs' tokens and access lists, the commands API's auth, connection
/// limits, the balancer, placement and route timing, health-check timing, the default backend,
/// the APIs' certificate files and the log settings, each for the sessions, requests and check
/// rounds that start afterwards; live sessions are untouched. Settings bound at start
/// (ReloadPlan.restartOnly) are reported and keep their running values. A file that does not
/// load keeps the running configuration and is logged with the same file:line:key error as
/// `--check-config`. One reload at a time.
final class ConfigReloader: Sendable {
    /// What a reload touches.
    struct Targets: Sendable {
        var log: LogSettings
        var logLevelFlag: Logger.Level?
        var logRequests: Live<Bool>
        var hooks: WebhookHooks
        var systemAPI: Live<SystemAPIConfig>
        var commandsAuth: Live<CommandsAuthConfig>
        var routing: ProxyHost.Routing
        var healthCheck: Live<HealthCheckConfig>
        var defaultBackend: Live<DefaultBackendConfig>
        var certificates: [String: ReloadableCertificate]
        var connections: LiveConnectionLimits
    }

    enum Outcome: Sendable {
        case reloaded(ReloadPlan)
        case failed(String)
    }

    private let file: String
    private let started: LoadedConfig
    private let running: Mutex<LoadedConfig>
    private let busy = Mutex(false)
    private let targets: Targets
    private let environment: @Sendable () -> [String: String]
    private let logger: Logger

    init(
        config: LoadedConfig, targets: Targets, logger: Logger,
        environment: @escaping @Sendable () -> [String: String] = { ProcessInfo.processInfo.environment }
    ) {
        file = config.file
        started = config
        running = Mutex(config)
        self.targets = targets
        self.environment = environment
        self.logger = logger
    }

    /// Loads the file again and applies it; `trigger` names who asked (logged).
    func reload(trigger: String) -> Outcome {
        guard busy.withLock({ b in defer { b = true }; return !b }) else { return .failed("a reload is already running") }
        defer { busy.withLock { $0 = false } }
        let env = environment()
        let next: LoadedConfig
        do {
            next = try ConfigLoader(file: file, environment: env).load()
        } catch {
            logger.error("configuration reload failed; the running configuration stays", metadata: ["trigger": "\(trigger)", "error": "\(error)"])
            return .failed("\(error)")
        }
        let previous = running.withLock { $0 }
        let plan = ReloadPlan(running: previous, started: started, next: next)
        apply(next.proxy, previous: previous.proxy, logDebug: DerivedEnvironment.flag(env["LOG_DEBUG"] ?? "") == true)
        running.withLock { $0 = next }
        if !plan.restart.isEmpty {
            logger.warning("configuration reload: these settings need a restart and keep their running values", metadata: [
                "trigger": "\(trigger)", "keys": "\(plan.restart.joined(separator: ","))",
            ])
        }
        logger.notice("configuration reloaded", metadata: [
            "trigger": "\(trigger)", "file": "\(file)", "applied": "\(plan.applied.isEmpty ? "nothing changed" : plan.applied.joined(separator: ","))",
        ])
        return .reloaded(plan)
    }

    private func apply(_ p: ProxyConfig, previous: ProxyConfig, logDebug: Bool) {
        let t = targets
        t.log.level = LogSettings.level(flag: t.logLevelFlag, config: p.log, logDebug: logDebug)
        t.log.format = p.log.format
        t.logRequests.set(p.log.requests)
        t.hooks.apply(p.hooks)
        var system = p.systemAPI
        system.listen = t.systemAPI.value.listen
        t.systemAPI.set(system)
        t.commandsAuth.set(p.commandsAPI.auth)
        t.connections.set(p.limits.connections)
        var health = p.registry.healthCheck
        health.enabled = t.healthCheck.value.enabled
        t.healthCheck.set(health)
        t.routing.health?.setPolicy(.init(fall: health.fall, rise: health.rise))
        t.defaultBackend.set(p.defaultBackend)
        let routerConfiguration = RouterConfiguration(
            routeLinger: p.registry.routeLinger.duration, redispatchAttempts: p.registry.redispatchAttempts,
            redispatchWait: p.registry.redispatchWait.duration, placement: p.placement.policy)
        t.routing.reconfigure(
            defaultRouter: started.proxy.balancer, balancer: p.balancer == previous.balancer ? nil : p.balancer, configuration: routerConfiguration)
        for (api, tls) in [("system-api", p.systemAPI.tls), ("commands-api", p.commandsAPI.tls)] {
            if let tls, let running = t.certificates[api] { running.adopt(tls.certificate) }
        }
    }
}
