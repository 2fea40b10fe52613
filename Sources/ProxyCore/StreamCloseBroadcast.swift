import Foundation

/// A request to end every session of a stream, on every proxy that reads the broadcast.
public struct StreamCloseRequest: Codable, Sendable, Equatable {
    public var id: String
    public var key: StreamKey
    /// The proxy that took the request (it has closed its own sessions already).
    public var origin: String
    /// Only the session with this id (the coordinator's streaming id); nil: every session of the stream.
    public var session: String?

    public init(id: String = UUID().uuidString.lowercased(), key: StreamKey, origin: String, session: String? = nil) {
        self.id = id
        self.key = key
        self.origin = origin
        self.session = session
    }
}

/// Requests added after a cursor, and the cursor to ask with next.
public struct StreamCloseBatch: Sendable, Equatable {
    public var cursor: Int
    public var requests: [StreamCloseRequest]

    public init(cursor: Int, requests: [StreamCloseRequest]) {
        self.cursor = cursor
        self.requests = requests
    }
}

/// Close requests shared between proxies: a bounded log (the newest `maxRequests`, each live for
/// its ttl) that every proxy polls with a cursor, about once a second.
public protocol StreamCloseBroadcast: Sendable {
    /// Adds `request` to the log for `ttl`.
    func broadcastClose(_ request: StreamCloseRequest, ttl: Duration) async throws
    /// The live requests added after `cursor`, oldest first, with the new cursor. A nil cursor
    /// returns no request, only the current cursor (a proxy that starts does not replay old ones).
    func closeRequests(after cursor: Int?) async throws -> StreamCloseBatch
}

public enum StreamCloseLog {
    /// Requests kept at most; older ones are dropped even before their ttl.
    public static let maxRequests = 256
}
