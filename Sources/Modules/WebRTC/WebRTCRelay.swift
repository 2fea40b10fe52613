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
/// addresses of a session), no allocation,
/// lock or atomic per datagram (last-seen time and byte counts are session fields, flushed to the
/// table and the lease's counters per batch or sweep). From an unknown address only a STUN Binding Request is taken: its
/// USERNAME (`<answer ufrag>:<offer ufrag>`) names the session, found among those signalled
/// through this proxy or, through the registry, through another one; the address is then bound.
///
/// A client may check from several addresses with one USERNAME (a browser pairs each of its local
/// candidates, 127.0.0.1 and the machine's other addresses, with the one proxy candidate): each
/// is bound to the session (up to `maxClientAddresses`) and relayed. Towards the client, a
/// Binding response goes to the address its request came from (by transaction id), everything
/// else to the active address: the first one, then the one that last nominated (USE-CANDIDATE)
/// or sent media (DTLS, SRTP: the client's selected pair), which also covers NAT rebinding.
/// STUN, DTLS, SRTP and SRTCP are passed on untouched,
/// both ways: towards the client the read buffer itself is written to the listening socket and the
/// writes of one read burst are flushed together (sendmmsg); towards the backend the same-size
/// datagrams of a read batch go out as one UDP GSO send where the kernel has it (BackendHandler).
///
/// Confined to `loop`: every method runs there (the signalling side calls `expect`/`close`,
/// which hop onto it), which is why the class is `@unchecked Sendable`.
final class WebRTCRelay: @unchecked Sendable {
    struct Settings: Sendable {
        var idleTimeout: TimeAmount
        var maxSessions: Int
        /// How long registry records live after their last refresh.
        var recordTTL: Duration
        var module: String
        /// Datagrams held per session while its backend socket is made or its record looked up.
        var heldPerSession = 2
        /// Registry look-ups and backend dials in flight at once.
        var maxStarting = 1024
        /// UDP GSO towards backends (where the kernel has it): see BackendHandler.
        var gso = true
        /// Client addresses bound to one session at once (the active one included); past it the
        /// oldest other address is unbound.
        var maxClientAddresses = 8
        /// Binding Requests from a session's other addresses whose responses are routed back.
        var trackedRequests = 16
    }

    /// A session signalled through this proxy whose first Binding Request has not come yet.
    struct Pending: Sendable {
        var record: WebRTCSessionRecord
        var lease: RouteLease
        var deadline: NIODeadline
    }

    /// One media session.
    final class Session {
        let username: String
        let record: WebRTCSessionRecord
        let lease: RouteLease
        let backend: any Channel
        /// The active client address: where everything but a routed Binding response goes.
        var client: SocketAddress
        /// `client` as a cheap dictionary key (the hot path's one lookup).
        var clientKey: ClientKey
        /// The client's other bound addresses (checks from its other local candidates), each in
        /// `byClient` too while it leads to this session.
        var others: [(key: ClientKey, address: SocketAddress)] = []
        /// Binding Requests relayed from `others`, for their responses to go back there.
        var requestsFromOthers: [(id: STUNMessage.TransactionID, address: SocketAddress)] = []
        /// The backend socket's handler: writes go to its context, past the pipeline's tail. (The
        /// handler's reference back to the session is dropped when the socket closes.)
        let handler: BackendHandler
        var needsFlush = false
        /// Set by the hot path; copied into the session table before idle expiry.
        var lastSeen: NIODeadline
        /// Bytes relayed in the current read batch, added to the lease's counters once per batch.
        var pendingFromClient = 0
        var pendingToClient = 0
        var lastRecordRefresh: NIODeadline

        init(
            username: String, record: WebRTCSessionRecord, lease: RouteLease, backend: any Channel, handler: BackendHandler,
            client: SocketAddress, now: NIODeadline
        ) {
            self.username = username
            self.record = record
            self.lease = lease
            self.backend = backend
            self.handler = handler
            self.client = client
            self.clientKey = ClientKey(client)
            self.lastSeen = now
            self.lastRecordRefresh = now
        }

        func accountFromClient() {
            guard pendingFromClient != 0 else { return }
            lease.counters.addFromClient(pendingFromClient)
            pendingFromClient = 0
        }

