import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet
import ServiceLifecycle

/// Assembles one proxy process from a validated configuration and runs it:
/// registry -> routers (one per balancer in use) -> system API -> default backend -> modules.
/// Every module is built before anything binds, so a module that refuses its config stops the
/// process before it serves anything.
struct ProxyHost {
    var config: LoadedConfig
    var logger: Logger
    var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

    func run() async throws {
        let proxy = config.proxy
        let registry = MemoryRegistry(backendAlive: proxy.registry.backendAlive.duration)
        let routerConfig = RouterConfiguration(routeLinger: proxy.registry.routeLinger.duration)

        var routers: [String: Router] = [:]
        func router(for balancer: String) -> Router {
            if let r = routers[balancer] { return r }
            let r = Router(
                registry: registry, strategy: BalancingStrategies.make(named: balancer)!, configuration: routerConfig,
                logger: Logger(label: "proxy.router"))
            routers[balancer] = r
            return r
        }
        _ = router(for: proxy.balancer)

        var modules: [(name: String, service: any Service)] = []
        for module in config.modules where module.enabled {
            let context = ModuleContext(
                router: router(for: module.balancer ?? proxy.balancer), eventLoopGroup: group,
                logger: Logger(label: "proxy.\(module.name)"), hooks: NoHooks(),
                onListening: { _, _ in })
            modules.append((module.name, try module.build(context)))
        }

        let api = SystemAPI(
            config: proxy.systemAPI, registry: registry, routers: Array(routers.values), group: group,
            logger: Logger(label: "proxy.system-api"), onListening: { _, _ in })

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: RouterService(routers: Array(routers.values)), serviceName: "router"),
            .init(service: api.makeApplication(), serviceName: "system-api"),
        ]
        if proxy.defaultBackend.enabled {
            services.append(.init(
                service: DefaultBackendService(backend: proxy.defaultBackend.backend, registry: registry, logger: logger),
                serviceName: "default-backend"))
        }
        services.append(.init(service: ModuleGroup(modules: modules, logger: logger), serviceName: "modules"))

        var groupConfig = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfig.maximumGracefulShutdownDuration = proxy.quit.grace.duration
        let serviceGroup = ServiceGroup(configuration: groupConfig)

        logger.info("starting", metadata: [
            "version": "\(ProxyVersion.string)", "config": "\(config.file)", "balancer": "\(proxy.balancer)",
            "registry": "\(proxy.registry.type.rawValue)", "modules": "\(modules.map(\.name).joined(separator: ","))",
        ])
        let watchdog = ForceQuitWatchdog(force: proxy.quit.force.duration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await serviceGroup.run() }
            tasks.addTask { await watchdog.run() }
            try await tasks.next()
            tasks.cancelAll()
        }
        logger.info("stopped")
    }
}
