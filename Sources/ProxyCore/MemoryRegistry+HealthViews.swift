import Foundation

extension MemoryRegistry: HealthViewStore {
    public func publishHealthView(_ view: HealthView, ttl: Duration) async throws {
        let t = commandsState.now()
        commandsState.state.withLock { s in
            s.healthViews = s.healthViews.filter { $0.value.expiresAt > t }
            s.healthViews[view.proxy] = (view, t.addingTimeInterval(ttl.timeInterval))
        }
    }

    public func liveHealthViews() async throws -> [HealthView] {
        let t = commandsState.now()
        return commandsState.state.withLock { s in
            s.healthViews = s.healthViews.filter { $0.value.expiresAt > t }
            return s.healthViews.values.map(\.view).sorted { $0.proxy < $1.proxy }
        }
    }
}
