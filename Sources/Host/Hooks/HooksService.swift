import Foundation
import Logging
import NIOCore
import ProxyCore
import ServiceLifecycle
import Synchronization

/// The `hooks` service: moves reported events into the registry's event queue and delivers what
/// is due to the `hooks.events` urls (any proxy on a shared Redis delivers any proxy's events),
/// acking on HTTP 2xx (200 for the coordinator format), retrying with exponential backoff,
/// dropping after `retry.max_attempts` (never for the coordinator format).
/// Runs before the modules in the service group, so on graceful shutdown it stops after them:
/// it then queues what they reported last, delivers what is due, and returns (what is waiting for
/// a later retry stays in the queue); quit.grace ends it by cancellation. Closes the HTTP client.
struct HooksService: Service {
    let hooks: WebhookHooks
    let queue: any EventQueue
    let client: HookHTTPClient
    let logger: Logger
    /// How often an idle dispatcher looks for due events (other proxies' and retries).
    var pollInterval: Duration = .milliseconds(250)
    /// Deliveries claimed at once; they are sent concurrently.
    var batch = 16

    init(config: HooksConfig, queue: any EventQueue, server: String, service: String, group: any EventLoopGroup, logger: Logger) {
        client = HookHTTPClient(group: group)
        hooks = WebhookHooks(config: config, client: client, server: server, service: service, logger: logger)
        self.queue = queue
        self.logger = logger
    }

    private var config: EventsConfig { hooks.events }

    /// Set once: graceful shutdown began; every reported event is in the queue.
    private final class Progress: Sendable {
        let shuttingDown = Atomic<Bool>(false)
        let enqueuerDone = Atomic<Bool>(false)
        var drained: Bool { shuttingDown.load(ordering: .acquiring) && enqueuerDone.load(ordering: .acquiring) }
    }

    func run() async {
        let progress = Progress()
        if !config.urls.isEmpty {
            logger.info("event callbacks on", metadata: config.format == .coordinator ? [
                "urls": "\(config.urls.count)", "format": "coordinator", "events": "stream-available,stream-closed", "max_attempts": "unlimited",
            ] : [
                "urls": "\(config.urls.count)", "format": "srs", "events": "\(config.events.map(\.rawValue).joined(separator: ","))",
                "max_attempts": "\(config.retry.maxAttempts)",
            ])
        }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    await enqueueReported()
                    progress.enqueuerDone.store(true, ordering: .releasing)
                }
                // Always: a reload may set urls later (with none, nothing is claimed).
                tasks.addTask { await deliver(until: { progress.drained }) }
            }
        } onGracefulShutdown: {
            progress.shuttingDown.store(true, ordering: .releasing)
            hooks.finish()
        }
        await client.shutdown()
        if !config.urls.isEmpty {
            let left = (try? await queue.queuedEvents()).map(String.init) ?? "?"
            logger.info("event callbacks stopped", metadata: ["counts": "\(hooks.counters.summary)", "still_queued": "\(left)"])
        }
    }

    // MARK: - Reported events -> registry queue

    private func enqueueReported() async {
        for await deliveries in hooks.pending {
            for (id, delivery) in deliveries {
                await enqueue(id: id, delivery)
            }
        }
    }

    private func enqueue(id: String, _ delivery: EventDelivery) async {
        var failures = 0
        while true {
            do {
                // A stream-closed first cancels its stream-available if that is still queued
                // (the coordinator's rule: the application never hears of it).
                for cancelled in delivery.cancels ?? [] { try await queue.ack(cancelled) }
                if try await queue.enqueue(id: id, payload: delivery.payload(), limit: config.queueLimit) {
                    hooks.counters.add(.queued)
                } else {
                    hooks.counters.add(.lost)
                    logger.warning("event callback lost: the event queue is full", metadata: [
                        "event_id": "\(delivery.eventID)", "url": "\(delivery.url)", "queue_limit": "\(config.queueLimit)",
                    ])
                }
                return
            } catch {
                failures += 1
                guard failures < 3, !Task.isCancelled else {
                    hooks.counters.add(.lost)
                    logger.error("event callback lost: the registry refused it", metadata: ["event_id": "\(delivery.eventID)", "error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: .milliseconds(200 * failures))
            }
        }
    }

    // MARK: - Registry queue -> urls

    /// Claims and delivers due events until cancelled, or until `done()` holds and nothing is due.
    private func deliver(until done: @escaping @Sendable () -> Bool) async {
        // Longer than one delivery can take (its timeout) plus the ack: a claimer that died frees it then.
        let lease = config.timeout.duration + .seconds(5)
        var registryFailures = 0
        while !Task.isCancelled {
            // Without urls this proxy delivers nothing, not even other proxies' items: it has
            // no auth to send them with.
            if config.urls.isEmpty {
                if done() { return }
                try? await Task.sleep(for: pollInterval)
                continue
            }
            let items: [QueuedEvent]
            do {
                items = try await queue.claim(max: batch, lease: lease)
                registryFailures = 0
            } catch {
                registryFailures += 1
                if registryFailures == 1 || registryFailures % 100 == 0 {
                    logger.warning("event queue unavailable", metadata: ["error": "\(error)", "failures": "\(registryFailures)"])
                }
                if done() { return }
                try? await Task.sleep(for: min(pollInterval * registryFailures, .seconds(5)))
                continue
            }
            if items.isEmpty {
                if done() { return }
                try? await Task.sleep(for: pollInterval)
                continue
            }
            await withTaskGroup(of: Void.self) { tasks in
                for item in items { tasks.addTask { await deliver(item) } }
            }
        }
    }

    private func deliver(_ item: QueuedEvent) async {
        guard let delivery = EventDelivery(payload: item.payload), let url = HookURL.parse(delivery.url) else {
            try? await queue.ack(item.id)
            hooks.counters.add(.dropped)
            logger.error("event callback dropped: unreadable queue item", metadata: ["id": "\(item.id)"])
            return
        }
        let metadata: Logger.Metadata = ["event_id": "\(delivery.eventID)", "url": "\(delivery.url)", "attempt": "\(item.attempts)"]
        let config = self.config
        let failure: String
        do {
            let headers = config.headers.merging(delivery.headers ?? [:]) { _, event in event }
            let response = try await client.post(
                url, json: delivery.body, headers: headers, authorization: config.auth.headerValue, timeout: config.timeout.duration)
            if delivery.delivered(by: response.status) {
                try? await queue.ack(item.id)
                hooks.counters.add(.delivered)
                logger.debug("event callback delivered", metadata: metadata)
                return
            }
            failure = "HTTP \(response.status)"
        } catch {
            failure = "\(error)"
        }
        if item.attempts >= config.retry.maxAttempts, !delivery.retriesForever {
            try? await queue.ack(item.id)
            hooks.counters.add(.dropped)
            logger.error("event callback dropped after \(item.attempts) attempts", metadata: metadata.merging(["error": "\(failure)"]) { $1 })
        } else {
            let delay = config.retry.backoff(afterAttempts: item.attempts)
            try? await queue.retry(item.id, after: delay)
            hooks.counters.add(.retried)
            logger.warning("event callback failed; retrying", metadata: metadata.merging(["error": "\(failure)", "retry_in": "\(delay)"]) { $1 })
        }
    }
}
