import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP reloads proxy.yaml (ConfigReloader), as SRS and nginx do. Trapped from start, so a
/// SIGHUP never ends the process; stops on graceful shutdown.
struct ReloadService: Service {
    var reloader: ConfigReloader
    var logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                _ = reloader.reload(trigger: "SIGHUP")
            }
        }
    }
}
