import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

/// The SRT listener's handler: every datagram from every caller arrives here, on one event loop,
/// which also owns the session table and every session's backend socket (no lock, no thread hop).
///
/// - A packet from a known address that is not a handshake: one table lookup by address, a check
///   that its destination socket id is the session's backend socket, and the buffer is written to
///   the backend socket unchanged (flushed once per read batch, so NIO sends the batch together).
/// - INDUCTION: answered at once with a SYN cookie (a keyed hash of the caller's address and the
///   time bucket); nothing is stored.
/// - CONCLUSION: the cookie is checked, the Stream ID read, and a session made; routing and the
///   backend handshake run asynchronously (SRTBackendHandler), bounded by `backendTimeout`.
///   Retransmitted conclusions are absorbed while connecting and answered from the stored
///   response once connected.
/// - Anything else is dropped with a counter and a rate-limited log line (SRTDropCounters).
///
/// With a UDPFastPath (the default on Linux) the channel does not read: the fast path relays the
/// established sessions' packets both ways on its own thread, and hands everything else here
/// (`receiveFromFastPath`, the same logic as `channelRead`), plus each backend socket's datagrams
/// until its session is connected, SHUTDOWNs it relayed, and socket errors (`fastPathEvent`).
final class SRTServerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    struct Settings: Sendable {
        var idleTimeout: TimeAmount
        var backendTimeout: TimeAmount
        var maxSessions: Int
        /// UDP GSO for runs of same-size datagrams to a backend (SRTBackendHandler).
        var gso = true
        var cookieBucketSeconds: UInt64 = 60
    }

    struct Environment: Sendable {
        var router: Router
        var hooks: any ProxyHooks
        var logger: Logger
        /// The batched data path, when it runs (the listener's; sessions register their backend sockets with it).
        var fastPath: UDPFastPath?
        /// Connects a backend socket on the loop; with the fast path, for the given client, with
        /// the sink of what the fast path reads from it.
        var dialer: @Sendable (BackendAddress, any EventLoop, SocketAddress, @escaping UDPFastPath.BackendSink) -> EventLoopFuture<UDPBackendSocket>
    }

    private let settings: Settings
    private let environment: Environment
    private var logger: Logger { environment.logger }
    private let cookie: SRTCookie
    private(set) var table: UDPSessionTable<UInt32, SRTSession>
    /// Connected sessions by the backend's socket id, the destination of every packet the caller
    /// sends: the hot path's lookup is an integer-keyed hit in a dictionary specialized here, then a
    /// check of the source address. Ids two backends happen to share fall back to the table's
    /// lookup by address.
    private var byBackendSocketID: [UInt32: SRTSession] = [:]
    private(set) var drops = SRTDropCounters()
    private var context: ChannelHandlerContext?
    private var batchNow: NIODeadline?
    private var backendsToFlush: [SRTSession] = []
    private var clientFlushPending = false
    private var expiry: RepeatedTask?
    private var accepting = true
    private var drained: (() -> Void)?

    init(settings: Settings, environment: Environment, cookie: SRTCookie = .random()) {
        self.settings = settings
        self.environment = environment
        self.cookie = cookie
        self.table = UDPSessionTable(capacity: settings.maxSessions, idleTimeout: settings.idleTimeout)
        backendsToFlush.reserveCapacity(64)
    }

    var sessionCount: Int { table.count }

    private var now: NIODeadline {
        if let batchNow { return batchNow }
        let t = NIODeadline.now()
        batchNow = t
        return t
    }
}

// MARK: - Channel events

