import Foundation
import Logging
import ProxyCore
import ProxyNet

/// HLS play sessions: which backend a player's playlist came from, so every later playlist,
/// segment, key and map request of that player goes to the same backend, through any proxy.
///
/// The record (`hls/<id>` -> backend id + stream) lives in the Registry for `ttl` after its
/// last use, so proxies sharing a registry share sessions. Each proxy keeps a local entry per
/// session it serves, holding a RouteLease (the player shows in /api/v1/streams and keeps the
/// route refreshed) and avoiding a registry read per segment; the registry record is refreshed
/// at most every `ttl / 4` per proxy.
actor HLSSessionStore {
    /// The shared record of one session.
    struct Record: Codable, Sendable {
        var backend: String
        var stream: StreamKey
        var query: String
    }

    /// A session as a request uses it.
    struct Session: Sendable {
        var id: String
        var backend: Backend
        var lease: RouteLease
        /// Its life cycle on this proxy: the lease, and the play events of a session made here.
        var stream: StreamSession
    }

    enum LookupError: Error, CustomStringConvertible {
        case unknown
        case backendGone(String)
        case registry(String)

        var description: String {
            switch self {
            case .unknown: "no such HLS session (expired or never made)"
            case .backendGone(let id): "the HLS session's backend \(id) is not alive"
            case .registry(let why): "registry error: \(why)"
            }
        }
    }

    static let namespace = "hls"
    /// Query parameter that carries the session id in rewritten playlist URIs.
    static let parameter = "spsid"
    /// Upper bound on local entries; a full table refuses new sessions (503) rather than grow.
    static let capacity = 100_000

    private struct Entry {
        var session: Session
        var lastUse: Date
        var lastRefresh: Date
    }

    private let sessions: StreamSession.Context
    private let background: BackgroundWork
    private let ttl: Duration
    private let logger: Logger
    private var entries: [String: Entry] = [:]
    private var router: Router { sessions.router }

    init(sessions: StreamSession.Context, background: BackgroundWork, ttl: Duration, logger: Logger) {
        self.sessions = sessions
        self.background = background
        self.ttl = ttl
        self.logger = logger
    }

    /// Routes a new player of `request`'s stream and records its session.
    func create(for request: StreamRequest, client: String) async throws -> Session {
        guard entries.count < Self.capacity else { throw RoutingError.registry("HLS session table full (\(Self.capacity))") }
        let stream = StreamSession(request, role: .play, client: client, needs: .http, context: sessions)
        let lease: RouteLease
        do {
            lease = try await stream.open()
        } catch {
            if case .routing(let error) = error { throw error }
            throw error
        }
        let id = Self.newID()
        let record = Record(backend: lease.backend.id.rawValue, stream: request.key, query: request.query)
        do {
            try await router.registry.putRecord(String(decoding: try JSONEncoder().encode(record), as: UTF8.self), namespace: Self.namespace, id: id, ttl: ttl)
        } catch {
            stream.end(reason: "HLS session record not written: \(error)")
            throw RoutingError.registry(String(describing: error))
        }
        let now = Date()
        let session = Session(id: id, backend: lease.backend, lease: lease, stream: stream)
        entries[id] = Entry(session: session, lastUse: now, lastRefresh: now)
        watchClose(session)
        stream.started()
        logger.debug("HLS session created", metadata: ["session": "\(id)", "stream": "\(request.key)", "backend": "\(lease.backend.id)"])
        return session
    }

    /// The session `id`, from this proxy's table or the registry (made by another proxy).
    func session(_ id: String, client: String) async throws -> Session {
        let now = Date()
        if var entry = entries[id] {
            entry.lastUse = now
            if now.timeIntervalSince(entry.lastRefresh) >= ttl.timeInterval / 4 {
                entry.lastRefresh = now
                try? await router.registry.putRecord(Self.encode(entry.session), namespace: Self.namespace, id: id, ttl: ttl)
            }
            entries[id] = entry
            return entry.session
        }
        guard Self.isValidID(id) else { throw LookupError.unknown }
        let text: String?
        let alive: [Backend]
        do {
            text = try await router.registry.record(namespace: Self.namespace, id: id)
            alive = try await router.registry.aliveBackends()
        } catch {
            throw LookupError.registry(String(describing: error))
        }
        guard let text, let record = try? JSONDecoder().decode(Record.self, from: Data(text.utf8)) else { throw LookupError.unknown }
        guard let backend = alive.first(where: { $0.id.rawValue == record.backend }) else { throw LookupError.backendGone(record.backend) }
        if let existing = entries[id] { return existing.session }  // made by a concurrent lookup meanwhile
        let request = StreamRequest(key: record.stream, query: record.query)
        // Made by another proxy, which reports its play events: here it only holds a lease.
        let stream = StreamSession(request, role: .play, client: client, needs: .http, context: sessions)
        guard let lease = try? await stream.attach(to: backend) else { throw LookupError.unknown }
        let session = Session(id: id, backend: backend, lease: lease, stream: stream)
        entries[id] = Entry(session: session, lastUse: now, lastRefresh: now)
        watchClose(session)
        try? await router.registry.putRecord(text, namespace: Self.namespace, id: id, ttl: ttl)
        return session
    }

    /// A closed stream (the commands API) ends its HLS sessions here and in the registry: the
    /// player's next segment is a 404, its next playlist request starts a new session.
    private func watchClose(_ session: Session) {
        let id = session.id, stream = session.stream, background = self.background
        stream.onClose { [self] reason in background.submit { await self.close(id, stream: stream, reason: reason) } }
    }

    private func close(_ id: String, stream: StreamSession, reason: String) async {
        guard let entry = entries[id], entry.session.stream === stream else { return }
        entries[id] = nil
        stream.end(reason: reason)
        try? await router.registry.deleteRecord(namespace: Self.namespace, id: id)
        logger.info("HLS session closed", metadata: ["session": "\(id)", "stream": "\(stream.request.key)", "reason": "\(reason)"])
    }

    /// Ends local entries unused for `ttl` (their registry records expire by themselves).
    func sweep() {
        let now = Date()
        let stale = entries.filter { now.timeIntervalSince($0.value.lastUse) >= ttl.timeInterval }
        for (id, entry) in stale {
            entries[id] = nil
            entry.session.stream.end(reason: "unused for \(ttl)")
            logger.debug("HLS session ended", metadata: ["session": "\(id)", "stream": "\(entry.session.stream.request.key)"])
        }
    }

    /// Sweeps every few seconds until cancelled; ends every session on the way out.
    func run() async {
        let interval = min(Duration.seconds(5), ttl / 4)
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            sweep()
        }
        for entry in entries.values { entry.session.stream.end(reason: "module stopped") }
        entries = [:]
    }

    private static func encode(_ session: Session) -> String {
        let record = Record(backend: session.backend.id.rawValue, stream: session.lease.key, query: session.lease.request.query)
        return (try? String(decoding: JSONEncoder().encode(record), as: UTF8.self)) ?? ""
    }

    static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        return String(format: "%016llx%016llx", g.next() as UInt64, g.next() as UInt64)
    }

    static func isValidID(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
