import Dispatch
import Synchronization

/// A small pool of hiredis connections driven off the event loops: each connection runs its
/// blocking commands in order on a serial queue of its own, and callers await the reply. At most
/// `maxQueued` commands wait at once: a slow Redis makes the next ones fail fast, not pile up.
public final class RedisClient: Sendable {
    private final class Slot: @unchecked Sendable {
        // `connection` is only touched on `queue`.
        let queue: DispatchQueue
        let connection: RedisConnection

        init(index: Int, configuration: RedisConfiguration, connects: RedisPoolConnects) {
            queue = DispatchQueue(label: "streamproxy.redis.\(index)")
            connection = RedisConnection(configuration: configuration, poolConnects: connects)
        }
    }

    public let configuration: RedisConfiguration
    private let slots: [Slot]
    private let next = Atomic<Int>(0)
    private let queued = Atomic<Int>(0)
    /// Successful connects of any connection (RedisConnection skips its backoff once it grows).
    private let connects = RedisPoolConnects()

    public init(configuration: RedisConfiguration) {
        self.configuration = configuration
        let connects = self.connects
        slots = (0..<configuration.connections).map { Slot(index: $0, configuration: configuration, connects: connects) }
    }

    /// Runs one command on the next connection of the pool.
    public func send(_ arguments: [String]) async throws(RedisError) -> RedisReply {
        guard queued.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.maxQueued else {
            queued.wrappingSubtract(1, ordering: .relaxed)
            throw .unavailable("queue full: \(configuration.maxQueued) commands are waiting for Redis")
        }
        let slot = slots[next.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count]
        let result: Result<RedisReply, RedisError> = await withCheckedContinuation { continuation in
            slot.queue.async {
                continuation.resume(returning: Result { () throws(RedisError) -> RedisReply in try slot.connection.command(arguments) })
            }
        }
        queued.wrappingSubtract(1, ordering: .relaxed)
        return try result.get()
    }
}
