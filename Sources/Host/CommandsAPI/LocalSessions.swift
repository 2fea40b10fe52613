import Foundation
import ProxyCore

/// This proxy's sessions as the commands API sees them: counted per stream, backend and
/// protocol from every router's leases, and closed through the routers.
struct LocalSessions: Sendable {
    /// An enabled module: its name, the endpoint kind its sessions lease, and its session cap.
    struct Module: Sendable {
        var name: String
        var kind: EndpointKind
        var maxSessions: Int?
    }

    /// The endpoint kind each module's sessions lease (how a lease is attributed to a module).
    static let moduleKinds: [String: EndpointKind] = ["rtmp": .rtmp, "http-flv": .http, "srt": .srt, "webrtc": .rtc]

    var proxy: String
    var routers: [Router]
    var modules: [Module]

    func counts() async -> SessionCounts {
        struct ID: Hashable {
            var key: StreamKey
            var backend: Backend.ID
            var kind: EndpointKind
        }
        var entries: [ID: SessionCounts.Entry] = [:]
        for router in routers {
            for route in await router.localRoutes() {
                for client in route.clients {
                    let id = ID(key: route.key, backend: route.backendID, kind: client.kind)
                    var e = entries[id] ?? SessionCounts.Entry(
                        key: route.key, backend: route.backendID, kind: client.kind, publishers: 0, players: 0, bytesFromClients: 0, bytesToClients: 0)
                    if client.role == .publish { e.publishers += 1 } else { e.players += 1 }
                    e.bytesFromClients &+= client.bytesFromClient
                    e.bytesToClients &+= client.bytesToClient
                    entries[id] = e
                }
            }
        }
        let sorted = entries.values.sorted { ($0.key, $0.backend, $0.kind.rawValue) < ($1.key, $1.backend, $1.kind.rawValue) }
        var limits: [String: Int] = [:]
        for m in modules { if let max = m.maxSessions { limits[m.name] = max } }
        return SessionCounts(proxy: proxy, entries: sorted, limits: limits)
    }

    /// Asks every session of `key` on this proxy to end; returns how many were asked.
    func close(_ key: StreamKey, reason: String) async -> Int {
        var n = 0
        for router in routers { n += await router.close(key, reason: reason) }
        return n
    }

    /// The module a session of `kind` belongs to.
    func moduleName(for kind: EndpointKind) -> String {
        modules.first { $0.kind == kind }?.name ?? Self.moduleKinds.first { $0.value == kind }?.key ?? kind.rawValue
    }
}
