import NIOCore

/// Sends every datagram back to its sender, prefixed with "echo:" (the UDP tests' backend).
final class UDPEchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var envelope = unwrapInboundIn(data)
        var reply = context.channel.allocator.buffer(capacity: envelope.data.readableBytes + 5)
        reply.writeString("echo:")
        reply.writeBuffer(&envelope.data)
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: reply)), promise: nil)
    }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}