extension SRTServerHandler {
    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        environment.fastPath?.setClientSink { datagrams in loop.value.receiveFromFastPath(datagrams) }
        expiry = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            loop.value.expireIdle()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        expiry?.cancel()
        closeAll(reason: "listener closed")
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        receive(envelope.data, from: envelope.remoteAddress, context: context)
    }

    /// What the fast path did not relay: the same handling as datagrams read by the channel.
    func receiveFromFastPath(_ datagrams: [UDPFastPath.ClientDatagram]) {
        guard let context else { return }
        for datagram in datagrams { receive(datagram.data, from: datagram.from, context: context) }
        readComplete()
    }

    private func receive(_ buffer: ByteBuffer, from: SocketAddress, context: ChannelHandlerContext) {
        guard buffer.readableBytes >= SRTPacket.headerSize else {
            drops.note(.tooShort, from: from, detail: "\(buffer.readableBytes) bytes", logger: logger)
            return
        }
        let r = buffer.readerIndex
        let word0 = buffer.getInteger(at: r, as: UInt32.self)!
        if word0 >> 16 != 0x8000 {
            // Data or a control packet other than a handshake: the hot path.
            let destination = buffer.getInteger(at: r + SRTPacket.destinationOffset, as: UInt32.self)!
            let session: SRTSession
            if let s = byBackendSocketID[destination], s.client == from {
                session = s
            } else if let s = table.session(forAddress: from, now: now), s.state == .connected, destination == s.backendSocketID {
                session = s
            } else {
                drops.note(.unknownSocketID, from: from, detail: "destination socket id \(destination)", logger: logger)
                return
            }
            session.lastSeen = now
            forwardToBackend(session, buffer)
            if word0 >> 16 == 0x8005 {
                session.backend?.flush()
                teardown(session, reason: "client sent SHUTDOWN", notify: false)
            }
            return
        }
        handshake(buffer, from: from, context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readComplete()
    }

    private func readComplete() {
        for session in backendsToFlush {
            session.backendFlushPending = false
            session.backend?.flush()
            session.accountFromClient()
        }
        backendsToFlush.removeAll(keepingCapacity: true)
        batchNow = nil
        flushClients()
    }

    /// Graceful shutdown (UDPListener): refuse new callers, keep relaying; close once the last session ended.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        logger.info("draining", metadata: ["sessions": "\(table.count)"])
        let channel = context.channel
        stopAccepting { channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A send to a caller that went away can report ICMP errors here; the listener keeps serving.
        logger.debug("listener socket error", metadata: ["error": "\(error)"])
    }
}

// MARK: - Relay

extension SRTServerHandler {
    private func forwardToBackend(_ session: SRTSession, _ buffer: ByteBuffer) {
        guard let backend = session.backend, backend.forward(buffer) else {
            drops.note(.notWritable, from: session.client, detail: "backend socket not writable", logger: logger)
            return
        }
        session.pendingFromClient &+= buffer.readableBytes
        if !session.backendFlushPending {
            session.backendFlushPending = true
            backendsToFlush.append(session)
        }
    }

    /// A datagram from `session`'s backend: to the client, unchanged (flushed by `flushClients`).
    func relayToClient(_ session: SRTSession, _ buffer: ByteBuffer) {
        guard session.state == .connected, let context else { return }
        guard context.channel.isWritable else {
            drops.note(.notWritable, from: session.client, detail: "listener socket not writable", logger: logger)
            return
        }
        session.pendingToClient &+= buffer.readableBytes
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: session.client, data: buffer)), promise: nil)
        clientFlushPending = true
        if buffer.readableBytes >= SRTPacket.headerSize, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x8005 {
            flushClients()
            teardown(session, reason: "backend sent SHUTDOWN", notify: false)
        }
    }

    func flushClients() {
        guard clientFlushPending else { return }
        clientFlushPending = false
        context?.flush()
    }

    private func send(_ bytes: [UInt8], to address: SocketAddress) {
        guard let context else { return }
        let buffer = context.channel.allocator.buffer(bytes: bytes)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: buffer)), promise: nil)
    }
}

// MARK: - Handshakes from callers

