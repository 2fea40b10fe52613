import Foundation

extension MemoryRegistry: SessionCountStore {
    public func publishSessionCounts(_ counts: SessionCounts, ttl: Duration) async throws {
        let t = commandsState.now()
        var counts = counts
        counts.updatedAt = t
        counts.entries = Array(counts.entries.prefix(SessionCounts.maxEntries))
        let record = counts
        commandsState.state.withLock { s in
            s.counts = s.counts.filter { $0.value.expiresAt > t }
            s.counts[record.proxy] = (record, t.addingTimeInterval(ttl.timeInterval))
        }
    }

    public func liveSessionCounts() async throws -> [SessionCounts] {
        let t = commandsState.now()
        return commandsState.state.withLock { s in
            s.counts = s.counts.filter { $0.value.expiresAt > t }
            return s.counts.values.map(\.counts).sorted { $0.proxy < $1.proxy }
        }
    }

    public func removeSessionCounts(proxy: String) async throws {
        commandsState.state.withLock { _ = $0.counts.removeValue(forKey: proxy) }
    }
}
