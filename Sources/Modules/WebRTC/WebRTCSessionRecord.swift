import Foundation
import ProxyCore

/// What every proxy sharing the registry must know about a signalled WebRTC session, stored
/// under `webrtc-session/<answer ufrag>:<offer ufrag>` (the client's STUN USERNAME): which
/// backend, at which UDP address, for which stream. The UDP side of any proxy that receives the
/// session's first Binding Request reads it.
struct WebRTCSessionRecord: Codable, Sendable, Equatable {
    static let namespace = "webrtc-session"

    /// The backend's id.
    var backend: String
    /// The backend's registered ip and the port of the host candidate it answered.
    var ip: String
    var port: Int
    var stream: StreamKey
    /// The client's query (tokens), passed on with the stream.
    var query: String
    /// Stored as `mode` (`publish` or `play`).
    var role: SessionRole
    /// The proxy's resource id (WHIP/WHEP Location), when the session has one.
    var resource: String?

    enum CodingKeys: String, CodingKey {
        case backend, ip, port, stream, query
        case role = "mode"
        case resource
    }

    var json: String { (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "" }

    static func decode(_ text: String) -> WebRTCSessionRecord? {
        try? JSONDecoder().decode(WebRTCSessionRecord.self, from: Data(text.utf8))
    }

    var request: StreamRequest { StreamRequest(key: stream, query: query) }
}

/// A WHIP/WHEP resource as the proxy hands it out (`Location: /rtc/v1/resource/<id>`), stored
/// under `webrtc-resource/<id>` so a PATCH or DELETE through any proxy reaches the backend's own
/// resource URL.
struct WebRTCResourceRecord: Codable, Sendable, Equatable {
    static let namespace = "webrtc-resource"
    static let pathPrefix = "/rtc/v1/resource/"

    var backend: String
    /// The backend's Location, resolved to an origin-form target (`/whip/s1/abc`).
    var location: String
    /// The session's STUN USERNAME (key of its session record).
    var username: String

    var json: String { (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "" }

    static func decode(_ text: String) -> WebRTCResourceRecord? {
        try? JSONDecoder().decode(WebRTCResourceRecord.self, from: Data(text.utf8))
    }

    static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        return String(format: "%016llx%016llx", g.next() as UInt64, g.next() as UInt64)
    }

    static func isValidID(_ id: Substring) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