extension SRTServerHandler {
    private func handshake(_ buffer: ByteBuffer, from: SocketAddress, context: ChannelHandlerContext) {
        let hs: SRTHandshake
        do {
            hs = try SRTHandshake(parsing: buffer.readableBytesView)
        } catch {
            drops.note(.malformedHandshake, from: from, detail: "\(error)", logger: logger)
            return
        }
        switch hs.kind {
        case .induction:
            guard hs.version == 4 || hs.version == 5 else {
                drops.note(.unknownVersion, from: from, detail: "induction version \(hs.version)", logger: logger)
                return
            }
            var reply = hs
            reply.timestamp = 0
            reply.destinationSocketID = hs.socketID
            reply.version = 5
            reply.encryption = 0
            reply.extensionField = SRTHandshake.magic
            reply.cookie = makeCookie(for: from)
            reply.peerIP = from.srtPeerIPField
            reply.extensions = []
            send(reply.serialized(), to: from)
        case .conclusion:
            guard hs.version == 5 else {
                drops.note(.unknownVersion, from: from, detail: "conclusion version \(hs.version) (HSv5 only)", logger: logger)
                return
            }
            guard verifyCookie(hs.cookie, for: from) else {
                drops.note(.badCookie, from: from, detail: "cookie \(hs.cookie)", logger: logger)
                return
            }
            if let existing = table.session(forAddress: from, now: now), existing.clientSocketID == hs.socketID {
                // A retransmission: absorbed while connecting, answered from the stored response after.
                existing.lastSeen = now
                if existing.state == .connected, let response = existing.response {
                    context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: from, data: response)), promise: nil)
                }
                return
            }
            conclusion(hs, from: from)
        default:
            drops.note(.unexpectedHandshake, from: from, detail: "handshake type \(hs.kind.rawValue)", logger: logger)
        }
    }

    private func makeCookie(for address: SocketAddress) -> UInt32 {
        let seconds = UInt64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        return address.withSockAddr { cookie.make(address: UnsafeRawBufferPointer(start: $0, count: $1), seconds: seconds) }
    }

    private func verifyCookie(_ value: UInt32, for address: SocketAddress) -> Bool {
        let seconds = UInt64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        return address.withSockAddr { cookie.verify(value, address: UnsafeRawBufferPointer(start: $0, count: $1), seconds: seconds) }
    }

    /// Refuses a caller's conclusion with an SRT rejection (handshake type 1000 + reason).
    private func reject(_ hs: SRTHandshake, from: SocketAddress, reason: UInt32) {
        var reply = hs
        reply.timestamp = 0
        reply.destinationSocketID = hs.socketID
        reply.kind = .rejection(reason)
        reply.peerIP = from.srtPeerIPField
        reply.extensions = []
        send(reply.serialized(), to: from)
    }

    private func conclusion(_ hs: SRTHandshake, from: SocketAddress) {
        let text: String
        do {
            guard let sid = try hs.streamID() else {
                drops.note(.noStreamID, from: from, detail: "conclusion without a Stream ID", logger: logger)
                reject(hs, from: from, reason: SRTHandshake.RejectReason.badRequest)
                return
            }
            text = sid
        } catch {
            drops.note(.streamIDTooLong, from: from, detail: "\(error)", logger: logger)
            reject(hs, from: from, reason: SRTHandshake.RejectReason.badRequest)
            return
        }
        let streamID: SRTStreamID
        do {
            streamID = try SRTStreamID(parsing: text)
        } catch {
            drops.note(.badStreamID, from: from, detail: "\(error)", logger: logger)
            reject(hs, from: from, reason: SRTHandshake.RejectReason.badRequest)
            return
        }
        guard accepting else {
            reject(hs, from: from, reason: SRTHandshake.RejectReason.serviceUnavailable)
            return
        }
        let session = SRTSession(client: from, conclusion: hs, request: streamID.request, mode: streamID.mode, logger: logger)
        session.lastSeen = now
        let displaced: UDPSessionTable<UInt32, SRTSession>.Entry?
        do {
            displaced = try table.insert(id: hs.socketID, address: from, session: session, now: now)
        } catch {
            drops.note(.sessionLimit, from: from, detail: "\(error)", logger: logger)
            reject(hs, from: from, reason: SRTHandshake.RejectReason.overload)
            return
        }
        if let displaced { teardown(displaced.session, reason: "replaced by a new connection from the same address", notify: true) }
        if session.mode == .publish {
            authorize(session)
        } else {
            route(session)
        }
    }
}

