import Foundation
import ProxyCore

extension SystemAPI {
    /// Per checked endpoint kind of `backend`: `up` (placement), and this proxy's own last error
    /// and how many proxies check it.
    static func healthJSON(_ health: BackendHealth, _ backend: Backend) -> [String: Any] {
        var out: [String: Any] = [:]
        for (key, state) in health.snapshot() where key.backend == backend.id {
            var o: [String: Any] = ["up": !state.down, "checked_by": state.voters]
            if let local = state.local {
                o["up_here"] = local.up
                if let error = local.lastError { o["error"] = String(error.prefix(300)) }
            }
            out[key.kind.rawValue] = o
        }
        return out
    }
}

extension SystemAPI {
    /// `load` (streams and sessions over every proxy, as placement counts them), and what the
    /// origin registered or reported: `weight`, `capacity`, `reported`.
    static func placementJSON(_ backend: Backend, load: BackendLoad) -> [String: Any] {
        var o: [String: Any] = ["load": ["streams": load.streams, "sessions": load.sessions]]
        guard let p = backend.placement else { return o }
        if let weight = p.weight { o["weight"] = weight }
        var capacity: [String: Any] = [:]
        if let streams = p.maxStreams { capacity["streams"] = streams }
        if let sessions = p.maxSessions { capacity["sessions"] = sessions }
        if !capacity.isEmpty { o["capacity"] = capacity }
        var reported: [String: Any] = [:]
        if let cpu = p.cpuPercent { reported["cpu_percent"] = cpu }
        if let connections = p.connections { reported["connections"] = connections }
        if !reported.isEmpty { o["reported"] = reported }
        return o
    }
}
