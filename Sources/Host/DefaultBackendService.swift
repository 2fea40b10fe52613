import Logging
import ProxyCore
import ServiceLifecycle

/// Registers the configured default backend at start and refreshes it every 30 s (or a third of
/// `backend_alive` when that is shorter), as SRS's proxy does for PROXY_DEFAULT_BACKEND_*.
/// `default_backend` is read every round, so a reload that enables, disables or moves it takes
/// effect within a second: a backend no longer configured is not refreshed and ages out of the
/// registry after `backend_alive`.
struct DefaultBackendService: Service {
    static let refreshInterval = Duration.seconds(30)
    /// How often a disabled or changed default backend is looked at again.
    static let recheck = Duration.seconds(1)

    var config: Live<DefaultBackendConfig>
    var registry: any Registry
    var logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var last: Backend?
            var refreshed = ContinuousClock.now
            while !Task.isCancelled {
                let settings = config.value
                let backend = settings.enabled ? settings.backend : nil
                let due = ContinuousClock.now - refreshed >= max(min(Self.refreshInterval, registry.backendAlive / 3), .milliseconds(100))
                if backend != last {
                    if let backend {
                        logger.info("default backend enabled", metadata: ["backend": "\(backend.id)", "ip": "\(backend.ip)"])
                    } else if let last {
                        logger.info("default backend disabled; it ages out of the registry", metadata: ["backend": "\(last.id)"])
                    }
                }
                if let backend, backend != last || due {
                    do {
                        try await registry.heartbeat(backend)
                    } catch {
                        logger.warning("default backend heartbeat failed", metadata: ["error": "\(error)"])
                    }
                    refreshed = ContinuousClock.now
                }
                last = backend
                // Every 30 s as SRS's proxy does, or faster when backend_alive is shorter than 90 s.
                try? await Task.sleep(for: min(Self.recheck, max(min(Self.refreshInterval, registry.backendAlive / 3), .milliseconds(100))))
            }
        }
    }
}
