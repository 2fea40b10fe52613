/// Seeded corruption of valid inputs, for the mutation tests of every parser: a failure
/// reproduces from its seed.
public struct ByteMutator {
    /// SplitMix64: a small deterministic generator.
    public struct Generator: RandomNumberGenerator {
        public var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// Byte sequences worth inserting for the format under test (markers, lengths, limits).
    public var interesting: [[UInt8]]
    public var generator: Generator

    public init(seed: UInt64, interesting: [[UInt8]]) {
        self.generator = Generator(seed: seed)
        self.interesting = interesting
    }

    /// One to four random edits: replace a byte, flip a bit, insert an interesting sequence,
    /// duplicate a range, delete a range, or truncate.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<6, using: &generator) {
            case 0 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &generator)
            case 1 where !bytes.isEmpty: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
            case 2 where !interesting.isEmpty: bytes.insert(contentsOf: interesting.randomElement(using: &generator)!, at: at)
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &generator))
                bytes.insert(contentsOf: bytes[at..<end], at: Int.random(in: 0...bytes.count, using: &generator))
            case 4 where !bytes.isEmpty:
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...16, using: &generator)))
            default: bytes = Array(bytes.prefix(at))
            }
        }
        return bytes
    }
}
