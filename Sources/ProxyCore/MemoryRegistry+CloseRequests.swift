import Foundation

extension MemoryRegistry: StreamCloseBroadcast {
    public func broadcastClose(_ request: StreamCloseRequest, ttl: Duration) async throws {
        let t = commandsState.now()
        commandsState.state.withLock { s in
            s.closeSeq += 1
            s.closes.append((s.closeSeq, request, t.addingTimeInterval(ttl.timeInterval)))
            if s.closes.count > StreamCloseLog.maxRequests { s.closes.removeFirst(s.closes.count - StreamCloseLog.maxRequests) }
        }
    }

    public func closeRequests(after cursor: Int?) async throws -> StreamCloseBatch {
        let t = commandsState.now()
        return commandsState.state.withLock { s in
            s.closes.removeAll { $0.expiresAt <= t }
            guard let cursor else { return StreamCloseBatch(cursor: s.closeSeq, requests: []) }
            let from = cursor > s.closeSeq ? 0 : cursor  // the log started over: read it all
            return StreamCloseBatch(cursor: s.closeSeq, requests: s.closes.filter { $0.seq > from }.map(\.request))
        }
    }
}
