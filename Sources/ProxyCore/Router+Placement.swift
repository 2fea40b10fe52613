/// Which backend a new stream goes to: the candidates that expose the protocol, were not tried by
/// this session, are not drained, pass their health checks and are not full, handed to the
/// strategy in id order (suspects, which refused a connection lately, only when no other is left).
extension Router {
    /// The pick, or nil when no alive backend exposes `kind` (outside `excluding`). Throws
    /// `noCapacity` when some do but every one of them is drained or full.
    func choose(_ key: StreamKey, needs kind: EndpointKind, from candidates: Candidates, excluding: Set<Backend.ID>) throws(RoutingError) -> Backend? {
        // Each filter runs only when it can remove something: with no drain, no endpoint down,
        // no capacity and no suspect, a pick costs the strategy alone (O(1) for round-robin).
        let all = candidates.byKind[kind] ?? []
        let exposing = excluding.isEmpty ? all : all.filter { !excluding.contains($0.id) }
        guard !exposing.isEmpty else { return nil }
        let open = drains.isEmpty ? exposing : exposing.filter { drains[$0.id] == nil }
        if open.isEmpty { throw .noCapacity(kind, "every alive backend with one is draining") }
        // Endpoints failing their health checks take no new sessions.
        let down = health?.downBackends(kind) ?? []
        let up = down.isEmpty ? open : open.filter { !down.contains($0.id) }
        guard !up.isEmpty else { return nil }
        // A backend at its capacity (or over a summaries threshold) takes no new stream.
        let policy = configuration.placement
        let limited = candidates.anyPlacement || policy.hasLimits
        var context = limited || type(of: strategy).usesLoads
            ? placementContext() : PlacementContext(policy: policy)
        context.candidatesInIDOrder = true
        context.uniformWeights = !candidates.anyPlacement && policy.defaultWeight == 1
        var roomy = up
        if limited {
            var full: String?
            roomy = up.filter { b in
                guard let why = policy.fullness(of: b, at: context.load(b)) else { return true }
                full = full ?? "\(b.id): \(why)"
                return false
            }
            if roomy.isEmpty, let full { throw .noCapacity(kind, "every candidate is full (\(full))") }
        }
        let healthy = suspects.isEmpty ? roomy : roomy.filter { suspects[$0.id] == nil }
        return strategy.pick(key, from: healthy.isEmpty ? roomy : healthy, context: context)
    }
}
