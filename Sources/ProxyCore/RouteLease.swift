import Foundation
import Synchronization

/// One session's hold on a route. The module keeps it for the session's lifetime and calls
/// `release()` when the session ends (idempotent); while any lease of a route is held the
/// Router keeps the route refreshed.
public final class RouteLease: Sendable {
    public let id: UInt64
    public let request: StreamRequest
    public let backend: Backend
    public let kind: EndpointKind
    /// The client's address as text, for logs and the streams API.
    public let client: String
    public let since: Date
    public let counters = SessionCounters()
    private let router: Router

    init(id: UInt64, request: StreamRequest, backend: Backend, kind: EndpointKind, client: String, since: Date, router: Router) {
        self.id = id
        self.request = request
        self.backend = backend
        self.kind = kind
        self.client = client
        self.since = since
        self.router = router
    }

    public var key: StreamKey { request.key }

    /// Where to dial for this session's protocol.
    public var address: BackendAddress? { backend.address(for: kind) }

    /// Ends this session's hold on the route.
    public func release() async { await router.end(self) }

    /// Reports that the backend refused or dropped the connection: the route fails over
    /// and the backend is left out of picks for a while. Also releases this lease.
    public func reportUnreachable(_ reason: String) async { await router.reportUnreachable(self, reason: reason) }
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
