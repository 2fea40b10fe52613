/// Picks a backend for a stream that has no live route. Strategies see only candidates that are
/// alive and expose the protocol the session needs; the Router does that filtering.
public protocol BalancingStrategy: Sendable {
    /// The `balancer:` value in proxy.yaml.
    static var name: String { get }
    init()
    func pick(_ key: StreamKey, from candidates: [Backend]) -> Backend?
}

/// The catalog of strategies, by name. Adding a strategy = one type and one entry here.
public enum BalancingStrategies {
    public static let all: [any BalancingStrategy.Type] = [RoundRobinStrategy.self, HashStrategy.self]

    public static var names: [String] { all.map { $0.name } }

    public static func make(named name: String) -> (any BalancingStrategy)? {
        all.first { $0.name == name }.map { $0.init() }
    }
}
