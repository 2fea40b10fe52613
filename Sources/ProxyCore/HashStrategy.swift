/// Consistent placement by rendezvous (highest random weight) hashing: each candidate scores
/// hash(key, backend id) and the highest wins. A key moves only when its winner leaves or a new
/// backend outscores it, so adding an Nth backend moves about 1/N of the keys; every proxy
/// computes the same answer without sharing state.
public struct HashStrategy: BalancingStrategy {
    public static let name = "hash"

    public init() {}

    public func pick(_ key: StreamKey, from candidates: [Backend]) -> Backend? {
        let keyHash = Self.fnv1a(key.description)
        return candidates.max { a, b in
            let sa = Self.score(keyHash, a.id), sb = Self.score(keyHash, b.id)
            return sa != sb ? sa < sb : a.id > b.id
        }
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
