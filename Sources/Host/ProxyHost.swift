import Foundation
import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet
import RedisRegistry
import ServiceLifecycle
import Synchronization

/// Assembles one proxy process from a validated configuration and runs it:
/// registry -> routers (one per balancer in use) -> system API -> default backend -> modules.
/// Every module is built before anything binds, so a module that refuses its config stops the
/// process before it serves anything.
struct ProxyHost {
    var config: LoadedConfig
    var logger: Logger
    var group: any EventLoopGroup
    /// For `stream_proxy_process_start_time_seconds`.
    let startedAt = Date()
    /// The process's log settings (a reload changes them), and the `--log-level` that wins over the file's.
    var logSettings = LogSettings(level: .info, format: .text)
    var logLevelFlag: Logger.Level?

    init(config: LoadedConfig, logger: Logger) {
        self.config = config
        // Every listener's connection caps follow one shared value (a reload changes it).
        self.config.proxy.limits.live = LiveConnectionLimits(config.proxy.limits.connections)
        self.logger = logger
        let loops = config.proxy.eventLoops
        // 0: NIO's shared group, one thread per core. Otherwise a group of its own for the process's life.
        group = loops == 0 ? MultiThreadedEventLoopGroup.singleton : MultiThreadedEventLoopGroup(numberOfThreads: loops)
    }

    /// The registry and one router per balancing strategy in use, all sharing the registry.
    final class Routing: Sendable {
        let registry: any Registry
        let configuration: RouterConfiguration
        /// The endpoints' health, when `registry.health_check.enabled`.
        let health: BackendHealth?
        /// This proxy's sessions per backend, shared by its routers (placement counts them all).
        let localLoads = LocalLoads()
        private let routers = Mutex<[String: Router]>([:])

        init(registry: any Registry, configuration: RouterConfiguration, health: BackendHealth? = nil) {
            self.registry = registry
            self.configuration = configuration
            self.health = health
        }

        func router(for balancer: String) -> Router {
            routers.withLock { routers in
                if let r = routers[balancer] { return r }
                let r = Router(
                    registry: registry, strategy: BalancingStrategies.make(named: balancer)!, configuration: configuration,
                    logger: Logger(label: "proxy.router"), health: health, localLoads: localLoads)
                routers[balancer] = r
                return r
            }
        }

        var all: [Router] { routers.withLock { Array($0.values) } }

        /// A reload: every router takes `configuration`; the router of the modules without a
        /// balancer of their own (made for `defaultRouter`) also takes `balancer` when it
        /// changed. Streams already routed stay where they are.
        func reconfigure(defaultRouter: String, balancer: String?, configuration: RouterConfiguration) {
            for (name, router) in routers.withLock({ $0 }) {
                let strategy = name == defaultRouter ? balancer.flatMap { BalancingStrategies.make(named: $0) } : nil
                router.reconfigure(strategy: strategy, configuration: configuration)
            }
        }
    }

    func makeRouting(proxyID: String = "") -> Routing {
        let proxy = config.proxy
        let alive = proxy.registry.backendAlive.duration
        let registry: any Registry
        switch proxy.registry.type {
        case .memory:
            registry = MemoryRegistry(backendAlive: alive, heartbeatMisses: proxy.registry.heartbeatMisses)
        case .redis:
            let r = proxy.registry.redis
            let client = RedisClient(configuration: RedisConfiguration(
                host: r.host, port: r.port, password: r.password, database: r.db, keyPrefix: r.keyPrefix,
                connectTimeout: r.timeout.duration, commandTimeout: r.timeout.duration, maxQueued: r.maxQueued,
                sentinels: r.sentinelEndpoints, masterName: r.masterName))
            registry = RedisRegistry(client: client, backendAlive: alive, heartbeatMisses: proxy.registry.heartbeatMisses)
        }
        let routing = Routing(
            registry: registry,
            configuration: RouterConfiguration(
                routeLinger: proxy.registry.routeLinger.duration, redispatchAttempts: proxy.registry.redispatchAttempts,
                redispatchWait: proxy.registry.redispatchWait.duration,
                placement: proxy.placement.policy, proxyID: proxyID),
            health: proxy.registry.healthCheck.enabled
                ? BackendHealth(policy: .init(fall: proxy.registry.healthCheck.fall, rise: proxy.registry.healthCheck.rise)) : nil)
        _ = routing.router(for: proxy.balancer)
        return routing
    }

