#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

/// The UDP side of the module: one listening socket, one connected backend socket per media
/// session, everything on one event loop (no lock, no thread hop on the hot path).
///
/// A datagram from a known client address goes to its session: one dictionary hit on the address
/// as integers (`byClient`: the UDPSessionTable's binding of each active address, plus the other
/// addresses of a session), no allocation, lock or atomic per datagram (last-seen time and byte
/// counts are session fields, flushed to the table and the lease's counters per batch or sweep).
/// From an unknown address only a STUN Binding Request is taken: its USERNAME
/// (`<answer ufrag>:<offer ufrag>`) names the session, found among those signalled through this
/// proxy or, through the registry, through another one; the address is then bound.
///
/// A client may check from several addresses with one USERNAME (a browser pairs each of its local
/// candidates, 127.0.0.1 and the machine's other addresses, with the one proxy candidate): each
/// is bound to the session (up to `maxClientAddresses`) and relayed. Towards the client, a
/// Binding response goes to the address its request came from (by transaction id), everything
/// else to the active address: the first one, then the one that last nominated (USE-CANDIDATE)
/// or sent media (DTLS, SRTP: the client's selected pair), which also covers NAT rebinding.
/// STUN, DTLS, SRTP and SRTCP are passed on untouched, both ways: towards the client the read
/// buffer itself is written to the listening socket and the writes of one read burst are flushed
/// together (sendmmsg); towards the backend through ProxyNet's UDPBackendWriter (BackendHandler).
///
/// Confined to `loop`: it is not Sendable, and the signalling side reaches it through
/// `WebRTCRelay.Handle`, which hops onto the loop. Each session's life cycle (its lease, its
/// start and end events) is a StreamSession; registry writes go to the module's background work.
final class WebRTCRelay {
    struct Settings: Sendable {
        var idleTimeout: TimeAmount
        var maxSessions: Int
        /// How long registry records live after their last refresh.
        var recordTTL: Duration
        /// Datagrams held per session while its backend socket is made or its record looked up.
        var heldPerSession = 2
        /// Registry look-ups and backend dials in flight at once.
        var maxStarting = 1024
        /// Registry look-ups (USERNAMEs not signalled here) one client address may start per
        /// second, and in a burst.
        var lookUpRate = 10.0
        var lookUpBurst = 20.0
        /// UDP GSO towards backends (where the kernel has it): see BackendHandler.
        var gso = true
        /// Client addresses bound to one session at once (the active one included); past it the
        /// oldest other address is unbound.
        var maxClientAddresses = 8
        /// Binding Requests from a session's other addresses whose responses are routed back.
        var trackedRequests = 16
    }

    /// A session signalled through this proxy whose first Binding Request has not come yet.
    struct Pending {
        var record: WebRTCSessionRecord
        var stream: StreamSession
        var lease: RouteLease
        var deadline: NIODeadline
    }

    /// Datagrams that were dropped, by reason (logged when they change, at most every 10 s).
    struct Drops: Equatable, Sendable, CustomStringConvertible {
        var unknownAddress = 0
        var badSTUN = 0
        var unknownUsername = 0
        var sessionsFull = 0
        var notWritable = 0
        var backendFailed = 0
        /// Backend datagrams for a client address without consent (nothing is sent to it).
        var unconsented = 0

        var total: Int { unknownAddress + badSTUN + unknownUsername + sessionsFull + notWritable + backendFailed + unconsented }
        var description: String {
            "unknown_address=\(unknownAddress) bad_stun=\(badSTUN) unknown_username=\(unknownUsername) sessions_full=\(sessionsFull) not_writable=\(notWritable) backend_failed=\(backendFailed) unconsented=\(unconsented)"
        }
    }

