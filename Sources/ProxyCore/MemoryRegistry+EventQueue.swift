/// MemoryRegistry's event-callback queue: its MemoryEventQueue, on the registry's clock.
extension MemoryRegistry: EventQueue {
    public func enqueue(id: String, payload: String, limit: Int) async throws -> Bool {
        try await events.enqueue(id: id, payload: payload, limit: limit)
    }

    public func claim(max: Int, lease: Duration) async throws -> [QueuedEvent] {
        try await events.claim(max: max, lease: lease)
    }

    public func ack(_ id: String) async throws { try await events.ack(id) }

    public func retry(_ id: String, after: Duration) async throws { try await events.retry(id, after: after) }

    public func queuedEvents() async throws -> Int { try await events.queuedEvents() }

    public func queuedEvents(idContaining part: String, max: Int) async throws -> [QueuedEvent] {
        try await events.queuedEvents(idContaining: part, max: max)
    }
}
