import Foundation
import ProxyCore

/// The JSON a hook receives, in SRS's http_hooks style (on_publish, on_unpublish, on_play,
/// on_stop), so hook servers written for SRS work unchanged; the proxy adds `protocol`,
/// `event`, `event_id`, `backend` and `time`.
struct HookRequestBody: Encodable, Sendable {
    var action: String
    var serverID: String
    var serviceID: String
    var clientID: String
    var ip: String
    var vhost: String
    var app: String
    var stream: String
    /// The query with its leading `?` (SRS's form), carrying publish keys such as `?secret=...`.
    var param: String
    var streamURL: String
    var tcUrl: String
    /// The module that saw the client: rtmp, http-flv, srt, webrtc.
    var `protocol`: String
    /// Only in event callbacks: publish_start, publish_end, play_start, play_end.
    var event: String?
    /// Only in event callbacks: one id per event, the same in every retry and for every url.
    var eventID: String?
    var backend: String?
    /// The session's id, the same in its start and end (the coordinator's streaming id).
    var sessionID: String?
    /// What the publish hook attached to the session; absent when nothing.
    var attributes: [String: String]?
    /// When the proxy saw it, ISO 8601.
    var time: String

    enum CodingKeys: String, CodingKey {
        case action
        case serverID = "server_id"
        case serviceID = "service_id"
        case clientID = "client_id"
        case ip, vhost, app, stream, param
        case streamURL = "stream_url"
        case tcUrl
        case `protocol`
        case event
        case eventID = "event_id"
        case backend, time
        case sessionID = "session_id"
        case attributes
    }

    /// SRS's action for an event kind.
    static func action(_ kind: StreamEvent.Kind) -> String {
        switch kind {
        case .publishStart: "on_publish"
        case .publishEnd: "on_unpublish"
        case .playStart: "on_play"
        case .playEnd: "on_stop"
        }
    }

    init(_ event: StreamEvent, server: String, service: String, eventID: String?, time: Date = Date()) {
        let key = event.request.key
        action = Self.action(event.kind)
        serverID = server
        serviceID = service
        clientID = event.client
        ip = Self.host(of: event.client)
        vhost = key.vhost
        app = key.app
        stream = key.stream
        param = event.request.query.isEmpty ? "" : "?" + event.request.query
        streamURL = "/\(key.app)/\(key.stream)"
        tcUrl = "\(event.scheme)://\(key.vhost)/\(key.app)"
        self.protocol = event.module
        self.event = eventID == nil ? nil : event.kind.rawValue
        self.eventID = eventID
        backend = event.backend?.rawValue
        sessionID = event.sessionID.isEmpty ? nil : event.sessionID
        attributes = event.attributes.isEmpty ? nil : event.attributes
        self.time = time.formatted(.iso8601)
    }

    /// The address part of `ip:port` or `[v6]:port`.
    static func host(of client: String) -> String {
        if client.hasPrefix("["), let end = client.firstIndex(of: "]") {
            return String(client[client.index(after: client.startIndex)..<end])
        }
        if client.filter({ $0 == ":" }).count == 1, let colon = client.firstIndex(of: ":") {
            return String(client[..<colon])
        }
        return client
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
