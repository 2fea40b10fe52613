import Synchronization

/// Hands new streams to the candidates in turn (sorted by id, so every proxy walks the same order),
/// each as often as its weight says.
public final class RoundRobinStrategy: BalancingStrategy {
    public static let name = "round-robin"
    private let next = Atomic<Int>(0)

    public init() {}

    public func pick(_ key: StreamKey, from candidates: [Backend], context: PlacementContext) -> Backend? {
        guard !candidates.isEmpty else { return nil }
        let sorted = candidates.sorted { $0.id < $1.id }
        let weights = sorted.map { context.policy.weight(of: $0) }
        let total = weights.reduce(0, +)
        var n = Int(UInt(bitPattern: next.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(total))
        for (backend, weight) in zip(sorted, weights) {
            if n < weight { return backend }
            n -= weight
        }
        return sorted.last
    }
}
