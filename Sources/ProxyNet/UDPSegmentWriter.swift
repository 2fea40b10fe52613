import NIOCore
import NIOPosix

/// Writes the datagrams of one read batch to a connected UDP socket with UDP GSO (`UDP_SEGMENT`)
/// where the kernel has it: consecutive datagrams of one size are copied into one buffer and sent
/// as one segmented send, which the kernel splits back into the same datagrams, so a run passes
/// through the IP stack once instead of once per datagram. Used by the UDP modules for the
/// client-to-backend direction of a session.
///
/// The copy (one per datagram, into the run's buffer) is the data path's one exception to "no
/// payload copy": it costs far less than the per-datagram kernel work it saves. The run's buffer is
/// reused once the socket has sent it, so a batch allocates nothing. Without GSO (disabled, not
/// supported, or switched off after the socket reported EIO for a segmented send) each datagram is
/// written as is. Confined to the channel's event loop, like the handler that owns it.
public struct UDPSegmentWriter {
    public private(set) var enabled: Bool
    private var run: ByteBuffer?
    /// The last run's buffer, reused for the next run once NIO no longer holds it.
    private var spare: ByteBuffer?
    private var runSize = 0
    private var runCount = 0
    /// The socket's current UDP_SEGMENT value (0: none).
    private var segmentSize = 0

    public init(enabled: Bool) {
        self.enabled = enabled && System.supportsUDPSegmentationOffload
    }

    /// Most datagrams in one segmented send: the kernel takes 64 segments and 64 KiB of payload.
    static func maxSegments(_ size: Int) -> Int { max(1, min(64, 65_000 / max(size, 1))) }

    /// Queues `datagram` on `context`'s channel without flushing.
    public mutating func write(_ datagram: ByteBuffer, context: ChannelHandlerContext) {
        guard enabled else {
            context.write(NIOAny(datagram), promise: nil)
            return
        }
        let n = datagram.readableBytes
        if runCount > 0, n != runSize || runCount == Self.maxSegments(runSize) { endRun(context) }
        if runCount == 0 {
            runSize = n
            if run == nil {
                let capacity = Self.maxSegments(n) * n
                if var buffer = spare, buffer.capacity >= capacity {
                    spare = nil
                    buffer.clear()  // in place when NIO released it, else a new allocation
                    run = buffer
                } else {
                    run = context.channel.allocator.buffer(capacity: capacity)
                }
            }
        }
        run!.writeImmutableBuffer(datagram)
        runCount += 1
    }

    /// Writes the pending run and flushes the channel (end of a read batch).
    public mutating func flush(context: ChannelHandlerContext) {
        endRun(context)
        context.flush()
    }

    /// Call from `errorCaught`: EIO on a segmented send means the route's device cannot take
    /// it; GSO stays off for this socket from then on. True when `error` was that (the socket
    /// itself is fine).
    @discardableResult
    public mutating func noteError(_ error: any Error, context: ChannelHandlerContext) -> Bool {
        guard enabled, let error = error as? IOError, error.errnoCode == EIO else { return false }
        enabled = false
        if segmentSize != 0, (try? context.channel.syncOptions?.setOption(.datagramSegmentSize, value: 0)) != nil {
            segmentSize = 0
        }
        return true
    }

    /// Writes the pending run: one segmented send for two datagrams or more (UDP_SEGMENT set to
    /// their size first; writes already queued are flushed before the option changes), else the
    /// datagram alone (a segment size at least its length leaves it one datagram).
    private mutating func endRun(_ context: ChannelHandlerContext) {
        guard runCount > 0, var buffer = run else { return }
        run = nil
        spare = buffer
        defer { runCount = 0 }
        let needed = runCount > 1 ? runSize : (segmentSize != 0 && runSize > segmentSize ? runSize : segmentSize)
        if needed != segmentSize {
            context.flush()
            do {
                try context.channel.syncOptions?.setOption(.datagramSegmentSize, value: CInt(needed))
                segmentSize = needed
            } catch {
                enabled = false
                // Without GSO the run goes out datagram by datagram.
                while buffer.readableBytes > 0, let one = buffer.readSlice(length: min(runSize, buffer.readableBytes)) {
                    context.write(NIOAny(one), promise: nil)
                }
                return
            }
        }
        context.write(NIOAny(buffer), promise: nil)
    }
}
