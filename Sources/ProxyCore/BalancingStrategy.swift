/// Picks a backend for a stream that has no live route. Strategies see only candidates that may
/// take it (alive, exposing the protocol, healthy, not drained, not full); the Router does that
/// filtering, and hands them over sorted by backend id (so every proxy sees one order, and no
/// strategy sorts per pick), with each backend's load and the placement policy (weights).
public protocol BalancingStrategy: Sendable {
    /// The `balancer:` value in proxy.yaml.
    static var name: String { get }
    init()
    func pick(_ key: StreamKey, from candidates: [Backend], context: PlacementContext) -> Backend?
    /// Whether `pick` reads the loads (else the Router does not gather them for it).
    static var usesLoads: Bool { get }
}

extension BalancingStrategy {
    public static var usesLoads: Bool { true }

    /// A pick with no load known and the default policy.
    public func pick(_ key: StreamKey, from candidates: [Backend]) -> Backend? {
        pick(key, from: candidates, context: PlacementContext())
    }
}

/// The catalog of strategies, by name. Adding a strategy = one type and one entry here.
public enum BalancingStrategies {
    public static let all: [any BalancingStrategy.Type] = [RoundRobinStrategy.self, LeastLoadStrategy.self, HashStrategy.self]

    public static var names: [String] { all.map { $0.name } }

    public static func make(named name: String) -> (any BalancingStrategy)? {
        all.first { $0.name == name }.map { $0.init() }
    }
}

extension Array where Element == Backend {
    /// The backends sorted by id: as they are when they already are (one pass, as the Router
    /// hands them over), else sorted.
    var inIDOrder: [Backend] {
        for i in indices.dropFirst() where self[i - 1].id > self[i].id { return sorted { $0.id < $1.id } }
        return self
    }
}
