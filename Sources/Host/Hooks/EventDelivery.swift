import Foundation

/// One queued delivery: one event's body for one url. Each url has its own item, so a url that
/// fails is retried without sending the event again to the urls that took it.
struct EventDelivery: Codable, Sendable {
    var url: String
    var eventID: String
    var body: String

    enum CodingKeys: String, CodingKey {
        case url
        case eventID = "event_id"
        case body
    }

    func payload() -> String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
    }

    init(url: String, eventID: String, body: String) {
        self.url = url
        self.eventID = eventID
        self.body = body
    }

    init?(payload: String) {
        guard let d = try? JSONDecoder().decode(Self.self, from: Data(payload.utf8)) else { return nil }
        self = d
    }
}
