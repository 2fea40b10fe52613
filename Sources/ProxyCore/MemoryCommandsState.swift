import Foundation
import Synchronization

/// What MemoryRegistry keeps for the commands API: each proxy's published session counts and
/// the close request log, behind a lock of their own.
final class MemoryCommandsState: Sendable {
    let now: @Sendable () -> Date

    struct State {
        var counts: [String: (counts: SessionCounts, expiresAt: Date)] = [:]
        var closes: [(seq: Int, request: StreamCloseRequest, expiresAt: Date)] = []
        var closeSeq = 0
    }

    let state = Mutex(State())

    init(now: @escaping @Sendable () -> Date) {
        self.now = now
    }
}
