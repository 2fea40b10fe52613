import NIOCore
import NIOPosix

/// Socket settings shared by a UDP module's listening socket and its backend sockets: batch
/// reads (several datagrams per `recvmmsg`), a fixed receive slot per datagram, and kernel
/// buffers large enough to absorb a burst while the event loop is busy.
///
/// One receive buffer holds `vectorReadCount` slots of `maxDatagramSize` bytes; the datagrams
/// handed to the pipeline are slices of it, so a batch costs one buffer, not one per datagram.
public struct UDPSocketOptions: Sendable, Hashable {
    /// Datagrams read per `recvmmsg` call.
    public var vectorReadCount: Int
    /// The largest datagram accepted; longer ones are truncated by the kernel (SRT and WebRTC
    /// stay under 1,500 bytes).
    public var maxDatagramSize: Int
    /// `recvmmsg` calls per readable event before the loop serves other channels.
    public var maxReadsPerEvent: Int
    /// SO_RCVBUF and SO_SNDBUF in bytes (the kernel may cap them at net.core.rmem_max/wmem_max).
    public var receiveBufferBytes: Int
    public var sendBufferBytes: Int

    public init(
        vectorReadCount: Int = 32, maxDatagramSize: Int = 2048, maxReadsPerEvent: Int = 4,
        receiveBufferBytes: Int = 4 << 20, sendBufferBytes: Int = 4 << 20
    ) {
        precondition(vectorReadCount > 0 && maxDatagramSize > 0 && maxReadsPerEvent > 0)
        self.vectorReadCount = vectorReadCount
        self.maxDatagramSize = maxDatagramSize
        self.maxReadsPerEvent = maxReadsPerEvent
        self.receiveBufferBytes = receiveBufferBytes
        self.sendBufferBytes = sendBufferBytes
    }

    /// The listening socket of a module: many clients, deep batches.
    public static let listener = UDPSocketOptions()
    /// One backend association: one peer, smaller batches and buffers.
    public static let backend = UDPSocketOptions(vectorReadCount: 16, receiveBufferBytes: 1 << 20, sendBufferBytes: 1 << 20)
}

extension DatagramBootstrap {
    /// Applies `options` to the channels this bootstrap makes.
    public func applying(_ options: UDPSocketOptions) -> DatagramBootstrap {
        self.channelOption(.datagramVectorReadMessageCount, value: options.vectorReadCount)
            .channelOption(.maxMessagesPerRead, value: UInt(options.maxReadsPerEvent))
            .channelOption(
                .recvAllocator,
                value: FixedSizeRecvByteBufferAllocator(capacity: options.vectorReadCount * options.maxDatagramSize))
            .channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(options.receiveBufferBytes))
            .channelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(options.sendBufferBytes))
    }
}