// MARK: - Publish authorization, routing and the backend handshake

extension SRTServerHandler {
    /// Asks the publish hook first; its own timeout (`hooks.publish_auth.timeout`) bounds the wait,
    /// so `backend_timeout` is left whole for routing and the backend handshake.
    private func authorize(_ session: SRTSession) {
        guard let context else { return }
        let hooks = environment.hooks
        let event = session.startEvent
        let loop = NIOLoopBound((self, session), eventLoop: context.eventLoop)
        session.logger.debug("asking the publish hook")
        context.eventLoop.makeFutureWithTask { await hooks.authorizePublish(event) }.whenSuccess { decision in
            let (server, session) = loop.value
            guard session.state == .connecting else { return }
            if case .deny(let reason) = decision {
                return server.setupFailed(session, "publish refused: \(reason)", unreachable: false, refused: SRTSetupError.refused(reason))
            }
            server.route(session)
        }
    }

    private func route(_ session: SRTSession) {
        guard let context else { return }
        session.logger.debug("routing")
        let loop = NIOLoopBound((self, session), eventLoop: context.eventLoop)
        session.setupTimeout = context.eventLoop.scheduleTask(in: settings.backendTimeout) {
            let (server, session) = loop.value
            server.setupFailed(session, "no backend handshake within \(server.settings.backendTimeout.prettyDescription)", unreachable: true)
        }
        let env = environment
        let request = session.request
        let publishing = session.mode == .publish
        let client = session.clientText
        context.eventLoop.makeFutureWithTask { () async throws -> RouteLease in
            try await env.router.acquire(request, needs: .srt, role: publishing ? .publish : .play, client: client)
        }.whenComplete { result in
            let (server, session) = loop.value
            switch result {
            case .success(let lease): server.dial(session, lease)
            case .failure(let error): server.setupFailed(session, "\(error)", unreachable: false, refused: error)
            }
        }
    }

    private func dial(_ session: SRTSession, _ lease: RouteLease) {
        guard session.state == .connecting, let context else {
            Task { await lease.release() }
            return
        }
        session.lease = lease
        session.counters = lease.counters
        // Closed on request (the commands API): SHUTDOWN to both ends, the session dropped.
        let eventLoop = context.eventLoop
        let closing = NIOLoopBound((self, session), eventLoop: eventLoop)
        lease.onClose { reason in
            eventLoop.execute {
                let (server, session) = closing.value
                server.teardown(session, reason: "closed: \(reason)", notify: true)
            }
        }
        session.logger[metadataKey: "backend"] = "\(lease.backend.id)"
        guard let address = lease.address else {
            setupFailed(session, "backend has no srt endpoint", unreachable: false)
            return
        }
        let loop = NIOLoopBound((self, session), eventLoop: context.eventLoop)
        let sink: UDPFastPath.BackendSink = { event in
            let (server, session) = loop.value
            server.fastPathEvent(event, session)
        }
        environment.dialer(address, context.eventLoop, session.client, sink).whenComplete { result in
            let (server, session) = loop.value
            switch result {
            case .success(let socket): server.backendConnected(session, socket)
            case .failure(let error): server.setupFailed(session, "cannot reach the backend at \(address): \(error)", unreachable: true)
            }
        }
    }