        func accountToClient() {
            guard pendingToClient != 0 else { return }
            lease.counters.addToClient(pendingToClient)
            pendingToClient = 0
        }
    }

    /// A client address as plain integers (IPv4: address and port in `low`; IPv6: the address in
    /// `high`/`low` and the port and scope in `extra`): hashed and compared without going through
    /// SocketAddress's boxed storage.
    struct ClientKey: Hashable {
        var high: UInt64
        var low: UInt64
        var extra: UInt64

        init(_ address: SocketAddress) {
            switch address {
            case .v4(let a):
                high = 0
                low = UInt64(a.address.sin_addr.s_addr) << 16 | UInt64(a.address.sin_port)
                extra = 4
            case .v6(let a):
                var sa = a.address
                let words = withUnsafeBytes(of: &sa.sin6_addr) { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
                high = words.0
                low = words.1
                extra = 6 | UInt64(sa.sin6_port) << 8 | UInt64(sa.sin6_scope_id) << 24
            case .unixDomainSocket:
                high = 0
                low = 0
                extra = 0
            }
        }
    }

    /// Datagrams that were dropped, by reason (logged when they change, at most every 10 s).
    struct Drops: Equatable, CustomStringConvertible {
        var unknownAddress = 0
        var badSTUN = 0
        var unknownUsername = 0
        var sessionsFull = 0
        var notWritable = 0
        var backendFailed = 0

        var total: Int { unknownAddress + badSTUN + unknownUsername + sessionsFull + notWritable + backendFailed }
        var description: String {
            "unknown_address=\(unknownAddress) bad_stun=\(badSTUN) unknown_username=\(unknownUsername) sessions_full=\(sessionsFull) not_writable=\(notWritable) backend_failed=\(backendFailed)"
        }
    }

    /// Bytes a socket may hold unflushed before it counts as not writable: one read burst of
    /// datagrams (NIO's 64 KiB default is less than one burst of 1,300-byte datagrams).
    static let writeWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 1 << 20, high: 4 << 20)

    let loop: any EventLoop
    private let settings: Settings
    private let router: Router
    private let hooks: any ProxyHooks
    private let logger: Logger
    private var listener: (any Channel)?
    private var table: UDPSessionTable<String, Session>
    /// The hot path's index: each session under its active client address (the table's binding;
    /// the table stays the authority for ids, capacity and rebinding) and its other addresses.
    private var byClient: [ClientKey: Session] = [:]
    private var pending: [String: Pending] = [:]
    /// Sessions being started (dial or registry look-up in flight), with the datagrams held for them.
    private var starting: [String: [AddressedEnvelope<ByteBuffer>]] = [:]
    private var dirty: [Session] = []
    private var listenerNeedsFlush = false
    private var now: NIODeadline = .now()
    private(set) var drops = Drops()
    private var loggedDrops = Drops()
    private var lastDropLog: NIODeadline = .distantPast
    private var sweeper: RepeatedTask?
    /// Graceful shutdown: no new sessions; the listener closes when the last one ended.
    private var quiescing = false

    init(loop: any EventLoop, settings: Settings, router: Router, hooks: any ProxyHooks, logger: Logger) {
        self.loop = loop
        self.settings = settings
        self.router = router
        self.hooks = hooks
        self.logger = logger
        self.table = UDPSessionTable(capacity: settings.maxSessions, idleTimeout: settings.idleTimeout)
    }

    // MARK: Lifecycle (on the loop)

