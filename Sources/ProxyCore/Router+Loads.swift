import Foundation
import Synchronization

/// Streams and sessions per backend on this proxy, over all its routers (one per balancer in
/// use), kept as leases start and end.
public final class LocalLoads: Sendable {
    private let loads = Mutex<[Backend.ID: BackendLoad]>([:])

    public init() {}

    func add(_ backend: Backend.ID, streams: Int, sessions: Int) {
        loads.withLock { all in
            var load = all[backend] ?? .zero
            load.streams = max(0, load.streams + streams)
            load.sessions = max(0, load.sessions + sessions)
            all[backend] = load == .zero ? nil : load
        }
    }

    public var snapshot: [Backend.ID: BackendLoad] { loads.withLock { $0 } }
}

/// Backend loads for placement (least-load, bounded hash, capacity): this proxy's own streams and
/// sessions per backend, exact and at once (LocalLoads, shared by its routers), plus the other
/// proxies' from the shared session counts (SessionCountStore), read about every 2 s. A stream
/// with sessions on several proxies counts once per proxy for the other proxies' part, except
/// where this proxy has sessions of it too.
extension Router {
    static let loadsReadInterval: Duration = .seconds(2)

    /// The loads a strategy sees now.
    func placementContext() -> PlacementContext {
        var loads = otherLoads
        for (id, own) in localLoads.snapshot {
            loads[id, default: .zero].streams += own.streams
            loads[id, default: .zero].sessions += own.sessions
        }
        return PlacementContext(policy: configuration.placement, loads: loads)
    }

    /// Every backend's load as placement sees it (`/commands/capacity`, tests).
    public var loads: [Backend.ID: BackendLoad] { placementContext().loads }

    func noteLease(on backend: Backend.ID, firstOfStream: Bool) {
        localLoads.add(backend, streams: firstOfStream ? 1 : 0, sessions: 1)
    }

    func noteLeaseEnded(on backend: Backend.ID, lastOfStream: Bool) {
        localLoads.add(backend, streams: lastOfStream ? -1 : 0, sessions: -1)
    }

    /// Reads the other proxies' session counts. A registry without them (or one that fails)
    /// leaves only this proxy's own; while it fails, reads again after 2, 4, then every 8 s.
    public func reloadLoads() async {
        loadsReadAt = now()
        guard let store = registry as? any SessionCountStore else { return }
        do {
            let counts = try await store.liveSessionCounts()
            let mine = Set(slots.filter { !$0.value.leases.isEmpty }.keys)
            var loads: [Backend.ID: BackendLoad] = [:]
            var streams: [Backend.ID: Set<StreamKey>] = [:]
            for proxy in counts where proxy.proxy != configuration.proxyID || configuration.proxyID.isEmpty {
                for entry in proxy.entries {
                    loads[entry.backend, default: .zero].sessions += entry.sessions
                    if !mine.contains(Slot.ID(key: entry.key, backend: entry.backend)) { streams[entry.backend, default: []].insert(entry.key) }
                }
            }
            for (id, keys) in streams { loads[id, default: .zero].streams = keys.count }
            otherLoads = loads
            loadReadFailures = 0
        } catch {
            loadsReadAt = now().addingTimeInterval(Double(1 << min(loadReadFailures, 2)))
            loadReadFailures += 1
        }
    }
}
