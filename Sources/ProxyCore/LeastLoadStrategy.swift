import Synchronization

/// Places a new stream on the candidate with the least load per unit of weight: sessions (or
/// streams, `placement.least_load_by`) counted over every proxy on the registry. Ties go round
/// robin (sorted by id), so an idle pool still spreads.
public final class LeastLoadStrategy: BalancingStrategy {
    public static let name = "least-load"
    private let next = Atomic<Int>(0)

    public init() {}

    public func pick(_ key: StreamKey, from candidates: [Backend], context: PlacementContext) -> Backend? {
        guard !candidates.isEmpty else { return nil }
        // Compare load_a / weight_a with load_b / weight_b without division.
        func less(_ a: Backend, _ b: Backend) -> Bool {
            context.policy.value(context.load(a)) * context.policy.weight(of: b) < context.policy.value(context.load(b)) * context.policy.weight(of: a)
        }
        var least: [Backend] = []
        for candidate in context.candidatesInIDOrder ? candidates : candidates.inIDOrder {
            if least.isEmpty || less(candidate, least[0]) {
                least = [candidate]
            } else if !less(least[0], candidate) {
                least.append(candidate)
            }
        }
        // Candidates arrive in id order, so `least` is in id order too.
        return least[Int(UInt(bitPattern: next.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(least.count))]
    }
}
