import Foundation
import Logging
import ProxyCore

/// The hooks modules call (ProxyHooks), built from `hooks:` in proxy.yaml: the publish question
/// goes to `hooks.publish_auth` (allow when it has no url); reports of the selected events become
/// deliveries, one per `hooks.events` url, handed to the hooks service without waiting: a
/// bounded buffer of `queue_limit` events (full: the event is counted as lost and logged), which
/// the service moves into the registry's queue. A reload replaces the hooks' settings (`apply`):
/// each publish and event uses those in force when it happens; the buffer keeps its size.
final class WebhookHooks: ProxyHooks {
    typealias Pending = [(id: String, delivery: EventDelivery)]

    /// What `hooks:` configures, replaced whole by a reload.
    struct Settings: Sendable {
        var authorizer: PublishAuthorizer?
        /// `hooks.play_auth`, when it has a url.
        var playAuthorizer: PublishAuthorizer?
        var events: EventsConfig
        /// Channel and key rules of the coordinator format, checked before any hook call.
        var ids: CoordinatorIDs?
        /// The coordinator format's name on the origin (`hooks.publish_auth.origin_name`).
        var originName: OriginNameTemplate?
        var selected: Set<StreamEvent.Kind>
    }

    let counters = HookCounters()
    /// Reported events on their way to the registry's queue (read by the hooks service).
    let pending: AsyncStream<Pending>
    private let settings: Live<Settings>
    private let continuation: AsyncStream<Pending>.Continuation
    private let client: HookHTTPClient
    private let server: String
    private let service: String
    private let logger: Logger

    var events: EventsConfig { settings.value.events }
    var ids: CoordinatorIDs? { settings.value.ids }
    var authorizer: PublishAuthorizer? { settings.value.authorizer }
    var originName: OriginNameTemplate? { settings.value.originName }

    init(config: HooksConfig, client: HookHTTPClient, server: String, service: String, logger: Logger) {
        settings = Live(Self.settings(config, client: client, server: server, service: service, logger: logger))
        (pending, continuation) = AsyncStream.makeStream(of: Pending.self, bufferingPolicy: .bufferingOldest(config.events.queueLimit))
        self.client = client
        self.server = server
        self.service = service
        self.logger = logger
    }

    static func settings(_ config: HooksConfig, client: HookHTTPClient, server: String, service: String, logger: Logger) -> Settings {
        let kinds: Set<StreamEvent.Kind> = config.events.format == .coordinator ? [.publishStart, .publishEnd] : Set(config.events.events)
        return Settings(
            authorizer: config.publishAuth.url.map {
                PublishAuthorizer(config: config.publishAuth, url: $0, client: client, server: server, service: service, logger: logger)
            },
            playAuthorizer: config.playAuth.url.map {
                PublishAuthorizer(config: config.playAuth, url: $0, client: client, server: server, service: service, logger: logger)
            },
            events: config.events, ids: config.coordinatorIDs,
            originName: config.publishAuth.format == .coordinator ? config.publishAuth.originName : nil,
            selected: config.events.urls.isEmpty ? [] : kinds)
    }

    /// A configuration reload: publishes and events from now on use `config` (`queue_limit`
    /// stays: it sizes the buffer made at start).
    func apply(_ config: HooksConfig) {
        settings.set(Self.settings(config, client: client, server: server, service: service, logger: logger))
    }

    func authorizePublish(_ event: StreamEvent) async -> HookDecision {
        let settings = self.settings.value
        if let ids = settings.ids {
            let key = event.request.key
            if let problem = ids.problem(key.app, "channel") ?? ids.problem(key.stream, "key") {
                logger.notice("publish refused before verification", metadata: [
                    "stream": "\(key)", "client": "\(event.client)", "protocol": "\(event.module)", "reason": "\(problem)",
                ])
                return .deny(problem)
            }
        }
        let decision = await settings.authorizer?.decide(event) ?? .allow
        if case .deny = decision { return decision }
        return renamed(decision, event, settings.originName)
    }

