import NIOCore
import ProxyCore
import Synchronization

/// One client session's life cycle, the same for every module (DESIGN.md 5b):
///
///     stream request known -> authorise (the publish hook) -> lease (the router) -> dial and
///     relay (the module's part) -> started (the backend took the stream) -> end
///
/// The type keeps the invariants every module used to keep by hand: at most one lease per
/// session, given back on every exit path, and at most one start and one end event, the end
/// only after a start. `end` is synchronous and idempotent, so an event loop calls it from a
/// close callback without a task; the router takes the lease in on its own loop. A session that
/// ends while it is being opened (the client left during the hook, the routing or the dial)
/// gives the lease back as soon as it arrives, and `open` throws `.ended`.
///
/// Thread-safe: modules call it from their event loops and from the tasks that await the router.
public final class StreamSession: Sendable {
    /// What the sessions of one module share: the router, the hooks and who the module is.
    public struct Context: Sendable {
        public var router: Router
        public var hooks: any ProxyHooks
        public var module: ModuleIdentity

        public init(router: Router, hooks: any ProxyHooks, module: ModuleIdentity) {
            self.router = router
            self.hooks = hooks
            self.module = module
        }
    }

    /// Why a session could not be opened.
    public enum Refusal: Error, CustomStringConvertible, Sendable {
        /// The publish hook said no.
        case denied(String)
        /// The play hook said no.
        case playDenied(String)
        /// The router found no backend (or the registry failed).
        case routing(RoutingError)
        /// The session ended while it was being opened (the client left, a close request): nothing to answer.
        case ended(String)
        /// Its backend could not be reached and no other could take the session (`redispatch`).
        case unreachable(String)

        public var description: String {
            switch self {
            case .denied(let why): "publish refused: \(why)"
            case .playDenied(let why): "play refused: \(why)"
            case .routing(let error): "\(error)"
            case .ended(let why): "session ended while it was opened: \(why)"
            case .unreachable(let why): "backend unreachable: \(why)"
            }
        }
    }

    private enum Phase {
        case new, opening, leased, ended
    }

    private struct State {
        var phase = Phase.new
        var lease: RouteLease?
        var started = false
        var endReason: String?
        var closeHandler: (@Sendable (String) -> Void)?
        /// The backends this session could not reach (redispatch leaves them out).
        var tried: Set<Backend.ID> = []
        /// What the publish hook attached.
        var attributes: [String: String] = [:]
        /// The stream the publish hook renamed the session to.
        var renamed: StreamRequest?
    }

