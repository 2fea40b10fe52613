import Foundation
import Logging
import ProxyCore

/// The hooks modules call (ProxyHooks), built from `hooks:` in proxy.yaml: the publish question
/// goes to `hooks.publish_auth` (allow when it has no url); reports of the selected events become
/// deliveries, one per `hooks.events` url, handed to the hooks service without waiting: a
/// bounded buffer of `queue_limit` events (full: the event is counted as lost and logged), which
/// the service moves into the registry's queue.
final class WebhookHooks: ProxyHooks {
    typealias Pending = [(id: String, delivery: EventDelivery)]

    let authorizer: PublishAuthorizer?
    let events: EventsConfig
    let counters = HookCounters()
    /// Reported events on their way to the registry's queue (read by the hooks service).
    let pending: AsyncStream<Pending>
    private let selected: Set<StreamEvent.Kind>
    private let continuation: AsyncStream<Pending>.Continuation
    private let server: String
    private let service: String
    private let logger: Logger

    init(config: HooksConfig, client: HookHTTPClient, server: String, service: String, logger: Logger) {
        authorizer = config.publishAuth.url.map {
            PublishAuthorizer(config: config.publishAuth, url: $0, client: client, server: server, service: service, logger: logger)
        }
        events = config.events
        selected = config.events.urls.isEmpty ? [] : Set(config.events.events)
        (pending, continuation) = AsyncStream.makeStream(of: Pending.self, bufferingPolicy: .bufferingOldest(config.events.queueLimit))
        self.server = server
        self.service = service
        self.logger = logger
    }

    func authorizePublish(_ event: StreamEvent) async -> HookDecision {
        await authorizer?.decide(event) ?? .allow
    }

    func report(_ event: StreamEvent) {
        guard selected.contains(event.kind) else { return }
        let eventID = UUID().uuidString.lowercased()
        let body = HookRequestBody(event, server: server, service: service, eventID: eventID).json()
        let deliveries = events.urls.enumerated().map { i, url in
            (id: "\(eventID).\(i)", delivery: EventDelivery(url: url.absoluteString, eventID: eventID, body: body))
        }
        if case .enqueued = continuation.yield(deliveries) { return }
        counters.add(.lost, deliveries.count)
        logger.warning("event callback lost: the queue is full or closed", metadata: [
            "event": "\(event.kind.rawValue)", "stream": "\(event.request.key)", "event_id": "\(eventID)",
        ])
    }

    /// No more events are taken (graceful shutdown, after the modules stopped); the buffer drains.
    func finish() { continuation.finish() }
}
