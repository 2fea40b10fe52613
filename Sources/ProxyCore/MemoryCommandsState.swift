import Foundation
import Synchronization

/// What MemoryRegistry keeps besides backends and routes: each proxy's published session counts,
/// the close request log, the origins' drain states and the health views, behind a lock of their own.
final class MemoryCommandsState: Sendable {
    let now: @Sendable () -> Date

    struct State {
        var counts: [String: (counts: SessionCounts, expiresAt: Date)] = [:]
        var closes: [(seq: Int, request: StreamCloseRequest, expiresAt: Date)] = []
        var closeSeq = 0
        var drains: [Backend.ID: OriginDrain] = [:]
        var healthViews: [String: (view: HealthView, expiresAt: Date)] = [:]
    }

    let state = Mutex(State())

    init(now: @escaping @Sendable () -> Date) {
        self.now = now
    }
}
