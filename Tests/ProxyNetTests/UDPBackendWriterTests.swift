import NIOCore
import NIOEmbedded
import ProxyCore
import Testing

@testable import ProxyNet

/// ProxyNet's UDP backend writer, on EmbeddedChannel: a read batch's datagrams go out in order
/// at the flush, none before; an unwritable socket refuses datagrams (the caller counts them);
/// the batch's bytes reach the session counters once per batch.
@Suite struct UDPBackendWriterTests {
    /// A backend socket's handler as the UDP modules write theirs: the writer owned by it.
    final class Owner: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var writer = UDPBackendWriter(gso: false)
        func handlerAdded(context: ChannelHandlerContext) { writer.attach(context) }
        func handlerRemoved(context: ChannelHandlerContext) { writer.detach() }
        func channelWritabilityChanged(context: ChannelHandlerContext) { writer.writabilityChanged() }
    }

    @Test func aBatchGoesOutInOrderAtItsFlushAndAnUnwritableSocketRefuses() throws {
        let owner = Owner()
        let channel = EmbeddedChannel(handler: owner)
        #expect(owner.writer.isAttached)
        for n in [1300, 1300, 200] {
            let taken = owner.writer.write(ByteBuffer(repeating: UInt8(n % 251), count: n))
            #expect(taken)
        }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing leaves before the batch's flush")
        owner.writer.flush()
        var sizes: [Int] = []
        while let datagram = try channel.readOutbound(as: ByteBuffer.self) { sizes.append(datagram.readableBytes) }
        #expect(sizes == [1300, 1300, 200])

        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        let whileUnwritable = owner.writer.write(ByteBuffer(bytes: [1, 2, 3]))
        #expect(!whileUnwritable, "refused while the socket cannot take it")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        let writableAgain = owner.writer.write(ByteBuffer(bytes: [1, 2, 3]))
        #expect(writableAgain)
        _ = try channel.finish()
        let afterRemoval = owner.writer.write(ByteBuffer(bytes: [4]))
        #expect(!owner.writer.isAttached && !afterRemoval, "a removed handler writes nothing")
    }

    @Test func batchedBytesReachTheCountersOncePerBatch() {
        let counters = SessionCounters()
        var batch = BatchedByteCounts()
        batch.addFromClient(1300)
        batch.addFromClient(200)
        batch.addToClient(90)
        #expect(counters.bytesFromClient == 0, "nothing before the batch ends")
        batch.accountFromClient(to: counters)
        batch.accountToClient(to: counters)
        batch.accountFromClient(to: counters)
        #expect(counters.bytesFromClient == 1500 && counters.bytesToClient == 90, "each batch counted once")
        #expect(batch.fromClient == 0 && batch.toClient == 0)
    }
}
