import Logging
import ProxyNet
import ServiceLifecycle

/// A module as the host built it: its service and the queue of its background work.
struct BuiltModule: Sendable {
    var name: String
    var service: any Service
    var background: BackgroundWork
}

/// Runs every enabled module as one service, so that graceful shutdown reaches all modules at
/// once (each stops accepting at the same moment) rather than one after the other. Each module's
/// background work runs beside it and ends after it, once its last jobs finished.
struct ModuleGroup: Service {
    var modules: [BuiltModule]
    var logger: Logger

    func run() async throws {
        guard !modules.isEmpty else {
            // Nothing to serve, but the process still runs its APIs until shutdown.
            try? await gracefulShutdown()
            return
        }
        try await withThrowingDiscardingTaskGroup { group in
            for module in modules {
                group.addTask { await module.background.run() }
                group.addTask {
                    defer { module.background.finish() }
                    do {
                        try await module.service.run()
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.error("module stopped with an error", metadata: ["module": "\(module.name)", "error": "\(error)"])
                        throw error
                    }
                }
            }
        }
    }
}