    private func backendConnected(_ session: SRTSession, _ socket: UDPBackendSocket) {
        let channel = socket.channel
        guard session.state == .connecting else {
            if let route = socket.route { environment.fastPath?.remove(route) }
            channel.close(promise: nil)
            return
        }
        session.route = socket.route
        let peerIP = channel.remoteAddress?.srtPeerIPField ?? [UInt8](repeating: 0, count: 16)
        let loop = NIOLoopBound((self, session), eventLoop: channel.eventLoop)
        // With the fast path the channel only sends the handshake and stray packets: no UDP_SEGMENT
        // socket option, which would apply to the fast path's sends on the same socket too.
        let gso = settings.gso && socket.route == nil
        let handler = SRTBackendHandler(server: self, session: session, backendPeerIP: peerIP, gso: gso) { outcome in
            let (server, session) = loop.value
            server.backendAnswered(session, outcome)
        }
        do {
            try channel.pipeline.syncOperations.addHandler(handler)
        } catch {
            channel.close(promise: nil)
            setupFailed(session, "backend socket: \(error)", unreachable: false)
            return
        }
        session.backend = handler
        handler.start()
    }

    private func backendAnswered(_ session: SRTSession, _ outcome: SRTBackendHandler.Outcome) {
        guard session.state == .connecting else { return }
        switch outcome {
        case .accepted(let hs):
            var reply = hs
            reply.peerIP = session.client.srtPeerIPField
            let bytes = reply.serialized()
            guard let context else { return }
            let response = context.channel.allocator.buffer(bytes: bytes)
            session.backendSocketID = hs.socketID
            session.response = response
            session.state = .connected
            if byBackendSocketID[hs.socketID] == nil { byBackendSocketID[hs.socketID] = session }
            if let route = session.route { environment.fastPath?.establish(route, key: hs.socketID, counters: session.counters) }
            session.setupTimeout?.cancel()
            context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: session.client, data: response)), promise: nil)
            session.started = true
            environment.hooks.report(session.startEvent)
            session.logger.info("session relayed", metadata: [
                "client_socket": "\(session.clientSocketID)", "backend_socket": "\(hs.socketID)",
            ])
        case .rejected(let hs):
            var reply = hs
            reply.peerIP = session.client.srtPeerIPField
            send(reply.serialized(), to: session.client)
            if case .rejection(let reason) = hs.kind {
                session.logger.warning("backend rejected the connection", metadata: ["reason": "\(reason)"])
            }
            teardown(session, reason: "backend rejected the connection", notify: false)
        case .failed(let why):
            setupFailed(session, why, unreachable: true)
        }
    }

    /// Routing or the backend handshake failed: reject the caller and drop the session.
    private func setupFailed(_ session: SRTSession, _ why: String, unreachable: Bool, refused: (any Error)? = nil) {
        guard session.state == .connecting else { return }
        let reason: UInt32
        switch refused {
        case SRTSetupError.refused?: reason = SRTHandshake.RejectReason.forbidden
        case is RoutingError: reason = SRTHandshake.RejectReason.serviceUnavailable
        default: reason = SRTHandshake.RejectReason.badGateway
        }
        session.logger.warning("cannot relay the stream", metadata: ["error": "\(why)"])
        reject(session.conclusion, from: session.client, reason: reason)
        if unreachable, let lease = session.lease {
            session.lease = nil
            Task { await lease.reportUnreachable(why) }
        }
        teardown(session, reason: why, notify: false)
    }
}

// MARK: - Fast path events

extension SRTServerHandler {
    /// What the fast path reports about `session`'s backend socket.
    func fastPathEvent(_ event: UDPFastPath.BackendEvent, _ session: SRTSession) {
        guard session.state != .closed else { return }
        switch event {
        case .datagrams(let datagrams):
            guard let backend = session.backend else { return }
            for datagram in datagrams { backend.receive(datagram) }
            backend.readComplete()
        case .relayedFromClient:
            teardown(session, reason: "client sent SHUTDOWN", notify: false)
        case .relayedToClient:
            teardown(session, reason: "backend sent SHUTDOWN", notify: false)
        case .error(let error):
            session.backend?.failed(error)
        }
    }
}

