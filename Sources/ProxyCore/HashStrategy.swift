import Foundation

/// Consistent placement by weighted rendezvous (highest random weight) hashing with bounded
/// loads. Each candidate scores `weight / -ln(u)`, u uniform in (0, 1) from hash(key, backend id),
/// and the highest wins (with equal weights: the highest hash). A key moves only when its winner
/// leaves or a new backend outscores it, so adding an Nth backend moves about 1/N of the keys, and
/// every proxy computes the same answer from the same loads. Bounded loads: a candidate whose
/// streams are already at `placement.hash_load_factor` x its weighted share of the total (plus the
/// new one) is passed over for the next in score order, so no backend gets more than factor x the
/// average however the keys fall (factor 0: unbounded, the same answer with no shared state).
public struct HashStrategy: BalancingStrategy {
    public static let name = "hash"

    public init() {}

    public func pick(_ key: StreamKey, from candidates: [Backend], context: PlacementContext) -> Backend? {
        guard !candidates.isEmpty else { return nil }
        let keyHash = Self.fnv1a(key.description)
        let policy = context.policy
        var scores = candidates.map { b in Self.weightedScore(keyHash, b.id, weight: policy.weight(of: b)) }
        // The best remaining candidate (ties to the lower id: candidates arrive in id order).
        func best() -> Int? {
            var top: Int?
            for i in scores.indices where scores[i] >= 0 && (top == nil || scores[i] > scores[top!]) { top = i }
            return top
        }
        guard let first = best() else { return nil }
        guard policy.hashLoadFactor > 0 else { return candidates[first] }
        let total = candidates.reduce(0) { $0 + context.load($1).streams }
        let weights = Double(candidates.reduce(0) { $0 + policy.weight(of: $1) })
        // In score order, the first under its bound; usually the first or second (a selection, not a sort).
        var next: Int? = first
        while let i = next {
            let bound = (policy.hashLoadFactor * Double(total + 1) * Double(policy.weight(of: candidates[i])) / weights).rounded(.up)
            if Double(context.load(candidates[i]).streams) < bound { return candidates[i] }
            scores[i] = -1
            next = best()
        }
        return candidates[first]
    }

    /// `weight / -ln(u)`: with equal weights, ordered as the raw score.
    static func weightedScore(_ keyHash: UInt64, _ id: Backend.ID, weight: Int) -> Double {
        let u = (Double(score(keyHash, id) >> 11) + 0.5) / 9_007_199_254_740_992  // (0, 1)
        return Double(weight) / -log(u)
    }

    static func score(_ keyHash: UInt64, _ id: Backend.ID) -> UInt64 {
        mix(keyHash ^ mix(fnv1a(id.rawValue)))
    }

    /// 64-bit FNV-1a: stable across processes and platforms (unlike Swift's seeded Hasher).
    static func fnv1a(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h &*= 0x100_0000_01b3
        }
        return h
    }

    /// SplitMix64's finaliser, to spread FNV's weak low bits.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
