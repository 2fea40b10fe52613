import Foundation
import Synchronization

/// One session's hold on a route. The session keeps it for its lifetime and ends it once
/// (`end()`, or `endUnreachable` when the backend could not be reached; both synchronous and
/// idempotent: the router takes the end in on its own loop). While any lease of a route is held
/// the Router keeps the route refreshed. Modules hold leases through `StreamSession` (ProxyNet),
/// which ends them on every exit path.
public final class RouteLease: Sendable {
    public let id: UInt64
    public let request: StreamRequest
    public let backend: Backend
    public let kind: EndpointKind
    /// The client's address as text, for logs and the streams API.
    public let client: String
    public let since: Date
    /// Whether the session publishes the stream or plays it (the commands API counts both).
    public let role: SessionRole
    /// The module whose session holds it (the commands API counts sessions per module).
    public let module: String
    /// Whether this lease's `acquire` claimed the route (the stream had none).
    public let claimedRoute: Bool
    /// The id of the session holding it (StreamSession.id; the coordinator's streaming id).
    public let sessionID: String
    public let counters = SessionCounters()
    private let router: Router
    private let closing = Mutex(CloseState())
    private let ended = Atomic<Bool>(false)

    private struct CloseState {
        var handler: (@Sendable (String) -> Void)?
        /// A close asked for before the module set its handler: the handler runs when it is set.
        var requested: String?
    }

    init(
        id: UInt64, request: StreamRequest, backend: Backend, kind: EndpointKind, role: SessionRole, client: String, module: String,
        claimedRoute: Bool = false, sessionID: String = "", since: Date, router: Router
    ) {
        self.claimedRoute = claimedRoute
        self.sessionID = sessionID
        self.id = id
        self.request = request
        self.backend = backend
        self.kind = kind
        self.role = role
        self.client = client
        self.module = module
        self.since = since
        self.router = router
    }

    public var key: StreamKey { request.key }

    /// Where to dial for this session's protocol.
    public var address: BackendAddress? { backend.address(for: kind) }

    /// Ends this session's hold on the route, from any thread, without waiting: the router takes
    /// it in (the route lingers after its last session). Only the first end of a lease counts.
    public func end() {
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        router.endings.add(.init(lease: self, unreachable: nil))
    }

    /// Ends this lease of a session that found no stream at its backend (the origin answered
    /// 404): a route this lease claimed is released at once instead of lingering, so requests
    /// for streams that do not exist leave no routes behind.
    public func endWithoutStream() {
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        router.endings.add(.init(lease: self, unreachable: nil, lingers: false))
    }

    /// Ends this lease because the backend refused or dropped the connection: the route fails
    /// over and the backend is left out of picks for a while.
    public func endUnreachable(_ reason: String) {
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        router.endings.add(.init(lease: self, unreachable: reason))
    }

    /// `end()`, and waits until the router took it in and wrote the registry.
    public func release() async {
        end()
        await router.drainEndings()
    }

    /// `endUnreachable(_:)`, and waits until the router took it in and wrote the registry.
    public func reportUnreachable(_ reason: String) async {
        endUnreachable(reason)
        await router.drainEndings()
    }

    /// How the module ends this session when asked to (`Router.close`, the commands API): the
    /// protocol's natural end (close the TCP connection, send SRT SHUTDOWN, drop the UDP session).
    /// The handler runs at most once, on the caller's thread: hop to the session's event loop.
    /// A close requested before the handler is set runs it as soon as it is set.
    public func onClose(_ handler: @escaping @Sendable (_ reason: String) -> Void) {
        let pending: String? = closing.withLock { state in
            if let reason = state.requested {
                state.requested = nil
                state.handler = nil
                return reason
            }
            state.handler = handler
            return nil
        }
        if let pending { handler(pending) }
    }

    /// Asks the module to end this session (see `onClose`).
    func requestClose(_ reason: String) {
        let handler: (@Sendable (String) -> Void)? = closing.withLock { state in
            guard let h = state.handler else {
                state.requested = state.requested ?? reason
                return nil
            }
            state.handler = nil
            return h
        }
        handler?(reason)
    }
}

/// Byte counters of one session, updated by the relay and read by the APIs (relaxed atomics: no lock).
public final class SessionCounters: Sendable {
    private let fromClient = Atomic<UInt64>(0)
    private let toClient = Atomic<UInt64>(0)

    public init() {}

    public func addFromClient(_ n: Int) { fromClient.wrappingAdd(UInt64(n), ordering: .relaxed) }
    public func addToClient(_ n: Int) { toClient.wrappingAdd(UInt64(n), ordering: .relaxed) }
    public var bytesFromClient: UInt64 { fromClient.load(ordering: .relaxed) }
    public var bytesToClient: UInt64 { toClient.load(ordering: .relaxed) }
}