    /// Bytes a socket may hold unflushed before it counts as not writable: one read burst of
    /// datagrams (NIO's 64 KiB default is less than one burst of 1,300-byte datagrams).
    static let writeWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 1 << 20, high: 4 << 20)

    let loop: any EventLoop
    let settings: Settings
    let sessions: StreamSession.Context
    let background: BackgroundWork
    let logger: Logger
    var listener: (any Channel)?
    var table: UDPSessionTable<String, Session>
    /// The hot path's index: each session under its active client address (the table's binding;
    /// the table stays the authority for ids, capacity and rebinding) and its other addresses.
    var byClient: [ClientKey: Session] = [:]
    var pending: [String: Pending] = [:]
    /// Sessions being started (dial or registry look-up in flight), with the datagrams held for them.
    var starting: [String: [AddressedEnvelope<ByteBuffer>]] = [:]
    var dirty: [Session] = []
    var listenerNeedsFlush = false
    var now: NIODeadline = .now()
    var drops = Drops()
    var loggedDrops = Drops()
    var lastDropLog: NIODeadline = .distantPast
    var sweeper: RepeatedTask?
    /// Graceful shutdown: no new sessions; the listener closes when the last one ended.
    var quiescing = false
    /// Look-ups each client address may start (`lookUpRate`, `lookUpBurst`).
    let lookUps: AddressRateLimiter

    init(loop: any EventLoop, settings: Settings, sessions: StreamSession.Context, background: BackgroundWork, logger: Logger) {
        self.loop = loop
        self.settings = settings
        self.sessions = sessions
        self.background = background
        self.logger = logger
        self.table = UDPSessionTable(capacity: settings.maxSessions, idleTimeout: settings.idleTimeout)
        self.lookUps = AddressRateLimiter(.init(rate: settings.lookUpRate, burst: settings.lookUpBurst))
    }

    var registry: any Registry { sessions.router.registry }

    /// This relay for closures that come back to the loop.
    var bound: NIOLoopBound<WebRTCRelay> { NIOLoopBound(self, eventLoop: loop) }

    // MARK: Lifecycle (on the loop)

    func attach(_ listener: any Channel) {
        loop.preconditionInEventLoop()
        self.listener = listener
        let interval = TimeAmount.nanoseconds(min(settings.idleTimeout.nanoseconds / 4, TimeAmount.seconds(1).nanoseconds))
        let bound = self.bound
        sweeper = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in bound.value.sweep() }
    }

    /// Graceful shutdown began: refuse new sessions, close the listener once the live ones ended.
    func quiesce() {
        loop.preconditionInEventLoop()
        quiescing = true
        for (_, p) in pending { p.stream.end(reason: "proxy stopping before the session's first datagram") }
        pending = [:]
        closeListenerIfDrained()
    }

    func closeListenerIfDrained() {
        guard quiescing, table.count == 0, starting.isEmpty else { return }
        listener?.close(promise: nil)
    }

    /// Ends every session (shutdown).
    func closeAll(reason: String) {
        loop.preconditionInEventLoop()
        sweeper?.cancel()
        sweeper = nil
        for entry in table.removeAll() { end(entry.session, reason: reason) }
        byClient = [:]
        for (_, p) in pending { p.stream.end(reason: reason) }
        pending = [:]
        listener = nil
    }

    // MARK: From the signalling side (through the Handle, on the loop)

    /// A session was signalled through this proxy: its Binding Request is expected soon.
    func expect(username: String, record: WebRTCSessionRecord, stream: StreamSession, lease: RouteLease) {
        if let old = pending.removeValue(forKey: username) { old.stream.end(reason: "signalled again with the same ufrags") }
        // Signalled sessions wait for their first datagram in a table as large as the session table.
        guard pending.count < settings.maxSessions else {
            stream.end(reason: "too many signalled sessions waiting for their first datagram")
            drops.sessionsFull += 1
            return
        }
        watchClose(username, stream)
        pending[username] = Pending(record: record, stream: stream, lease: lease, deadline: .now() + settings.idleTimeout)
    }

    /// Closed on request (the commands API): the UDP session is dropped (or the signalled one
    /// forgotten), its registry records deleted, and the backend's WHIP/WHEP resource DELETEd.
    func watchClose(_ username: String, _ stream: StreamSession) {
        let bound = self.bound, loop = self.loop
        stream.onClose { reason in
            loop.execute { bound.value.closeRequested(username, stream, reason: reason) }
        }
    }

    private func closeRequested(_ username: String, _ stream: StreamSession, reason: String) {
        var ended: (record: WebRTCSessionRecord, backend: Backend)?
        // A session being started (backend socket or registry look-up in flight) finds no
        // held datagrams when its socket is ready, and closes it and ends its stream.
        starting[username] = nil
        if let p = pending[username], p.stream === stream {
            pending[username] = nil
            ended = (p.record, p.lease.backend)
            stream.end(reason: "closed: \(reason)")
        }
        if let session = table.entry(forID: username)?.session, session.stream === stream {
            table.remove(id: session.username)
            ended = (session.record, session.lease.backend)
            end(session, reason: "closed: \(reason)")
        }
        if let ended { deleteResource(of: username, record: ended.record, backend: ended.backend) }
    }

    /// DELETE of the backend's resource for a session (best effort, bounded by 5 s), and the
    /// session's registry records.
    func deleteResource(of username: String, record: WebRTCSessionRecord, backend: Backend) {
        let registry = self.registry, loop = self.loop
        background.submit {
            if let resource = record.resource {
                if let value = try? await registry.record(namespace: WebRTCResourceRecord.namespace, id: resource),
                    let target = WebRTCResourceRecord.decode(value), let api = backend.address(for: .api)
                {
                    _ = try? await BackendHTTPExchange.send(.DELETE, target.location, headers: [:], body: nil, to: api, on: loop, timeout: .seconds(5)).get()
                }
                try? await registry.deleteRecord(namespace: WebRTCResourceRecord.namespace, id: resource)
            }
            try? await registry.deleteRecord(namespace: WebRTCSessionRecord.namespace, id: username)
        }
    }

    /// The session was deleted (WHIP/WHEP DELETE).
    func close(username: String) {
        if let p = pending.removeValue(forKey: username) { p.stream.end(reason: "deleted") }
        if let s = table.remove(id: username) { end(s, reason: "deleted") }
    }

    var sessionCount: Int { table.count }
}

