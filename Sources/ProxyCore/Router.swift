import Foundation
import Logging
import Synchronization

/// The only place that decides where a stream goes (DESIGN.md section 5):
/// 1. all sessions of a stream reach the backend its route names, on every proxy sharing the registry;
/// 2. candidates are alive backends exposing the endpoint kind the session needs;
/// 3. routes are claimed atomically in the registry (the first claim wins);
/// 4. a route whose backend expired, refused a connection, fails its health checks or ended its
///    drain is replaced on the next session;
/// 5. routes are refreshed while sessions use them and expire `routeLinger` after the last one
///    (on any proxy: each proxy's last session sets the expiry; nobody releases a route another
///    proxy may still use, only failover drops one early).
public actor Router {
    public nonisolated let registry: any Registry
    /// How new routes are placed, and the routes' timing; a reload replaces them
    /// (`reconfigure`), sessions already routed keep their routes.
    public nonisolated var strategy: any BalancingStrategy { settings.withLock { $0.strategy } }
    public nonisolated var configuration: RouterConfiguration { settings.withLock { $0.configuration } }
    nonisolated let settings: Mutex<(strategy: any BalancingStrategy, configuration: RouterConfiguration)>
    /// The endpoints' health (active checks); nil: every alive backend counts as healthy.
    public nonisolated let health: BackendHealth?
    let logger: Logger
    let now: @Sendable () -> Date

    var slots: [Slot.ID: Slot] = [:]
    var suspects: [Backend.ID: Date] = [:]
    /// When a `follow` acquire last found no reachable route for a stream (pruned each tick).
    var streamMisses: [StreamKey: Date] = [:]
    static let streamMissTime = Duration.milliseconds(200)
    private var nextLeaseID: UInt64 = 1
    /// Sessions routed again after their backend could not be reached (`/metrics`).
    public private(set) var redispatches: UInt64 = 0
    private var ended: [EndedSessions.Key: EndedSessions] = [:]
    /// Drain states as last read from the registry (Router+Drains.swift).
    var drains: [Backend.ID: OriginDrain] = [:]
    var drainsReadAt: Date = .distantPast
    var drainReadFailures = 0
    /// Streams and sessions per backend on this proxy, kept as leases come and go, and the
    /// other proxies' as last read (Router+Loads.swift).
    public nonisolated let localLoads: LocalLoads
    var otherLoads: [Backend.ID: BackendLoad] = [:]
    var loadsReadAt: Date = .distantPast
    var loadReadFailures = 0
    /// The alive backends as last read (Router+Candidates.swift).
    var cachedCandidates: Candidates?
    /// Leases ended synchronously, not yet taken in (see `applyEndings`).
    nonisolated let endings = LeaseEndings()
    /// Registry writes the endings taken in still owe, made by `drainEndings`.
    private var owed: [Owed] = []

    /// A registry write an ended lease leaves to do.
    enum Owed {
        /// The proxy's last session of the route ended: the route lingers.
        case linger(StreamKey, Backend.ID)
        /// The backend could not be reached: the route is released (failover).
        case release(StreamKey, Backend.ID)
    }

    /// The sessions of this proxy on one route.
    struct Slot {
        struct ID: Hashable {
            var key: StreamKey
            var backend: Backend.ID
        }
        var backend: Backend
        var since: Date
        var leases: [UInt64: RouteLease] = [:]
        var idleSince: Date?
        var lastRefresh: Date
        /// The stream's route moved to another backend (failover): these sessions finish where
        /// they are, but never refresh or claim the route again.
        var detached = false
        /// Its backend's drain grace ended and its sessions were asked to close.
        var drainClosed = false
        /// Its backend failed its health checks and its sessions were asked to close.
        var healthClosed = false
    }

    public init(
        registry: any Registry, strategy: any BalancingStrategy, configuration: RouterConfiguration = .init(),
        logger: Logger = Logger(label: "proxy.router"), now: @escaping @Sendable () -> Date = { Date() }, health: BackendHealth? = nil,
        localLoads: LocalLoads = LocalLoads()
    ) {
        self.health = health
        self.localLoads = localLoads
        self.registry = registry
        settings = Mutex((strategy, configuration))
        self.logger = logger
        self.now = now
    }

    /// Finds (or picks and claims) the backend of `request`'s stream for a session that needs
    /// `kind`, and returns the session's lease on that route. `excluding` names backends this
    /// session already failed to reach (a redispatch): they are never picked, and a route that
    /// names one is replaced. With `follow` the session only joins a route that names a
    /// reachable backend (a player routed again: its stream is wherever its publisher is now)
    /// and `.noStream` says there is none; a stream's route is looked up at most once per
    /// `streamMissTime` this way, so many waiting players cost the registry a few reads a second.
    public func acquire(
        _ request: StreamRequest, needs kind: EndpointKind, role: SessionRole = .play, client: String = "", module: String = "",
        excluding: Set<Backend.ID> = [], follow: Bool = false, session: String = ""
    ) async throws(RoutingError) -> RouteLease {
        applyEndings()
        let key = request.key
        let t = now()
        suspects = suspects.filter { $0.value > t }
        if follow {
            // One look per stream per `streamMissTime`, however many players wait for it: the
            // mark is set before the look (the others, arriving while it awaits, answer at once).
            if let missed = streamMisses[key], t.timeIntervalSince(missed) < Self.streamMissTime.timeInterval { throw .noStream(key) }
            streamMisses[key] = t
        }

        var (candidates, fresh) = try await self.candidates()
        let existing: Route?
        do {
            existing = try await registry.route(for: key)
        } catch {
            throw .registry(String(describing: error))
        }
        if let route = existing, candidates.byID[route.backendID] == nil, !fresh {
            (candidates, fresh) = try await self.candidates(fresh: true)  // a backend registered since the last read
        }

        var replacing: Backend.ID?
        if let route = existing {
            // A drained backend keeps its streams until its grace time ends; then they move.
            if let backend = candidates.byID[route.backendID], suspects[backend.id] == nil, !excluding.contains(backend.id),
               drains[backend.id]?.closing(at: t) != true, health?.isDown(backend.id, kind) != true {
                guard backend.exposes(kind) else { throw .backendLacksProtocol(key, backend.id, kind) }
                // A route refreshed within the last refresh interval needs no refresh now: the
                // slot's own refresh comes before it could lapse (one registry round trip less).
                if route.expiresAt.timeIntervalSince(t) < (configuration.routeTTL - configuration.refreshInterval).timeInterval {
                    _ = try? await registry.refresh(key, backend: backend.id, ttl: configuration.routeTTL)
                }
                if follow { streamMisses[key] = nil }
                return lease(request, backend, kind, role, client, module, session: session)
            }
            replacing = route.backendID
        }
        if follow { throw .noStream(key) }

        var choice: Backend?
        do throws(RoutingError) {
            choice = try choose(key, needs: kind, from: candidates, excluding: excluding)
        } catch {
            guard !fresh else { throw error }
        }
        if choice == nil, !fresh {
            // Nothing suits in the cached view: read it again before refusing.
            (candidates, fresh) = try await self.candidates(fresh: true)
            choice = try choose(key, needs: kind, from: candidates, excluding: excluding)
        }
        guard let pick = choice else { throw .noBackend(kind) }

        let winner: Route
        do {
            winner = try await registry.claim(key, backend: pick.id, ttl: configuration.routeTTL, replacing: replacing)
        } catch {
            throw .registry(String(describing: error))
        }
        if candidates.byID[winner.backendID] == nil, !fresh { (candidates, fresh) = try await self.candidates(fresh: true) }
        guard let backend = candidates.byID[winner.backendID] else {
            // Another proxy won with a backend this one does not see as alive: treat as unavailable.
            throw .noBackend(kind)
        }
        guard backend.exposes(kind) else { throw .backendLacksProtocol(key, backend.id, kind) }
        // Another proxy claimed the stream for a backend this session could not reach.
        guard !excluding.contains(backend.id) else { throw .noBackend(kind) }
        if !excluding.isEmpty {
            redispatches += 1
            logger.info("session redispatched", metadata: ["stream": "\(key)", "to": "\(backend.id)", "failed": "\(excluding.map(\.rawValue).sorted().joined(separator: ","))"])
        }
        if let replacing, replacing != backend.id {
            slots[Slot.ID(key: key, backend: replacing)]?.detached = true
            logger.warning("route failed over", metadata: ["stream": "\(key)", "from": "\(replacing)", "to": "\(backend.id)"])
        } else if existing == nil {
            logger.debug("route claimed", metadata: ["stream": "\(key)", "backend": "\(backend.id)", "strategy": "\(type(of: strategy).name)"])
        }
        return lease(request, backend, kind, role, client, module, claimed: winner.backendID == pick.id, session: session)
    }

    /// A lease on a backend chosen earlier for this stream (an HLS play session, maybe made by
    /// another proxy), without routing: the session must stay where its state is. When the
    /// stream's route has moved elsewhere the lease is detached (it never refreshes or reclaims
    /// the route); when the route lapsed, this proxy's refresh claims it back for `backend`.
    public func attach(
        _ request: StreamRequest, to backend: Backend, kind: EndpointKind, role: SessionRole = .play, client: String = "", module: String = "",
        session: String = ""
    ) async -> RouteLease {
        applyEndings()
        let route = try? await registry.route(for: request.key)
        let lease = lease(request, backend, kind, role, client, module, session: session)
        if let route, route.backendID != backend.id {
            slots[Slot.ID(key: request.key, backend: backend.id)]?.detached = true
        }
        return lease
    }

    private func lease(
        _ request: StreamRequest, _ backend: Backend, _ kind: EndpointKind, _ role: SessionRole, _ client: String, _ module: String,
        claimed: Bool = false, session: String = ""
    ) -> RouteLease {
        let t = now()
        let id = nextLeaseID
        nextLeaseID += 1
        let lease = RouteLease(
            id: id, request: request, backend: backend, kind: kind, role: role, client: client, module: module, claimedRoute: claimed,
            sessionID: session, since: t, router: self)
        let slotID = Slot.ID(key: request.key, backend: backend.id)
        noteLease(on: backend.id, firstOfStream: slots[slotID]?.leases.isEmpty ?? true)
        slots[slotID, default: Slot(backend: backend, since: t, lastRefresh: t)].leases[id] = lease
        slots[slotID]!.idleSince = nil
        slots[slotID]!.detached = false
        return lease
    }

    /// Takes in the leases ended since the last call: each leaves its slot at once (the session
    /// counts and the streams API are exact after it), and what it owes the registry is noted
    /// for `drainEndings`. A lease ended as unreachable makes its backend a suspect (left out of
    /// picks for `suspectTime`) and the route fail over.
    private func applyEndings() {
        for ending in endings.take() {
            let lease = ending.lease
            let slotID = Slot.ID(key: lease.key, backend: lease.backend.id)
            if let reason = ending.unreachable {
                suspects[lease.backend.id] = now().addingTimeInterval(configuration.suspectTime.timeInterval)
                logger.warning("backend unreachable, route released", metadata: [
                    "stream": "\(lease.key)", "backend": "\(lease.backend.id)", "reason": "\(reason)",
                ])
                if removeLease(lease) { slots[slotID] = nil } else { slots[slotID]?.detached = true }
                owed.append(.release(lease.key, lease.backend.id))
            } else if removeLease(lease) {
                if !ending.lingers, lease.claimedRoute {
                    slots[slotID] = nil
                    owed.append(.release(lease.key, lease.backend.id))
                } else {
                    owed.append(.linger(lease.key, lease.backend.id))
                }
            }
        }
    }

    /// Takes in the ended leases and makes the registry writes they owe: a route whose last
    /// session on this proxy ended lives `routeLinger` more (refresh never shortens, so another
    /// proxy's sessions keep it longer); an unreachable backend's route is released.
    public func drainEndings() async {
        applyEndings()
        while !owed.isEmpty {
            let batch = owed
            owed = []
            for write in batch {
                switch write {
                case .linger(let key, let backend): _ = try? await registry.refresh(key, backend: backend, ttl: configuration.routeLinger)
                case .release(let key, let backend): try? await registry.release(key, backend: backend)
                }
            }
            applyEndings()
        }
    }

    /// Removes a lease; true when that left its slot without sessions.
    private func removeLease(_ lease: RouteLease) -> Bool {
        let slotID = Slot.ID(key: lease.key, backend: lease.backend.id)
        guard slots[slotID]?.leases.removeValue(forKey: lease.id) != nil else { return false }
        ended[EndedSessions.Key(module: lease.module, role: lease.role), default: EndedSessions()].add(lease.counters)
        noteLeaseEnded(on: lease.backend.id, lastOfStream: slots[slotID]!.leases.isEmpty)
        guard slots[slotID]!.leases.isEmpty else { return false }
        slots[slotID]!.idleSince = now()
        return true
    }

    /// Housekeeping: refreshes routes in use, forgets local routes idle past the linger time
    /// (their registry routes expire by themselves).
    public func tick() async {
        await drainEndings()
        var t = now()
        if t.timeIntervalSince(drainsReadAt) >= Self.drainsReadInterval.timeInterval {
            await reloadDrains()
            t = now()
        }
        await closeDrainedSessions(at: t)
        await closeUnhealthySessions()
        if t.timeIntervalSince(loadsReadAt) >= Self.loadsReadInterval.timeInterval { await reloadLoads() }
        suspects = suspects.filter { $0.value > t }
        if !streamMisses.isEmpty {
            streamMisses = streamMisses.filter { t.timeIntervalSince($0.value) < Self.streamMissTime.timeInterval }
        }
        for slotID in Array(slots.keys) {
            // Read each slot now, not from a copy taken before the loop: the refreshes below
            // await the registry, and sessions start and end on the slots meanwhile.
            guard let slot = slots[slotID] else { continue }
            if slot.leases.isEmpty {
                guard let idle = slot.idleSince, t.timeIntervalSince(idle) >= configuration.routeLinger.timeInterval else { continue }
                slots[slotID] = nil
                logger.debug("route idle past linger", metadata: ["stream": "\(slotID.key)", "backend": "\(slotID.backend)"])
            } else if t.timeIntervalSince(slot.lastRefresh) >= configuration.refreshInterval.timeInterval {
                slots[slotID]?.lastRefresh = t
                // After a failover away from this backend, its remaining sessions must not claim the route back.
                guard !slot.detached, !slot.drainClosed, !slot.healthClosed, suspects[slotID.backend] == nil else { continue }
                do {
                    if try await registry.refresh(slotID.key, backend: slotID.backend, ttl: configuration.routeTTL) { continue }
                    // The route lapsed (registry outage, clock skew): claim it back unless someone holds it now,
                    // so new sessions join these rather than split the stream.
                    let route = try await registry.claim(slotID.key, backend: slotID.backend, ttl: configuration.routeTTL, replacing: nil)
                    if route.backendID != slotID.backend {
                        slots[slotID]?.detached = true
                        logger.warning("route moved while sessions are live; they finish on their backend", metadata: [
                            "stream": "\(slotID.key)", "sessions_on": "\(slotID.backend)", "route": "\(route.backendID)",
                        ])
                    }
                } catch {
                    logger.warning("route refresh failed", metadata: ["stream": "\(slotID.key)", "error": "\(error)"])
                }
            }
        }
    }

    /// Runs `tick()` every tick interval and takes in ended leases as they come, until the task
    /// is cancelled; then takes in the last ones, so every session that ended before the
    /// cancellation reaches the registry. A second `run` of the same router only ticks.
    public func run() async {
        await withDiscardingTaskGroup { group in
            if endings.claimRings() {
                group.addTask { [endings] in
                    for await _ in endings.rings { await self.drainEndings() }
                }
            }
            let interval = configuration.tickInterval
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                await tick()
            }
        }
        await drainEndings()
    }

    /// Asks every session of `key` on this router to end (each module's `onClose` handler: the
    /// protocol's own end). Returns how many sessions were asked. Their leases are released by
    /// the modules as the sessions close; the route lingers as after any last session.
    /// With `session`, only the session of that id is asked (the coordinator's close of one
    /// streaming session).
    @discardableResult
    public func close(_ key: StreamKey, reason: String, session: String? = nil) -> Int {
        applyEndings()
        let leases = slots.filter { $0.key.key == key }.flatMap { $0.value.leases.values }.filter { session == nil || $0.sessionID == session }
        for lease in leases { lease.requestClose(reason) }
        if !leases.isEmpty {
            logger.info("closing the stream's sessions", metadata: ["stream": "\(key)", "sessions": "\(leases.count)", "reason": "\(reason)"])
        }
        return leases.count
    }

    /// This proxy's sessions per route, for the streams API.
    public func localRoutes() -> [LocalRoute] {
        applyEndings()
        return slots.map { id, slot in
            LocalRoute(
                key: id.key, backendID: id.backend, since: slot.since, sessions: slot.leases.count,
                bytesFromClients: slot.leases.values.reduce(0) { $0 + $1.counters.bytesFromClient },
                bytesToClients: slot.leases.values.reduce(0) { $0 + $1.counters.bytesToClient },
                clients: slot.leases.values.sorted { $0.id < $1.id }.map {
                    LocalRoute.Client(
                    address: $0.client, kind: $0.kind, role: $0.role, module: $0.module, since: $0.since,
                    bytesFromClient: $0.counters.bytesFromClient, bytesToClient: $0.counters.bytesToClient, session: $0.sessionID)
                })
        }.sorted { $0.key < $1.key }
    }

    /// The open sessions and the totals of the ended ones, read together (one actor turn) so
    /// that a session ending between two reads is neither missed nor counted twice (`/metrics`).
    public func sessionSnapshot() -> (routes: [LocalRoute], ended: [EndedSessions.Key: EndedSessions]) {
        (localRoutes(), ended)
    }

    /// Number of sessions this proxy holds, over all routes.
    public var sessionCount: Int {
        applyEndings()
        return slots.values.reduce(0) { $0 + $1.leases.count }
    }
}

/// A route as this proxy uses it.
public struct LocalRoute: Sendable {
    public struct Client: Sendable {
        public var address: String
        public var kind: EndpointKind
        public var role: SessionRole
        /// The module whose session it is (`rtmp`, `http-flv`, ...).
        public var module: String
        public var since: Date
        public var bytesFromClient: UInt64
        public var bytesToClient: UInt64
        /// The session's id (StreamSession.id), empty for a lease made without one.
        public var session: String = ""
    }
    public var key: StreamKey
    public var backendID: Backend.ID
    public var since: Date
    public var sessions: Int
    public var bytesFromClients: UInt64
    public var bytesToClients: UInt64
    public var clients: [Client]
}
