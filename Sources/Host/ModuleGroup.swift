import Logging
import ServiceLifecycle

/// Runs every enabled module as one service, so that graceful shutdown reaches all modules at
/// once (each stops accepting at the same moment) rather than one after the other.
struct ModuleGroup: Service {
    var modules: [(name: String, service: any Service)]
    var logger: Logger

    func run() async throws {
        guard !modules.isEmpty else {
            // Nothing to serve, but the process still runs its APIs until shutdown.
            try? await gracefulShutdown()
            return
        }
        try await withThrowingDiscardingTaskGroup { group in
            for (name, service) in modules {
                group.addTask {
                    do {
                        try await service.run()
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.error("module stopped with an error", metadata: ["module": "\(name)", "error": "\(error)"])
                        throw error
                    }
                }
            }
        }
    }
}