// MARK: - Teardown

extension SRTServerHandler {
    /// Ends a session: out of the table, backend socket closed, hooks told, lease released.
    /// `notify` sends SHUTDOWN to both ends first (idle timeout, replacement, forced stop, close
    /// request). A session still being set up has no SRT connection to shut down: its caller gets
    /// a rejection of its conclusion instead, or it would go on retransmitting the conclusion and
    /// start the session again once this one is out of the table.
    func teardown(_ session: SRTSession, reason: String, notify: Bool) {
        guard session.state != .closed else { return }
        let wasConnected = session.state == .connected
        session.state = .closed
        session.setupTimeout?.cancel()
        if table.entry(forID: session.clientSocketID)?.session === session { table.remove(id: session.clientSocketID) }
        if wasConnected, byBackendSocketID[session.backendSocketID] === session { byBackendSocketID[session.backendSocketID] = nil }
        session.accountFromClient()
        session.accountToClient()
        if notify, wasConnected {
            send(SRTPacket.shutdown(destination: session.clientSocketID), to: session.client)
            _ = session.backend?.forward(ByteBuffer(bytes: SRTPacket.shutdown(destination: session.backendSocketID)))
            session.backend?.flush()
        } else if notify {
            reject(session.conclusion, from: session.client, reason: SRTHandshake.RejectReason.close)
        }
        if let route = session.route {
            session.route = nil
            environment.fastPath?.remove(route)
        }
        session.backend?.close()
        session.backend = nil
        if session.started {
            var end = session.startEvent
            end.kind = session.mode == .publish ? .publishEnd : .playEnd
            environment.hooks.report(end)
        }
        if let lease = session.lease {
            session.lease = nil
            Task { await lease.release() }
        }
        if wasConnected {
            session.logger.info("session closed", metadata: [
                "reason": "\(reason)", "bytes_from_client": "\(session.counters?.bytesFromClient ?? 0)",
                "bytes_to_client": "\(session.counters?.bytesToClient ?? 0)",
            ])
        } else if notify {
            session.logger.info("session closed before it was relayed; the caller's conclusion is rejected", metadata: ["reason": "\(reason)"])
        }
        if !accepting, table.count == 0, let drained {
            self.drained = nil
            drained()
        }
    }

    private func expireIdle() {
        // The hot path marks sessions seen on the session object; bring the table up to date first.
        for id in table.ids {
            guard let session = table.entry(forID: id)?.session else { continue }
            if let route = session.route { session.lastSeen = max(session.lastSeen, route.lastSeen) }
            _ = table.session(forID: id, now: session.lastSeen)
        }
        if let lost = environment.fastPath?.takeLost(), lost > 0 {
            drops.note(.notWritable, count: lost, detail: "a socket could not take them (fast path)", logger: logger)
        }
        for entry in table.expire(now: .now()) {
            teardown(entry.session, reason: "idle for \(settings.idleTimeout.prettyDescription)", notify: true)
        }
    }

    /// Graceful shutdown: new conclusions are rejected; `done` runs once no session is left.
    func stopAccepting(_ done: @escaping () -> Void) {
        accepting = false
        if table.count == 0 {
            done()
        } else {
            drained = done
        }
    }

    /// Forced stop: every session ends now (SHUTDOWN sent to both ends).
    func closeAll(reason: String) {
        for id in table.ids {
            if let session = table.entry(forID: id)?.session { teardown(session, reason: reason, notify: true) }
        }
    }
}

enum SRTSetupError: Error, CustomStringConvertible {
    case refused(String)

    var description: String {
        switch self {
        case .refused(let why): "publish refused: \(why)"
        }
    }
}

extension TimeAmount {
    var prettyDescription: String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)s" : "\(nanoseconds / 1_000_000)ms"
    }
}
