import ProxyCore
import Testing

@Suite struct BalancingStrategyTests {
    static let four = ["a", "b", "c", "d"].map { makeBackend("origin-\($0)") }
    static let keys = (0..<10_000).map { liveKey("stream-\($0)") }

    /// How many keys each backend id got.
    static func spread(_ strategy: some BalancingStrategy, _ candidates: [Backend]) -> [Backend.ID: Int] {
        var counts: [Backend.ID: Int] = [:]
        for key in keys {
            guard let pick = strategy.pick(key, from: candidates) else { continue }
            counts[pick.id, default: 0] += 1
        }
        return counts
    }

    static func placement(_ strategy: HashStrategy, _ candidates: [Backend]) -> [StreamKey: Backend.ID] {
        var placed: [StreamKey: Backend.ID] = [:]
        for key in keys {
            placed[key] = strategy.pick(key, from: candidates)?.id
        }
        return placed
    }

    // MARK: catalog

    @Test func catalogNamesAreExactlyRoundRobinLeastLoadAndHash() {
        #expect(BalancingStrategies.names == ["round-robin", "least-load", "hash"])
        #expect(LeastLoadStrategy.name == "least-load")
        #expect(RoundRobinStrategy.name == "round-robin")
        #expect(HashStrategy.name == "hash")
        #expect(Set(BalancingStrategies.names).count == BalancingStrategies.all.count)
    }

    @Test func makeReturnsTheNamedType() {
        #expect(BalancingStrategies.make(named: "round-robin") is RoundRobinStrategy)
        #expect(BalancingStrategies.make(named: "hash") is HashStrategy)
    }

    @Test(arguments: ["", "random", "Hash", "ROUND-ROBIN", "round_robin", "roundrobin", " hash"])
    func unknownNameMakesNothing(_ name: String) {
        #expect(BalancingStrategies.make(named: name) == nil)
    }

    @Test func makeReturnsAFreshRoundRobinEachTime() throws {
        // Two modules with their own balancer must not share one counter.
        let first = try #require(BalancingStrategies.make(named: "round-robin") as? RoundRobinStrategy)
        let second = try #require(BalancingStrategies.make(named: "round-robin") as? RoundRobinStrategy)
        #expect(first !== second)
    }

    // MARK: round-robin

    @Test func roundRobinSpreadsEvenly() {
        let counts = Self.spread(RoundRobinStrategy(), Self.four)
        #expect(counts.count == 4)
        #expect(counts.values.reduce(0, +) == Self.keys.count)
        for backend in Self.four {
            let n = counts[backend.id] ?? 0
            #expect((2450...2550).contains(n), "\(backend.id) got \(n)")
        }
    }

    @Test func roundRobinWalksCandidatesInIDOrderWhateverTheirOrder() {
        let rr = RoundRobinStrategy()
        let key = liveKey("s")
        let shuffled = [Self.four[2], Self.four[0], Self.four[3], Self.four[1]]
        let picks = (0..<8).map { i in rr.pick(key, from: i.isMultiple(of: 2) ? shuffled : Self.four)!.id }
        let ids = Self.four.map(\.id)
        #expect(picks == ids + ids)
    }

    @Test func roundRobinReturnsNilWithoutCandidates() {
        let rr = RoundRobinStrategy()
        #expect(rr.pick(liveKey("s"), from: []) == nil)
        #expect(rr.pick(liveKey("s"), from: [Self.four[0]])?.id == Self.four[0].id)
    }

    // MARK: hash

    @Test func hashIsDeterministicAndOrderIndependent() {
        let a = HashStrategy(), b = HashStrategy()
        let reversed = Array(Self.four.reversed())
        let rotated = Array(Self.four[2...] + Self.four[..<2])
        let sample = Self.keys.prefix(2_000)
        let picks = sample.map { a.pick($0, from: Self.four)?.id }
        #expect(!picks.contains(nil))
        #expect(sample.map { a.pick($0, from: Self.four)?.id } == picks)
        #expect(sample.map { b.pick($0, from: reversed)?.id } == picks)
        #expect(sample.map { b.pick($0, from: rotated)?.id } == picks)
    }

    @Test func hashReturnsNilWithoutCandidates() {
        #expect(HashStrategy().pick(liveKey("s"), from: []) == nil)
    }

    @Test func hashDependsOnTheWholeKey() {
        // Same stream name under another app or vhost is another stream: it need not land together.
        let hash = HashStrategy()
        let streams = (0..<200).map { "s\($0)" }
        let moved = streams.filter { s in
            let a = hash.pick(liveKey(s), from: Self.four)?.id
            let b = hash.pick(try! StreamKey(vhost: nil, app: "other", stream: s), from: Self.four)?.id
            return a != b
        }
        #expect(moved.count > 50)
    }

    @Test func hashSpreadsReasonably() {
        let counts = Self.spread(HashStrategy(), Self.four)
        #expect(counts.count == 4)
        for backend in Self.four {
            let n = counts[backend.id] ?? 0
            #expect((2000...3000).contains(n), "\(backend.id) got \(n)")
        }
    }

    @Test func addingABackendMovesAboutOneNthToTheNewBackendOnly() {
        let hash = HashStrategy()
        let fifth = makeBackend("origin-e")
        let before = Self.placement(hash, Self.four)
        let after = Self.placement(hash, Self.four + [fifth])
        let moved = Self.keys.filter { before[$0] != after[$0] }
        print("hash: adding a 5th backend moved \(moved.count) of 10000 keys")
        #expect(moved.count < 3_000, "moved \(moved.count) of 10000")
        #expect(moved.count > 1_000, "moved \(moved.count) of 10000")
        #expect(moved.allSatisfy { after[$0] == fifth.id })
        // And every key the new backend won moved to it from elsewhere.
        #expect(Self.keys.filter { after[$0] == fifth.id }.count == moved.count)
    }

    @Test(arguments: 0..<4)
    func removingABackendMovesOnlyItsKeys(_ removedIndex: Int) {
        let hash = HashStrategy()
        let removed = Self.four[removedIndex]
        let remaining = Self.four.filter { $0.id != removed.id }
        let before = Self.placement(hash, Self.four)
        let after = Self.placement(hash, remaining)
        let onRemoved = Self.keys.filter { before[$0] == removed.id }
        let others = Self.keys.filter { before[$0] != removed.id }
        #expect(onRemoved.count > 1_000)
        // Keys of the removed backend go somewhere else; every other key stays put.
        #expect(onRemoved.filter { after[$0] == nil || after[$0] == removed.id }.isEmpty)
        #expect(others.filter { after[$0] != before[$0] }.isEmpty)
    }
}