    /// A player: `hooks.play_auth` decides (allowed when it has no url); nothing is renamed.
    func authorizePlay(_ event: StreamEvent) async -> HookDecision {
        guard let authorizer = settings.value.playAuthorizer else { return .allow }
        if case .deny(let why) = await authorizer.decide(event) { return .deny(why) }
        return .allow
    }

    /// The coordinator's format: an allowed publish goes on under `origin_name` (the channel's
    /// name, no key), and its events keep the channel and tell the application that name.
    private func renamed(_ decision: HookDecision, _ event: StreamEvent, _ originName: OriginNameTemplate?) -> HookDecision {
        guard let template = originName else { return decision }
        let key = event.request.key
        do {
            let name = try template.key(vhost: key.vhost, channel: key.app, key: key.stream, id: event.sessionID)
            var attributes = decision.attributes
            attributes["x-streaming-channel"] = key.app
            return .allowAs(name, attributes: attributes)
        } catch {
            logger.warning("publish refused: origin_name makes no stream name", metadata: ["stream": "\(key)", "error": "\(error)"])
            return .deny("origin_name makes no stream name: \(error)")
        }
    }

    func report(_ event: StreamEvent) {
        let settings = self.settings.value
        guard settings.selected.contains(event.kind) else { return }
        let events = settings.events
        let deliveries: Pending
        let eventID: String
        switch events.format {
        case .srs:
            eventID = UUID().uuidString.lowercased()
            let body = HookRequestBody(event, server: server, service: service, eventID: eventID).json()
            deliveries = events.urls.enumerated().map { i, url in
                (id: "\(eventID).\(i)", delivery: EventDelivery(url: url.absoluteString, eventID: eventID, body: body))
            }
        case .coordinator:
            deliveries = Self.coordinatorDeliveries(event, urls: events.urls, server: server)
            eventID = deliveries.first?.delivery.eventID ?? ""
        }
        if case .enqueued = continuation.yield(deliveries) { return }
        counters.add(.lost, deliveries.count)
        logger.warning("event callback lost: the queue is full or closed", metadata: [
            "event": "\(event.kind.rawValue)", "stream": "\(event.request.key)", "event_id": "\(eventID)",
        ])
    }

    /// The coordinator's events: `stream-available` when a publish started, `stream-closed`
    /// when it ended, empty POSTs with the channel, the streaming id (the session's id) and the
    /// event type in headers; `stream-available` also carries the session's attributes. Queue
    /// ids are derived from the session, so a `stream-closed` names the `stream-available`
    /// items it cancels, and the stream it ends (CoordinatorShapes lists it until delivered;
    /// `server`: this proxy's id).
    static func coordinatorDeliveries(_ event: StreamEvent, urls: [URL], server: String) -> Pending {
        let available = event.kind == .publishStart
        let type = available ? "stream-available" : "stream-closed"
        // The channel the publisher named (the stream may be renamed to origin_name).
        let channel = event.attributes["x-streaming-channel"] ?? event.request.key.app
        var headers = ["x-streaming-channel": channel, "x-streaming-id": event.sessionID, "x-event-type": type]
        if available {
            headers.merge(event.attributes) { own, _ in own }
            // The name players use and the origin has (`origin_name`, or the client's own).
            headers["x-origin-stream"] = "\(event.request.key.app)/\(event.request.key.stream)"
        }
        let eventID = "\(event.sessionID).\(type)"
        let closing = available ? nil : EventDelivery.ClosingStream(
            channel: channel, streamId: event.sessionID, streamServer: server, encoder: event.backend?.rawValue ?? "",
            key: event.request.key.description)
        return urls.enumerated().map { i, url in
            (id: "\(eventID).\(i)", delivery: EventDelivery(
                url: url.absoluteString, eventID: eventID, body: nil, headers: headers, format: .coordinator,
                cancels: available ? nil : ["\(event.sessionID).stream-available.\(i)"], closing: closing))
        }
    }

    /// No more events are taken (graceful shutdown, after the modules stopped); the buffer drains.
    func finish() { continuation.finish() }
}
