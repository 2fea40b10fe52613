import Synchronization

/// Counts of the event-callback pipeline, logged when the hooks service stops.
final class HookCounters: Sendable {
    enum Counter: CaseIterable {
        /// Deliveries put in the registry's queue (one per event and url).
        case queued
        /// Deliveries a url accepted (HTTP 2xx).
        case delivered
        /// Failed attempts that were scheduled again.
        case retried
        /// Deliveries given up after `retry.max_attempts` failed attempts.
        case dropped
        /// Deliveries lost before they reached the queue: the queue was full or the registry failed.
        case lost
    }

    private let counts = Mutex<[Counter: Int]>([:])

    func add(_ counter: Counter, _ n: Int = 1) {
        counts.withLock { $0[counter, default: 0] += n }
    }

    func value(_ counter: Counter) -> Int { counts.withLock { $0[counter] ?? 0 } }

    var summary: String {
        Counter.allCases.map { "\($0)=\(value($0))" }.joined(separator: " ")
    }
}
