import ProxyCore
import ServiceLifecycle

/// Runs the routers' housekeeping (route refresh, forgetting idle routes) until graceful shutdown reaches
/// it, which is last: it is first in the service list, so modules have drained by then.
struct RouterService: Service {
    var routers: [Router]

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for router in routers {
                    group.addTask { await router.run() }
                }
            }
        }
    }
}
