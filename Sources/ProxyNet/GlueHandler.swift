import Logging
import NIOCore
import ProxyCore

/// The shared TCP relay (after swift-nio's connect-proxy example): one handler on each of two
/// channels that share an event loop. Reads on one side are written to the other untouched (the
/// ByteBuffer is passed on, never copied); read-complete flushes the partner; an outbound `read`
/// is held back while the partner is not writable and re-issued when it is (backpressure);
/// end-of-input half-closes the partner's output; inactive or error closes the partner.
///
/// Made only as a linked pair by `matchedPair`; the client side counts bytes into the session's
/// counters and, when both sides are closed, reports once with totals and the first close reason.
public final class GlueHandler {
    public enum Side: String, Sendable {
        case client, backend
    }

    private let side: Side
    private let relay: RelayState
    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var inputClosed = false
    private var outputClosed = false

    private init(side: Side, relay: RelayState) {
        self.side = side
        self.relay = relay
    }
}

extension GlueHandler {
    /// A linked pair: add `client` to the client's channel and `backend` to the backend's channel.
    /// `onClose` runs once, on the event loop, after both channels closed. With `idleTimeout`, a
    /// relay that moved no byte either way for that long is closed (checked once per interval
    /// from the byte totals: nothing is done per read).
    public static func matchedPair(
        counters: SessionCounters? = nil, logger: Logger? = nil, idleTimeout: TimeAmount? = nil,
        onClose: @escaping (RelayCloseReport) -> Void = { _ in }
    ) -> (client: GlueHandler, backend: GlueHandler) {
        let relay = RelayState(counters: counters, logger: logger, idleTimeout: idleTimeout, onClose: onClose)
        let client = GlueHandler(side: .client, relay: relay)
        let backend = GlueHandler(side: .backend, relay: relay)
        client.partner = backend
        backend.partner = client
        return (client, backend)
    }
}

/// How a relay ended: what closed first, and the bytes moved each way.
public struct RelayCloseReport: Sendable, CustomStringConvertible {
    public var reason: String
    public var bytesFromClient: UInt64
    public var bytesToClient: UInt64

    public var description: String { "\(reason), \(bytesFromClient) bytes from client, \(bytesToClient) bytes to client" }
}

/// State shared by the two handlers of a pair (both on one event loop, so no lock).
final class RelayState {
    let counters: SessionCounters?
    let logger: Logger?
    let idleTimeout: TimeAmount?
    let onClose: (RelayCloseReport) -> Void
    var reason: String?
    var closedSides = 0
    var bytesFromClient: UInt64 = 0
    var bytesToClient: UInt64 = 0
    /// The byte totals at the last idle check, and the check's timer.
    var bytesAtLastCheck: UInt64 = 0
    var idleCheck: RepeatedTask?

    init(counters: SessionCounters?, logger: Logger?, idleTimeout: TimeAmount?, onClose: @escaping (RelayCloseReport) -> Void) {
        self.counters = counters
        self.logger = logger
        self.idleTimeout = idleTimeout
        self.onClose = onClose
    }

    /// Starts the idle check on the client side's channel: closed after an interval without a byte.
    func watchIdle(_ context: ChannelHandlerContext) {
        guard let idleTimeout, idleCheck == nil else { return }
        let bound = NIOLoopBound((self, context.channel), eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: idleTimeout, delay: idleTimeout) { _ in
            let (relay, channel) = bound.value
            let total = relay.bytesFromClient &+ relay.bytesToClient
            defer { relay.bytesAtLastCheck = total }
            guard total == relay.bytesAtLastCheck else { return }
            relay.noteReason("idle for \(idleTimeout.nanoseconds / 1_000_000_000) s (no byte either way)")
            channel.close(promise: nil)
        }
    }

    func noteReason(_ text: String) {
        if reason == nil { reason = text }
    }

    func sideClosed() {
        closedSides += 1
        idleCheck?.cancel()
        idleCheck = nil
        guard closedSides == 2 else { return }
        let report = RelayCloseReport(reason: reason ?? "closed", bytesFromClient: bytesFromClient, bytesToClient: bytesToClient)
        logger?.info("relay closed", metadata: [
            "reason": "\(report.reason)", "bytes_from_client": "\(report.bytesFromClient)", "bytes_to_client": "\(report.bytesToClient)",
        ])
        onClose(report)
    }
}

extension GlueHandler {
    fileprivate func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(NIOAny(buffer), promise: nil)
    }

    fileprivate func partnerFlush() {
        context?.flush()
    }

    fileprivate func partnerWriteEOF() {
        guard let context, !outputClosed else { return }
        outputClosed = true
        if inputClosed {
            context.close(promise: nil)
        } else {
            context.close(mode: .output, promise: nil)
        }
    }

    fileprivate func partnerCloseFull() {
        context?.close(promise: nil)
    }

    fileprivate func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    fileprivate var partnerWritable: Bool {
        context?.channel.isWritable ?? false
    }
}

extension GlueHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = NIOAny
    public typealias OutboundOut = NIOAny

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if side == .client { relay.watchIdle(context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        count(buffer.readableBytes)
        partner?.partnerWrite(buffer)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        relay.noteReason("\(side.rawValue) closed")
        partner?.partnerCloseFull()
        relay.sideClosed()
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            inputClosed = true
            relay.noteReason("\(side.rawValue) ended its stream")
            partner?.partnerWriteEOF()
            if outputClosed { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        relay.noteReason("\(side.rawValue) error: \(error)")
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    public func read(context: ChannelHandlerContext) {
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func count(_ n: Int) {
        switch side {
        case .client:
            relay.bytesFromClient &+= UInt64(n)
            relay.counters?.addFromClient(n)
        case .backend:
            relay.bytesToClient &+= UInt64(n)
            relay.counters?.addToClient(n)
        }
    }
}

@available(*, unavailable)
extension GlueHandler: Sendable {}