extension WebRTCRelay {
    /// How the rest of the module (signalling on other event loops, the module's run) reaches
    /// the relay: every call hops onto the relay's loop.
    struct Handle: Sendable {
        let loop: any EventLoop
        private let relay: NIOLoopBound<WebRTCRelay>

        /// Makes the relay on `loop`.
        static func make(
            on loop: any EventLoop, settings: Settings, sessions: StreamSession.Context, background: BackgroundWork, logger: Logger
        ) async throws -> Handle {
            try await loop.submit {
                let relay = WebRTCRelay(loop: loop, settings: settings, sessions: sessions, background: background, logger: logger)
                return Handle(loop: loop, relay: NIOLoopBound(relay, eventLoop: loop))
            }.get()
        }

        private init(loop: any EventLoop, relay: NIOLoopBound<WebRTCRelay>) {
            self.loop = loop
            self.relay = relay
        }

        /// The relay itself, for handlers made on its loop (the listening socket's).
        var onLoop: WebRTCRelay { relay.value }

        func expect(username: String, record: WebRTCSessionRecord, stream: StreamSession, lease: RouteLease) {
            loop.execute { relay.value.expect(username: username, record: record, stream: stream, lease: lease) }
        }

        func close(username: String) {
            loop.execute { relay.value.close(username: username) }
        }

        func closeAll(reason: String) async throws {
            try await loop.submit { relay.value.closeAll(reason: reason) }.get()
        }

        func drops() async -> Drops {
            (try? await loop.submit { relay.value.drops }.get()) ?? Drops()
        }
    }
}