    /// Unique per session (32 hex digits): its events' `sessionID`.
    public let id: String = {
        var rng = SystemRandomNumberGenerator()
        return [rng.next(), rng.next()].map { (n: UInt64) in
            let hex = String(n, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }()

    /// The stream as the client asked for it.
    public let requested: StreamRequest
    /// The stream the session is routed and reported under: the client's, or the one the publish
    /// hook renamed it to (`HookDecision.allowAs`).
    public var request: StreamRequest { state.withLock { $0.renamed } ?? requested }
    public let role: SessionRole
    /// The client's address as text (logs, hooks, the streams API).
    public let client: String
    /// The endpoint kind the session needs from its backend.
    public let kind: EndpointKind
    public let context: Context
    private let state = Mutex(State())

    public init(_ request: StreamRequest, role: SessionRole, client: String, needs kind: EndpointKind, context: Context) {
        self.requested = request
        self.role = role
        self.client = client
        self.kind = kind
        self.context = context
    }

    /// The session's lease, once it has one and until it ended.
    public var lease: RouteLease? { state.withLock { $0.phase == .leased ? $0.lease : nil } }
    public var isEnded: Bool { state.withLock { $0.phase == .ended } }
    /// Why it ended (the first reason given), once it did.
    public var endReason: String? { state.withLock { $0.endReason } }

    /// The event of this session (`publish_start`, `play_start`; the end kinds from it).
    public func event(_ kind: StreamEvent.Kind? = nil) -> StreamEvent {
        event(kind ?? (role == .publish ? .publishStart : .playStart), backend: state.withLock { $0.lease?.backend.id })
    }

    /// The event of `kind` on `backend`, with the session's id and the publish hook's attributes.
    private func event(_ kind: StreamEvent.Kind, backend: Backend.ID?) -> StreamEvent {
        var event = StreamEvent(kind: kind, request: request, module: context.module, client: client, backend: backend)
        event.sessionID = id
        event.attributes = state.withLock { $0.attributes }
        return event
    }

    // MARK: Opening

    /// Authorises and leases: `authorize()` then `acquire()`.
    @discardableResult
    public func open() async throws(Refusal) -> RouteLease {
        try await authorize()
        return try await acquire()
    }

    /// Asks the publish hook for a publisher, the play hook for a player.
    public func authorize() async throws(Refusal) {
        try begin()
        guard role == .publish else {
            if case .deny(let why) = await context.hooks.authorizePlay(event()) {
                end(reason: "play refused: \(why)")
                throw .playDenied(why)
            }
            return
        }
        let decision = await context.hooks.authorizePublish(event())
        if case .deny(let why) = decision {
            end(reason: "publish refused: \(why)")
            throw .denied(why)
        }
        let attributes = decision.attributes
        // Only a module that can publish under another name takes the hook's rename.
        let renamed = context.module.renamesStreams ? decision.renamed.map { StreamRequest(key: $0, query: requested.query) } : nil
        if !attributes.isEmpty || renamed != nil {
            state.withLock {
                $0.attributes = attributes
                $0.renamed = renamed
            }
        }
    }

    /// Asks the router for the backend of the stream and leases its route.
    @discardableResult
    public func acquire() async throws(Refusal) -> RouteLease {
        try begin()
        return try await route(excluding: [])
    }

    private func route(excluding tried: Set<Backend.ID>) async throws(Refusal) -> RouteLease {
        let lease: RouteLease
        do {
            lease = try await context.router.acquire(
                request, needs: kind, role: role, client: client, module: context.module.name, excluding: tried, session: id)
        } catch {
            end(reason: "\(error)")
            throw .routing(error)
        }
        return try adopt(lease)
    }

    /// A player routed again joins its stream where its publisher is now, waiting until
    /// `until` for the publisher to reappear (an encoder reconnecting after its origin died);
    /// past it the session ends and `.noStream` tells the module to say "not found".
    private func followPublisher(excluding tried: Set<Backend.ID>, until: ContinuousClock.Instant) async throws(Refusal) -> RouteLease {
        while true {
            let lease: RouteLease
            do {
                lease = try await context.router.acquire(
                    request, needs: kind, role: role, client: client, module: context.module.name, excluding: tried, follow: true,
                    session: id)
            } catch {
                guard case .noStream = error, ContinuousClock.now < until, !isEnded else {
                    end(reason: "\(error)")
                    throw .routing(error)
                }
                try? await Task.sleep(for: Self.followPoll)
                continue
            }
            return try adopt(lease)
        }
    }

    static let followPoll = Duration.milliseconds(250)

    /// Leases `backend` without routing: a session pinned to where its state is (an HLS play
    /// session, a WebRTC session signalled through another proxy). No hook is asked.
    @discardableResult
    public func attach(to backend: Backend) async throws(Refusal) -> RouteLease {
        try begin()
        let lease = await context.router.attach(
            request, to: backend, kind: kind, role: role, client: client, module: context.module.name, session: id)
        return try adopt(lease)
    }

    /// The lease's backend could not be reached (the dial was refused or timed out, or the
    /// protocol's handshake failed) before the stream started: the route fails over, and the
    /// same session is routed again, never to a backend it already tried, at most the router's
    /// `redispatchAttempts` times. The client sees a normal connect. When no attempt is left or
    /// no other backend can take it, the session ends as unreachable and this throws.
    ///
    /// A player that joined an existing route (its stream was known to be on the failed
    /// backend) is not placed anew: its stream is wherever its publisher is now. It joins the
    /// stream's route once that names a reachable backend, waiting up to the router's
    /// `redispatchWait` (and no later than `deadline`) for the publisher to come back; otherwise
    /// it ends with `.routing(.noStream)`, which the module answers as its protocol says "not
    /// found". A player that placed the stream itself (no route existed: nothing was published
    /// through any proxy, the origin may have the stream by other means) is placed again.
    ///
    /// `follow: false` places such a player like any other (a module that can itself tell the
    /// player when no publisher comes, as RTMP does by holding the origin's answers until media).
    public func redispatch(reason: String, deadline: ContinuousClock.Instant? = nil, follow: Bool = true) async throws(Refusal) -> RouteLease {
        enum Step {
            case gone(String), exhausted, again(RouteLease, Set<Backend.ID>)
        }
        let limit = context.router.configuration.redispatchAttempts
        let step: Step = state.withLock { state in
            guard state.phase == .leased, let lease = state.lease, !state.started else { return .gone(state.endReason ?? "ended") }
            guard state.tried.count < limit else { return .exhausted }
            state.tried.insert(lease.backend.id)
            state.phase = .opening
            state.lease = nil
            return .again(lease, state.tried)
        }
        switch step {
        case .gone(let why):
            throw .ended(why)
        case .exhausted:
            endUnreachable(reason: reason)
            throw .unreachable(reason)
        case .again(let failed, let tried):
            // The failed backend becomes a suspect and its route is released, as for any
            // unreachable end; the router takes that in before it routes again.
            failed.endUnreachable(reason)
            do {
                if follow, role == .play, !failed.claimedRoute {
                    let wait = ContinuousClock.now.advanced(by: context.router.configuration.redispatchWait)
                    return try await followPublisher(excluding: tried, until: deadline.map { min($0, wait) } ?? wait)
                }
                return try await route(excluding: tried)
            } catch .routing(.noStream(let key)) {
                throw .routing(.noStream(key))
            } catch .routing(let error) {
                throw .unreachable("\(reason); no other backend: \(error)")
            }
        }
    }

    /// `redispatch(reason:)` for a channel handler, completed on `loop`.
    public func redispatch(reason: String, deadline: NIODeadline? = nil, follow: Bool = true, on loop: any EventLoop) -> EventLoopFuture<RouteLease> {
        let until = deadline.map { ContinuousClock.now.advanced(by: .nanoseconds(($0 - .now()).nanoseconds)) }
        return loop.makeFutureWithTask { try await self.redispatch(reason: reason, deadline: until, follow: follow) }
    }

    // MARK: Opening from an event loop

    /// `open()` for a channel handler: the hook and the router are awaited off the loop, and the
    /// future completes on `loop` (a refusal fails it with a `Refusal`).
    public func open(on loop: any EventLoop) -> EventLoopFuture<RouteLease> {
        loop.makeFutureWithTask { try await self.open() }
    }

    /// `authorize()` for a channel handler, completed on `loop`.
    public func authorize(on loop: any EventLoop) -> EventLoopFuture<Void> {
        loop.makeFutureWithTask { try await self.authorize() }
    }

    /// `acquire()` for a channel handler, completed on `loop`.
    public func acquire(on loop: any EventLoop) -> EventLoopFuture<RouteLease> {
        loop.makeFutureWithTask { try await self.acquire() }
    }

    private func begin() throws(Refusal) {
        let ended: String? = state.withLock { state in
            switch state.phase {
            case .new:
                state.phase = .opening
                return nil
            case .opening: return nil
            case .leased: preconditionFailure("StreamSession opened twice")
            case .ended: return state.endReason ?? "ended"
            }
        }
        if let ended { throw .ended(ended) }
    }

    /// Takes the router's lease, unless the session ended meanwhile: then the lease goes back at once.
    private func adopt(_ lease: RouteLease) throws(Refusal) -> RouteLease {
        let (ended, handler): (String?, (@Sendable (String) -> Void)?) = state.withLock { state in
            guard state.phase == .opening else { return (state.endReason ?? "ended", nil) }
            state.phase = .leased
            state.lease = lease
            return (nil, state.closeHandler)
        }
        if let ended {
            lease.end()
            throw .ended(ended)
        }
        if let handler { lease.onClose(handler) }
        return lease
    }

    // MARK: While it lives

    /// How the module ends this session when asked to (the commands API's close, a stream
    /// closed on every proxy): the protocol's natural end. It runs at most once, on the caller's
    /// thread (hop to the session's event loop), and also when the close came before the lease.
    public func onClose(_ handler: @escaping @Sendable (_ reason: String) -> Void) {
        let lease: RouteLease? = state.withLock { state in
            state.closeHandler = handler
            return state.phase == .leased ? state.lease : nil
        }
        lease?.onClose(handler)
    }

    /// The backend took the stream: reports `publish_start` or `play_start`, once. Ignored
    /// before the lease and after the end.
    public func started() {
        let report: Bool = state.withLock { state in
            guard state.phase == .leased, !state.started else { return false }
            state.started = true
            return true
        }
        if report { context.hooks.report(event()) }
    }

    public var hasStarted: Bool { state.withLock { $0.started } }

    // MARK: Ending

    /// Ends the session: the end event when it had started, the lease back to the router. Any
    /// thread, never waits; only the first call counts.
    public func end(reason: String) {
        finish(reason: reason, unreachable: false)
    }

    /// Ends the session because its backend could not be reached or failed its handshake: the
    /// route fails over and the backend is left out of picks for a while.
    public func endUnreachable(reason: String) {
        finish(reason: reason, unreachable: true)
    }

    /// Ends the session because its backend has no such stream (it answered 404): a route the
    /// session claimed goes at once instead of lingering.
    public func endWithoutStream(reason: String) {
        finish(reason: reason, unreachable: false, lingers: false)
    }

    private func finish(reason: String, unreachable: Bool, lingers: Bool = true) {
        let (lease, started): (RouteLease?, Bool) = state.withLock { state in
            guard state.phase != .ended else { return (nil, false) }
            state.phase = .ended
            state.endReason = reason
            defer { state.lease = nil }
            return (state.lease, state.started)
        }
        if started, let lease { context.hooks.report(event(role == .publish ? .publishEnd : .playEnd, backend: lease.backend.id)) }
        guard let lease else { return }
        if unreachable { lease.endUnreachable(reason) } else if lingers { lease.end() } else { lease.endWithoutStream() }
    }
}
