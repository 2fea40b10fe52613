/// What the Router reads before it routes a new session: the alive backends and the stream's
/// live route, taken together.
public struct RoutingSnapshot: Sendable {
    public var alive: [Backend]
    public var route: Route?

    public init(alive: [Backend], route: Route?) {
        self.alive = alive
        self.route = route
    }
}

extension Registry {
    /// The alive backends and `key`'s live route. A registry on another server (Redis) answers
    /// both in one round trip; this default asks for each in turn.
    public func routingSnapshot(for key: StreamKey) async throws -> RoutingSnapshot {
        RoutingSnapshot(alive: try await aliveBackends(), route: try await route(for: key))
    }
}
