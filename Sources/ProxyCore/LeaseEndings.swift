import Synchronization

/// Leases ended from any thread (an event loop closing a relay, a module's teardown), waiting for
/// their router: `RouteLease.end()` is synchronous and cheap (one lock, one append, one doorbell),
/// and the router takes them in order, in its own loop (`Router.run`) or at the start of any call
/// that reads its sessions, so no session end needs a task of its own.
final class LeaseEndings: Sendable {
    struct Ending: Sendable {
        var lease: RouteLease
        /// The backend could not be reached (the route fails over), with why; nil for a normal end.
        var unreachable: String?
        /// Whether the route lingers after the proxy's last session; false for a session that
        /// claimed the route and found no stream there (its route goes at once).
        var lingers = true
    }

    private let queue = Mutex<[Ending]>([])
    private let consumed = Atomic<Bool>(false)
    private let bell: AsyncStream<Void>.Continuation
    /// Rings once per batch of endings (a doorbell: at most one ring waits).
    let rings: AsyncStream<Void>

    init() {
        (rings, bell) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// True for the first caller only: the doorbell has one listener (the router's first `run`).
    func claimRings() -> Bool {
        !consumed.exchange(true, ordering: .relaxed)
    }

    func add(_ ending: Ending) {
        queue.withLock { $0.append(ending) }
        bell.yield()
    }

    /// Every ending added so far, oldest first.
    func take() -> [Ending] {
        queue.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
    }
}
