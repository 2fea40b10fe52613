import Logging
import ProxyCore
import ServiceLifecycle

/// Registers the configured default backend at start and refreshes it every 30 s (or a third of
/// `backend_alive` when that is shorter), as SRS's proxy does for PROXY_DEFAULT_BACKEND_*.
struct DefaultBackendService: Service {
    static let refreshInterval = Duration.seconds(30)

    var backend: Backend
    var registry: any Registry
    var logger: Logger

    func run() async throws {
        logger.info("default backend enabled", metadata: ["backend": "\(backend.id)", "ip": "\(backend.ip)"])
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await registry.heartbeat(backend)
                } catch {
                    logger.warning("default backend heartbeat failed", metadata: ["error": "\(error)"])
                }
                // Every 30 s as SRS's proxy does, or faster when backend_alive is shorter than 90 s.
                try? await Task.sleep(for: max(min(Self.refreshInterval, registry.backendAlive / 3), .milliseconds(100)))
            }
        }
    }
}