    func attach(_ listener: any Channel) {
        loop.preconditionInEventLoop()
        self.listener = listener
        let interval = TimeAmount.nanoseconds(min(settings.idleTimeout.nanoseconds / 4, TimeAmount.seconds(1).nanoseconds))
        sweeper = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in sweep() }
    }

    /// Graceful shutdown began: refuse new sessions, close the listener once the live ones ended.
    func quiesce() {
        loop.preconditionInEventLoop()
        quiescing = true
        for (_, p) in pending { Task { await p.lease.release() } }
        pending = [:]
        closeListenerIfDrained()
    }

    private func closeListenerIfDrained() {
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
        for (_, p) in pending { Task { await p.lease.release() } }
        pending = [:]
        listener = nil
    }

    // MARK: From the signalling side (any thread)

    /// A session was signalled through this proxy: its Binding Request is expected soon.
    func expect(username: String, record: WebRTCSessionRecord, lease: RouteLease) {
        watchClose(username, lease)
        loop.execute { [self] in
            if let old = pending.removeValue(forKey: username) { Task { await old.lease.release() } }
            pending[username] = Pending(record: record, lease: lease, deadline: .now() + settings.idleTimeout)
        }
    }

    /// Closed on request (the commands API): the UDP session is dropped (or the signalled one
    /// forgotten), its registry records deleted, and the backend's WHIP/WHEP resource DELETEd.
    private func watchClose(_ username: String, _ lease: RouteLease) {
        lease.onClose { [self] reason in
            loop.execute { [self] in
                var record: WebRTCSessionRecord?
                // A session being started (backend socket or registry look-up in flight) finds no
                // held datagrams when its socket is ready, and closes it and releases its lease.
                starting[username] = nil
                if let p = pending[username], p.lease === lease {
                    pending[username] = nil
                    record = p.record
                    Task { await lease.release() }
                }
                if let session = table.entry(forID: username)?.session, session.lease === lease {
                    table.remove(id: username)
                    record = session.record
                    end(session, reason: "closed: \(reason)")
                }
                if let record { deleteResource(of: username, record: record, backend: lease.backend) }
            }
        }
    }

    /// DELETE of the backend's resource for a session (best effort, bounded by 5 s), and the
    /// session's registry records.
    private func deleteResource(of username: String, record: WebRTCSessionRecord, backend: Backend) {
        let registry = router.registry, loop = self.loop
        Task {
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
        loop.execute { [self] in
            if let p = pending.removeValue(forKey: username) { Task { await p.lease.release() } }
            if let s = table.remove(id: username) { end(s, reason: "deleted") }
        }
    }

    // MARK: Client datagrams (listener channel)

    func clientDatagram(_ envelope: AddressedEnvelope<ByteBuffer>) {
        let key = ClientKey(envelope.remoteAddress)
        if let session = byClient[key] {
            session.lastSeen = now
            fromClient(session, envelope, key: key)
            return
        }
        unknownDatagram(envelope)
    }

    /// A datagram of the session's client (from an address bound to it or, with its USERNAME, a new one).
    @inline(__always) private func fromClient(_ session: Session, _ envelope: AddressedEnvelope<ByteBuffer>, key: ClientKey) {
        if key != session.clientKey { fromOtherAddress(session, envelope, key: key) }
        toBackend(session, envelope.data)
    }

    /// From an address that is not the active one: bind it if new, note a Binding Request's
    /// transaction for the response, and make it active on nomination or media.
    private func fromOtherAddress(_ session: Session, _ envelope: AddressedEnvelope<ByteBuffer>, key: ClientKey) {
        let address = envelope.remoteAddress
        if byClient[key] !== session { bind(session, address, key: key) }
        let (request, nominated, id) = envelope.data.withUnsafeReadableBytes { bytes in
            STUNMessage.isBindingRequest(bytes)
                ? (true, STUNMessage.hasUseCandidate(bytes), STUNMessage.transactionID(bytes)) : (false, false, STUNMessage.TransactionID(high: 0, low: 0))
        }
        if request {
            if session.requestsFromOthers.count >= settings.trackedRequests { session.requestsFromOthers.removeFirst() }
            session.requestsFromOthers.append((id, address))
            if nominated { activate(session, address, key: key, why: "nominated") }
        } else if !envelope.data.withUnsafeReadableBytes({ STUNMessage.looksLikeSTUN($0) }) {
            activate(session, address, key: key, why: "media")
        }
    }

    /// Binds one more client address to the session (the oldest other one goes past the cap).
    private func bind(_ session: Session, _ address: SocketAddress, key: ClientKey) {
        if session.others.count + 1 >= settings.maxClientAddresses {
            let oldest = session.others.removeFirst()
            if byClient[oldest.key] === session { byClient[oldest.key] = nil }
        }
        session.others.append((key, address))
        byClient[key] = session
        logger.info("client address added", metadata: [
            "session": "\(session.username)", "address": "\(address.endpointDescription)", "active": "\(session.client.endpointDescription)",
        ])
    }

    /// Makes a bound address the active one (the old one stays bound).
    private func activate(_ session: Session, _ address: SocketAddress, key: ClientKey, why: String) {
        guard case .moved(let displaced) = table.rebind(id: session.username, to: address) else { return }
        logger.info("client address changed", metadata: [
            "session": "\(session.username)", "from": "\(session.client.endpointDescription)", "to": "\(address.endpointDescription)", "reason": "\(why)",
        ])
        session.others.removeAll { $0.key == key }
        session.others.append((session.clientKey, session.client))
        session.client = address
        session.clientKey = key
        byClient[key] = session
        if let displaced, displaced.session !== session { end(displaced.session, reason: "its address was taken by another session") }
    }

    func clientReadComplete() {
        now = .now()
        for session in dirty {
            session.needsFlush = false
            session.handler.flush()
            session.accountFromClient()
        }
        dirty.removeAll(keepingCapacity: true)
        flushListener()
    }

    @inline(__always) private func toBackend(_ session: Session, _ data: ByteBuffer) {
        guard session.handler.write(data) else {
            drops.notWritable += 1
            return
        }
        session.pendingFromClient &+= data.readableBytes
        if !session.needsFlush {
            session.needsFlush = true
            dirty.append(session)
        }
    }

    private func unknownDatagram(_ envelope: AddressedEnvelope<ByteBuffer>) {
        let verdict = envelope.data.withUnsafeReadableBytes { STUNMessage.inspect($0) }
        let username: String
        switch verdict {
        case .notSTUN, .otherSTUN:
            drops.unknownAddress += 1
            return
        case .malformed:
            drops.badSTUN += 1
            return
        case .binding(_, let name):
            username = name
        }
        if let session = table.session(forID: username, now: now) {
            session.lastSeen = now
            fromClient(session, envelope, key: ClientKey(envelope.remoteAddress))
            return
        }
        if starting[username] != nil {
            if starting[username]!.count < settings.heldPerSession { starting[username]!.append(envelope) } else { drops.notWritable += 1 }
            return
        }
        guard !table.isFull, !quiescing else {
            drops.sessionsFull += 1
            return
        }
        guard starting.count < settings.maxStarting else {
            drops.sessionsFull += 1
            return
        }
        starting[username] = [envelope]
        if let p = pending.removeValue(forKey: username) {
            dial(username, record: p.record, lease: p.lease)
        } else {
            lookUp(username, client: envelope.remoteAddress)
        }
    }

    /// A session signalled through another proxy: its record is in the shared registry.
    private func lookUp(_ username: String, client: SocketAddress) {
        let registry = router.registry, router = self.router
        Task { [self] in
            var found: (WebRTCSessionRecord, RouteLease)?
            if let text = try? await registry.record(namespace: WebRTCSessionRecord.namespace, id: username),
                let record = WebRTCSessionRecord.decode(text),
                let backend = try? await registry.aliveBackends().first(where: { $0.id.rawValue == record.backend })
            {
                let lease = await router.attach(
                    record.request, to: backend, kind: .rtc, role: record.mode == .publish ? .publish : .play, client: client.endpointDescription)
                watchClose(username, lease)
                found = (record, lease)
            }
            let result = found
            loop.execute { [self] in
                guard let (record, lease) = result else {
                    drops.unknownUsername += starting.removeValue(forKey: username)?.count ?? 0
                    return
                }
                dial(username, record: record, lease: lease)
            }
        }
    }

    // MARK: Backend sockets

    private func dial(_ username: String, record: WebRTCSessionRecord, lease: RouteLease) {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: record.ip, port: record.port)
        } catch {
            failStart(username, lease: lease, reason: "bad backend address \(record.ip):\(record.port)")
            return
        }
        let handler = NIOLoopBound(BackendHandler(relay: self, gso: settings.gso), eventLoop: loop)
        UDPBackendDialer.connect(to: address, on: loop) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.syncOptions?.setOption(.writeBufferWaterMark, value: WebRTCRelay.writeWaterMark)
                try channel.pipeline.syncOperations.addHandler(handler.value)
            }
        }
            .hop(to: loop)
            .whenComplete { [self] result in
                switch result {
                case .failure(let error):
                    failStart(username, lease: lease, reason: "cannot open a socket to the backend: \(error)")
                case .success(let channel):
                    started(username, record: record, lease: lease, channel: channel, handler: handler.value)
                }
            }
    }

    private func failStart(_ username: String, lease: RouteLease, reason: String) {
        drops.backendFailed += starting.removeValue(forKey: username)?.count ?? 0
        logger.warning("media session not started", metadata: ["session": "\(username)", "reason": "\(reason)"])
        Task { await lease.release() }
    }

    private func started(_ username: String, record: WebRTCSessionRecord, lease: RouteLease, channel: any Channel, handler: BackendHandler) {
        let held = starting.removeValue(forKey: username) ?? []
        guard let client = held.first?.remoteAddress else {
            channel.close(promise: nil)
            Task { await lease.release() }
            return
        }
        let session = Session(username: username, record: record, lease: lease, backend: channel, handler: handler, client: client, now: now)
        do {
            if let displaced = try table.insert(id: username, address: client, session: session, now: now) {
                end(displaced.session, reason: "its address was taken by another session")
            }
            byClient[session.clientKey] = session
        } catch {
            drops.sessionsFull += held.count
            channel.close(promise: nil)
            Task { await lease.release() }
            return
        }
        handler.session = session
        hooks.report(StreamEvent(kind: record.mode == .publish ? .publishStart : .playStart, request: record.request, module: settings.module, client: client.endpointDescription, backend: lease.backend.id))
        logger.info("media session started", metadata: [
            "session": "\(username)", "stream": "\(record.stream)", "mode": "\(record.mode.rawValue)", "client": "\(client.endpointDescription)",
            "backend": "\(lease.backend.id)", "backend_udp": "\(record.ip):\(record.port)",
        ])
        refreshRecord(session)
        for envelope in held { fromClient(session, envelope, key: ClientKey(envelope.remoteAddress)) }
        clientReadComplete()
    }

    func backendDatagram(_ session: Session, _ data: ByteBuffer) {
        guard let listener, listener.isWritable else {
            drops.notWritable += 1
            return
        }
        session.pendingToClient &+= data.readableBytes
        var to = session.client
        if !session.requestsFromOthers.isEmpty, let requester = requester(session, data) { to = requester }
        listener.write(AddressedEnvelope(remoteAddress: to, data: data), promise: nil)
        listenerNeedsFlush = true
    }

    /// Where a Binding response of the backend goes when its request came from another address.
    private func requester(_ session: Session, _ data: ByteBuffer) -> SocketAddress? {
        let id: STUNMessage.TransactionID? = data.withUnsafeReadableBytes { bytes in
            STUNMessage.isBindingResponse(bytes) ? STUNMessage.transactionID(bytes) : nil
        }
        guard let id, let index = session.requestsFromOthers.firstIndex(where: { $0.id == id }) else { return nil }
        return session.requestsFromOthers.remove(at: index).address
    }

    /// The session's client addresses no longer lead to it (the session ended).
    private func unindex(_ session: Session) {
        if byClient[session.clientKey] === session { byClient[session.clientKey] = nil }
        for other in session.others where byClient[other.key] === session { byClient[other.key] = nil }
    }

    func flushListener() {
        guard listenerNeedsFlush else { return }
        listenerNeedsFlush = false
        listener?.flush()
    }

    func backendClosed(_ session: Session) {
        if table.entry(forID: session.username)?.session === session {
            table.remove(id: session.username)
            end(session, reason: "backend socket closed")
        }
    }

    // MARK: Ending and housekeeping

    private func end(_ session: Session, reason: String) {
        unindex(session)
        session.accountFromClient()
        session.accountToClient()
        session.backend.close(promise: nil)
        defer { closeListenerIfDrained() }
        let lease = session.lease, record = session.record, registry = router.registry
        hooks.report(StreamEvent(kind: record.mode == .publish ? .publishEnd : .playEnd, request: record.request, module: settings.module, client: session.client.endpointDescription, backend: lease.backend.id))
        logger.info("media session ended", metadata: [
            "session": "\(session.username)", "stream": "\(record.stream)", "reason": "\(reason)",
            "bytes_from_client": "\(lease.counters.bytesFromClient)", "bytes_to_client": "\(lease.counters.bytesToClient)",
        ])
        let username = session.username
        Task {
            await lease.release()
            try? await registry.deleteRecord(namespace: WebRTCSessionRecord.namespace, id: username)
        }
    }

    private func refreshRecord(_ session: Session) {
        session.lastRecordRefresh = now
        let registry = router.registry, record = session.record, username = session.username, ttl = settings.recordTTL
        Task {
            try? await registry.putRecord(record.json, namespace: WebRTCSessionRecord.namespace, id: username, ttl: ttl)
            if let resource = record.resource {
                // The resource record lives as long as the session: re-put it with the same content.
                if let text = try? await registry.record(namespace: WebRTCResourceRecord.namespace, id: resource) {
                    try? await registry.putRecord(text, namespace: WebRTCResourceRecord.namespace, id: resource, ttl: ttl)
                }
            }
        }
    }

    private func sweep() {
        now = .now()
        // The hot path marks sessions seen on the session object; bring the table up to date first.
        for username in table.ids {
            if let session = table.entry(forID: username)?.session { _ = table.session(forID: username, now: session.lastSeen) }
        }
        for entry in table.expire(now: now) { end(entry.session, reason: "idle for \(settings.idleTimeout.nanoseconds / 1_000_000_000) s") }
        for (username, p) in pending where p.deadline < now {
            pending[username] = nil
            Task { await p.lease.release() }
        }
        let refreshEvery = TimeAmount.nanoseconds(Int64(settings.recordTTL.seconds * 1e9 / 3))
        for username in Array(activeUsernames) {
            if let session = table.entry(forID: username)?.session, now - session.lastRecordRefresh >= refreshEvery { refreshRecord(session) }
        }
        if drops != loggedDrops, now - lastDropLog >= .seconds(10) {
            loggedDrops = drops
            lastDropLog = now
            logger.notice("datagrams dropped", metadata: ["total": "\(drops.total)", "reasons": "\(drops)"])
        }
    }

    private var activeUsernames: [String] { table.ids }

    var sessionCount: Int { table.count }
}

