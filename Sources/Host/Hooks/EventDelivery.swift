import Foundation

/// One queued delivery: one event for one url. Each url has its own item, so a url that fails
/// is retried without sending the event again to the urls that took it.
///
/// SRS's format carries a JSON `body`; the coordinator's an empty body and its `headers`, is
/// delivered only by a 200 and retried without a limit, and its `stream-closed` names the
/// `stream-available` items it cancels (still queued: the application never hears of them).
struct EventDelivery: Codable, Sendable {
    var url: String
    var eventID: String
    var body: String?
    var headers: [String: String]?
    var format: HookFormat?
    /// Queue ids removed before this item is queued.
    var cancels: [String]?
    /// The coordinator's `stream-closed`: the stream it ends, kept in the commands API's
    /// `activeStreams` until this item is delivered.
    var closing: ClosingStream?

    /// A publishing session whose `stream-closed` is still queued.
    struct ClosingStream: Codable, Sendable, Equatable {
        var channel: String
        var streamId: String
        var streamServer: String
        var encoder: String
        var key: String
    }

    enum CodingKeys: String, CodingKey {
        case url
        case eventID = "event_id"
        case body, headers, format, cancels, closing
    }

    func payload() -> String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
    }

    init(
        url: String, eventID: String, body: String?, headers: [String: String]? = nil, format: HookFormat? = nil, cancels: [String]? = nil,
        closing: ClosingStream? = nil
    ) {
        self.url = url
        self.eventID = eventID
        self.body = body
        self.headers = headers
        self.format = format
        self.cancels = cancels
        self.closing = closing
    }

    init?(payload: String) {
        guard let d = try? JSONDecoder().decode(Self.self, from: Data(payload.utf8)) else { return nil }
        self = d
    }

    /// Whether the answer's status delivers it: 200 for the coordinator, any 2xx for SRS's format.
    func delivered(by status: Int) -> Bool {
        format == .coordinator ? status == 200 : (200..<300).contains(status)
    }

    /// The coordinator's events are retried until answered.
    var retriesForever: Bool { format == .coordinator }
}

extension HookFormat: Codable {}
