import Foundation
import ProxyCore

/// This proxy's sessions as the commands API sees them: counted per stream, backend and
/// module from every router's leases (each lease names its module), and closed through the routers.
struct LocalSessions: Sendable {
    /// An enabled module: its name and its session cap.
    struct Module: Sendable {
        var name: String
        var maxSessions: Int?
    }

    var proxy: String
    var routers: [Router]
    var modules: [Module]

    func counts() async -> SessionCounts {
        struct ID: Hashable {
            var key: StreamKey
            var backend: Backend.ID
            var kind: EndpointKind
            var module: String
        }
        var entries: [ID: SessionCounts.Entry] = [:]
        for router in routers {
            for route in await router.localRoutes() {
                for client in route.clients {
                    let id = ID(key: route.key, backend: route.backendID, kind: client.kind, module: client.module)
                    var e = entries[id] ?? SessionCounts.Entry(
                        key: route.key, backend: route.backendID, kind: client.kind, module: client.module, publishers: 0, players: 0,
                        bytesFromClients: 0, bytesToClients: 0)
                    if client.role == .publish {
                        e.publishers += 1
                        if !client.session.isEmpty { e.publisherSessions.append(client.session) }
                    } else {
                        e.players += 1
                    }
                    e.bytesFromClients &+= client.bytesFromClient
                    e.bytesToClients &+= client.bytesToClient
                    entries[id] = e
                }
            }
        }
        let sorted = entries.values.sorted { ($0.key, $0.backend, $0.module) < ($1.key, $1.backend, $1.module) }
        var limits: [String: Int] = [:]
        for m in modules { if let max = m.maxSessions { limits[m.name] = max } }
        return SessionCounts(proxy: proxy, entries: sorted, limits: limits)
    }

    /// Asks every session of `key` on this proxy (or only the one with id `session`) to end;
    /// returns how many were asked.
    func close(_ key: StreamKey, reason: String, session: String? = nil) async -> Int {
        var n = 0
        for router in routers { n += await router.close(key, reason: reason, session: session) }
        return n
    }
}