    /// Builds every enabled module (validation only, no I/O), each with the router of its balancer.
    /// `onListening` hears every address a module binds (tests bind port 0).
    @discardableResult
    func buildModules(
        _ routing: Routing? = nil, hooks: any ProxyHooks = NoHooks(),
        onListening: @escaping @Sendable (String, SocketAddress) -> Void = { _, _ in }
    ) throws -> [BuiltModule] {
        let routing = routing ?? makeRouting()
        return try config.modules.filter(\.enabled).map { module in
            let background = BackgroundWork()
            let context = ModuleContext(
                router: routing.router(for: module.balancer ?? config.proxy.balancer), eventLoopGroup: group,
                logger: Logger(label: "proxy.\(module.name)"), hooks: hooks, background: background,
                connectionLimits: config.proxy.limits.connections, onListening: onListening)
            return BuiltModule(name: module.name, service: try module.build(context), background: background)
        }
    }

    /// The commands API's services: sharing this proxy's session counts and applying close
    /// requests (always, so another proxy's commands API sees and reaches this one), and the API
    /// itself when `commands_api.enabled`.
    func commandsServices(
        _ routing: Routing, modules: [BuiltModule], proxyID: String, listeners: CoordinatorShapes.BoundListeners? = nil,
        events: (any EventQueue)? = nil, logRequests: Live<Bool> = Live(true), auth: Live<CommandsAuthConfig>? = nil,
        onListening: @escaping @Sendable (String, SocketAddress) -> Void = { _, _ in }
    ) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard let store = routing.registry as? any SessionCountStore & StreamCloseBroadcast else { return [] }
        let sessions = LocalSessions(
            proxy: proxyID, routers: routing.all,
            modules: modules.map { m in
                LocalSessions.Module(name: m.name, maxSessions: (m.service as? any SessionLimitedModule)?.maxSessions)
            })
        let logger = Logger(label: "proxy.commands-api")
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: CommandsSharingService(sessions: sessions, counts: store, closes: store, logger: logger), serviceName: "commands-sharing"),
        ]
        if config.proxy.commandsAPI.enabled {
            var commands = CommandsAPI(
                config: config.proxy.commandsAPI, sessions: sessions, registry: routing.registry, counts: store, closes: store,
                shared: config.proxy.registry.type == .redis, group: group, limits: config.proxy.limits, logger: logger,
                onListening: onListening)
            commands.listeners = listeners
            commands.events = events
            commands.logRequests = logRequests
            commands.liveAuth = auth
            commands.eventsLimit = config.proxy.hooks.events.queueLimit
            services.append(.init(service: try commands.makeApplication(), serviceName: "commands-api"))
        }
        return services
    }

    func run() async throws {
        let proxy = config.proxy
        let identity = ProxyIdentity()
        let routing = makeRouting(proxyID: identity.server)
        let watchdog = ForceQuitWatchdog(force: proxy.quit.force.duration, logger: logger)
        var api = SystemAPI(
            config: proxy.systemAPI, registry: routing.registry, routers: routing.all, group: group, limits: proxy.limits,
            logger: Logger(label: "proxy.system-api"), onListening: { _, _ in }, registryType: proxy.registry.type)
        api.identity = identity
        let logRequests = Live(proxy.log.requests)
        let systemSettings = Live(proxy.systemAPI)
        let commandsAuth = Live(proxy.commandsAPI.auth)
        let healthSettings = Live(proxy.registry.healthCheck)
        let defaultBackend = Live(proxy.defaultBackend)
        api.logRequests = logRequests
        api.live = systemSettings
        api.shuttingDown = { watchdog.shutdownRequested }
        api.health = routing.health
        let hooks = HooksService(
            config: proxy.hooks, queue: (routing.registry as? any EventQueue) ?? MemoryEventQueue(), server: api.identity.server,
            service: api.identity.service, group: group, logger: Logger(label: "proxy.hooks"))
        let listeners = CoordinatorShapes.BoundListeners(proxy: identity.server)
        let modules = try buildModules(routing, hooks: hooks.hooks, onListening: { name, address in listeners.add(name, address) })
        // Modules with their own balancer add routers while they are built.
        api.routers = routing.all
        api.metrics = ProxyMetrics(
            registry: routing.registry, routers: routing.all, modules: modules.map { ($0.name, $0.service as? any MetricsReporting) },
            hookCounters: hooks.hooks.counters, startedAt: startedAt, health: routing.health)

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: RouterService(routers: routing.all), serviceName: "router"),
        ]
        let reloader = ConfigReloader(
            config: config,
            targets: .init(
                log: logSettings, logLevelFlag: logLevelFlag, logRequests: logRequests, hooks: hooks.hooks, systemAPI: systemSettings,
                commandsAuth: commandsAuth, routing: routing, healthCheck: healthSettings, defaultBackend: defaultBackend,
                certificates: [
                    "system-api": proxy.systemAPI.tls?.certificate, "commands-api": proxy.commandsAPI.tls?.certificate,
                ].compactMapValues { $0 },
                connections: proxy.limits.live!),
            logger: Logger(label: "proxy.reload"))
        api.reloader = reloader
        services.append(.init(service: ReloadService(reloader: reloader, logger: logger), serviceName: "reload"))
        services += try commandsServices(
            routing, modules: modules, proxyID: api.identity.server, listeners: listeners, events: hooks.queue, logRequests: logRequests,
            auth: commandsAuth)
        services.append(.init(service: try api.makeApplication(), serviceName: "system-api"))
        for (name, tls) in [("system-api", proxy.systemAPI.tls), ("commands-api", proxy.commandsAPI.enabled ? proxy.commandsAPI.tls : nil)] {
            guard let tls, let every = tls.reloadCheck else { continue }
            services.append(.init(
                service: TLSReloadService(api: name, certificate: tls.certificate, interval: every.duration, logger: Logger(label: "proxy.tls")),
                serviceName: "\(name)-tls-reload"))
        }
        // Always: a reload may enable the default backend.
        services.append(.init(service: DefaultBackendService(config: defaultBackend, registry: routing.registry, logger: logger), serviceName: "default-backend"))
        if let health = routing.health {
            let probes = modules.compactMap { ($0.service as? any HealthProbing)?.healthProbes }.reduce(into: [EndpointKind: any EndpointProbe]()) {
                $0.merge($1) { first, _ in first }
            }
            services.append(.init(
                service: HealthCheckService(
                    config: proxy.registry.healthCheck, registry: routing.registry, health: health, probes: probes, proxyID: api.identity.server,
                    group: group, logger: Logger(label: "proxy.health"), live: healthSettings),
                serviceName: "health-checks"))
        }
        services.append(.init(service: hooks, serviceName: "hooks"))
        services.append(.init(service: HeapTrim(logger: Logger(label: "proxy.memory")), serviceName: "heap-trim"))
        services.append(.init(service: ModuleGroup(modules: modules, logger: logger), serviceName: "modules"))

        var groupConfig = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfig.maximumGracefulShutdownDuration = proxy.quit.grace.duration
        let serviceGroup = ServiceGroup(configuration: groupConfig)

        logger.info("starting", metadata: [
            "version": "\(ProxyVersion.string)", "config": "\(config.file)", "balancer": "\(proxy.balancer)",
            "registry": "\(proxy.registry.type.rawValue)", "modules": "\(modules.map(\.name).joined(separator: ","))",
            "event_loops": "\(proxy.eventLoops == 0 ? System.coreCount : proxy.eventLoops)",
        ])
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await serviceGroup.run() }
                tasks.addTask { await watchdog.run() }
                try await tasks.next()
                tasks.cancelAll()
            }
        } catch is CancellationError where watchdog.shutdownRequested {
            // quit.grace passed with sessions still open: the services were cancelled and closed them.
            logger.notice("sessions still open at quit.grace were closed")
        }
        logger.info("stopped")
    }
}
