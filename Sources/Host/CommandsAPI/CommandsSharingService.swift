import Foundation
import Logging
import ProxyCore
import ServiceLifecycle

/// Shares this proxy's part of the commands API with the others on the registry, whether or not
/// this proxy serves the API itself:
/// - publishes its session counts every `publishInterval` with `countsTTL` (a dead proxy's
///   figures expire by themselves; a graceful stop removes them);
/// - polls the close request log every `pollInterval` and closes the named streams' sessions
///   here (requests this proxy took itself were applied already).
/// While the registry fails it retries after 1 s, doubling up to 8 s, so an outage does not add
/// load (nor drive the Redis connections' reconnect backoff up for everyone else).
struct CommandsSharingService: Service {
    var sessions: LocalSessions
    var counts: any SessionCountStore
    var closes: any StreamCloseBroadcast
    var logger: Logger
    var publishInterval: Duration = .seconds(2)
    var countsTTL: Duration = .seconds(10)
    var pollInterval: Duration = .milliseconds(500)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var cursor: Int?
            var lastPublish: ContinuousClock.Instant?
            var failures = 0
            while !Task.isCancelled {
                do {
                    let batch = try await closes.closeRequests(after: cursor)
                    if cursor != nil {
                        for request in batch.requests where request.origin != sessions.proxy {
                            let n = await sessions.close(
                                request.key, reason: "close request \(request.id) from \(request.origin)", session: request.session)
                            logger.info("close request applied", metadata: [
                                "stream": "\(request.key)", "request": "\(request.id)", "from": "\(request.origin)", "sessions": "\(n)",
                            ])
                        }
                    }
                    cursor = batch.cursor
                    if lastPublish.map({ ContinuousClock.now - $0 >= publishInterval }) ?? true {
                        try await counts.publishSessionCounts(await sessions.counts(), ttl: countsTTL)
                        lastPublish = .now
                    }
                    if failures > 0 {
                        failures = 0
                        logger.notice("sharing session counts again")
                    }
                } catch {
                    if failures == 0 { logger.warning("cannot share session counts or read close requests", metadata: ["error": "\(error)"]) }
                    failures += 1
                }
                try? await Task.sleep(for: failures == 0 ? pollInterval : .seconds(1 << min(failures - 1, 3)))
            }
        }
        try? await counts.removeSessionCounts(proxy: sessions.proxy)
    }
}
