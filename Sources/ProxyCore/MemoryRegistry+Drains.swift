import Foundation

extension MemoryRegistry: OriginDrains {
    public func drain(_ id: Backend.ID, grace: Duration?) async throws -> OriginDrain? {
        let t = commandsState.now()
        return commandsState.state.withLock { s in
            guard s.drains[id] != nil || s.drains.count < OriginDrainLimits.maxDrains else { return nil }
            let drain = OriginDrain(since: s.drains[id]?.since ?? t, closeAt: grace.map { t.addingTimeInterval($0.timeInterval) })
            s.drains[id] = drain
            return drain
        }
    }

    public func undrain(_ id: Backend.ID) async throws -> Bool {
        commandsState.state.withLock { $0.drains.removeValue(forKey: id) != nil }
    }

    public func drains() async throws -> [Backend.ID: OriginDrain] {
        commandsState.state.withLock { $0.drains }
    }
}
