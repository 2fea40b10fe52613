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
    }

    struct Environment: Sendable {
        /// What every session's StreamSession shares (router, hooks, the module's identity).
        var sessions: StreamSession.Context
        var logger: Logger
        /// The batched data path, when it runs (the listener's; sessions register their backend sockets with it).
        var fastPath: UDPFastPath?
        /// Connects a backend socket on the loop; with the fast path, for the given client, with
        /// the sink of what the fast path reads from it.
        var dialer: @Sendable (BackendAddress, any EventLoop, SocketAddress, @escaping UDPFastPath.BackendSink) -> EventLoopFuture<UDPBackendSocket>
        /// How many new sessions each client address may start.
        var newSessions = AddressRateLimiter(.init(rate: 10, burst: 20))
    }

    let settings: Settings
    let environment: Environment
    var logger: Logger { environment.logger }
    let cookie: SRTCookie
    var table: UDPSessionTable<UInt32, SRTSession>
    /// Connected sessions by the backend's socket id, the destination of every packet the caller
    /// sends: the hot path's lookup is an integer-keyed hit in a dictionary specialized here, then a
    /// check of the source address. Ids two backends happen to share fall back to the table's
    /// lookup by address.
    var byBackendSocketID: [UInt32: SRTSession] = [:]
    var drops = SRTDropCounters()
    var context: ChannelHandlerContext?
    var batchNow: NIODeadline?
    var backendsToFlush: [SRTSession] = []
    var clientFlushPending = false
    var expiry: RepeatedTask?
    var accepting = true
    var drained: (() -> Void)?

    init(settings: Settings, environment: Environment, cookie: SRTCookie = .random()) {
        self.settings = settings
        self.environment = environment
        self.cookie = cookie
        self.table = UDPSessionTable(capacity: settings.maxSessions, idleTimeout: settings.idleTimeout)
        backendsToFlush.reserveCapacity(64)
    }

    var sessionCount: Int { table.count }

    var now: NIODeadline {
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

    func receive(_ buffer: ByteBuffer, from: SocketAddress, context: ChannelHandlerContext) {
        guard buffer.readableBytes >= SRTPacket.headerSize else {
            drops.note(.tooShort, from: from, detail: "\(buffer.readableBytes) bytes", logger: logger)
            return
        }
        let r = buffer.readerIndex
        let word0 = buffer.getInteger(at: r, as: UInt32.self)!
        if word0 >> 16 != SRTPacket.ControlWord.handshake {
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
            if word0 >> 16 == SRTPacket.ControlWord.shutdown {
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

    func readComplete() {
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
