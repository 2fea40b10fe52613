import NIOCore
import ProxyCore
import Synchronization

/// The streaming coordinator's fields in the commands API's answers, added beside the proxy's
/// own (nothing of those is removed). What the coordinator's words mean for a proxy in front of
/// origins (docs/operations.md, "The commands API"):
/// - an **encoder** is an origin (it does the media work the coordinator's encoders do):
///   `encoderCount` counts the alive ones, `encoders` lists each with its capacity in streams
///   (`-1`: none registered or configured) and its load (streams with a publisher on it);
/// - a **streaming server** is a client listener of a proxy (where publishers connect, as to the
///   coordinator's RTMP and WebSocket servers): `streamingServers` lists this proxy's;
/// - an **active stream** is a publishing session: `activeStreams` has one item per publisher on
///   every proxy, with its channel (the app), its streaming id, the proxy it came through
///   (`streamServer`) and its origin (`encoder`); a session that ended stays listed (`"state":
///   "closing"`, counted in `load`) until its `stream-closed` was delivered.
enum CoordinatorShapes {
    /// One bound client listener of this proxy.
    struct Listener: Sendable, Equatable {
        var id: String
        var ip: String
        var port: Int
        var ssl: Bool
        var serverType: String
    }

    /// The listeners this proxy bound, noted as the modules bind them.
    final class BoundListeners: Sendable {
        private let bound = Mutex<[String: SocketAddress]>([:])
        let proxy: String

        init(proxy: String) { self.proxy = proxy }

        func add(_ name: String, _ address: SocketAddress) { bound.withLock { $0[name] = address } }

        var listeners: [Listener] {
            bound.withLock { $0 }.sorted { $0.key < $1.key }.map { name, address in
                Listener(id: "\(proxy)-\(name)", ip: address.ipAddress ?? "", port: address.port ?? 0, ssl: false, serverType: name)
            }
        }
    }

    /// Sessions whose `stream-closed` is still queued (any proxy's, in Redis mode), at most
    /// `max` items read; one per streaming id.
    static func closing(_ queue: (any EventQueue)?, max: Int) async throws -> [EventDelivery.ClosingStream] {
        guard let queue else { return [] }
        var seen = Set<String>()
        return try await queue.queuedEvents(idContaining: ".stream-closed.", max: max).compactMap {
            guard let c = EventDelivery(payload: $0.payload)?.closing, seen.insert(c.streamId).inserted else { return nil }
            return c
        }
    }

    /// Streams with a publisher (or a closing session) on each backend, over every proxy's figures.
    static func publishedStreams(
        _ counts: [SessionCounts], closing: [EventDelivery.ClosingStream] = []
    ) -> (all: Set<String>, byBackend: [String: Set<String>]) {
        var all = Set<String>()
        var byBackend: [String: Set<String>] = [:]
        for e in counts.flatMap(\.entries) where e.publishers > 0 {
            all.insert(e.key.description)
            byBackend[e.backend.rawValue, default: []].insert(e.key.description)
        }
        for c in closing {
            all.insert(c.key)
            byBackend[c.encoder, default: []].insert(c.key)
        }
        return (all, byBackend)
    }

    /// A backend's capacity in streams, -1 when it has none.
    static func capacity(of backend: Backend, _ policy: PlacementPolicy) -> Int {
        let streams = backend.placement?.maxStreams ?? policy.maxStreams
        return streams > 0 ? streams : -1
    }

    /// `load` (active streams), `capacity` (the sum of the alive origins' capacities, -1 when one
    /// is unlimited or none is alive) and `encoderCount` (alive origins).
    static func capacity(
        counts: [SessionCounts], closing: [EventDelivery.ClosingStream] = [], alive: [Backend], policy: PlacementPolicy
    ) -> [String: Any] {
        let capacities = alive.map { capacity(of: $0, policy) }
        let total = capacities.isEmpty || capacities.contains(-1) ? -1 : capacities.reduce(0, &+)
        return ["load": publishedStreams(counts, closing: closing).all.count, "capacity": total, "encoderCount": alive.count]
    }

    /// `activeStreams`, `streamingServers` and `encoders`.
    static func report(
        counts: [SessionCounts], closing: [EventDelivery.ClosingStream] = [], alive: [Backend], listeners: [Listener], policy: PlacementPolicy
    ) -> [String: Any] {
        var active: [[String: Any]] = []
        var live = Set<String>()
        for c in counts {
            for e in c.entries {
                for id in e.publisherSessions {
                    live.insert(id)
                    active.append([
                        "channel": e.key.app, "streamId": id, "streamServer": c.proxy, "encoder": e.backend.rawValue, "key": e.key.description,
                        "state": "live",
                    ])
                }
            }
        }
        // An ended session whose stream-closed is queued; a live one of the same id wins (a
        // session's counts are shared a moment after it ended).
        for c in closing where !live.contains(c.streamId) {
            active.append([
                "channel": c.channel, "streamId": c.streamId, "streamServer": c.streamServer, "encoder": c.encoder, "key": c.key,
                "state": "closing",
            ])
        }
        active.sort { ($0["channel"] as! String, $0["streamId"] as! String) < ($1["channel"] as! String, $1["streamId"] as! String) }
        let byBackend = publishedStreams(counts, closing: closing.filter { !live.contains($0.streamId) }).byBackend
        let encoders: [[String: Any]] = alive.sorted { $0.id < $1.id }.map { b in
            ["id": b.id.rawValue, "capacity": capacity(of: b, policy), "load": byBackend[b.id.rawValue]?.count ?? 0]
        }
        let servers: [[String: Any]] = listeners.map { ["id": $0.id, "ip": $0.ip, "port": $0.port, "ssl": $0.ssl, "serverType": $0.serverType] }
        return ["activeStreams": active, "streamingServers": servers, "encoders": encoders]
    }
}
