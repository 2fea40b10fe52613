/// A queue of small payloads (event callbacks waiting to be delivered) kept in the Registry, so
/// that in redis mode every proxy shares it and an event outlives the proxy that enqueued it.
///
/// Delivery is at least once: a claimed item is hidden from every claimer for its lease; it is
/// gone after `ack`, comes back after `retry(after:)`, and comes back by itself when its lease
/// ends without either (its claimer died). Items due earlier are claimed first.
public protocol EventQueue: Sendable {
    /// Adds `payload` under `id` (unique per item; an id already queued is not added twice).
    /// False when the queue already holds `limit` items (claimed ones count): the item is dropped.
    func enqueue(id: String, payload: String, limit: Int) async throws -> Bool
    /// Up to `max` due items, each hidden from every claimer for `lease` and counted as one more attempt.
    func claim(max: Int, lease: Duration) async throws -> [QueuedEvent]
    /// Removes a delivered (or abandoned) item for good.
    func ack(_ id: String) async throws
    /// Makes a claimed item due again `after` from now (its next attempt); unknown ids are ignored.
    func retry(_ id: String, after: Duration) async throws
    /// Items queued, claimed ones included.
    func queuedEvents() async throws -> Int
    /// Up to `max` queued items (claimed ones included) whose id contains `idContaining`, read
    /// without claiming them (`attempts`: claims so far); in no particular order.
    func queuedEvents(idContaining: String, max: Int) async throws -> [QueuedEvent]
}

/// One claimed item of an EventQueue.
public struct QueuedEvent: Sendable, Equatable {
    public var id: String
    public var payload: String
    /// Claims so far, this one included: 1 on the first delivery attempt.
    public var attempts: Int

    public init(id: String, payload: String, attempts: Int) {
        self.id = id
        self.payload = payload
        self.attempts = attempts
    }
}
