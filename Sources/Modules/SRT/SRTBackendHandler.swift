import NIOCore
import NIOPosix
import ProxyNet

/// The proxy's side of one session's connected backend socket.
///
/// While connecting it is an SRT caller: it sends an INDUCTION carrying the client's socket id,
/// ISN, MTU and flow window, takes the backend's cookie from the answer, then sends the client's
/// own CONCLUSION (extensions unchanged: HSREQ, KMREQ, SID, congestion...) with that cookie, and
/// reports the backend's conclusion response or rejection. Requests are repeated every 250 ms
/// until answered (UDP may lose them); the session's setup timeout bounds the whole exchange.
///
/// Once connected it relays: every datagram from the backend goes to the client unchanged
/// (one look at the control type, for SHUTDOWN), flushed at read-complete.
final class SRTBackendHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = ByteBuffer

    enum Outcome {
        case accepted(SRTHandshake)
        case rejected(SRTHandshake)
        case failed(String)
    }

    private enum Stage {
        case induction, conclusion, relaying, done
    }

    private unowned let server: SRTServerHandler
    private unowned let session: SRTSession
    private let backendPeerIP: [UInt8]
    private var context: ChannelHandlerContext?
    private var stage = Stage.induction
    private var lastRequest: [UInt8] = []
    private var retransmit: RepeatedTask?
    private var onOutcome: ((Outcome) -> Void)?
    /// Client-to-backend writes (ProxyNet's UDP backend writer: batching, GSO, writability).
    private var writer: UDPBackendWriter

    init(server: SRTServerHandler, session: SRTSession, backendPeerIP: [UInt8], gso: Bool, onOutcome: @escaping (Outcome) -> Void) {
        self.writer = UDPBackendWriter(gso: gso)
        self.server = server
        self.session = session
        self.backendPeerIP = backendPeerIP
        self.onOutcome = onOutcome
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writer.attach(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        retransmit?.cancel()
        writer.detach()
        self.context = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writer.writabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    /// Sends the induction and repeats the current request until the backend answers.
    func start() {
        guard let context else { return }
        var induction = SRTHandshake()
        induction.version = 4
        induction.extensionField = SRTHandshake.inductionExtensionField
        induction.initialSequence = session.conclusion.initialSequence
        induction.mtu = session.conclusion.mtu
        induction.flowWindow = session.conclusion.flowWindow
        induction.kind = .induction
        induction.socketID = session.clientSocketID
        induction.peerIP = backendPeerIP
        send(induction.serialized())
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        retransmit = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            let handler = loop.value
            guard handler.stage == .induction || handler.stage == .conclusion else { return }
            handler.send(handler.lastRequest)
        }
    }

    private func send(_ bytes: [UInt8]) {
        guard let context else { return }
        lastRequest = bytes
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    /// Writes a client packet to the backend without flushing; false when the socket cannot take it.
    func forward(_ buffer: ByteBuffer) -> Bool {
        writer.write(buffer)
    }

    func flush() {
        writer.flush()
    }

    func close() {
        stage = .done
        retransmit?.cancel()
        onOutcome = nil
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receive(unwrapInboundIn(data).data)
    }

    /// A datagram from the backend (read by the channel, or handed over by the fast path).
    func receive(_ buffer: ByteBuffer) {
        switch stage {
        case .relaying:
            server.relayToClient(session, buffer)
        case .induction, .conclusion:
            handshake(buffer)
        case .done:
            return
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readComplete()
    }

    func readComplete() {
        if stage == .relaying {
            session.accountToClient()
            server.flushClients()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failed("backend socket closed"))
        if stage == .relaying {
            stage = .done
            server.teardown(session, reason: "backend socket closed", notify: true)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // EIO on a segmented send: GSO is switched off for this socket, the session goes on.
        if writer.noteError(error) { return }
        failed(error)
    }

    /// The backend socket reported `error` (to the channel, or to the fast path).
    func failed(_ error: any Error) {
        // ICMP port unreachable surfaces as ECONNREFUSED on a connected UDP socket.
        switch stage {
        case .induction, .conclusion: finish(.failed("\(error)"))
        case .relaying:
            stage = .done
            server.teardown(session, reason: "backend error: \(error)", notify: true)
        case .done: return
        }
    }

    private func handshake(_ buffer: ByteBuffer) {
        guard let hs = try? SRTHandshake(parsing: buffer.readableBytesView) else { return }
        guard hs.destinationSocketID == session.clientSocketID else { return }
        switch (stage, hs.kind) {
        case (.induction, .induction):
            guard hs.version == 5, hs.extensionField == SRTHandshake.magic else {
                finish(.failed("the backend does not speak SRT handshake v5 (version \(hs.version))"))
                return
            }
            var conclusion = session.backendConclusion
            conclusion.destinationSocketID = 0
            conclusion.cookie = hs.cookie
            conclusion.peerIP = backendPeerIP
            stage = .conclusion
            send(conclusion.serialized())
        case (.conclusion, .conclusion):
            stage = .relaying
            retransmit?.cancel()
            finish(.accepted(hs))
        case (_, .rejection):
            finish(.rejected(hs))
        default:
            return
        }
    }

    private func finish(_ outcome: Outcome) {
        guard let done = onOutcome else { return }
        onOutcome = nil
        if case .accepted = outcome {} else {
            stage = .done
            retransmit?.cancel()
        }
        done(outcome)
    }
}
