import Synchronization

/// Hands new streams to the candidates in turn (sorted by id, so every proxy walks the same order).
public final class RoundRobinStrategy: BalancingStrategy {
    public static let name = "round-robin"
    private let next = Atomic<Int>(0)

    public init() {}

    public func pick(_ key: StreamKey, from candidates: [Backend]) -> Backend? {
        guard !candidates.isEmpty else { return nil }
        let sorted = candidates.sorted { $0.id < $1.id }
        let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return sorted[Int(UInt(bitPattern: n) % UInt(sorted.count))]
    }
}
