import Foundation

/// The alive backends, as placement sees them: read from the registry at most every
/// `candidatesTTL` (1 s) instead of on every new session, so a new session costs one registry
/// read (its route) however many origins there are. The cache is read again at once when it
/// cannot answer: a route or a claim names a backend it does not hold, or no candidate is left
/// (a backend registered or died since); this proxy's system API drops it when an origin it had
/// not seen registers.
struct Candidates: Sendable {
    /// Sorted by id (the registry's order; strategies rely on it).
    var alive: [Backend]
    var byID: [Backend.ID: Backend]
    /// Per endpoint kind, the backends exposing it, in id order: a new session filters nothing
    /// for its protocol.
    var byKind: [EndpointKind: [Backend]]
    /// Some backend registered a weight, a capacity or reported load (else those checks are skipped).
    var anyPlacement: Bool
    var readAt: Date

    init(_ alive: [Backend], at t: Date) {
        self.alive = alive.sorted { $0.id < $1.id }
        byID = Dictionary(alive.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var byKind: [EndpointKind: [Backend]] = [:]
        for backend in self.alive {
            for kind in EndpointKind.allCases where backend.exposes(kind) { byKind[kind, default: []].append(backend) }
        }
        self.byKind = byKind
        anyPlacement = alive.contains { $0.placement != nil }
        readAt = t
    }
}

extension Router {
    /// The cached candidates, read again when older than `candidatesTTL` or when `fresh`.
    /// Returns them and whether they were just read.
    func candidates(fresh: Bool = false) async throws(RoutingError) -> (Candidates, fresh: Bool) {
        let t = now()
        if !fresh, let cached = cachedCandidates, t.timeIntervalSince(cached.readAt) < configuration.candidatesTTL.timeInterval,
           t >= cached.readAt {
            return (cached, false)
        }
        let alive: [Backend]
        do {
            alive = try await registry.aliveBackends()
        } catch {
            throw .registry(String(describing: error))
        }
        let read = Candidates(alive, at: t)
        cachedCandidates = read
        return (read, true)
    }

    /// Drops the cached candidates: the next new session reads them again.
    public func invalidateCandidates() {
        cachedCandidates = nil
    }
}
