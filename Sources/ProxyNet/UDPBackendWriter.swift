import NIOCore
import ProxyCore

/// The client-to-backend side of one UDP session's connected backend socket, the same for every
/// UDP module (SRT, WebRTC): datagrams written without a flush while a read batch lasts, one
/// flush at its end, UDP GSO for runs of same-size datagrams (UDPSegmentWriter), and the socket's
/// writability kept from its writability events (no atomic load per datagram). A datagram the
/// socket cannot take is refused (`write` returns false) for the caller to count as a drop.
///
/// Owned by the backend socket's handler and confined to its event loop: the handler calls
/// `attach` in handlerAdded, `detach` in handlerRemoved, `writabilityChanged` from
/// channelWritabilityChanged and `noteError` from errorCaught.
public struct UDPBackendWriter {
    private var context: ChannelHandlerContext?
    private var writable = true
    private var segments: UDPSegmentWriter

    public init(gso: Bool) {
        segments = UDPSegmentWriter(enabled: gso)
    }

    public var isAttached: Bool { context != nil }

    public mutating func attach(_ context: ChannelHandlerContext) {
        self.context = context
        writable = context.channel.isWritable
    }

    public mutating func detach() {
        context = nil
    }

    public mutating func writabilityChanged() {
        writable = context?.channel.isWritable ?? false
    }

    /// Queues a datagram for the backend without flushing; false when the socket cannot take it.
    @inline(__always) public mutating func write(_ datagram: ByteBuffer) -> Bool {
        guard writable, let context else { return false }
        segments.write(datagram, context: context)
        return true
    }

    /// Sends what the batch queued.
    public mutating func flush() {
        guard let context else { return }
        segments.flush(context: context)
    }

    /// True when `error` only switched GSO off for this socket (EIO on a segmented send); the
    /// socket itself is fine then.
    @discardableResult
    public mutating func noteError(_ error: any Error) -> Bool {
        guard let context else { return false }
        return segments.noteError(error, context: context)
    }
}

/// The bytes a UDP session relayed in the current read batch, added to its lease's counters
/// once per batch (one atomic add per batch and direction, not per datagram).
public struct BatchedByteCounts {
    public private(set) var fromClient = 0
    public private(set) var toClient = 0

    public init() {}

    @inline(__always) public mutating func addFromClient(_ n: Int) { fromClient &+= n }
    @inline(__always) public mutating func addToClient(_ n: Int) { toClient &+= n }

    /// Adds the client-to-backend bytes of the batch to `counters`.
    public mutating func accountFromClient(to counters: SessionCounters?) {
        guard fromClient != 0 else { return }
        counters?.addFromClient(fromClient)
        fromClient = 0
    }

    /// Adds the backend-to-client bytes of the batch to `counters`.
    public mutating func accountToClient(to counters: SessionCounters?) {
        guard toClient != 0 else { return }
        counters?.addToClient(toClient)
        toClient = 0
    }
}
