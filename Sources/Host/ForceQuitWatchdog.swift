import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Ends the process at `quit.force` after the first SIGINT/SIGTERM, whatever is still running.
/// (The service group cancels the services at `quit.grace`; this is the backstop if something
/// does not finish after that.)
struct ForceQuitWatchdog {
    var force: Duration
    var logger: Logger

    func run() async {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        for await signal in signals {
            logger.info("shutdown requested", metadata: ["signal": "\(signal)", "force_quit_in": "\(force)"])
            try? await Task.sleep(for: force)
            guard !Task.isCancelled else { return }
            logger.error("force quit: shutdown did not finish in time")
            exit(1)
        }
    }
}
