import NIOCore

/// The proxy's handshake as a client of a backend: sends C0+C1, reads S0+S1+S2, answers C2
/// (S1 echoed), then completes with whatever the backend sent after S2 and leaves the pipeline.
final class RTMPBackendHandshake: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let done: EventLoopPromise<ByteBuffer>
    private var received = ByteBuffer()
    private var finished = false

    init(done: EventLoopPromise<ByteBuffer>) {
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(RTMPHandshake.clientHello(allocator: context.channel.allocator)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        guard !finished, received.readableBytes >= 1 + 2 * RTMPHandshake.packetSize else { return }
        let version = received.readInteger(as: UInt8.self)!
        guard version == RTMPHandshake.version else {
            fail(context, .backendHandshake("backend answered version \(version), not RTMP 3"))
            return
        }
        let s1 = received.readSlice(length: RTMPHandshake.packetSize)!
        received.moveReaderIndex(forwardBy: RTMPHandshake.packetSize)  // S2
        finished = true
        context.writeAndFlush(wrapOutboundOut(s1), promise: nil)
        let rest = received.slice()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        done.succeed(rest)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished { done.fail(RTMPError.backendHandshake("backend closed the connection during the handshake")) }
        finished = true
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, .backendHandshake("\(error)"))
    }

    private func fail(_ context: ChannelHandlerContext, _ error: RTMPError) {
        guard !finished else { return }
        finished = true
        done.fail(error)
        context.close(promise: nil)
    }
}
