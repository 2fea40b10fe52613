import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Ends the process at `quit.force` after the first SIGINT/SIGTERM, whatever is still running.
/// (The service group cancels the services at `quit.grace`; this is the backstop if something
/// does not finish after that.)
struct ForceQuitWatchdog: Sendable {
    var force: Duration
    var logger: Logger
    private let requested = Flag()

    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    init(force: Duration, logger: Logger) {
        self.force = force
        self.logger = logger
    }

    /// Whether a shutdown signal arrived.
    var shutdownRequested: Bool { requested.value.load(ordering: .relaxed) }

    func run() async {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        for await signal in signals {
            requested.value.store(true, ordering: .relaxed)
            logger.info("shutdown requested", metadata: ["signal": "\(signal)", "force_quit_in": "\(force)"])
            try? await Task.sleep(for: force)
            guard !Task.isCancelled else { return }
            logger.error("force quit: shutdown did not finish in time")
            exit(1)
        }
    }
}
