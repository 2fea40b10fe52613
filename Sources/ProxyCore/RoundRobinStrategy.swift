import Synchronization

/// Hands new streams to the candidates in turn (sorted by id, so every proxy walks the same order),
/// each as often as its weight says.
public final class RoundRobinStrategy: BalancingStrategy {
    public static let name = "round-robin"
    public static let usesLoads = false
    private let next = Atomic<Int>(0)

    public init() {}

    public func pick(_ key: StreamKey, from candidates: [Backend], context: PlacementContext) -> Backend? {
        guard !candidates.isEmpty else { return nil }
        let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
        if context.uniformWeights, context.candidatesInIDOrder { return candidates[Int(UInt(bitPattern: n) % UInt(candidates.count))] }
        // The Router hands candidates over in id order (BalancingStrategy); others are sorted here.
        let sorted = context.candidatesInIDOrder ? candidates : candidates.inIDOrder
        let weights = sorted.map { context.policy.weight(of: $0) }
        let total = weights.reduce(0, +)
        var index = Int(UInt(bitPattern: n) % UInt(total))
        for (backend, weight) in zip(sorted, weights) {
            if index < weight { return backend }
            index -= weight
        }
        return sorted.last
    }
}
