import Foundation
import Synchronization

/// The EventQueue of one process (MemoryRegistry's): items in a dictionary behind one lock, on
/// the registry's clock. Claims scan the queue, which `limit` bounds.
public final class MemoryEventQueue: EventQueue {
    private struct Item {
        var payload: String
        var attempts: Int
        var due: Date
        var sequence: UInt64
    }

    private struct State {
        var items: [String: Item] = [:]
        var nextSequence: UInt64 = 0
    }

    private let now: @Sendable () -> Date
    private let state = Mutex(State())

    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    public func enqueue(id: String, payload: String, limit: Int) async throws -> Bool {
        let t = now()
        return state.withLock { s in
            if s.items[id] != nil { return true }
            guard s.items.count < limit else { return false }
            s.items[id] = Item(payload: payload, attempts: 0, due: t, sequence: s.nextSequence)
            s.nextSequence += 1
            return true
        }
    }

    public func claim(max: Int, lease: Duration) async throws -> [QueuedEvent] {
        let t = now()
        let until = t.addingTimeInterval(lease.timeInterval)
        return state.withLock { s in
            let due = s.items.filter { $0.value.due <= t }
                .sorted { ($0.value.due, $0.value.sequence) < ($1.value.due, $1.value.sequence) }
                .prefix(Swift.max(0, max))
            return due.map { id, item in
                var item = item
                item.attempts += 1
                item.due = until
                s.items[id] = item
                return QueuedEvent(id: id, payload: item.payload, attempts: item.attempts)
            }
        }
    }

    public func ack(_ id: String) async throws {
        state.withLock { _ = $0.items.removeValue(forKey: id) }
    }

    public func retry(_ id: String, after: Duration) async throws {
        let due = now().addingTimeInterval(after.timeInterval)
        state.withLock { s in s.items[id]?.due = due }
    }

    public func queuedEvents() async throws -> Int {
        state.withLock { $0.items.count }
    }

    public func queuedEvents(idContaining part: String, max: Int) async throws -> [QueuedEvent] {
        state.withLock { s in
            s.items.lazy.filter { $0.key.contains(part) }.prefix(Swift.max(0, max))
                .map { QueuedEvent(id: $0.key, payload: $0.value.payload, attempts: $0.value.attempts) }
        }
    }
}