/// The handler of one session's backend socket: datagrams go to the client, a read burst ends
/// with one flush of the listener.
final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = ByteBuffer
    private let relay: WebRTCRelay
    /// Set once the session exists (before any datagram is sent to the backend).
    var session: WebRTCRelay.Session?
    private var context: ChannelHandlerContext?
    /// The channel's writability, kept from writability events (no atomic load per datagram).
    private var writable = true
    /// Client-to-backend writes, with UDP GSO for runs of same-size datagrams.
    private var writer: UDPSegmentWriter

    init(relay: WebRTCRelay, gso: Bool) {
        self.relay = relay
        self.writer = UDPSegmentWriter(enabled: gso)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writable = context.channel.isWritable
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes a client datagram to the backend without flushing; false when the socket cannot take it.
    @inline(__always) func write(_ data: ByteBuffer) -> Bool {
        guard writable, let context else { return false }
        writer.write(data, context: context)
        return true
    }

    func flush() {
        guard let context else { return }
        writer.flush(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session else { return }
        relay.backendDatagram(session, unwrapInboundIn(data).data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session?.accountToClient()
        relay.flushListener()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session { relay.backendClosed(session) }
        session = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable on a connected socket (the backend's port closed): keep the
        // session until it idles out; the client's retransmissions may still find it restarted.
        // EIO on a segmented send: the route's device cannot checksum-offload it; stop using GSO.
        writer.noteError(error, context: context)
    }
}

@available(*, unavailable)
extension BackendHandler: Sendable {}

/// The handler of the listening socket.
final class RelayListenerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let relay: WebRTCRelay

    init(relay: WebRTCRelay) {
        self.relay = relay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        relay.clientDatagram(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        relay.clientReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            relay.quiesce()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket reports ICMP errors of earlier sends here; the socket stays usable.
    }
}

@available(*, unavailable)
extension RelayListenerHandler: Sendable {}
